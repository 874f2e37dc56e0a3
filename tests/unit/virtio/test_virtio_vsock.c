// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-vsock through the fake driver, which plays the Linux vsock driver
 * (rx buffers as a 44-byte header descriptor plus a 4 KiB data descriptor,
 * one tx chain per packet) against host unix sockets made by the test:
 * connects to mapped ports, data both ways, credit in both directions,
 * CREDIT_REQUEST, shutdown/close, RST for unknown ports, malformed and
 * hostile packets, the connection cap, host-initiated connections.
 */
#include <fcntl.h>
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
	TEST_MAIN_END();
}
