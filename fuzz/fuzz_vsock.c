// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the virtio-vsock device's tx path (and what it makes
 * the rx path and the host side do) on a guest the input controls.
 *
 * Each input builds one tx queue of 16 descriptors over fake guest memory:
 *   byte 0          bits 0-4: chains made available (0..16), bit 5: negotiate
 *                   VIRTIO_VSOCK_F_DGRAM, bit 6: the host writes back on the
 *                   connections it gets
 *   bytes 1..128    16 descriptors, 8 bytes each: u16 offset, u16 len,
 *                   u8 flags (NEXT 1, WRITE 2, INDIRECT 4; 0x80: offset is a
 *                   raw high address, mostly outside guest memory), u8 next,
 *                   2 unused
 *   bytes 129..144  the avail ring's heads (raw, may be out of range)
 *   the rest        copied into the data area the offsets point into
 *                   (packet headers and payloads)
 * The device serves the queue on this thread (manual mode), the host side
 * accepts the connections the guest made to port 1000 and writes to them,
 * and the device serves again.  Sanitizers catch the rest; the harness
 * also checks that the used ring never reports more than the chain held.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../tests/unit/virtio/vdrv.h"
#include "devices/virtio/vsock.h"
#include "util/log.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QSZ 16
#define MEM_SIZE (256u << 10)
#define DATA_GPA (VDRV_GPA + 0x10000)
#define DATA_SIZE (128u << 10)
#define RX_GPA (VDRV_GPA + 0x30000)
#define RX_BUF (VSOCK_HDR_SIZE + 4096)
#define NR_RX 8
#define HDR_BYTES (1 + 16 * 8 + 16)

struct fuzz_state {
	struct guest_mem gm;
	struct virtio_vsock *v;
	int listener;
	char dir[64];
	char out_path[128];
};

static struct fuzz_state *state;

static int unix_listener(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	require(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		listen(fd, 64) == 0);
	return fd;
}

static void cleanup(void)
{
	virtio_vsock_destroy(state->v);
	close(state->listener);
	unlink(state->out_path);
	rmdir(state->dir);
	gm_destroy(&state->gm);
}

static struct fuzz_state *setup(void)
{
	static struct fuzz_state s;
	char in_path[128];

	krun_log_configure(2, LOG_LVL_OFF);
	require(gm_alloc_region(&s.gm, VDRV_GPA, MEM_SIZE) == 0);
	strcpy(s.dir, "/tmp/krun-fuzz-vsock-XXXXXX");
	require(mkdtemp(s.dir) != NULL);
	snprintf(s.out_path, sizeof(s.out_path), "%s/out.sock", s.dir);
	snprintf(in_path, sizeof(in_path), "%s/in.sock", s.dir);
	s.listener = unix_listener(s.out_path);
	struct vsock_port ports[] = {
		{ 1000, s.out_path, false },
		{ 1001, "/nonexistent/krun-fuzz.sock", false },
		{ 2000, in_path, true },
	};
	struct vsock_limits lim = { .max_conns = 8, .buf_alloc = 8192 };
	int err;
	s.v = virtio_vsock_create(ports, 3, &lim, &err);
	require(s.v != NULL);
	virtio_vsock_set_manual(s.v);
	state = &s;
	atexit(cleanup);
	return &s;
}

static void post_rx(struct vdrv *d)
{
	for (int i = 0; i < NR_RX; i++) {
		uint64_t a = RX_GPA + (uint64_t)i * RX_BUF;
		struct vdrv_buf b[2] = { { a, VSOCK_HDR_SIZE, true },
					 { a + VSOCK_HDR_SIZE, RX_BUF - VSOCK_HDR_SIZE, true } };
		vdrv_post(d, 0, b, 2);
	}
}

static void build_tx(struct vdrv *d, const uint8_t *in)
{
	struct vring_desc *desc = vdrv_desc(d, 1, 0);

	for (unsigned int i = 0; i < QSZ; i++) {
		const uint8_t *e = in + 1 + 8 * i;
		uint16_t off = (uint16_t)(e[0] | e[1] << 8);
		uint16_t len = (uint16_t)(e[2] | e[3] << 8);
		uint8_t fl = e[4];
		desc[i].addr = fl & 0x80 ? (uint64_t)off << 20 : DATA_GPA + off;
		desc[i].len = len;
		desc[i].flags = (uint16_t)(fl & 7);
		desc[i].next = e[5];
	}
	unsigned int n = in[0] & 31;
	struct vring_avail *a = vdrv_avail(d, 1);
	for (unsigned int i = 0; i < n && i < QSZ; i++)
		a->ring[i] = in[1 + 8 * QSZ + i];
	__atomic_store_n(&a->idx, (uint16_t)(n > QSZ ? QSZ : n), __ATOMIC_RELEASE);
}

/* The host side of the guest's connections writes a little, then hangs up. */
static void host_round(struct fuzz_state *s, const uint8_t *data, size_t size, bool write_back)
{
	int fds[16];
	int n = 0;

	while (n < 16) {
		int fd = accept4(s->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	for (int i = 0; i < n && write_back; i++) {
		char buf[256];
		(void)!read(fds[i], buf, sizeof(buf));
		(void)!send(fds[i], data, size < 3000 ? size : 3000, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	virtio_vsock_poll(s->v);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	virtio_vsock_poll(s->v);
}

static void check_used(struct vdrv *d)
{
	struct vring_used *u = vdrv_used(d, 0);
	uint16_t n = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);

	for (uint16_t i = 0; i < n && i < QSZ; i++)
		require(u->ring[i].len <= RX_BUF);
	u = vdrv_used(d, 1);
	n = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
	for (uint16_t i = 0; i < n && i < QSZ; i++)
		require(u->ring[i].len == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state *s = state ? state : setup();

	if (size < HDR_BYTES)
		return 0;
	static struct vdrv d;
	memset(&d.q, 0, sizeof(d.q));
	d.gm = s->gm;
	d.brk = VDRV_GPA + 0x1000;
	memset(vdrv_ptr(&d, VDRV_GPA), 0, MEM_SIZE);
	require(virtio_mmio_init(&d.dev, virtio_vsock_ops(), s->v, &d.gm, 0xd0000000, 5) == 0);
	uint64_t f = 1ull << VIRTIO_F_VERSION_1;
	if (data[0] & 32)
		f |= 1ull << VIRTIO_VSOCK_F_DGRAM;
	require(vdrv_negotiate(&d, f));
	for (unsigned int q = 0; q < 3; q++)
		vdrv_setup_queue(&d, q, QSZ);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	require(d.dev.activated);

	size_t rest = size - HDR_BYTES;
	memcpy(vdrv_ptr(&d, DATA_GPA), data + HDR_BYTES, rest < DATA_SIZE ? rest : DATA_SIZE);
	post_rx(&d);
	build_tx(&d, data);
	virtio_vsock_poll(s->v);
	host_round(s, data + HDR_BYTES, rest, data[0] & 64);
	check_used(&d);
	/* Reset: every connection closes, the listeners stay. */
	virtio_mmio_destroy(&d.dev);
	return 0;
}
