// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-vsock through the fake driver, which plays the Linux vsock driver
 * (rx buffers as a 44-byte header descriptor plus a 4 KiB data descriptor,
 * one tx chain per packet) against host unix sockets made by the test:
 * connects to mapped ports, data both ways, credit in both directions,
 * CREDIT_REQUEST, shutdown/close, RST for unknown ports, malformed and
 * hostile packets, the connection cap, host-initiated connections; TSI's
 * control channel against host TCP/UDP sockets on 127.0.0.1 (connect,
 * listen/accept, the port map, datagrams, hostile requests, the proxy cap).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_vsock.h>

#include "test.h"
#include "vdrv.h"
#include "devices/virtio/vsock.h"
#include "util/log.h"

#define RX_Q 0
#define TX_Q 1
#define QSZ VSOCK_QUEUE_SIZE
#define NR_RX 64
#define RX_DATA 4096
#define TX_AREA (VSOCK_HDR_SIZE + VSOCK_MAX_PAYLOAD + 4096)
#define BUF_ALLOC (16u * 1024)

#define PORT_OUT 1000		/* guest connects, host listens */
#define PORT_NOBODY 1001	/* mapped to a path nobody listens on */
#define PORT_IN 2000		/* host connects, guest listens */

struct pkt {
	struct vsock_hdr h;
	uint8_t data[RX_DATA];
};

struct vt {
	struct vdrv d;
	struct virtio_vsock *v;
	char dir[64];
	char out_path[108], nobody_path[108], in_path[108];
	int host_listener;
	uint64_t rx_gpa[NR_RX];
	int rx_of_head[QSZ];
	uint64_t tx_gpa;
};

static struct vt t;
/* up_with() switches TSI on with this when set. */
static const struct vsock_tsi_config *tsi_cfg;

static void make_paths(void)
{
	strcpy(t.dir, "/tmp/vsock-test-XXXXXX");
	CHECK(mkdtemp(t.dir) != NULL);
	snprintf(t.out_path, sizeof(t.out_path), "%s/out.sock", t.dir);
	snprintf(t.nobody_path, sizeof(t.nobody_path), "%s/nobody.sock", t.dir);
	snprintf(t.in_path, sizeof(t.in_path), "%s/in.sock", t.dir);
}

static int unix_listen(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(fd, 16), 0);
	return fd;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void post_rx(int i)
{
	struct vdrv_buf b[2] = {
		{ t.rx_gpa[i], VSOCK_HDR_SIZE, true },
		{ t.rx_gpa[i] + VSOCK_HDR_SIZE, RX_DATA, true },
	};
	uint16_t head = vdrv_post(&t.d, RX_Q, b, 2);

	t.rx_of_head[head] = i;
}

static void up_with(const struct vsock_limits *lim, bool dgram)
{
	memset(&t, 0, sizeof(t));
	make_paths();
	t.host_listener = unix_listen(t.out_path);
	struct vsock_port ports[] = {
		{ PORT_OUT, t.out_path, false },
		{ PORT_NOBODY, t.nobody_path, false },
		{ PORT_IN, t.in_path, true },
	};
	int err = 1;
	t.v = virtio_vsock_create(ports, 3, lim, &err);
	CHECK(t.v != NULL);
	CHECK_EQ(err, 0);
	if (tsi_cfg)
		CHECK_EQ(virtio_vsock_set_tsi(t.v, tsi_cfg), 0);
	CHECK_EQ(vdrv_init(&t.d, virtio_vsock_ops(), t.v), 0);
	CHECK_EQ(vdrv_r(&t.d, VIRTIO_MMIO_DEVICE_ID), 19);
	uint64_t f = 1ull << VIRTIO_F_VERSION_1;
	if (dgram)
		f |= 1ull << VIRTIO_VSOCK_F_DGRAM;
	CHECK(vdrv_negotiate(&t.d, f));
	for (unsigned int q = 0; q < 3; q++)
		vdrv_setup_queue(&t.d, q, QSZ);
	vdrv_status_add(&t.d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(t.d.dev.activated);
	for (int i = 0; i < NR_RX; i++) {
		t.rx_gpa[i] = vdrv_alloc(&t.d, VSOCK_HDR_SIZE + RX_DATA, 8);
		post_rx(i);
	}
	vdrv_kick(&t.d, RX_Q);
	t.tx_gpa = vdrv_alloc(&t.d, TX_AREA, 8);
}

static void up(void)
{
	struct vsock_limits lim = { .max_conns = 4, .buf_alloc = BUF_ALLOC };

	up_with(&lim, false);
}

static struct virtio_vsock_stats down(void)
{
	struct virtio_vsock_stats st;

	vdrv_fini(&t.d);
	virtio_vsock_stats(t.v, &st);
	virtio_vsock_destroy(t.v);
	close(t.host_listener);
	unlink(t.out_path);
	CHECK(access(t.in_path, F_OK) != 0);	/* the listener's file went with it */
	rmdir(t.dir);
	return st;
}

static struct vsock_hdr hdr(uint32_t src_port, uint32_t dst_port, uint16_t op)
{
	return (struct vsock_hdr){
		.src_cid = VSOCK_GUEST_CID, .dst_cid = VSOCK_HOST_CID,
		.src_port = src_port, .dst_port = dst_port,
		.type = VSOCK_TYPE_STREAM, .op = op, .buf_alloc = 64 * 1024,
	};
}

static void wire(const struct vsock_hdr *h, struct virtio_vsock_hdr *w)
{
	*w = (struct virtio_vsock_hdr){
		.src_cid = htole64(h->src_cid), .dst_cid = htole64(h->dst_cid),
		.src_port = htole32(h->src_port), .dst_port = htole32(h->dst_port),
		.len = htole32(h->len), .type = htole16(h->type), .op = htole16(h->op),
		.flags = htole32(h->flags), .buf_alloc = htole32(h->buf_alloc),
		.fwd_cnt = htole32(h->fwd_cnt),
	};
}

/* One tx chain: header (h->len as given) then chain_payload bytes, cut into
 * two descriptors at split (0: one descriptor). */
static void send_raw(const struct vsock_hdr *h, const void *payload, uint32_t chain_payload,
		     uint32_t split)
{
	struct virtio_vsock_hdr w;
	uint8_t *p = vdrv_ptr(&t.d, t.tx_gpa);
	uint32_t total = VSOCK_HDR_SIZE + chain_payload;

	wire(h, &w);
	memcpy(p, &w, sizeof(w));
	if (chain_payload)
		memcpy(p + VSOCK_HDR_SIZE, payload, chain_payload);
	struct vdrv_buf b[2] = {
		{ t.tx_gpa, split ? split : total, false },
		{ t.tx_gpa + split, total - split, false },
	};
	uint16_t head = vdrv_post(&t.d, TX_Q, b, split ? 2 : 1);
	vdrv_kick(&t.d, TX_Q);
	uint32_t id = 0, len = 1;
	CHECK(vdrv_wait_used(&t.d, TX_Q, &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(len, 0);
}

static void send_pkt(struct vsock_hdr h, const void *payload, uint32_t len)
{
	h.len = len;
	send_raw(&h, payload, len, 0);
}

/* Next rx packet within timeout_ms; its buffer goes straight back. */
static bool recv_pkt(struct pkt *p, int timeout_ms)
{
	int64_t end = vdrv_now_ms() + timeout_ms;
	uint32_t id, len;

	while (!vdrv_get_used(&t.d, RX_Q, &id, &len)) {
		int64_t left = end - vdrv_now_ms();
		if (left <= 0)
			return false;
		vdrv_wait_irq(&t.d, (int)left);
	}
	CHECK(id < QSZ);
	int i = t.rx_of_head[id % QSZ];
	struct virtio_vsock_hdr w;
	memcpy(&w, vdrv_ptr(&t.d, t.rx_gpa[i]), sizeof(w));
	p->h = (struct vsock_hdr){
		.src_cid = le64toh(w.src_cid), .dst_cid = le64toh(w.dst_cid),
		.src_port = le32toh(w.src_port), .dst_port = le32toh(w.dst_port),
		.len = le32toh(w.len), .type = le16toh(w.type), .op = le16toh(w.op),
		.flags = le32toh(w.flags), .buf_alloc = le32toh(w.buf_alloc),
		.fwd_cnt = le32toh(w.fwd_cnt),
	};
	CHECK(len >= VSOCK_HDR_SIZE);
	CHECK_EQ(len, VSOCK_HDR_SIZE + p->h.len);
	CHECK(p->h.len <= RX_DATA);
	if (p->h.len <= RX_DATA)
		memcpy(p->data, vdrv_ptr(&t.d, t.rx_gpa[i] + VSOCK_HDR_SIZE), p->h.len);
	post_rx(i);
	vdrv_kick(&t.d, RX_Q);
	return true;
}

static void expect_op(uint32_t host_port, uint32_t guest_port, uint16_t op)
{
	struct pkt p;

	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, op);
	CHECK_EQ(p.h.src_cid, VSOCK_HOST_CID);
	CHECK_EQ(p.h.dst_cid, VSOCK_GUEST_CID);
	CHECK_EQ(p.h.src_port, host_port);
	CHECK_EQ(p.h.dst_port, guest_port);
	CHECK_EQ(p.h.type, VSOCK_TYPE_STREAM);
}

static void expect_nothing(void)
{
	struct pkt p;

	CHECK(!recv_pkt(&p, 150));
}

/* Guest connect to PORT_OUT from guest_port; returns the host's end. */
static int connect_out(uint32_t guest_port, uint32_t guest_buf_alloc)
{
	struct vsock_hdr h = hdr(guest_port, PORT_OUT, VIRTIO_VSOCK_OP_REQUEST);

	h.buf_alloc = guest_buf_alloc;
	send_pkt(h, NULL, 0);
	expect_op(PORT_OUT, guest_port, VIRTIO_VSOCK_OP_RESPONSE);
	int fd = accept4(t.host_listener, NULL, NULL, SOCK_CLOEXEC);
	CHECK(fd >= 0);
	return fd;
}

static void read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = read(fd, (uint8_t *)buf + done, len - done);
		CHECK(n > 0);
		if (n <= 0)
			return;
		done += (size_t)n;
	}
}

static void test_config_and_features(void)
{
	up();
	uint64_t f = vdrv_device_features(&t.d);
	CHECK(f & (1ull << VIRTIO_F_VERSION_1));
	CHECK(f & (1ull << VIRTIO_VSOCK_F_DGRAM));
	uint64_t cid = 0;
	virtio_mmio_read(&t.d.dev, VIRTIO_MMIO_CONFIG, &cid, 8);
	CHECK_EQ(le64toh(cid), 3);
	uint32_t lo = 0;
	virtio_mmio_read(&t.d.dev, VIRTIO_MMIO_CONFIG, &lo, 4);
	CHECK_EQ(le32toh(lo), 3);
	vdrv_w(&t.d, VIRTIO_MMIO_QUEUE_SEL, 1);
	CHECK_EQ(vdrv_r(&t.d, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	down();
}

static void test_connect_and_data(void)
{
	up();
	int fd = connect_out(5000, 64 * 1024);
	struct vsock_hdr h = hdr(5000, PORT_OUT, VIRTIO_VSOCK_OP_RW);
	send_pkt(h, "hello", 5);
	char buf[16] = { 0 };
	read_full(fd, buf, 5);
	CHECK_STR(buf, "hello");

	CHECK_EQ(write(fd, "world!", 6), 6);
	struct pkt p;
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.h.len, 6);
	CHECK(memcmp(p.data, "world!", 6) == 0);
	CHECK_EQ(p.h.buf_alloc, BUF_ALLOC);
	CHECK_EQ(p.h.fwd_cnt, 5);	/* the guest's 5 bytes went to the host */

	/* Guest half-close: the host reads EOF, can still write. */
	h.op = VIRTIO_VSOCK_OP_SHUTDOWN;
	h.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
	send_pkt(h, NULL, 0);
	CHECK_EQ(read(fd, buf, sizeof(buf)), 0);
	CHECK_EQ(write(fd, "x", 1), 1);
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);

	/* Guest close (RCV|SEND, as Linux): RST, the host's socket is closed. */
	h.flags = VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV;
	send_pkt(h, NULL, 0);
	expect_op(PORT_OUT, 5000, VIRTIO_VSOCK_OP_RST);
	CHECK_EQ(read(fd, buf, 1), 0);
	close(fd);

	/* Host close: SHUTDOWN(SEND) after the data, then the guest's RST
	 * frees the connection without a reply. */
	fd = connect_out(5001, 64 * 1024);
	CHECK_EQ(write(fd, "bye", 3), 3);
	close(fd);
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.h.len, 3);
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
	CHECK_EQ(p.h.flags, VIRTIO_VSOCK_SHUTDOWN_SEND);
	h = hdr(5001, PORT_OUT, VIRTIO_VSOCK_OP_RST);
	send_pkt(h, NULL, 0);
	expect_nothing();
	struct virtio_vsock_stats st = down();
	CHECK_EQ(st.mux.bytes_to_host, 5);
	CHECK_EQ(st.mux.bytes_to_guest, 6 + 1 + 3);
}

/* The device never sends beyond the guest's credit, asks for more when it
 * runs out, and goes on when the guest says it has room. */
static void test_credit_limit(void)
{
	up();
	int fd = connect_out(5100, 1000);
	static uint8_t big[5000];
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	CHECK_EQ(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));

	uint32_t got = 0, fwd = 0;
	static uint8_t seen[5000];
	for (int round = 0; round < 5; round++) {
		struct pkt p;
		uint32_t this_round = 0;
		bool asked = false;
		while (!asked && recv_pkt(&p, VDRV_TIMEOUT_MS)) {
			if (p.h.op == VIRTIO_VSOCK_OP_CREDIT_REQUEST) {
				asked = true;
				break;
			}
			CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
			CHECK(got + p.h.len <= sizeof(seen));
			if (got + p.h.len > sizeof(seen))
				break;
			memcpy(seen + got, p.data, p.h.len);
			got += p.h.len;
			this_round += p.h.len;
		}
		CHECK(asked);
		CHECK_EQ(this_round, 1000);	/* exactly the window, never more */
		expect_nothing();
		/* The guest read it all: a CREDIT_UPDATE reopens the window. */
		fwd += this_round;
		struct vsock_hdr h = hdr(5100, PORT_OUT, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
		h.buf_alloc = 1000;
		h.fwd_cnt = fwd;
		send_pkt(h, NULL, 0);
	}
	CHECK_EQ(got, sizeof(big));
	CHECK(memcmp(seen, big, sizeof(big)) == 0);
	close(fd);
	down();
}

static void test_credit_request_answered(void)
{
	up();
	int fd = connect_out(5200, 64 * 1024);
	struct vsock_hdr h = hdr(5200, PORT_OUT, VIRTIO_VSOCK_OP_RW);
	send_pkt(h, "abcdefgh", 8);
	char buf[8];
	read_full(fd, buf, 8);
	h.op = VIRTIO_VSOCK_OP_CREDIT_REQUEST;
	send_pkt(h, NULL, 0);
	struct pkt p;
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	CHECK_EQ(p.h.buf_alloc, BUF_ALLOC);
	CHECK_EQ(p.h.fwd_cnt, 8);
	close(fd);
	down();
}

/* Guest->host credit: a host that does not read makes the device buffer
 * up to its advertised window; a guest sending past it is reset, and the
 * device sends CREDIT_UPDATE as the host consumes. */
static void test_guest_credit_enforced(void)
{
	up();
	int fd = connect_out(5300, 64 * 1024);
	static uint8_t chunk[4096];
	struct vsock_hdr h = hdr(5300, PORT_OUT, VIRTIO_VSOCK_OP_RW);
	bool reset = false;
	/* Ignore our credit on purpose until the device gives up. */
	for (int i = 0; i < 4096 && !reset; i++) {
		send_pkt(h, chunk, sizeof(chunk));
		struct pkt p;
		while (recv_pkt(&p, 0)) {
			if (p.h.op == VIRTIO_VSOCK_OP_RST)
				reset = true;
			else
				CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
		}
	}
	if (!reset) {
		struct pkt p;
		reset = recv_pkt(&p, VDRV_TIMEOUT_MS) && p.h.op == VIRTIO_VSOCK_OP_RST;
	}
	CHECK(reset);
	close(fd);
	struct virtio_vsock_stats st = down();
	CHECK_EQ(st.mux.credit_violations, 1);
}

static void test_rst_for_unknown_ports(void)
{
	up();
	send_pkt(hdr(5400, 4242, VIRTIO_VSOCK_OP_REQUEST), NULL, 0);
	expect_op(4242, 5400, VIRTIO_VSOCK_OP_RST);
	/* The guest listens on PORT_IN; a connect to it is refused. */
	send_pkt(hdr(5401, PORT_IN, VIRTIO_VSOCK_OP_REQUEST), NULL, 0);
	expect_op(PORT_IN, 5401, VIRTIO_VSOCK_OP_RST);
	/* Mapped, but nobody listens at the path. */
	send_pkt(hdr(5402, PORT_NOBODY, VIRTIO_VSOCK_OP_REQUEST), NULL, 0);
	expect_op(PORT_NOBODY, 5402, VIRTIO_VSOCK_OP_RST);
	/* RW, SHUTDOWN, CREDIT_* for a connection that does not exist. */
	send_pkt(hdr(5403, PORT_OUT, VIRTIO_VSOCK_OP_RW), "zz", 2);
	expect_op(PORT_OUT, 5403, VIRTIO_VSOCK_OP_RST);
	send_pkt(hdr(5404, PORT_OUT, VIRTIO_VSOCK_OP_CREDIT_UPDATE), NULL, 0);
	expect_op(PORT_OUT, 5404, VIRTIO_VSOCK_OP_RST);
	/* ... but never an RST for an RST. */
	send_pkt(hdr(5405, PORT_OUT, VIRTIO_VSOCK_OP_RST), NULL, 0);
	expect_nothing();
	struct virtio_vsock_stats st = down();
	CHECK_EQ(st.mux.conns_refused, 3);
}

static void test_malformed_packets(void)
{
	up();
	static uint8_t payload[VSOCK_MAX_PAYLOAD + 64];
	struct vsock_hdr h = hdr(5500, PORT_OUT, VIRTIO_VSOCK_OP_REQUEST);

	/* len beyond the chain. */
	h.len = 100;
	send_raw(&h, payload, 50, 0);
	/* len beyond 64 KiB, chain long enough. */
	h.len = VSOCK_MAX_PAYLOAD + 1;
	send_raw(&h, payload, VSOCK_MAX_PAYLOAD + 1, 0);
	/* len = UINT32_MAX (wraps if added carelessly). */
	h.len = UINT32_MAX;
	send_raw(&h, payload, 8, 0);
	/* A chain shorter than a header. */
	struct vdrv_buf b = { t.tx_gpa, 10, false };
	uint16_t head = vdrv_post(&t.d, TX_Q, &b, 1);
	vdrv_kick(&t.d, TX_Q);
	uint32_t id = QSZ, len;
	CHECK(vdrv_wait_used(&t.d, TX_Q, &id, &len));
	CHECK_EQ(id, head);
	/* Wrong CIDs. */
	h = hdr(5501, PORT_OUT, VIRTIO_VSOCK_OP_REQUEST);
	h.src_cid = 4;
	send_pkt(h, NULL, 0);
	h.src_cid = VSOCK_GUEST_CID | 1ull << 32;
	send_pkt(h, NULL, 0);
	h.src_cid = VSOCK_GUEST_CID;
	h.dst_cid = 1;
	send_pkt(h, NULL, 0);
	h.dst_cid = VSOCK_HOST_CID | 1ull << 40;
	send_pkt(h, NULL, 0);
	/* Unknown ops and types; DGRAM without the feature. */
	h = hdr(5502, PORT_OUT, 0);
	send_pkt(h, NULL, 0);
	h.op = 8;
	send_pkt(h, NULL, 0);
	h.op = 0xffff;
	send_pkt(h, NULL, 0);
	h = hdr(5503, PORT_OUT, VIRTIO_VSOCK_OP_REQUEST);
	h.type = 2;
	send_pkt(h, NULL, 0);
	h.type = VSOCK_TYPE_DGRAM;
	send_pkt(h, NULL, 0);
	h.type = 0;
	send_pkt(h, NULL, 0);
	expect_nothing();
	CHECK(!(vdrv_r(&t.d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));

	/* A valid REQUEST whose header is split across descriptors works. */
	h = hdr(5504, PORT_OUT, VIRTIO_VSOCK_OP_REQUEST);
	send_raw(&h, NULL, 0, 20);
	expect_op(PORT_OUT, 5504, VIRTIO_VSOCK_OP_RESPONSE);
	int fd = accept4(t.host_listener, NULL, NULL, SOCK_CLOEXEC);
	CHECK(fd >= 0);
	/* And RW payload split mid-header and mid-data. */
	h.op = VIRTIO_VSOCK_OP_RW;
	h.len = 6;
	send_raw(&h, "split!", 6, 41);
	char buf[8] = { 0 };
	read_full(fd, buf, 6);
	CHECK_STR(buf, "split!");
	h.len = 6;
	send_raw(&h, "SPLIT!", 6, 47);
	read_full(fd, buf, 6);
	CHECK_STR(buf, "SPLIT!");
	close(fd);
	struct virtio_vsock_stats st = down();
	CHECK_EQ(st.malformed, 4);
	CHECK_EQ(st.wrong_cid, 4);
	CHECK_EQ(st.bad_op, 3);
	CHECK_EQ(st.bad_type, 3);
}

static void test_dgram_counted(void)
{
	up_with(NULL, true);
	struct vsock_hdr h = hdr(5600, 1025, VIRTIO_VSOCK_OP_RW);
	h.type = VSOCK_TYPE_DGRAM;
	send_pkt(h, "tsi", 3);
	expect_nothing();
	struct virtio_vsock_stats st = down();
	CHECK_EQ(st.mux.dgram_dropped, 1);
	CHECK_EQ(st.bad_type, 0);
}

static void test_connection_cap(void)
{
	up();	/* max_conns = 4 */
	int fds[4];
	for (int i = 0; i < 4; i++)
		fds[i] = connect_out(5700 + (uint32_t)i, 64 * 1024);
	send_pkt(hdr(5710, PORT_OUT, VIRTIO_VSOCK_OP_REQUEST), NULL, 0);
	expect_op(PORT_OUT, 5710, VIRTIO_VSOCK_OP_RST);
	/* A host client over the cap is closed, the guest hears nothing. */
	int c = unix_connect(t.in_path);
	char b;
	CHECK_EQ(read(c, &b, 1), 0);
	close(c);
	expect_nothing();
	/* Closing one makes room again. */
	send_pkt(hdr(5700, PORT_OUT, VIRTIO_VSOCK_OP_RST), NULL, 0);
	close(fds[0]);
	fds[0] = connect_out(5711, 64 * 1024);
	for (int i = 0; i < 4; i++)
		close(fds[i]);
	struct virtio_vsock_stats st = down();
	CHECK_EQ(st.mux.conns_refused, 2);
}

/* Duplicate REQUEST on a live connection resets it. */
static void test_duplicate_request(void)
{
	up();
	int fd = connect_out(5800, 64 * 1024);
	send_pkt(hdr(5800, PORT_OUT, VIRTIO_VSOCK_OP_REQUEST), NULL, 0);
	expect_op(PORT_OUT, 5800, VIRTIO_VSOCK_OP_RST);
	char b;
	CHECK_EQ(read(fd, &b, 1), 0);
	close(fd);
	down();
}

static void test_host_initiated(void)
{
	up();
	int c = unix_connect(t.in_path);
	struct pkt p;
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(p.h.dst_port, PORT_IN);
	uint32_t hp = p.h.src_port;
	CHECK(hp >= 1024);
	/* Data waits for the guest's RESPONSE. */
	CHECK_EQ(write(c, "ping", 4), 4);
	expect_nothing();
	send_pkt(hdr(PORT_IN, hp, VIRTIO_VSOCK_OP_RESPONSE), NULL, 0);
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.h.len, 4);
	CHECK(memcmp(p.data, "ping", 4) == 0);
	send_pkt(hdr(PORT_IN, hp, VIRTIO_VSOCK_OP_RW), "pong", 4);
	char buf[8] = { 0 };
	read_full(c, buf, 4);
	CHECK_STR(buf, "pong");
	/* Host closes: the guest sees SHUTDOWN(SEND), closes, gets RST. */
	close(c);
	expect_op(hp, PORT_IN, VIRTIO_VSOCK_OP_SHUTDOWN);
	struct vsock_hdr h = hdr(PORT_IN, hp, VIRTIO_VSOCK_OP_SHUTDOWN);
	h.flags = 3;
	send_pkt(h, NULL, 0);
	expect_op(hp, PORT_IN, VIRTIO_VSOCK_OP_RST);

	/* A guest that does not listen answers RST: the host client sees EOF. */
	c = unix_connect(t.in_path);
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	send_pkt(hdr(PORT_IN, p.h.src_port, VIRTIO_VSOCK_OP_RST), NULL, 0);
	CHECK_EQ(read(c, buf, 1), 0);
	close(c);
	down();
}

/* Host->guest bulk with the guest's credit and rx buffers recycled: the
 * bytes arrive in order and complete. */
static void test_bulk_to_guest(void)
{
	up();
	int fd = connect_out(5900, 64 * 1024);
	static uint8_t data[1 << 20];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i ^ i >> 8);
	int flags = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	size_t sent = 0, got = 0;
	uint32_t fwd = 0;
	bool ok = true;
	int64_t end = vdrv_now_ms() + 20000;
	while (got < sizeof(data) && ok && vdrv_now_ms() < end) {
		if (sent < sizeof(data)) {
			ssize_t n = write(fd, data + sent, sizeof(data) - sent);
			if (n > 0)
				sent += (size_t)n;
		}
		struct pkt p;
		while (recv_pkt(&p, 5)) {
			if (p.h.op == VIRTIO_VSOCK_OP_CREDIT_REQUEST)
				continue;
			CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
			if (p.h.op != VIRTIO_VSOCK_OP_RW || memcmp(p.data, data + got, p.h.len)) {
				ok = false;
				break;
			}
			got += p.h.len;
			fwd += p.h.len;
			/* As Linux: an update once a chunk was consumed. */
			if (fwd % 16384 < p.h.len) {
				struct vsock_hdr h = hdr(5900, PORT_OUT,
							 VIRTIO_VSOCK_OP_CREDIT_UPDATE);
				h.fwd_cnt = fwd;
				send_pkt(h, NULL, 0);
			}
		}
	}
	CHECK(ok);
	CHECK_EQ(got, sizeof(data));
	close(fd);
	down();
}

static void test_listen_path_in_use(void)
{
	char dir[] = "/tmp/vsock-test-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char path[128];
	snprintf(path, sizeof(path), "%s/x.sock", dir);
	int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	close(fd);
	struct vsock_port port = { 7, path, true };
	int err = 0;
	CHECK(virtio_vsock_create(&port, 1, NULL, &err) == NULL);
	CHECK_EQ(err, -EADDRINUSE);
	CHECK_EQ(access(path, F_OK), 0);	/* not ours: left alone */
	unlink(path);
	/* Too long for sun_path, duplicate port. */
	char longp[200];
	memset(longp, 'a', sizeof(longp) - 1);
	longp[sizeof(longp) - 1] = 0;
	port.path = longp;
	CHECK(virtio_vsock_create(&port, 1, NULL, &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	struct vsock_port two[2] = { { 7, path, false }, { 7, path, false } };
	CHECK(virtio_vsock_create(two, 2, NULL, &err) == NULL);
	CHECK_EQ(err, -EEXIST);
	rmdir(dir);
	virtio_vsock_destroy(NULL);
}

/* ---- TSI ---------------------------------------------------------------- */

#define TSI_CONNECT_OP 1025
#define CTL_PORT 9000

static void up_tsi(const struct vsock_tsi_config *cfg)
{
	tsi_cfg = cfg;
	up_with(NULL, true);
	tsi_cfg = NULL;
}

static void tsi_send(uint32_t src_port, uint32_t dst_port, const void *payload, uint32_t len)
{
	struct vsock_hdr h = hdr(src_port, dst_port, VIRTIO_VSOCK_OP_RW);

	h.type = VSOCK_TYPE_DGRAM;
	h.buf_alloc = 0;
	send_pkt(h, payload, len);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static void proxy_create(uint32_t svm_port, uint16_t family, uint16_t type)
{
	uint8_t b[8];

	put_le32(b, svm_port);
	uint16_t f = htole16(family), ty = htole16(type);
	memcpy(b + 4, &f, 2);
	memcpy(b + 6, &ty, 2);
	tsi_send(CTL_PORT, 1024, b, sizeof(b));
}

static struct sockaddr_in loopback(uint16_t port)
{
	return (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
				     .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

/* CONNECT / SENDTO_ADDR payload: svm_port, addr_len, addr[128]. */
static void addr_req(uint8_t b[136], uint32_t svm_port, const void *addr, uint32_t len)
{
	memset(b, 0, 136);
	put_le32(b, svm_port);
	put_le32(b + 4, len);
	memcpy(b + 8, addr, len > 128 ? 128 : len);
}

/* The answer to op on CTL_PORT: its result (and payload in p). */
static int32_t tsi_reply(uint32_t op, struct pkt *p)
{
	CHECK(recv_pkt(p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p->h.type, VSOCK_TYPE_DGRAM);
	CHECK_EQ(p->h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p->h.src_cid, VSOCK_HOST_CID);
	CHECK_EQ(p->h.dst_cid, VSOCK_GUEST_CID);
	CHECK_EQ(p->h.src_port, op);
	CHECK_EQ(p->h.dst_port, CTL_PORT);
	CHECK(p->h.len >= 4);
	return (int32_t)get_le32(p->data);
}

static int32_t tsi_connect(uint32_t svm_port, const void *addr, uint32_t len)
{
	uint8_t b[136];
	struct pkt p;

	addr_req(b, svm_port, addr, len);
	tsi_send(CTL_PORT, TSI_CONNECT_OP, b, sizeof(b));
	return tsi_reply(TSI_CONNECT_OP, &p);
}

static int32_t tsi_listen_addr(uint32_t svm_port, uint32_t backlog, const void *sa,
			       uint32_t len)
{
	uint8_t b[144] = { 0 };
	struct pkt p;

	put_le32(b, svm_port);
	put_le32(b + 4, svm_port);
	put_le32(b + 8, backlog);
	put_le32(b + 12, len);
	memcpy(b + 16, sa, len);
	tsi_send(CTL_PORT, 1029, b, sizeof(b));
	return tsi_reply(1029, &p);
}

static int32_t tsi_listen(uint32_t svm_port, uint32_t backlog, const struct sockaddr_in *sa)
{
	return tsi_listen_addr(svm_port, backlog, sa, sizeof(*sa));
}

static void tsi_accept_req(uint32_t svm_port, int32_t flags)
{
	uint8_t b[8];

	put_le32(b, svm_port);
	put_le32(b + 4, (uint32_t)flags);
	tsi_send(CTL_PORT, 1030, b, sizeof(b));
}

static void tsi_release(uint32_t svm_port, uint32_t peer_port)
{
	uint8_t b[8];

	put_le32(b, svm_port);
	put_le32(b + 4, peer_port);
	tsi_send(CTL_PORT, 1031, b, sizeof(b));
}

static int tcp_listener(uint16_t *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof(sa);

	CHECK_EQ(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(fd, 8), 0);
	CHECK_EQ(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

/* A loopback TCP port nobody listens on (bound, then closed). */
static uint16_t free_port(void)
{
	uint16_t port;
	int fd = tcp_listener(&port);

	close(fd);
	return port;
}

static const struct vsock_tsi_config tsi_inet = { .inet = true };

static void test_tsi_connect(void)
{
	up_tsi(&tsi_inet);
	uint16_t port;
	int l = tcp_listener(&port);
	struct sockaddr_in sa = loopback(port);
	proxy_create(7000, AF_INET, SOCK_STREAM);
	CHECK_EQ(tsi_connect(7000, &sa, sizeof(sa)), 0);
	/* A second CONNECT on a connected proxy is refused. */
	CHECK_EQ(tsi_connect(7000, &sa, sizeof(sa)), -EISCONN);
	send_pkt(hdr(7000, 620, VIRTIO_VSOCK_OP_REQUEST), NULL, 0);
	expect_op(620, 7000, VIRTIO_VSOCK_OP_RESPONSE);
	int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	CHECK(fd >= 0);
	send_pkt(hdr(7000, 620, VIRTIO_VSOCK_OP_RW), "hello", 5);
	char buf[8] = { 0 };
	read_full(fd, buf, 5);
	CHECK_STR(buf, "hello");
	CHECK_EQ(write(fd, "world", 5), 5);
	struct pkt p;
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.h.src_port, 620);
	CHECK_EQ(p.h.dst_port, 7000);
	CHECK_EQ(p.h.len, 5);
	CHECK(memcmp(p.data, "world", 5) == 0);
	/* GETNAME of the peer: the host listener's address. */
	uint8_t g[12];
	put_le32(g, 7000);
	put_le32(g + 4, 620);
	put_le32(g + 8, 1);
	tsi_send(CTL_PORT, 1026, g, sizeof(g));
	CHECK_EQ(tsi_reply(1026, &p), 0);
	CHECK_EQ(p.h.len, 136);
	CHECK_EQ(get_le32(p.data + 4), sizeof(sa));
	struct sockaddr_in got;
	memcpy(&got, p.data + 8, sizeof(got));
	CHECK_EQ(got.sin_family, AF_INET);
	CHECK_EQ(got.sin_port, sa.sin_port);
	CHECK_EQ(got.sin_addr.s_addr, sa.sin_addr.s_addr);
	/* Host EOF: SHUTDOWN to the guest, which closes; RST ends it. */
	close(fd);
	expect_op(620, 7000, VIRTIO_VSOCK_OP_SHUTDOWN);
	struct vsock_hdr h = hdr(7000, 620, VIRTIO_VSOCK_OP_SHUTDOWN);
	h.flags = 3;
	send_pkt(h, NULL, 0);
	expect_op(620, 7000, VIRTIO_VSOCK_OP_RST);
	tsi_release(7000, 620);
	close(l);
	struct virtio_vsock_stats st = down();
	CHECK_EQ(st.mux.bytes_to_host, 5);
	CHECK_EQ(st.mux.tsi_refused, 0);
}

static void test_tsi_connect_refused(void)
{
	up_tsi(&tsi_inet);
	struct sockaddr_in sa = loopback(free_port());
	proxy_create(7010, AF_INET, SOCK_STREAM);
	CHECK_EQ(tsi_connect(7010, &sa, sizeof(sa)), -ECONNREFUSED);
	/* No connected socket: the stream to 620 is refused. */
	send_pkt(hdr(7010, 620, VIRTIO_VSOCK_OP_REQUEST), NULL, 0);
	expect_op(620, 7010, VIRTIO_VSOCK_OP_RST);
	/* CONNECT for a port without a proxy: an error the guest sees. */
	CHECK_EQ(tsi_connect(7011, &sa, sizeof(sa)), -ENOBUFS);
	down();
}

/* The host client's connection reaches the guest as OP_REQUEST to vm_port;
 * returns its host port. */
static uint32_t expect_host_client(uint32_t vm_port)
{
	struct pkt p;

	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.type, VSOCK_TYPE_STREAM);
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_REQUEST);
	CHECK_EQ(p.h.dst_port, vm_port);
	CHECK(p.h.src_port >= 1024);
	return p.h.src_port;
}

static int tcp_connect(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = loopback(port);

	CHECK_EQ(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

static void test_tsi_listen_accept(void)
{
	up_tsi(&tsi_inet);
	uint16_t port = free_port();
	struct sockaddr_in sa = loopback(port);
	proxy_create(7100, AF_INET, SOCK_STREAM);
	CHECK_EQ(tsi_listen(7100, 100000, &sa), 0);
	struct pkt p;
	tsi_accept_req(7100, 04000);
	CHECK_EQ(tsi_reply(1030, &p), -EWOULDBLOCK);

	/* Connection first, then ACCEPT: answered at once. */
	int c = tcp_connect(port);
	uint32_t hp = expect_host_client(7100);
	send_pkt(hdr(7100, hp, VIRTIO_VSOCK_OP_RESPONSE), NULL, 0);
	tsi_accept_req(7100, 0);
	CHECK_EQ(tsi_reply(1030, &p), 0);
	CHECK_EQ(write(c, "ping", 4), 4);
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.h.src_port, hp);
	CHECK(memcmp(p.data, "ping", 4) == 0);
	send_pkt(hdr(7100, hp, VIRTIO_VSOCK_OP_RW), "pong", 4);
	char buf[8] = { 0 };
	read_full(c, buf, 4);
	CHECK_STR(buf, "pong");

	/* ACCEPT first: answered when the guest has answered the next client. */
	tsi_accept_req(7100, 0);
	expect_nothing();
	int c2 = tcp_connect(port);
	uint32_t hp2 = expect_host_client(7100);
	CHECK(hp2 != hp);
	send_pkt(hdr(7100, hp2, VIRTIO_VSOCK_OP_RESPONSE), NULL, 0);
	CHECK_EQ(tsi_reply(1030, &p), 0);

	/* A second LISTEN on the same proxy, or one on a taken port, fails. */
	CHECK_EQ(tsi_listen(7100, 5, &sa), -EINVAL);
	proxy_create(7101, AF_INET, SOCK_STREAM);
	CHECK_EQ(tsi_listen(7101, 5, &sa), -EADDRINUSE);
	/* Release closes the host listener. */
	tsi_release(7100, 620);
	expect_nothing();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0);
	close(fd);
	close(c);
	close(c2);
	down();
}

/* With the host's / as the guest root, the guest's own bind() leaves a
 * socket file at the path before the host listener is asked for. */
static void test_tsi_unix_listen_paths(void)
{
	static const struct vsock_tsi_config tsi_unix = { .inet = true, .unix_ = true };
	up_tsi(&tsi_unix);
	struct sockaddr_un stale = { .sun_family = AF_UNIX }, live = stale, file = stale;
	snprintf(stale.sun_path, sizeof(stale.sun_path), "%s/stale.sock", t.dir);
	snprintf(live.sun_path, sizeof(live.sun_path), "%s/live.sock", t.dir);
	snprintf(file.sun_path, sizeof(file.sun_path), "%s/file", t.dir);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK_EQ(bind(fd, (struct sockaddr *)&stale, sizeof(stale)), 0);
	close(fd);	/* the file stays, nobody listens */
	int live_fd = unix_listen(live.sun_path);
	close(open(file.sun_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));

	/* The stale socket file is replaced by the host listener. */
	proxy_create(7500, AF_UNIX, SOCK_STREAM);
	CHECK_EQ(tsi_listen_addr(7500, 5, &stale, sizeof(stale)), 0);
	int c = unix_connect(stale.sun_path);
	expect_host_client(7500);
	/* A live socket and a regular file are left alone. */
	proxy_create(7501, AF_UNIX, SOCK_STREAM);
	CHECK_EQ(tsi_listen_addr(7501, 5, &live, sizeof(live)), -EADDRINUSE);
	int c2 = unix_connect(live.sun_path);
	proxy_create(7502, AF_UNIX, SOCK_STREAM);
	CHECK_EQ(tsi_listen_addr(7502, 5, &file, sizeof(file)), -EADDRINUSE);
	struct stat st;
	CHECK_EQ(lstat(file.sun_path, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	close(c);
	close(c2);
	close(live_fd);
	down();
	unlink(live.sun_path);
	unlink(file.sun_path);
}

static void test_tsi_port_map(void)
{
	uint16_t host_port = free_port();
	struct vsock_port_map map[] = { { host_port, 80 } };
	struct vsock_tsi_config cfg = { .inet = true, .has_map = true, .map = map, .nr_map = 1 };
	up_tsi(&cfg);
	struct sockaddr_in sa = loopback(80);
	proxy_create(7200, AF_INET, SOCK_STREAM);
	CHECK_EQ(tsi_listen(7200, 5, &sa), 0);
	int c = tcp_connect(host_port);
	uint32_t hp = expect_host_client(7200);
	send_pkt(hdr(7200, hp, VIRTIO_VSOCK_OP_RST), NULL, 0);
	close(c);
	/* With a map, an unmapped guest port is not exposed. */
	struct sockaddr_in other = loopback(81);
	proxy_create(7201, AF_INET, SOCK_STREAM);
	CHECK_EQ(tsi_listen(7201, 5, &other), -EPERM);
	down();
}

static void test_tsi_udp(void)
{
	up_tsi(&tsi_inet);
	int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = loopback(0);
	socklen_t len = sizeof(sa);
	CHECK_EQ(bind(u, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(getsockname(u, (struct sockaddr *)&sa, &len), 0);
	proxy_create(7300, AF_INET, SOCK_DGRAM);
	/* A payload before any destination is dropped. */
	tsi_send(7300, 1028, "lost", 4);
	uint8_t b[136];
	addr_req(b, 7300, &sa, sizeof(sa));
	tsi_send(CTL_PORT, 1027, b, sizeof(b));
	tsi_send(7300, 1028, "ping", 4);
	char buf[16] = { 0 };
	struct sockaddr_in from;
	len = sizeof(from);
	CHECK_EQ(recvfrom(u, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len), 4);
	CHECK_STR(buf, "ping");
	CHECK_EQ(sendto(u, "pong!", 5, 0, (struct sockaddr *)&from, len), 5);
	struct pkt p;
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.type, VSOCK_TYPE_DGRAM);
	CHECK_EQ(p.h.op, VIRTIO_VSOCK_OP_RW);
	CHECK_EQ(p.h.src_port, 7300);
	CHECK_EQ(p.h.dst_port, 7300);
	CHECK_EQ(p.h.len, 5);
	CHECK(memcmp(p.data, "pong!", 5) == 0);

	/* A connected datagram proxy: CONNECT, then payloads to (2, svm_port). */
	proxy_create(7301, AF_INET, SOCK_DGRAM);
	CHECK_EQ(tsi_connect(7301, &sa, sizeof(sa)), 0);
	tsi_send(7301, 7301, "conn", 4);
	memset(buf, 0, sizeof(buf));
	CHECK_EQ(recvfrom(u, buf, sizeof(buf), 0, (struct sockaddr *)&from, &len), 4);
	CHECK_STR(buf, "conn");
	CHECK_EQ(sendto(u, "back", 4, 0, (struct sockaddr *)&from, len), 4);
	CHECK(recv_pkt(&p, VDRV_TIMEOUT_MS));
	CHECK_EQ(p.h.dst_port, 7301);
	CHECK(memcmp(p.data, "back", 4) == 0);
	tsi_release(7300, 620);
	tsi_release(7301, 620);
	close(u);
	struct virtio_vsock_stats st = down();
	CHECK_EQ(st.mux.dgram_dropped, 1);
}

static void test_tsi_malformed(void)
{
	up_tsi(&tsi_inet);
	struct sockaddr_in sa = loopback(free_port());
	uint8_t b[200] = { 0 };
	proxy_create(7400, AF_INET, SOCK_STREAM);
	/* Short and long payloads: no answer. */
	addr_req(b, 7400, &sa, sizeof(sa));
	tsi_send(CTL_PORT, TSI_CONNECT_OP, b, 135);
	tsi_send(CTL_PORT, TSI_CONNECT_OP, b, 137);
	tsi_send(CTL_PORT, 1024, b, 3);
	expect_nothing();
	/* Bad addr_len, bad family: answered with an error. */
	struct pkt p;
	addr_req(b, 7400, &sa, sizeof(sa));
	put_le32(b + 4, 129);
	tsi_send(CTL_PORT, TSI_CONNECT_OP, b, 136);
	CHECK_EQ(tsi_reply(TSI_CONNECT_OP, &p), -EINVAL);
	CHECK_EQ(tsi_connect(7400, &sa, 1), -EINVAL);
	CHECK_EQ(tsi_connect(7400, &sa, 8), -EINVAL);
	struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_port = htons(1) };
	CHECK_EQ(tsi_connect(7400, &sa6, sizeof(sa6)), -EAFNOSUPPORT);
	/* Families and types TSI was not asked for get no proxy. */
	proxy_create(7401, AF_UNIX, SOCK_STREAM);
	proxy_create(7402, AF_INET, 5);
	proxy_create(7403, 99, SOCK_STREAM);
	CHECK_EQ(tsi_connect(7401, &sa, sizeof(sa)), -ENOBUFS);
	CHECK_EQ(tsi_connect(7402, &sa, sizeof(sa)), -ENOBUFS);
	/* Unknown opcode, a non-RW datagram, wrong CIDs, stray payloads: dropped. */
	tsi_send(CTL_PORT, 1032, b, 8);
	struct vsock_hdr h = hdr(CTL_PORT, 1024, VIRTIO_VSOCK_OP_REQUEST);
	h.type = VSOCK_TYPE_DGRAM;
	send_pkt(h, b, 8);
	h = hdr(CTL_PORT, TSI_CONNECT_OP, VIRTIO_VSOCK_OP_RW);
	h.type = VSOCK_TYPE_DGRAM;
	h.src_cid = 7;
	addr_req(b, 7400, &sa, sizeof(sa));
	send_pkt(h, b, 136);
	tsi_send(7400, 1028, "x", 1);
	tsi_send(7999, 7999, "x", 1);
	/* GETNAME and ACCEPT on nothing. */
	uint8_t g[12] = { 0 };
	put_le32(g, 7400);
	tsi_send(CTL_PORT, 1026, g, sizeof(g));
	CHECK_EQ(tsi_reply(1026, &p), -ENOTCONN);
	tsi_accept_req(7400, 0);
	CHECK_EQ(tsi_reply(1030, &p), -EINVAL);
	expect_nothing();
	struct virtio_vsock_stats st = down();
	CHECK_EQ(st.wrong_cid, 1);
	CHECK_EQ(st.mux.tsi_refused, 7);	/* 3 sizes, 3 proxies, 1 op */
	CHECK_EQ(st.mux.dgram_dropped, 3);
}

static void test_tsi_proxy_cap(void)
{
	struct vsock_tsi_config cfg = { .inet = true, .max_proxies = 2 };
	up_tsi(&cfg);
	uint16_t port;
	int l = tcp_listener(&port);
	struct sockaddr_in sa = loopback(port);
	proxy_create(7500, AF_INET, SOCK_STREAM);
	proxy_create(7501, AF_INET, SOCK_STREAM);
	proxy_create(7502, AF_INET, SOCK_STREAM);
	CHECK_EQ(tsi_connect(7502, &sa, sizeof(sa)), -ENOBUFS);
	CHECK_EQ(tsi_connect(7500, &sa, sizeof(sa)), 0);
	/* A release makes room. */
	tsi_release(7501, 620);
	proxy_create(7502, AF_INET, SOCK_STREAM);
	CHECK_EQ(tsi_connect(7502, &sa, sizeof(sa)), 0);
	close(l);
	struct virtio_vsock_stats st = down();
	CHECK_EQ(st.mux.tsi_refused, 1);
}

int main(void)
{
	krun_log_configure(2, LOG_LVL_ERROR);
	RUN_TEST(test_config_and_features);
	RUN_TEST(test_connect_and_data);
	RUN_TEST(test_credit_limit);
	RUN_TEST(test_credit_request_answered);
	RUN_TEST(test_guest_credit_enforced);
	RUN_TEST(test_rst_for_unknown_ports);
	RUN_TEST(test_malformed_packets);
	RUN_TEST(test_dgram_counted);
	RUN_TEST(test_connection_cap);
	RUN_TEST(test_duplicate_request);
	RUN_TEST(test_host_initiated);
	RUN_TEST(test_bulk_to_guest);
	RUN_TEST(test_listen_path_in_use);
	RUN_TEST(test_tsi_connect);
	RUN_TEST(test_tsi_connect_refused);
	RUN_TEST(test_tsi_listen_accept);
	RUN_TEST(test_tsi_unix_listen_paths);
	RUN_TEST(test_tsi_port_map);
	RUN_TEST(test_tsi_udp);
	RUN_TEST(test_tsi_malformed);
	RUN_TEST(test_tsi_proxy_cap);
	TEST_MAIN_END();
}
