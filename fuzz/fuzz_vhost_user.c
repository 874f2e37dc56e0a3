// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the vhost-user frontend reading a backend's replies.
 * The first byte picks a request (and whether REPLY_ACK is negotiated);
 * the rest is what the backend sends back, written into a socketpair whose
 * far end is then shut, so every read ends in data or EOF, never a wait.
 * Besides the sanitizers it checks that a failed call leaves the
 * connection broken and that a success returns only what was asked for.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "backends/vhost_user/vhost_user.h"
#include "util/log.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run(struct vu_conn *c, uint8_t op)
{
	uint64_t v = 0;
	uint32_t base = 0;
	uint8_t cfg[VU_MAX_CONFIG];

	switch (op % 6) {
	case 0:
		return vu_get_u64(c, VU_GET_FEATURES, &v);
	case 1:
		return vu_get_vring_base(c, op >> 4, &base);
	case 2: {
		uint32_t len = 1 + (op >> 3) * 8;
		return vu_get_config(c, 0, cfg, len);
	}
	case 3:
		return vu_set_owner(c);
	case 4:
		return vu_set_vring_state(c, VU_SET_VRING_ENABLE, 0, 1);
	default: {
		/* A whole handshake in one go, as the device does at start. */
		int ret = vu_get_u64(c, VU_GET_FEATURES, &v);
		if (!ret)
			ret = vu_get_u64(c, VU_GET_PROTOCOL_FEATURES, &v);
		if (!ret)
			ret = vu_get_u64(c, VU_GET_QUEUE_NUM, &v);
		if (!ret)
			ret = vu_get_config(c, 0, cfg, 40);
		return ret;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet++)
		krun_log_configure(-1, LOG_LVL_OFF);
	if (size < 1 || size > 16384)
		return 0;
	int sv[2];
	require(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	int sz = 65536;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	require(write(sv[1], data + 1, size - 1) == (ssize_t)(size - 1));
	shutdown(sv[1], SHUT_WR);

	struct vu_conn c;
	vu_conn_init(&c, sv[0], "fuzz", 1000);
	if (data[0] & 0x80)
		c.protocol_features = 1ull << VU_PROTOCOL_F_REPLY_ACK;
	int ret = run(&c, data[0] & 0x7f);
	check(ret <= 0);
	check(ret == 0 || c.broken);
	check(ret != -ETIMEDOUT);
	/* Once broken, a connection never talks again. */
	if (c.broken) {
		uint64_t v;
		check(vu_get_u64(&c, VU_GET_FEATURES, &v) == -EPIPE);
	}
	vu_close(&c);
	close(sv[1]);
	return 0;
}
