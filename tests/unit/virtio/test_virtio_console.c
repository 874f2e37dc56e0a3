// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-console through the fake driver, which plays the Linux multiport
 * driver: DEVICE_READY, PORT_ADD, PORT_READY, CONSOLE_PORT/PORT_OPEN/RESIZE/
 * PORT_NAME, data in both directions over pipes, EOF, back-pressure.
 */
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <linux/virtio_console.h>

#include "test.h"
#include "vdrv.h"
#include "devices/virtio/console.h"
#include "util/log.h"

#define QSZ CONSOLE_QUEUE_SIZE
#define CTRL_BUF 128

struct ct {
	struct vdrv d;
	struct virtio_console *con;
	unsigned int nq;
	uint64_t gpa_of[VIRTIO_MMIO_MAX_QUEUES][QSZ];
};

static struct ct t;

static unsigned int rxq(unsigned int id)
{
	return id == 0 ? 0 : 2 + 2 * id;
}

static uint16_t post1(unsigned int q, uint64_t gpa, uint32_t len, bool writable)
{
	struct vdrv_buf b = { gpa, len, writable };
	uint16_t head = vdrv_post(&t.d, q, &b, 1);

	t.gpa_of[q][head] = gpa;
	return head;
}

static void post_ctrl_rx(void)
{
	post1(2, vdrv_alloc(&t.d, CTRL_BUF, 8), CTRL_BUF, true);
}

static void up(bool multiport)
{
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_CONSOLE_F_SIZE;

	if (multiport)
		f |= 1ull << VIRTIO_CONSOLE_F_MULTIPORT;
	CHECK_EQ(vdrv_init(&t.d, virtio_console_ops(t.con), t.con), 0);
	CHECK_EQ(vdrv_r(&t.d, VIRTIO_MMIO_DEVICE_ID), 3);
	CHECK(vdrv_negotiate(&t.d, f));
	uint32_t max_ports = 0;
	virtio_mmio_read(&t.d.dev, 0x100 + 4, &max_ports, 4);
	t.nq = multiport ? 2 * (max_ports + 1) : 2;
	for (unsigned int q = 0; q < t.nq; q++)
		vdrv_setup_queue(&t.d, q, QSZ);
	vdrv_status_add(&t.d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(t.d.dev.activated);
	if (multiport) {
		for (int i = 0; i < 8; i++)
			post_ctrl_rx();
		vdrv_kick(&t.d, 2);
	}
}

static void down(void)
{
	vdrv_fini(&t.d);
	virtio_console_destroy(t.con);
	memset(&t, 0, sizeof(t));
}

static void ctrl_send_raw(const void *msg, uint32_t len)
{
	uint64_t gpa = vdrv_alloc(&t.d, len, 8);
	uint32_t id, used_len;

	memcpy(vdrv_ptr(&t.d, gpa), msg, len);
	post1(3, gpa, len, false);
	vdrv_kick(&t.d, 3);
	CHECK(vdrv_wait_used(&t.d, 3, &id, &used_len));
}

static void ctrl_send(uint32_t id, uint16_t event, uint16_t value)
{
	struct virtio_console_control h = { id, event, value };

	ctrl_send_raw(&h, sizeof(h));
}

struct msg {
	struct virtio_console_control h;
	char payload[CTRL_BUF];
	uint32_t plen;
};

static bool ctrl_recv(struct msg *m)
{
	uint32_t head, len;

	memset(m, 0, sizeof(*m));
	if (!vdrv_wait_used(&t.d, 2, &head, &len))
		return false;
	CHECK(len >= sizeof(m->h) && len <= CTRL_BUF);
	const uint8_t *p = vdrv_ptr(&t.d, t.gpa_of[2][head]);
	memcpy(&m->h, p, sizeof(m->h));
	m->plen = len - (uint32_t)sizeof(m->h);
	memcpy(m->payload, p + sizeof(m->h), m->plen);
	post_ctrl_rx();	/* like Linux: recycle the buffer */
	vdrv_kick(&t.d, 2);
	return true;
}

static void expect_msg(uint32_t id, uint16_t event, uint16_t value)
{
	struct msg m;

	CHECK(ctrl_recv(&m));
	CHECK_EQ(m.h.id, id);
	CHECK_EQ(m.h.event, event);
	CHECK_EQ(m.h.value, value);
}

static void expect_resize(uint32_t id, uint16_t cols, uint16_t rows)
{
	struct msg m;
	uint16_t sz[2] = { 0, 0 };

	CHECK(ctrl_recv(&m));
	CHECK_EQ(m.h.id, id);
	CHECK_EQ(m.h.event, VIRTIO_CONSOLE_RESIZE);
	CHECK_EQ(m.plen, 4);
	memcpy(sz, m.payload, 4);
	CHECK_EQ(sz[0], cols);
	CHECK_EQ(sz[1], rows);
}

static void expect_name(uint32_t id, const char *name)
{
	struct msg m;

	CHECK(ctrl_recv(&m));
	CHECK_EQ(m.h.id, id);
	CHECK_EQ(m.h.event, VIRTIO_CONSOLE_PORT_NAME);
	CHECK_STR(m.payload, name);
}

/* Guest writes data on a port's tx queue; returns once it is used. */
static void guest_write(unsigned int id, const void *data, uint32_t len)
{
	uint64_t gpa = vdrv_alloc(&t.d, len, 8);
	uint32_t head, used_len;

	memcpy(vdrv_ptr(&t.d, gpa), data, len);
	post1(rxq(id) + 1, gpa, len, false);
	vdrv_kick(&t.d, rxq(id) + 1);
	CHECK(vdrv_wait_used(&t.d, rxq(id) + 1, &head, &used_len));
	CHECK_EQ(used_len, 0);
}

static bool read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		if (poll(&pfd, 1, VDRV_TIMEOUT_MS) != 1)
			return false;
		ssize_t n = read(fd, (char *)buf + done, len - done);
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

enum { P_CON, P_IN, P_OUT, P_ERR, NPORTS };
static int in_pipe[NPORTS][2], out_pipe[NPORTS][2];

/* The default-console layout: hvc0 plus krun-stdin/stdout/stderr. */
static void make_ports(void)
{
	static const char *const names[NPORTS] = { NULL, "krun-stdin", "krun-stdout",
						    "krun-stderr" };

	t.con = virtio_console_create();
	CHECK(t.con != NULL);
	CHECK_EQ(virtio_console_resize(t.con, 80, 25), 0);
	for (int i = 0; i < NPORTS; i++) {
		CHECK_EQ(pipe2(in_pipe[i], O_CLOEXEC), 0);
		CHECK_EQ(pipe2(out_pipe[i], O_CLOEXEC), 0);
		int in = (i == P_CON || i == P_IN) ? in_pipe[i][0] : -1;
		int out = i != P_IN ? out_pipe[i][1] : -1;
		CHECK_EQ(virtio_console_add_port(t.con, names[i], in, out, i == P_CON), i);
	}
	/* The console keeps its own fds: the caller may close its copies. */
	for (int i = 0; i < NPORTS; i++) {
		close(in_pipe[i][0]);
		close(out_pipe[i][1]);
	}
}

static void close_pipes(void)
{
	for (int i = 0; i < NPORTS; i++) {
		if (in_pipe[i][1] >= 0)
			close(in_pipe[i][1]);
		close(out_pipe[i][0]);
		in_pipe[i][1] = -1;
	}
}

static void handshake_n(uint32_t total_ports)
{
	ctrl_send(0, VIRTIO_CONSOLE_DEVICE_READY, 1);
	for (uint32_t i = 0; i < total_ports; i++)
		expect_msg(i, VIRTIO_CONSOLE_PORT_ADD, 0);

	ctrl_send(P_CON, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_msg(P_CON, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	expect_msg(P_CON, VIRTIO_CONSOLE_PORT_OPEN, 1);
	expect_resize(P_CON, 80, 25);
	static const char *const names[NPORTS] = { NULL, "krun-stdin", "krun-stdout",
						    "krun-stderr" };
	for (uint32_t i = 1; i < NPORTS; i++) {
		ctrl_send(i, VIRTIO_CONSOLE_PORT_READY, 1);
		expect_msg(i, VIRTIO_CONSOLE_PORT_OPEN, 1);
		expect_name(i, names[i]);
	}
	for (uint32_t i = 0; i < NPORTS; i++)
		ctrl_send(i, VIRTIO_CONSOLE_PORT_OPEN, 1);
}

static void handshake(void)
{
	handshake_n(NPORTS);
}

static void test_config_and_handshake(void)
{
	make_ports();
	CHECK_EQ(virtio_console_add_port(t.con, "x", -1, -1, false), NPORTS);
	up(true);
	/* Sealed once attached. */
	CHECK_EQ(virtio_console_add_port(t.con, "y", -1, -1, false), -EBUSY);
	struct virtio_console_config cfg;
	for (unsigned int i = 0; i < sizeof(cfg); i++)
		virtio_mmio_read(&t.d.dev, 0x100 + i, (uint8_t *)&cfg + i, 1);
	CHECK_EQ(cfg.cols, 80);
	CHECK_EQ(cfg.rows, 25);
	CHECK_EQ(cfg.max_nr_ports, NPORTS + 1);
	CHECK_EQ(t.nq, 2 * (NPORTS + 2));
	uint32_t v = 0xffffffff;
	virtio_mmio_read(&t.d.dev, 0x100 + 12, &v, 4);	/* past the config */
	CHECK_EQ(v, 0);

	handshake_n(NPORTS + 1);
	/* Port 4 (named "x", not a console): PORT_OPEN and PORT_NAME only. */
	ctrl_send(NPORTS, VIRTIO_CONSOLE_PORT_READY, 1);
	expect_msg(NPORTS, VIRTIO_CONSOLE_PORT_OPEN, 1);
	expect_name(NPORTS, "x");

	/* A resize after start reaches the console port only. */
	CHECK_EQ(virtio_console_resize(t.con, 132, 43), 0);
	expect_resize(P_CON, 132, 43);

	/* Garbage on the control queue is ignored, not fatal. */
	uint32_t shorty = 7;
	ctrl_send_raw(&shorty, 4);
	ctrl_send(99, VIRTIO_CONSOLE_PORT_READY, 1);
	ctrl_send(1, 77, 1);
	CHECK(!(vdrv_r(&t.d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	down();
	close_pipes();
}

static void test_data_and_eof(void)
{
	char buf[64];
	uint32_t head, len;

	make_ports();
	up(true);
	handshake();

	guest_write(P_OUT, "hello stdout", 12);
	CHECK(read_full(out_pipe[P_OUT][0], buf, 12));
	CHECK(memcmp(buf, "hello stdout", 12) == 0);
	guest_write(P_ERR, "oops", 4);
	CHECK(read_full(out_pipe[P_ERR][0], buf, 4));
	CHECK(memcmp(buf, "oops", 4) == 0);
	guest_write(P_CON, "tty!", 4);
	CHECK(read_full(out_pipe[P_CON][0], buf, 4));

	/* Host -> guest on krun-stdin. */
	uint64_t rx = vdrv_alloc(&t.d, 64, 8);
	post1(rxq(P_IN), rx, 64, true);
	vdrv_kick(&t.d, rxq(P_IN));
	CHECK_EQ(write(in_pipe[P_IN][1], "input", 5), 5);
	CHECK(vdrv_wait_used(&t.d, rxq(P_IN), &head, &len));
	CHECK_EQ(len, 5);
	CHECK(memcmp(vdrv_ptr(&t.d, rx), "input", 5) == 0);

	/* EOF: the data first, then PORT_OPEN(id, 0). */
	uint64_t rx2 = vdrv_alloc(&t.d, 64, 8);
	post1(rxq(P_IN), rx2, 64, true);
	vdrv_kick(&t.d, rxq(P_IN));
	CHECK_EQ(write(in_pipe[P_IN][1], "last", 4), 4);
	close(in_pipe[P_IN][1]);
	in_pipe[P_IN][1] = -1;
	CHECK(vdrv_wait_used(&t.d, rxq(P_IN), &head, &len));
	CHECK_EQ(len, 4);
	uint64_t rx3 = vdrv_alloc(&t.d, 64, 8);
	post1(rxq(P_IN), rx3, 64, true);
	vdrv_kick(&t.d, rxq(P_IN));
	expect_msg(P_IN, VIRTIO_CONSOLE_PORT_OPEN, 0);
	CHECK(!vdrv_get_used(&t.d, rxq(P_IN), &head, &len));

	/* The console port is hvc0: input reaches it too. */
	uint64_t crx = vdrv_alloc(&t.d, 16, 8);
	post1(rxq(P_CON), crx, 16, true);
	vdrv_kick(&t.d, rxq(P_CON));
	CHECK_EQ(write(in_pipe[P_CON][1], "\003", 1), 1);
	CHECK(vdrv_wait_used(&t.d, rxq(P_CON), &head, &len));
	CHECK_EQ(len, 1);

	/* The host reader goes away: output is discarded, no SIGPIPE death,
	 * the guest keeps getting its buffers back. */
	close(out_pipe[P_ERR][0]);
	out_pipe[P_ERR][0] = open("/dev/null", O_RDONLY | O_CLOEXEC);
	guest_write(P_ERR, "lost", 4);
	guest_write(P_ERR, "lost", 4);
	CHECK(!(vdrv_r(&t.d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	down();
	close_pipes();
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void test_no_spin_without_rx_buffers(void)
{
	uint32_t head, len;

	make_ports();
	up(true);
	handshake();
	/* Input pending, no guest buffer: the worker must sleep. */
	CHECK_EQ(write(in_pipe[P_IN][1], "wait", 4), 4);
	double c0 = cpu_seconds();
	struct timespec ts = { 0, 300 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	double used = cpu_seconds() - c0;
	CHECK(used < 0.1);
	/* ...and wake when one shows up. */
	uint64_t rx = vdrv_alloc(&t.d, 64, 8);
	post1(rxq(P_IN), rx, 64, true);
	vdrv_kick(&t.d, rxq(P_IN));
	CHECK(vdrv_wait_used(&t.d, rxq(P_IN), &head, &len));
	CHECK_EQ(len, 4);
	down();
	close_pipes();
}

static void test_full_pipe_blocks_port(void)
{
	enum { CHUNK = 4096, N = 6 };
	static uint8_t got[CHUNK * N];
	uint32_t head, len;

	make_ports();
	/* Shrink the pipe so the guest fills it. */
	CHECK(fcntl(out_pipe[P_OUT][0], F_SETPIPE_SZ, 4096) >= 4096);
	up(true);
	handshake();
	for (int i = 0; i < N; i++) {
		uint64_t gpa = vdrv_alloc(&t.d, CHUNK, 8);
		memset(vdrv_ptr(&t.d, gpa), 'a' + i, CHUNK);
		post1(rxq(P_OUT) + 1, gpa, CHUNK, false);
	}
	vdrv_kick(&t.d, rxq(P_OUT) + 1);
	/* Something is used, but not everything: the port waits for the pipe. */
	CHECK(vdrv_wait_used(&t.d, rxq(P_OUT) + 1, &head, &len));
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	int used = 1;
	while (vdrv_get_used(&t.d, rxq(P_OUT) + 1, &head, &len))
		used++;
	CHECK(used < N);
	/* Other ports keep working meanwhile. */
	char b[4];
	guest_write(P_ERR, "err!", 4);
	CHECK(read_full(out_pipe[P_ERR][0], b, 4));
	/* Drain: every byte arrives, in order, nothing dropped. */
	CHECK(read_full(out_pipe[P_OUT][0], got, sizeof(got)));
	for (int i = 0; i < N; i++)
		CHECK(got[i * CHUNK] == 'a' + i && got[i * CHUNK + CHUNK - 1] == 'a' + i);
	while (used < N && vdrv_wait_used(&t.d, rxq(P_OUT) + 1, &head, &len))
		used++;
	CHECK_EQ(used, N);
	down();
	close_pipes();
}

/* Whether a port is open in the guest decides whether the VMM may relay a
 * host signal through it, or must end the VM itself. */
static bool wait_guest_open(uint32_t id, bool want)
{
	int64_t end = vdrv_now_ms() + VDRV_TIMEOUT_MS;
	while (virtio_console_port_guest_open(t.con, id) != want && vdrv_now_ms() < end)
		usleep(1000);
	return virtio_console_port_guest_open(t.con, id) == want;
}

static void test_guest_open_state(void)
{
	make_ports();
	up(true);
	CHECK(!virtio_console_port_guest_open(t.con, P_IN));
	handshake();
	for (uint32_t i = 0; i < NPORTS; i++)
		CHECK(wait_guest_open(i, true));
	ctrl_send(P_IN, VIRTIO_CONSOLE_PORT_OPEN, 0);
	CHECK(wait_guest_open(P_IN, false));
	CHECK(virtio_console_port_guest_open(t.con, P_OUT));
	CHECK(!virtio_console_port_guest_open(t.con, NPORTS + 1));
	down();
	close_pipes();
}

static void test_single_port_mode(void)
{
	char buf[8];
	uint32_t head, len;

	make_ports();
	up(false);	/* driver without MULTIPORT: port 0 only, no handshake */
	guest_write(P_CON, "boot", 4);
	CHECK(read_full(out_pipe[P_CON][0], buf, 4));
	CHECK(memcmp(buf, "boot", 4) == 0);
	uint64_t rx = vdrv_alloc(&t.d, 16, 8);
	post1(0, rx, 16, true);
	vdrv_kick(&t.d, 0);
	CHECK_EQ(write(in_pipe[P_CON][1], "ls\n", 3), 3);
	CHECK(vdrv_wait_used(&t.d, 0, &head, &len));
	CHECK_EQ(len, 3);
	/* Resize without multiport: config change interrupt, new size in config. */
	CHECK_EQ(virtio_console_resize(t.con, 90, 30), 0);
	int64_t end = vdrv_now_ms() + VDRV_TIMEOUT_MS;
	while (vdrv_r(&t.d, VIRTIO_MMIO_CONFIG_GENERATION) == 0 && vdrv_now_ms() < end)
		vdrv_wait_irq(&t.d, 100);
	uint16_t cols = 0;
	virtio_mmio_read(&t.d.dev, 0x100, &cols, 2);
	CHECK_EQ(cols, 90);
	down();
	close_pipes();
}

static void test_broken_tx_chain(void)
{
	make_ports();
	up(true);
	handshake();
	/* A descriptor pointing at itself. */
	struct vring_desc *dsc = vdrv_desc(&t.d, 3 + 2 * P_OUT, 5);
	dsc->addr = vdrv_alloc(&t.d, 8, 8);
	dsc->len = 8;
	dsc->flags = VRING_DESC_F_NEXT;
	dsc->next = 5;
	vdrv_publish(&t.d, 3 + 2 * P_OUT, 5);
	vdrv_kick(&t.d, 3 + 2 * P_OUT);
	int64_t end = vdrv_now_ms() + VDRV_TIMEOUT_MS;
	while (!(vdrv_r(&t.d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET) &&
	       vdrv_now_ms() < end)
		vdrv_wait_irq(&t.d, 100);
	CHECK(vdrv_r(&t.d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* Reset joins the worker cleanly. */
	vdrv_w(&t.d, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(vdrv_r(&t.d, VIRTIO_MMIO_STATUS), 0);
	down();
	close_pipes();
}

static void test_add_port_errors(void)
{
	struct virtio_console *con = virtio_console_create();
	char longname[CONSOLE_PORT_NAME_MAX + 2];

	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;
	CHECK_EQ(virtio_console_add_port(con, longname, -1, -1, false), -EINVAL);
	CHECK_EQ(virtio_console_add_port(con, NULL, 12345, -1, false), -EBADF);
	for (int i = 0; i < CONSOLE_MAX_PORTS; i++)
		CHECK_EQ(virtio_console_add_port(con, NULL, 0, 1, false), i);
	CHECK_EQ(virtio_console_add_port(con, NULL, -1, -1, false), -ENOSPC);
	CHECK(virtio_console_ops(con)->num_queues <= VIRTIO_MMIO_MAX_QUEUES);
	virtio_console_destroy(con);
	virtio_console_destroy(NULL);
}

int main(void)
{
	krun_log_configure(2, LOG_LVL_WARN);
	RUN_TEST(test_config_and_handshake);
	RUN_TEST(test_data_and_eof);
	RUN_TEST(test_no_spin_without_rx_buffers);
	RUN_TEST(test_full_pipe_blocks_port);
	RUN_TEST(test_guest_open_state);
	RUN_TEST(test_single_port_mode);
	RUN_TEST(test_broken_tx_chain);
	RUN_TEST(test_add_port_errors);
	TEST_MAIN_END();
}
