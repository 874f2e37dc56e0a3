// SPDX-License-Identifier: Apache-2.0
/* The 8250 UART: registers, loopback, output that never blocks the
 * writing (vCPU) thread whatever the reader of the output fd does, and host
 * input read by the device's own thread at the guest's pace. */
#include "test.h"
#include "devices/legacy/legacy.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MIB (1024 * 1024)

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put(struct serial *s, unsigned int reg, uint8_t v)
{
	serial_pio_write(s, reg, &v, 1);
}

static uint8_t get(struct serial *s, unsigned int reg)
{
	uint8_t v = 0xff;
	serial_pio_read(s, reg, &v, 1);
	return v;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i % 251);
}

static int irqs;
static void count_irq(void *opaque)
{
	(void)opaque;
	irqs++;
}

static void test_registers(void)
{
	struct serial s;
	serial_init(&s, -1, count_irq, NULL);
	irqs = 0;
	CHECK_EQ(get(&s, 5) & 0x60, 0x60); /* LSR: THRE | TEMT */
	CHECK_EQ(get(&s, 2) & 0x0f, 0x01); /* IIR: none */
	put(&s, 1, 0x02);		   /* IER: THRI with an empty THR */
	CHECK_EQ(irqs, 1);
	CHECK_EQ(get(&s, 2) & 0x0f, 0x02);
	CHECK_EQ(get(&s, 2) & 0x0f, 0x01); /* reading IIR acknowledged it */
	put(&s, 0, 'x');		   /* THR empties at once: THRI again */
	CHECK_EQ(irqs, 2);
	put(&s, 4, 0x10);		   /* MCR: loopback */
	put(&s, 0, 'y');
	CHECK_EQ(get(&s, 5) & 0x01, 0x01);
	CHECK_EQ(get(&s, 0), 'y');
	CHECK_EQ(get(&s, 5) & 0x01, 0);
	/* DLAB: divisor latch instead of THR/IER. */
	put(&s, 3, 0x80);
	put(&s, 0, 0x0c);
	put(&s, 1, 0x00);
	CHECK_EQ(get(&s, 0), 0x0c);
	put(&s, 3, 0x03);
	CHECK_EQ(serial_tx_dropped(&s), 0);
	/* Other sizes and offsets are ignored. */
	uint16_t w = 0xffff;
	serial_pio_read(&s, 5, &w, 2);
	CHECK_EQ(w, 0);
	serial_pio_write(&s, 8, &w, 1);
	serial_destroy(&s);
}

struct writer {
	struct serial *s;
	size_t len, first;
	atomic_bool done;
};

static void *write_main(void *arg)
{
	struct writer *w = arg;
	for (size_t i = 0; i < w->len; i++)
		put(w->s, 0, pattern(w->first + i));
	atomic_store(&w->done, true);
	return NULL;
}

/* Runs a writer thread; false if it has not finished within limit_s. */
static bool write_bounded(struct serial *s, size_t first, size_t len, double limit_s)
{
	struct writer w = {.s = s, .len = len, .first = first};
	pthread_t t;
	if (pthread_create(&t, NULL, write_main, &w))
		return false;
	double end = now_s() + limit_s;
	while (!atomic_load(&w.done) && now_s() < end)
		usleep(1000);
	bool done = atomic_load(&w.done);
	if (done)
		pthread_join(t, NULL);
	else
		pthread_detach(t); /* the test fails; do not hang in it */
	return done;
}

static void test_stalled_pipe_does_not_block(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	int flags = fcntl(p[1], F_GETFL);
	struct serial s;
	serial_init(&s, p[1], NULL, NULL);
	double t0 = now_s();
	CHECK(write_bounded(&s, 0, MIB, 2.0));
	CHECK(now_s() - t0 < 2.0);
	CHECK(serial_tx_dropped(&s) > 0);
	t0 = now_s();
	serial_destroy(&s);
	CHECK(now_s() - t0 < 2.0);
	/* The caller's file description was left as it was. */
	CHECK_EQ(fcntl(p[1], F_GETFL), flags);
	/* What reached the pipe is the start of the output, in order. */
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	static uint8_t buf[MIB];
	size_t got = 0;
	ssize_t r;
	while ((r = read(p[0], buf + got, sizeof(buf) - got)) > 0)
		got += (size_t)r;
	CHECK(got > 0);
	size_t bad = 0;
	for (size_t i = 0; i < got; i++)
		bad += buf[i] != pattern(i);
	CHECK_EQ(bad, 0);
	close(p[0]);
	close(p[1]);
}

struct reader {
	int fd;
	uint8_t *buf;
	size_t cap;
	atomic_size_t got;
};

static void *read_main(void *arg)
{
	struct reader *r = arg;
	for (;;) {
		size_t got = atomic_load(&r->got);
		ssize_t n = read(r->fd, r->buf + got, r->cap - got);
		if (n <= 0)
			break;
		atomic_store(&r->got, got + (size_t)n);
	}
	return NULL;
}

/* Every byte arrives, in order, when somebody reads (pipe or socket). */
static void check_complete(int rd, int wr)
{
	struct reader r = {.fd = rd, .cap = 2 * MIB};
	r.buf = malloc(r.cap);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, read_main, &r), 0);
	struct serial s;
	serial_init(&s, wr, NULL, NULL);
	CHECK(write_bounded(&s, 0, MIB, 30.0));
	CHECK_EQ(serial_tx_dropped(&s), 0);
	serial_destroy(&s); /* flushes, closes its own fd */
	close(wr);
	pthread_join(t, NULL);
	size_t got = atomic_load(&r.got);
	CHECK_EQ(got, MIB);
	size_t bad = 0;
	for (size_t i = 0; i < got; i++)
		bad += r.buf[i] != pattern(i);
	CHECK_EQ(bad, 0);
	free(r.buf);
	close(rd);
}

static void test_reader_gets_everything(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	check_complete(p[0], p[1]);
}

static void test_socket_gets_everything(void)
{
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	check_complete(sv[0], sv[1]);
}

/* After a stall, output flows again once the reader is back. */
static void test_stall_then_resume(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	struct serial s;
	serial_init(&s, p[1], NULL, NULL);
	const size_t before = 4 * SERIAL_TX_BUF, marker = 3 * SERIAL_TX_BUF;
	CHECK(write_bounded(&s, 0, before, 5.0));
	uint64_t dropped = serial_tx_dropped(&s);
	CHECK(dropped > 0);

	struct reader r = {.fd = p[0], .cap = 2 * MIB};
	r.buf = malloc(r.cap);
	pthread_t t;
	CHECK_EQ(pthread_create(&t, NULL, read_main, &r), 0);
	/* Wait until what was queued has arrived (nothing new for 200 ms). */
	size_t last = 0;
	for (int quiet = 0; quiet < 20;) {
		usleep(10000);
		size_t got = atomic_load(&r.got);
		quiet = got == last && got ? quiet + 1 : 0;
		last = got;
	}
	CHECK_EQ(last + dropped, before);
	/* A distinct run after the stall arrives complete. */
	CHECK(write_bounded(&s, 7, marker, 30.0));
	CHECK_EQ(serial_tx_dropped(&s), dropped);
	serial_destroy(&s);
	close(p[1]);
	pthread_join(t, NULL);
	size_t got = atomic_load(&r.got);
	CHECK_EQ(got, last + marker);
	size_t bad = 0;
	for (size_t i = 0; i < last && i < SERIAL_TX_BUF; i++)
		bad += r.buf[i] != pattern(i);
	for (size_t i = 0; i < marker && last + i < got; i++)
		bad += r.buf[last + i] != pattern(7 + i);
	CHECK_EQ(bad, 0);
	free(r.buf);
	close(p[0]);
}

/* A reader that went away: EPIPE (no SIGPIPE death), output dropped. */
static void test_reader_gone(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	close(p[0]);
	struct serial s;
	serial_init(&s, p[1], NULL, NULL);
	CHECK(write_bounded(&s, 0, MIB, 2.0));
	double t0 = now_s();
	serial_destroy(&s);
	CHECK(now_s() - t0 < 2.0);
	close(p[1]);
}

/* The output fd may be closed by its owner once the device exists. */
static void test_caller_closes_fd(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	struct serial s;
	serial_init(&s, p[1], NULL, NULL);
	put(&s, 0, 'a');
	close(p[1]);
	put(&s, 0, 'b');
	serial_destroy(&s);
	char buf[4] = {0};
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 2);
	CHECK_STR(buf, "ab");
	close(p[0]);
}

/* ---- input ------------------------------------------------------------ */

static atomic_int rx_irqs;
static void count_rx_irq(void *opaque)
{
	(void)opaque;
	atomic_fetch_add(&rx_irqs, 1);
}

/* Polls LSR like the guest's driver until data is ready (bounded). */
static bool wait_data_ready(struct serial *s, double limit_s)
{
	double end = now_s() + limit_s;
	while (now_s() < end) {
		if (get(s, 5) & 0x01)
			return true;
		usleep(1000);
	}
	return false;
}

/* What the guest reads while LSR says data is ready. */
static unsigned int drain(struct serial *s, uint8_t *buf, unsigned int max)
{
	unsigned int n = 0;
	while (n < max && (get(s, 5) & 0x01))
		buf[n++] = get(s, 0);
	return n;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int pipe_pending(int fd)
{
	int n = -1;
	return ioctl(fd, FIONREAD, &n) == 0 ? n : -1;
}

static void setup_input(struct serial *s, int in_fd)
{
	atomic_store(&rx_irqs, 0);
	serial_init(s, -1, count_rx_irq, NULL);
	put(s, 1, 0x01); /* IER: receive interrupts, as the 8250 driver sets */
	CHECK_EQ(serial_attach_input(s, in_fd), 0);
}

static void test_input_reaches_guest(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	struct serial s;
	setup_input(&s, p[0]);
	/* The device keeps its own descriptor: the caller may close its one. */
	close(p[0]);
	CHECK_EQ(serial_attach_input(&s, p[1]), -EBUSY);
	CHECK_EQ(write(p[1], "hello", 5), 5);
	CHECK(wait_data_ready(&s, 5.0));
	CHECK(atomic_load(&rx_irqs) >= 1);
	CHECK_EQ(get(&s, 2) & 0x0f, 0x04); /* IIR: received data */
	uint8_t buf[8] = {0};
	unsigned int n = drain(&s, buf, sizeof(buf));
	/* A pipe write of 5 bytes is read in one piece. */
	CHECK_EQ(n, 5);
	CHECK(memcmp(buf, "hello", 5) == 0);
	CHECK_EQ(get(&s, 2) & 0x0f, 0x01);
	double t0 = now_s();
	serial_destroy(&s);
	CHECK(now_s() - t0 < 1.0);
	close(p[1]);
}

/*
 * A host that writes much more than the guest reads: the device takes one
 * receive buffer's worth beyond what the guest holds, each batch comes with
 * its own interrupt, and every byte arrives in order.
 */
static void test_input_full_buffer(void)
{
	enum { LEN = 4000 };
	int p[2];
	CHECK_EQ(pipe(p), 0);
	struct serial s;
	setup_input(&s, p[0]);
	uint8_t out[LEN], in[LEN];
	for (size_t i = 0; i < LEN; i++)
		out[i] = pattern(i);
	CHECK_EQ(write(p[1], out, LEN), LEN);
	CHECK(wait_data_ready(&s, 5.0));
	usleep(100 * 1000); /* time for the thread to take more than it should */
	CHECK(pipe_pending(p[0]) >= LEN - 2 * SERIAL_RX_BUF);
	CHECK_EQ(atomic_load(&rx_irqs), 1);
	unsigned int got = 0;
	double end = now_s() + 10.0;
	while (got < LEN && now_s() < end) {
		if (!wait_data_ready(&s, 5.0))
			break;
		got += drain(&s, in + got, LEN - got);
	}
	CHECK_EQ(got, LEN);
	CHECK(memcmp(in, out, LEN) == 0);
	/* Each refill found rx[] empty, so each one raised an interrupt. */
	CHECK(atomic_load(&rx_irqs) >= (int)(LEN / SERIAL_RX_BUF));
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
}

/* The guest has not enabled receive interrupts: the bytes wait, and
 * enabling them raises the interrupt at once. */
static void test_input_before_ier(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	atomic_store(&rx_irqs, 0);
	struct serial s;
	serial_init(&s, -1, count_rx_irq, NULL);
	CHECK_EQ(serial_attach_input(&s, p[0]), 0);
	CHECK_EQ(write(p[1], "x", 1), 1);
	CHECK(wait_data_ready(&s, 5.0));
	CHECK_EQ(atomic_load(&rx_irqs), 0);
	put(&s, 1, 0x01);
	CHECK_EQ(atomic_load(&rx_irqs), 1);
	CHECK_EQ(get(&s, 0), 'x');
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
}

/* EOF: what was written still arrives, then the thread goes quiet (no
 * spinning on a readable-at-EOF fd) and ends when the device does. */
static void test_input_eof(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	struct serial s;
	setup_input(&s, p[0]);
	CHECK_EQ(write(p[1], "ab", 2), 2);
	close(p[1]);
	CHECK(wait_data_ready(&s, 5.0));
	uint8_t buf[4] = {0};
	CHECK_EQ(drain(&s, buf, sizeof(buf)), 2);
	CHECK(memcmp(buf, "ab", 2) == 0);
	double c0 = cpu_s();
	usleep(300 * 1000);
	CHECK(cpu_s() - c0 < 0.1);
	CHECK_EQ(get(&s, 5) & 0x01, 0);
	double t0 = now_s();
	serial_destroy(&s);
	CHECK(now_s() - t0 < 1.0);
	close(p[0]);
}

/* A non-blocking input fd (EAGAIN when empty): waited on, not spun on,
 * and its file status flags stay the caller's. */
static void test_input_nonblocking(void)
{
	int p[2];
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(fcntl(p[0], F_SETFL, O_NONBLOCK), 0);
	int flags = fcntl(p[0], F_GETFL);
	struct serial s;
	setup_input(&s, p[0]);
	double c0 = cpu_s();
	usleep(200 * 1000);
	CHECK(cpu_s() - c0 < 0.1);
	CHECK_EQ(get(&s, 5) & 0x01, 0);
	CHECK_EQ(write(p[1], "q", 1), 1);
	CHECK(wait_data_ready(&s, 5.0));
	CHECK_EQ(get(&s, 0), 'q');
	CHECK_EQ(fcntl(p[0], F_GETFL), flags);
	serial_destroy(&s);
	close(p[0]);
	close(p[1]);
}

/* A socket as input, and a device destroyed while bytes are still held
 * by its thread (the guest never read them). */
static void test_input_socket_destroy_pending(void)
{
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct serial s;
	setup_input(&s, sv[0]);
	uint8_t junk[3 * SERIAL_RX_BUF];
	memset(junk, 'z', sizeof(junk));
	CHECK_EQ(write(sv[1], junk, sizeof(junk)), (ssize_t)sizeof(junk));
	CHECK(wait_data_ready(&s, 5.0));
	CHECK_EQ(get(&s, 0), 'z');
	double t0 = now_s();
	serial_destroy(&s);
	CHECK(now_s() - t0 < 1.0);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	krun_log_configure(2, LOG_LVL_OFF);
	RUN_TEST(test_registers);
	RUN_TEST(test_stalled_pipe_does_not_block);
	RUN_TEST(test_reader_gets_everything);
	RUN_TEST(test_socket_gets_everything);
	RUN_TEST(test_stall_then_resume);
	RUN_TEST(test_reader_gone);
	RUN_TEST(test_caller_closes_fd);
	RUN_TEST(test_input_reaches_guest);
	RUN_TEST(test_input_full_buffer);
	RUN_TEST(test_input_before_ier);
	RUN_TEST(test_input_eof);
	RUN_TEST(test_input_nonblocking);
	RUN_TEST(test_input_socket_destroy_pending);
	TEST_MAIN_END();
}
