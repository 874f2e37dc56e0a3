// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net through the fake driver, over a unix stream backend whose peer
 * is the test (a socketpair, as passt's fd is): frames cross both ways with
 * passt's framing, malformed guest frames are refused and counted, frames
 * too large for the guest are dropped without losing the next one, a peer
 * that reads slowly stops the queue instead of losing frames, and a peer
 * that goes away leaves a device that still gives the guest its buffers.
 */
#include <endian.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "test.h"
#include "vdrv.h"
#include "devices/virtio/net.h"
#include "util/log.h"

#define RXQ 0
#define TXQ 1
#define QSIZE 256
#define HDR NET_VNET_HDR_LEN

static struct vdrv d;
static int peer = -1;
static int device_side = -1;	/* the backend's socket */
static uint16_t tx_qsize = QSIZE;
static const uint8_t mac[6] = { 0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee };

static struct virtio_net *bring_up(uint64_t caller_features, uint64_t want)
{
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	peer = sv[1];
	device_side = sv[0];
	struct net_backend_config cfg = { .kind = NET_BACKEND_UNIXSTREAM, .fd = sv[0] };
	struct net_backend *b = NULL;
	CHECK_EQ(net_backend_open(&cfg, &b), 0);
	struct virtio_net *n = virtio_net_create(b, mac, caller_features, 0);
	CHECK(n != NULL);
	CHECK_EQ(vdrv_init(&d, virtio_net_ops(n), n), 0);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_DEVICE_ID), 1);
	CHECK(vdrv_negotiate(&d, want | (1ull << VIRTIO_F_VERSION_1)));
	vdrv_setup_queue(&d, RXQ, QSIZE);
	vdrv_setup_queue(&d, TXQ, tx_qsize);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(d.dev.activated);
	return n;
}

static void tear_down(struct virtio_net *n)
{
	vdrv_fini(&d);
	virtio_net_destroy(n);
	if (peer >= 0)
		close(peer);
	peer = -1;
}

static void fill_frame(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* A guest tx chain: header (given or zeroed) in one buffer, frame in another. */
static uint16_t post_tx(const struct virtio_net_hdr_v1 *hdr, size_t frame_len, uint8_t seed)
{
	uint64_t h = vdrv_alloc(&d, HDR, 16), f = vdrv_alloc(&d, frame_len ? frame_len : 1, 16);
	struct virtio_net_hdr_v1 zero = { 0 };
	memcpy(vdrv_ptr(&d, h), hdr ? hdr : &zero, HDR);
	fill_frame(vdrv_ptr(&d, f), frame_len, seed);
	struct vdrv_buf bufs[2] = { { h, HDR, false }, { f, (uint32_t)frame_len, false } };
	return vdrv_post(&d, TXQ, bufs, 2);
}

static uint64_t post_rx(uint32_t len)
{
	uint64_t gpa = vdrv_alloc(&d, len, 16);
	struct vdrv_buf b = { gpa, len, true };
	vdrv_post(&d, RXQ, &b, 1);
	return gpa;
}

static bool read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;
	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, VDRV_TIMEOUT_MS) != 1)
			return false;
		ssize_t n = read(fd, (uint8_t *)buf + got, len - got);
		if (n <= 0)
			return false;
		got += (size_t)n;
	}
	return true;
}

/* Reads one length-prefixed frame from the peer side; its length or -1. */
static ssize_t peer_read_frame(uint8_t *buf, size_t max)
{
	uint32_t be;
	if (!read_full(peer, &be, 4))
		return -1;
	uint32_t len = be32toh(be);
	if (len > max || !read_full(peer, buf, len))
		return -1;
	return len;
}

static void peer_write_frame(const uint8_t *frame, uint32_t len)
{
	uint32_t be = htobe32(len);
	CHECK_EQ(write(peer, &be, 4), 4);
	CHECK_EQ(write(peer, frame, len), (ssize_t)len);
}

static bool peer_has_data(int timeout_ms)
{
	struct pollfd pfd = { .fd = peer, .events = POLLIN };
	return poll(&pfd, 1, timeout_ms) == 1;
}

static void test_features_and_config(void)
{
	uint64_t caller = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_HOST_TSO4);
	struct virtio_net *n = bring_up(caller, 0);
	uint64_t offered = vdrv_device_features(&d);
	CHECK_EQ(offered, caller | (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_F_RING_EVENT_IDX) |
			  (1ull << VIRTIO_F_VERSION_1));
	uint8_t got[6];
	for (int i = 0; i < 6; i++)
		virtio_mmio_read(&d.dev, VIRTIO_MMIO_CONFIG + (uint64_t)i, &got[i], 1);
	CHECK(memcmp(got, mac, 6) == 0);
	uint16_t status = 0xffff;
	virtio_mmio_read(&d.dev, VIRTIO_MMIO_CONFIG + 6, &status, 2);
	CHECK_EQ(status, 0);
	tear_down(n);
}

static void test_tx_framing(void)
{
	struct virtio_net *n = bring_up(0, 0);
	uint16_t head = post_tx(NULL, 60, 1);
	post_tx(NULL, 1514, 2);
	vdrv_kick(&d, TXQ);
	uint32_t id, len;
	CHECK(vdrv_wait_used(&d, TXQ, &id, &len));
	CHECK_EQ(id, head);
	CHECK(vdrv_wait_used(&d, TXQ, &id, &len));
	uint8_t buf[2048], want[2048];
	CHECK_EQ(peer_read_frame(buf, sizeof(buf)), 60);
	fill_frame(want, 60, 1);
	CHECK(memcmp(buf, want, 60) == 0);
	CHECK_EQ(peer_read_frame(buf, sizeof(buf)), 1514);
	fill_frame(want, 1514, 2);
	CHECK(memcmp(buf, want, 1514) == 0);
	CHECK_EQ(virtio_net_get_stats(n).tx_frames, 2);
	tear_down(n);
}

static void test_rx_framing_and_drop(void)
{
	struct virtio_net *n = bring_up(0, 0);
	uint64_t small = post_rx(HDR + 1514), next = post_rx(HDR + 1514);
	vdrv_kick(&d, RXQ);
	uint8_t big[4000], frame[100];
	fill_frame(big, sizeof(big), 9);
	fill_frame(frame, sizeof(frame), 3);
	/* Larger than the guest's buffer: dropped, the buffer serves the next. */
	peer_write_frame(big, sizeof(big));
	peer_write_frame(frame, sizeof(frame));
	uint32_t id, len;
	CHECK(vdrv_wait_used(&d, RXQ, &id, &len));
	CHECK_EQ(id, 0);
	CHECK_EQ(len, HDR + sizeof(frame));
	const uint8_t *got = vdrv_ptr(&d, small);
	static const uint8_t want_hdr[HDR] = { [10] = 1 };
	CHECK(memcmp(got, want_hdr, HDR) == 0);
	CHECK(memcmp(got + HDR, frame, sizeof(frame)) == 0);
	CHECK_EQ(virtio_net_get_stats(n).rx_dropped, 1);
	/* Frames split across writes still arrive whole. */
	uint32_t be = htobe32(sizeof(frame));
	CHECK_EQ(write(peer, &be, 2), 2);
	usleep(20000);
	CHECK_EQ(write(peer, (uint8_t *)&be + 2, 2), 2);
	CHECK_EQ(write(peer, frame, 50), 50);
	usleep(20000);
	CHECK_EQ(write(peer, frame + 50, 50), 50);
	CHECK(vdrv_wait_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, HDR + sizeof(frame));
	CHECK(memcmp((uint8_t *)vdrv_ptr(&d, next) + HDR, frame, sizeof(frame)) == 0);
	tear_down(n);
}

static void test_rx_waits_for_buffers(void)
{
	struct virtio_net *n = bring_up(0, 0);
	uint8_t frame[64];
	fill_frame(frame, sizeof(frame), 5);
	/* No rx buffers yet: the frame waits in the socket, nothing is lost. */
	peer_write_frame(frame, sizeof(frame));
	usleep(50000);
	CHECK_EQ(virtio_net_get_stats(n).rx_dropped, 0);
	uint64_t gpa = post_rx(HDR + 1514);
	vdrv_kick(&d, RXQ);
	uint32_t id, len;
	CHECK(vdrv_wait_used(&d, RXQ, &id, &len));
	CHECK_EQ(len, HDR + sizeof(frame));
	CHECK(memcmp((uint8_t *)vdrv_ptr(&d, gpa) + HDR, frame, sizeof(frame)) == 0);
	tear_down(n);
}

static void test_tx_malformed(void)
{
	uint64_t caller = 1ull << VIRTIO_NET_F_CSUM;
	struct virtio_net *n = bring_up(caller, caller);
	struct virtio_net_hdr_v1 tso = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = 1448 };
	struct virtio_net_hdr_v1 far_csum = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					      .csum_start = 50, .csum_offset = 16 };
	struct virtio_net_hdr_v1 bad_flags = { .flags = 0x80 };
	struct virtio_net_hdr_v1 ecn = { .gso_type = VIRTIO_NET_HDR_GSO_ECN | 1, .gso_size = 1 };
	post_tx(&tso, 1000, 0);		/* HOST_TSO4 not offered */
	post_tx(&far_csum, 60, 0);	/* checksum field past the frame */
	post_tx(&bad_flags, 60, 0);
	post_tx(&ecn, 60, 0);
	post_tx(NULL, 10, 0);		/* shorter than an Ethernet header */
	/* A header split from nothing: the chain is only 8 bytes. */
	struct vdrv_buf tiny = { vdrv_alloc(&d, 8, 16), 8, false };
	vdrv_post(&d, TXQ, &tiny, 1);
	/* A device-writable buffer in a tx chain. */
	struct vdrv_buf wr[2] = { { vdrv_alloc(&d, HDR + 60, 16), HDR + 60, false },
				  { vdrv_alloc(&d, 16, 16), 16, true } };
	vdrv_post(&d, TXQ, wr, 2);
	/* A valid checksum-offload frame goes through. */
	struct virtio_net_hdr_v1 csum = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM,
					  .csum_start = 34, .csum_offset = 16 };
	post_tx(&csum, 60, 4);
	vdrv_kick(&d, TXQ);
	uint32_t id, len;
	for (int i = 0; i < 8; i++)
		CHECK(vdrv_wait_used(&d, TXQ, &id, &len));
	uint8_t buf[128], want[60];
	CHECK_EQ(peer_read_frame(buf, sizeof(buf)), 60);
	fill_frame(want, 60, 4);
	CHECK(memcmp(buf, want, 60) == 0);
	CHECK(!peer_has_data(50));
	struct virtio_net_stats st = virtio_net_get_stats(n);
	CHECK_EQ(st.tx_malformed, 7);
	CHECK_EQ(st.tx_frames, 1);
	CHECK(!(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	tear_down(n);
}

static void test_header_check(void)
{
	uint8_t h[HDR] = { 0 };
	CHECK_EQ(virtio_net_check_tx_hdr(h, 60, 0), 0);
	struct virtio_net_hdr_v1 v = { .gso_type = VIRTIO_NET_HDR_GSO_TCPV6, .gso_size = 1400 };
	memcpy(h, &v, HDR);
	CHECK_EQ(virtio_net_check_tx_hdr(h, 9000, 1ull << VIRTIO_NET_F_HOST_TSO4), -EINVAL);
	CHECK_EQ(virtio_net_check_tx_hdr(h, 9000, 1ull << VIRTIO_NET_F_HOST_TSO6), 0);
	v.gso_size = 0;
	memcpy(h, &v, HDR);
	CHECK_EQ(virtio_net_check_tx_hdr(h, 9000, 1ull << VIRTIO_NET_F_HOST_TSO6), -EINVAL);
	v = (struct virtio_net_hdr_v1){ .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = 0xffff,
					.csum_offset = 0xffff };
	memcpy(h, &v, HDR);
	CHECK_EQ(virtio_net_check_tx_hdr(h, 65000, 1ull << VIRTIO_NET_F_CSUM), -EINVAL);
}

/* The peer reads nothing for a while: the socket fills, the backend keeps
 * the part of a frame it could not send, the queue stops; then everything
 * arrives in order, whole. */
static void test_backpressure_keeps_frames(void)
{
	struct virtio_net *n = bring_up(0, 0);
	/* Far below what the backend asks for, so the test fills it. */
	int small = 4096;
	CHECK_EQ(setsockopt(device_side, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	enum { FRAMES = 120, LEN = 8000 };	/* 2 descriptors each: fits QSIZE */
	for (int i = 0; i < FRAMES; i++)
		post_tx(NULL, LEN, (uint8_t)i);
	vdrv_kick(&d, TXQ);
	usleep(100000);
	uint32_t id, len;
	int done = 0;
	while (vdrv_get_used(&d, TXQ, &id, &len))
		done++;
	CHECK(done < FRAMES);	/* the queue stopped: the peer is full */
	uint8_t buf[LEN], want[LEN];
	for (int i = 0; i < FRAMES; i++) {
		if (peer_read_frame(buf, sizeof(buf)) != LEN) {
			CHECK(!"frame lost or stream out of step");
			break;
		}
		fill_frame(want, LEN, (uint8_t)i);
		if (memcmp(buf, want, LEN)) {
			CHECK(!"frame corrupted");
			break;
		}
	}
	while (done < FRAMES && vdrv_wait_used(&d, TXQ, &id, &len))
		done++;
	CHECK_EQ(done, FRAMES);
	CHECK_EQ(virtio_net_get_stats(n).tx_frames, FRAMES);
	tear_down(n);
}

static void test_peer_gone(void)
{
	struct virtio_net *n = bring_up(0, 0);
	post_rx(HDR + 1514);
	vdrv_kick(&d, RXQ);
	close(peer);
	peer = -1;
	usleep(50000);
	/* The guest still gets its tx buffers back; nothing crashes. */
	for (int i = 0; i < 3; i++)
		post_tx(NULL, 60, 0);
	vdrv_kick(&d, TXQ);
	uint32_t id, len;
	for (int i = 0; i < 3; i++)
		CHECK(vdrv_wait_used(&d, TXQ, &id, &len));
	CHECK_EQ(virtio_net_get_stats(n).tx_dropped, 3);
	CHECK(!(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	tear_down(n);
}

static void test_peer_speaks_garbage(void)
{
	struct virtio_net *n = bring_up(0, 0);
	post_rx(HDR + 1514);
	vdrv_kick(&d, RXQ);
	uint32_t huge = htobe32(1u << 30);
	CHECK_EQ(write(peer, &huge, 4), 4);
	usleep(50000);
	post_tx(NULL, 60, 0);
	vdrv_kick(&d, TXQ);
	uint32_t id, len;
	CHECK(vdrv_wait_used(&d, TXQ, &id, &len));
	CHECK_EQ(virtio_net_get_stats(n).tx_dropped, 1);
	CHECK_EQ(vdrv_used(&d, RXQ)->idx, 0);
	tear_down(n);
}

/* Found by fuzz_net: a frame the socket took only in part was used and
 * its tail kept in the backend, and nothing sent the tail until the guest
 * sent another frame: the peer never got the guest's last frame whole. */
static void test_partly_sent_last_frame_goes_out(void)
{
	struct virtio_net *n = bring_up(0, 0);
	int small = 4096;
	CHECK_EQ(setsockopt(device_side, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	enum { LEN = 60000 };	/* far more than the socket takes at once */
	post_tx(NULL, LEN, 3);
	vdrv_kick(&d, TXQ);
	uint32_t id, len;
	CHECK(vdrv_wait_used(&d, TXQ, &id, &len));
	static uint8_t buf[LEN], want[LEN];
	CHECK_EQ(peer_read_frame(buf, sizeof(buf)), LEN);
	fill_frame(want, LEN, 3);
	CHECK(memcmp(buf, want, LEN) == 0);
	CHECK_EQ(virtio_net_get_stats(n).tx_frames, 1);
	tear_down(n);
}

/* Found by fuzz_net: tx waited for a full socket when the peer's garbage
 * made the device give its backend up; nothing woke the tx queue again and
 * the guest's frames stayed there instead of coming back dropped. */
static void test_backend_lost_while_tx_blocked(void)
{
	struct virtio_net *n = bring_up(0, 0);
	int small = 4096;
	CHECK_EQ(setsockopt(device_side, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	post_rx(HDR + 1514);
	vdrv_kick(&d, RXQ);
	enum { FRAMES = 20, LEN = 8000 };
	for (int i = 0; i < FRAMES; i++)
		post_tx(NULL, LEN, (uint8_t)i);
	vdrv_kick(&d, TXQ);
	usleep(50000);
	uint32_t id, len;
	int done = 0;
	while (vdrv_get_used(&d, TXQ, &id, &len))
		done++;
	CHECK(done < FRAMES);	/* blocked: the peer reads nothing */
	uint32_t huge = htobe32(1u << 30);
	CHECK_EQ(write(peer, &huge, 4), 4);
	/* No kick: the device has all it needs to give the chains back. */
	while (done < FRAMES && vdrv_wait_used(&d, TXQ, &id, &len))
		done++;
	CHECK_EQ(done, FRAMES);
	struct virtio_net_stats st = virtio_net_get_stats(n);
	CHECK_EQ(st.tx_frames + st.tx_dropped, FRAMES);
	CHECK(st.tx_dropped > 0);
	tear_down(n);
}

/* Found by fuzz_net: after a batch of 256 tx chains the worker slept with
 * more waiting; the queue had not been re-armed, so no kick would come. */
static void test_more_tx_than_a_batch(void)
{
	tx_qsize = 1024;
	struct virtio_net *n = bring_up(0, 0);
	enum { FRAMES = 300 };
	for (int i = 0; i < FRAMES; i++)
		post_tx(NULL, 10, 0);	/* malformed: no peer involved */
	vdrv_kick(&d, TXQ);
	uint32_t id, len;
	int done = 0;
	while (done < FRAMES && vdrv_wait_used(&d, TXQ, &id, &len))
		done++;
	CHECK_EQ(done, FRAMES);
	CHECK_EQ(virtio_net_get_stats(n).tx_malformed, FRAMES);
	tear_down(n);
	tx_qsize = QSIZE;
}

/* The driver resets the device and starts again (module reload). */
static void test_reset_and_again(void)
{
	struct virtio_net *n = bring_up(0, 0);
	d.q[RXQ] = (struct vdrv_queue){ 0 };
	d.q[TXQ] = (struct vdrv_queue){ 0 };
	CHECK(vdrv_negotiate(&d, 1ull << VIRTIO_F_VERSION_1));
	vdrv_setup_queue(&d, RXQ, QSIZE);
	vdrv_setup_queue(&d, TXQ, QSIZE);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	post_tx(NULL, 60, 7);
	vdrv_kick(&d, TXQ);
	uint8_t buf[64];
	CHECK_EQ(peer_read_frame(buf, sizeof(buf)), 60);
	tear_down(n);
}

int main(void)
{
	krun_log_configure(2, LOG_LVL_ERROR);
	RUN_TEST(test_features_and_config);
	RUN_TEST(test_tx_framing);
	RUN_TEST(test_rx_framing_and_drop);
	RUN_TEST(test_rx_waits_for_buffers);
	RUN_TEST(test_tx_malformed);
	RUN_TEST(test_header_check);
	RUN_TEST(test_backpressure_keeps_frames);
	RUN_TEST(test_peer_gone);
	RUN_TEST(test_peer_speaks_garbage);
	RUN_TEST(test_reset_and_again);
	RUN_TEST(test_partly_sent_last_frame_goes_out);
	RUN_TEST(test_backend_lost_while_tx_blocked);
	RUN_TEST(test_more_tx_than_a_batch);
	TEST_MAIN_END();
}
