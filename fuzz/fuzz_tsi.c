// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: TSI's control channel (backends/vsock/tsi.c) and the
 * streams and datagrams it hands to the mux, driven through the vsock
 * device's tx queue by a guest the input controls.
 *
 * The input is a list of packets, at most 16, each
 *   u8  kind     bit 0: STREAM (else DGRAM); bits 1-3: the op (0-7)
 *   u8  ports    bits 0-3: src_port 7000 + n (15: the control port 9000);
 *                bits 4-7: dst_port 1024 + n (8: 620, 9: src_port,
 *                10-15: ports just around the opcodes, 0, 2^32-1)
 *   u16 len      payload length (LE), cut to what the input still holds
 *   ...          payload
 * Addresses in CONNECT/SENDTO_ADDR/LISTEN payloads are rewritten before
 * they reach the device so that the fuzzer only ever talks to loopback:
 * AF_INET becomes 127.0.0.1 and AF_INET6 ::1, on the harness's listener
 * port, a closed port or 0 (chosen by the port's low bits); unix
 * addresses get a family TSI refuses.  After the packets the host side
 * accepts the guest's connects and writes back; the device is served
 * again and reset, which must free every proxy (LeakSanitizer checks).
 */
#include <arpa/inet.h>
#include <endian.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_vsock.h>

#include "../tests/unit/virtio/vdrv.h"
#include "devices/virtio/vsock.h"
#include "util/log.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QSZ 16
#define MEM_SIZE (512u << 10)
#define TX_GPA (VDRV_GPA + 0x10000)
#define TX_SLOT (VSOCK_HDR_SIZE + 512)
#define RX_GPA (VDRV_GPA + 0x20000)
#define RX_BUF (VSOCK_HDR_SIZE + 4096)
#define NR_RX 16
#define ADDR_OFF_REQ 8		/* CONNECT, SENDTO_ADDR: addr at 8 */
#define ADDR_OFF_LISTEN 16

struct fuzz_state {
	struct guest_mem gm;
	struct virtio_vsock *v;
	int listener;
	uint16_t listen_port, closed_port;
};

static struct fuzz_state *state;

static int tcp_listener(uint16_t *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	require(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		listen(fd, 64) == 0 && getsockname(fd, (struct sockaddr *)&sa, &len) == 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

static void cleanup(void)
{
	virtio_vsock_destroy(state->v);
	close(state->listener);
	gm_destroy(&state->gm);
}

static struct fuzz_state *setup(void)
{
	static struct fuzz_state s;

	krun_log_configure(2, LOG_LVL_OFF);
	require(gm_alloc_region(&s.gm, VDRV_GPA, MEM_SIZE) == 0);
	s.listener = tcp_listener(&s.listen_port);
	int closed = tcp_listener(&s.closed_port);
	close(closed);
	struct vsock_limits lim = { .max_conns = 8, .buf_alloc = 8192 };
	int err;
	s.v = virtio_vsock_create(NULL, 0, &lim, &err);
	require(s.v != NULL);
	/* Unix TSI stays off: the fuzzer must not bind paths on this host. */
	struct vsock_tsi_config cfg = { .inet = true, .max_proxies = 8 };
	require(virtio_vsock_set_tsi(s.v, &cfg) == 0);
	virtio_vsock_set_manual(s.v);
	state = &s;
	atexit(cleanup);
	return &s;
}

/* Loopback only, whatever the input asked for. */
static void tame_addr(const struct fuzz_state *s, uint8_t *addr, uint32_t room)
{
	uint16_t family;
	memcpy(&family, addr, 2);
	family = le16toh(family);
	uint16_t choice = (uint16_t)(addr[2] & 3);
	uint16_t port = htons(choice == 0 ? s->listen_port : choice == 1 ? s->closed_port : 0);
	if (family == AF_INET && room >= sizeof(struct sockaddr_in)) {
		struct in_addr lo = { htonl(INADDR_LOOPBACK) };
		memcpy(addr + 2, &port, 2);
		memcpy(addr + 4, &lo, 4);
	} else if (family == AF_INET6 && room >= 24) {
		memcpy(addr + 2, &port, 2);
		memcpy(addr + 8, &in6addr_loopback, 16);
	} else if (family == AF_UNIX) {
		addr[0] = 0xff;	/* a family TSI does not serve */
	}
}

static uint32_t dst_port_of(uint8_t sel, uint32_t src)
{
	static const uint32_t odd[] = { 1022, 1023, 1032, 1033, 0, UINT32_MAX };

	if (sel < 8)
		return 1024 + sel;
	if (sel == 8)
		return 620;
	return sel == 9 ? src : odd[sel - 10];
}

/* One packet into tx slot i; returns the input bytes it took. */
static size_t build_packet(struct fuzz_state *s, struct vdrv *d, unsigned int i,
			   const uint8_t *in, size_t size)
{
	if (size < 4)
		return 0;
	uint32_t src = (in[1] & 15) == 15 ? 9000 : 7000 + (in[1] & 15);
	uint32_t dst = dst_port_of(in[1] >> 4, src);
	size_t len = (size_t)(in[2] | in[3] << 8);
	if (len > size - 4)
		len = size - 4;
	if (len > TX_SLOT - VSOCK_HDR_SIZE)
		len = TX_SLOT - VSOCK_HDR_SIZE;
	uint8_t *p = vdrv_ptr(d, TX_GPA + (uint64_t)i * TX_SLOT);
	struct virtio_vsock_hdr h = {
		.src_cid = htole64(VSOCK_GUEST_CID), .dst_cid = htole64(VSOCK_HOST_CID),
		.src_port = htole32(src), .dst_port = htole32(dst), .len = htole32((uint32_t)len),
		.type = htole16(in[0] & 1 ? VSOCK_TYPE_STREAM : VSOCK_TYPE_DGRAM),
		.op = htole16((uint16_t)(in[0] >> 1 & 7)), .buf_alloc = htole32(65536),
	};
	memcpy(p, &h, sizeof(h));
	memcpy(p + VSOCK_HDR_SIZE, in + 4, len);
	uint8_t *pl = p + VSOCK_HDR_SIZE;
	if (!(in[0] & 1) && (dst == 1025 || dst == 1027) && len >= ADDR_OFF_REQ + 2)
		tame_addr(s, pl + ADDR_OFF_REQ, (uint32_t)len - ADDR_OFF_REQ);
	if (!(in[0] & 1) && dst == 1029 && len >= ADDR_OFF_LISTEN + 2)
		tame_addr(s, pl + ADDR_OFF_LISTEN, (uint32_t)len - ADDR_OFF_LISTEN);
	struct vdrv_buf b = { TX_GPA + (uint64_t)i * TX_SLOT, (uint32_t)(VSOCK_HDR_SIZE + len),
			      false };
	vdrv_post(d, 1, &b, 1);
	return 4 + len;
}

/* The host end: accept the guest's connects, write back, hang up. */
static void host_round(struct fuzz_state *s)
{
	int fds[8], n = 0;

	while (n < 8) {
		int fd = accept4(s->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			break;
		fds[n++] = fd;
	}
	for (int i = 0; i < n; i++)
		(void)!send(fds[i], "from the host", 13, MSG_DONTWAIT | MSG_NOSIGNAL);
	virtio_vsock_poll(s->v);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	virtio_vsock_poll(s->v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state *s = state ? state : setup();
	static struct vdrv d;

	memset(&d.q, 0, sizeof(d.q));
	d.gm = s->gm;
	d.brk = VDRV_GPA + 0x1000;
	memset(vdrv_ptr(&d, VDRV_GPA), 0, MEM_SIZE);
	require(virtio_mmio_init(&d.dev, virtio_vsock_ops(), s->v, &d.gm, 0xd0000000, 5) == 0);
	require(vdrv_negotiate(&d, 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_VSOCK_F_DGRAM));
	for (unsigned int q = 0; q < 3; q++)
		vdrv_setup_queue(&d, q, QSZ);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	require(d.dev.activated);
	for (int i = 0; i < NR_RX; i++) {
		uint64_t a = RX_GPA + (uint64_t)i * RX_BUF;
		struct vdrv_buf b[2] = { { a, VSOCK_HDR_SIZE, true },
					 { a + VSOCK_HDR_SIZE, RX_BUF - VSOCK_HDR_SIZE, true } };
		vdrv_post(&d, 0, b, 2);
	}
	size_t off = 0;
	for (unsigned int i = 0; i < QSZ && off < size; i++) {
		size_t used = build_packet(s, &d, i, data + off, size - off);
		if (!used)
			break;
		off += used;
	}
	virtio_vsock_poll(s->v);
	host_round(s);
	struct vring_used *u = vdrv_used(&d, 0);
	uint16_t n = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
	for (uint16_t i = 0; i < n && i < QSZ; i++)
		require(u->ring[i].len <= RX_BUF);
	/* Reset: every proxy, listener and connection goes. */
	virtio_mmio_destroy(&d.dev);
	return 0;
}
