// SPDX-License-Identifier: Apache-2.0
/* 16550-compatible UART, enough for Linux's 8250 driver and earlyprintk. */
#include "legacy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/log.h"
#include "vmm/seccomp.h"

enum {
	REG_DATA = 0, REG_IER = 1, REG_IIR = 2, REG_LCR = 3,
	REG_MCR = 4, REG_LSR = 5, REG_MSR = 6, REG_SCR = 7,
};

#define IER_RDI 0x01
#define IER_THRI 0x02
#define IIR_NONE 0x01
#define IIR_THRI 0x02
#define IIR_RDI 0x04
#define IIR_FIFO 0xc0
#define LCR_DLAB 0x80
#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40
#define MCR_LOOP 0x10
#define MSR_DEFAULT 0xb0 /* DCD, DSR, CTS: a peer is always there */

#define MS 1000000ull
#define TX_STALL_NS (200 * MS)	/* no progress that long with a full ring: stalled */
#define TX_POLL_MS 50		/* drain thread's poll() slice: it sees stop that often */
#define TX_FLUSH_NS (500 * MS)	/* serial_destroy: time left to write out the ring */
#define RX_STOP_NS (200 * MS)	/* serial_destroy: the input thread's time to leave */
#define TX_CHUNK PIPE_BUF	/* a pipe that polls writable takes this without blocking */

/*
 * Everything the drain thread touches, on the heap and shared with the
 * device by reference count: a thread stuck in write() (another writer
 * filled the pipe between its poll() and write()) outlives the device.
 */
struct serial_tx {
	pthread_mutex_t lock;
	pthread_cond_t data;	/* drain thread: bytes queued, or stop */
	pthread_cond_t space;	/* writers: bytes drained, or output dead */
	pthread_cond_t done;	/* serial_destroy: the drain thread finished */
	pthread_t thread;
	unsigned int refs;
	int fd;			/* our dup of out_fd */
	bool is_sock;
	bool stop, exited;
	bool dead;		/* write failed (reader gone): everything is dropped */
	bool stalled;		/* ring full and no progress for TX_STALL_NS */
	bool stall_reported;
	uint64_t progress_ns;	/* last drain progress, or when the ring stopped being empty */
	uint64_t flush_deadline;
	uint64_t dropped, dropped_reported;
	unsigned int head, count;
	uint8_t buf[SERIAL_TX_BUF];
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct timespec to_timespec(uint64_t ns)
{
	return (struct timespec){.tv_sec = (time_t)(ns / 1000000000ull),
				 .tv_nsec = (long)(ns % 1000000000ull)};
}

static void tx_unref(struct serial_tx *t)
{
	pthread_mutex_lock(&t->lock);
	bool last = --t->refs == 0;
	pthread_mutex_unlock(&t->lock);
	if (!last)
		return;
	pthread_cond_destroy(&t->data);
	pthread_cond_destroy(&t->space);
	pthread_cond_destroy(&t->done);
	pthread_mutex_destroy(&t->lock);
	close(t->fd);
	free(t);
}

/* One poll() slice, then at most n bytes: >0 written, 0 not now, -errno. */
static ssize_t tx_write(struct serial_tx *t, const uint8_t *p, size_t n)
{
	struct pollfd pfd = {.fd = t->fd, .events = POLLOUT};
	int r = poll(&pfd, 1, TX_POLL_MS);
	if (r <= 0)
		return r < 0 && errno != EINTR ? -errno : 0;
	/* POLLERR/POLLHUP/POLLNVAL: write() tells what happened. */
	ssize_t w = t->is_sock ? send(t->fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL)
			       : write(t->fd, p, n);
	if (w < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : -errno;
	return w;
}

/* What the drain thread has to log, decided under t->lock. */
struct tx_note {
	bool stalled, resumed;
	int err;
	unsigned long long dropped;
};

static struct tx_note tx_take_note(struct serial_tx *t, int err)
{
	struct tx_note n = {.err = err};
	if (t->stalled && !t->stall_reported) {
		t->stall_reported = n.stalled = true;
	} else if (!t->stalled && t->stall_reported && !t->dead) {
		t->stall_reported = false;
		n.resumed = true;
		n.dropped = (unsigned long long)(t->dropped - t->dropped_reported);
		t->dropped_reported = t->dropped;
	}
	return n;
}

/* Log lines are written here, unlocked, never on a vCPU thread. */
static void tx_log(const struct tx_note *n)
{
	if (n->stalled)
		log_warn("serial: nobody reads the serial output, dropping it until they do");
	if (n->resumed)
		log_info("serial: the serial output flows again, %llu bytes dropped", n->dropped);
	if (n->err)
		log_warn("serial: cannot write the serial output (%s), dropping it",
			 strerror(-n->err));
}

static void *tx_main(void *arg)
{
	struct serial_tx *t = arg;
	pthread_mutex_lock(&t->lock);
	for (;;) {
		if (!t->count) {
			if (t->stop || t->dead)
				break;
			pthread_cond_wait(&t->data, &t->lock);
			continue;
		}
		/* Nothing more is flushed into a stalled reader at the end. */
		if (t->stop && (t->stalled || now_ns() >= t->flush_deadline))
			break;
		/* Writers only fill free slots, so this run stays put unlocked. */
		unsigned int n = SERIAL_TX_BUF - t->head;
		if (n > t->count)
			n = t->count;
		if (n > TX_CHUNK)
			n = TX_CHUNK;
		const uint8_t *p = t->buf + t->head;
		pthread_mutex_unlock(&t->lock);
		ssize_t w = tx_write(t, p, n);
		pthread_mutex_lock(&t->lock);
		if (w > 0) {
			t->head = (t->head + (unsigned int)w) % SERIAL_TX_BUF;
			t->count -= (unsigned int)w;
			t->progress_ns = now_ns();
			t->stalled = false;
			pthread_cond_broadcast(&t->space);
		} else if (w < 0) {
			t->dead = true;
			t->dropped += t->count;
			t->count = 0;
			pthread_cond_broadcast(&t->space);
		}
		struct tx_note note = tx_take_note(t, w < 0 ? (int)w : 0);
		if (note.stalled || note.resumed || note.err) {
			pthread_mutex_unlock(&t->lock);
			tx_log(&note);
			pthread_mutex_lock(&t->lock);
		}
	}
	/* What a stalled reader or the flush deadline left behind. */
	t->dropped += t->count;
	t->count = 0;
	t->exited = true;
	pthread_cond_broadcast(&t->done);
	pthread_mutex_unlock(&t->lock);
	tx_unref(t);
	return NULL;
}

/* Process signals (SIGPIPE included) are not the device threads'. */
static int spawn_quiet(struct krun_launcher *launcher, pthread_t *thread, const char *name,
		       void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = krun_spawn(launcher, thread, KRUN_THREAD_SERIAL, name, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

static void cond_init_monotonic(pthread_cond_t *c)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(c, &ca);
	pthread_condattr_destroy(&ca);
}

/*
 * Under *lock: waits until *exited or deadline_ns, then joins the thread,
 * or leaves it to finish alone (it is blocked in a read or write of the
 * caller's fd; its shared state outlives the device by reference).
 */
static void finish_thread(pthread_mutex_t *lock, pthread_cond_t *done, const bool *exited,
			  uint64_t deadline_ns, pthread_t thread, const char *what)
{
	struct timespec ts = to_timespec(deadline_ns);
	while (!*exited && pthread_cond_timedwait(done, lock, &ts) != ETIMEDOUT)
		;
	bool ended = *exited;
	pthread_mutex_unlock(lock);
	if (ended) {
		pthread_join(thread, NULL);
	} else {
		log_warn("serial: a %s of the serial console does not return, leaving it", what);
		pthread_detach(thread);
	}
}

static int tx_create(const struct serial *s, struct serial_tx **out)
{
	struct serial_tx *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->fd = fcntl(s->out_fd, F_DUPFD_CLOEXEC, 3);
	if (t->fd < 0) {
		int ret = -errno;
		free(t);
		return ret;
	}
	t->is_sock = s->out_is_sock;
	pthread_mutex_init(&t->lock, NULL);
	cond_init_monotonic(&t->data);
	cond_init_monotonic(&t->space);
	cond_init_monotonic(&t->done);
	t->refs = 2; /* the device and the drain thread */
	int ret = spawn_quiet(s->launcher, &t->thread, "serial-out", tx_main, t);
	if (ret) {
		t->refs = 1;
		tx_unref(t);
		return ret;
	}
	*out = t;
	return 0;
}

/* Queues one byte; waits (bounded) only while the reader makes progress. */
static void tx_put(struct serial_tx *t, uint8_t byte)
{
	pthread_mutex_lock(&t->lock);
	while (t->count == SERIAL_TX_BUF && !t->dead && !t->stalled) {
		uint64_t deadline = t->progress_ns + TX_STALL_NS;
		if (now_ns() >= deadline) {
			t->stalled = true;
			break;
		}
		struct timespec ts = to_timespec(deadline);
		pthread_cond_timedwait(&t->space, &t->lock, &ts);
	}
	if (t->count == SERIAL_TX_BUF || t->dead) {
		t->dropped++;
	} else {
		if (!t->count) {
			t->progress_ns = now_ns();
			pthread_cond_signal(&t->data);
		}
		t->buf[(t->head + t->count) % SERIAL_TX_BUF] = byte;
		t->count++;
	}
	pthread_mutex_unlock(&t->lock);
}

/* Under s->lock: the ring to put a byte in, set up at the first byte. */
static struct serial_tx *tx_get(struct serial *s)
{
	if (s->tx || s->tx_failed || s->out_fd < 0)
		return s->tx;
	int ret = tx_create(s, &s->tx);
	if (ret) {
		s->tx_failed = true;
		log_warn("serial: cannot set up the serial output (%s), dropping it",
			 strerror(-ret));
	}
	return s->tx;
}

uint64_t serial_tx_dropped(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	struct serial_tx *t = s->tx;
	uint64_t n = 0;
	if (t) {
		pthread_mutex_lock(&t->lock);
		n = t->dropped;
		pthread_mutex_unlock(&t->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_init(struct serial *s, int out_fd, void (*raise_irq)(void *), void *opaque)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	s->out_fd = out_fd;
	/* Here, not at the first byte: that comes on a vCPU, whose seccomp
	 * filter has no fstat. */
	struct stat st;
	s->out_is_sock = out_fd >= 0 && fstat(out_fd, &st) == 0 && S_ISSOCK(st.st_mode);
	s->iir = IIR_NONE;
	s->lsr = LSR_THRE | LSR_TEMT;
	s->msr = MSR_DEFAULT;
	s->raise_irq = raise_irq;
	s->irq_opaque = opaque;
	s->rx_wake_fd = -1;
}

static void rx_stop(struct serial *s);

void serial_destroy(struct serial *s)
{
	rx_stop(s);
	struct serial_tx *t = s->tx;
	s->tx = NULL;
	if (t) {
		pthread_mutex_lock(&t->lock);
		t->stop = true;
		t->flush_deadline = now_ns() + TX_FLUSH_NS;
		pthread_cond_signal(&t->data);
		pthread_cond_broadcast(&t->space);
		/* Past the flush, the thread leaves within one poll() slice
		 * unless a write() blocks it. */
		finish_thread(&t->lock, &t->done, &t->exited,
			      t->flush_deadline + 2 * TX_POLL_MS * MS, t->thread, "write");
		tx_unref(t);
	}
	pthread_mutex_destroy(&s->lock);
}

/* Under s->lock, rx[] just emptied: the input thread may hand over more. */
static void rx_wake_input(struct serial *s)
{
	if (!s->rx_want_space || s->rx_wake_fd < 0)
		return;
	s->rx_want_space = false;
	uint64_t one = 1;
	ssize_t r = write(s->rx_wake_fd, &one, sizeof(one));
	(void)r; /* a full counter is a pending wake-up already */
}

/* Recomputes IIR; returns true when an interrupt edge must be sent. */
static bool update_iir(struct serial *s)
{
	uint8_t old = s->iir;
	if ((s->ier & IER_RDI) && s->rx_count)
		s->iir = IIR_RDI;
	else if ((s->ier & IER_THRI) && s->thre_pending)
		s->iir = IIR_THRI;
	else
		s->iir = IIR_NONE;
	return s->iir != IIR_NONE && s->iir != old;
}

/* Loopback bytes come back at once; others are for *tx (queued unlocked). */
static void emit(struct serial *s, uint8_t byte, struct serial_tx **tx)
{
	if (s->mcr & MCR_LOOP) {
		if (s->rx_count < SERIAL_RX_BUF) {
			s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_BUF] = byte;
			s->rx_count++;
			s->lsr |= LSR_DR;
		}
		return;
	}
	*tx = tx_get(s);
}

static bool write_reg(struct serial *s, unsigned int reg, uint8_t v, struct serial_tx **tx)
{
	bool dlab = s->lcr & LCR_DLAB;
	switch (reg) {
	case REG_DATA:
		if (dlab) {
			s->dll = v;
			return false;
		}
		emit(s, v, tx);
		/* Transmission is instantaneous, so THR is empty again at once. */
		s->thre_pending = true;
		break;
	case REG_IER:
		if (dlab) {
			s->dlm = v;
			return false;
		}
		/* Enabling THRI with an empty THR raises an interrupt at once. */
		if ((v & IER_THRI) && !(s->ier & IER_THRI))
			s->thre_pending = true;
		s->ier = v & 0x0f;
		break;
	case REG_IIR:
		return false; /* FCR: FIFOs are always on and never overrun here. */
	case REG_LCR:
		s->lcr = v;
		return false;
	case REG_MCR:
		s->mcr = v;
		return false;
	case REG_SCR:
		s->scr = v;
		return false;
	default:
		return false;
	}
	return update_iir(s);
}

static uint8_t read_reg(struct serial *s, unsigned int reg, bool *irq)
{
	bool dlab = s->lcr & LCR_DLAB;
	uint8_t v = 0;
	switch (reg) {
	case REG_DATA:
		if (dlab)
			return s->dll;
		if (s->rx_count) {
			v = s->rx[s->rx_head];
			s->rx_head = (s->rx_head + 1) % SERIAL_RX_BUF;
			s->rx_count--;
		}
		if (!s->rx_count) {
			s->lsr &= (uint8_t)~LSR_DR;
			rx_wake_input(s);
		}
		*irq = update_iir(s);
		return v;
	case REG_IER:
		return dlab ? s->dlm : s->ier;
	case REG_IIR:
		v = s->iir | IIR_FIFO;
		/* Reading IIR acknowledges a THRE interrupt. */
		if (s->iir == IIR_THRI) {
			s->thre_pending = false;
			*irq = update_iir(s);
		}
		return v;
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		return s->lsr;
	case REG_MSR:
		return s->msr;
	case REG_SCR:
		return s->scr;
	}
	return 0;
}

void serial_pio_read(void *opaque, uint64_t offset, void *data, uint32_t len)
{
	struct serial *s = opaque;
	bool irq = false;
	memset(data, 0, len);
	if (len != 1 || offset >= SERIAL_NR_PORTS)
		return;
	pthread_mutex_lock(&s->lock);
	*(uint8_t *)data = read_reg(s, (unsigned int)offset, &irq);
	pthread_mutex_unlock(&s->lock);
	if (irq && s->raise_irq)
		s->raise_irq(s->irq_opaque);
}

void serial_pio_write(void *opaque, uint64_t offset, const void *data, uint32_t len)
{
	struct serial *s = opaque;
	if (len != 1 || offset >= SERIAL_NR_PORTS)
		return;
	uint8_t v = *(const uint8_t *)data;
	struct serial_tx *tx = NULL;
	pthread_mutex_lock(&s->lock);
	bool irq = write_reg(s, (unsigned int)offset, v, &tx);
	pthread_mutex_unlock(&s->lock);
	/* Outside s->lock: a vCPU held back by a full ring blocks no other
	 * vCPU's register access. */
	if (tx)
		tx_put(tx, v);
	if (irq && s->raise_irq)
		s->raise_irq(s->irq_opaque);
}

/* only_if_empty: nothing is added to a receive buffer the guest has not
 * emptied yet (the input thread is told when it has). */
static unsigned int feed(struct serial *s, const uint8_t *buf, unsigned int len,
			 bool only_if_empty)
{
	unsigned int n = 0;
	pthread_mutex_lock(&s->lock);
	if (only_if_empty && s->rx_count) {
		s->rx_want_space = true;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	while (n < len && s->rx_count < SERIAL_RX_BUF) {
		s->rx[(s->rx_head + s->rx_count) % SERIAL_RX_BUF] = buf[n++];
		s->rx_count++;
	}
	if (s->rx_count)
		s->lsr |= LSR_DR;
	bool irq = update_iir(s);
	pthread_mutex_unlock(&s->lock);
	if (irq && s->raise_irq)
		s->raise_irq(s->irq_opaque);
	return n;
}

unsigned int serial_feed_input(struct serial *s, const uint8_t *buf, unsigned int len)
{
	return feed(s, buf, len, false);
}

/* The input thread's state, shared with the device by reference count: a
 * thread blocked in read() (someone else took the bytes poll() saw)
 * outlives the device. */
struct serial_rx {
	pthread_mutex_t lock;
	pthread_cond_t done;
	pthread_t thread;
	unsigned int refs;
	int fd;			/* our dup of the input fd */
	int wake_fd;		/* eventfd: stop, or the guest emptied rx[] */
	struct serial *dev;	/* NULL once the device is going away */
	bool stop, exited;
};

static void rx_unref(struct serial_rx *r)
{
	pthread_mutex_lock(&r->lock);
	bool last = --r->refs == 0;
	pthread_mutex_unlock(&r->lock);
	if (!last)
		return;
	pthread_cond_destroy(&r->done);
	pthread_mutex_destroy(&r->lock);
	close(r->fd);
	close(r->wake_fd);
	free(r);
}

/* One read of the input: bytes read, 0 for nothing now, -1 for its end. */
static int rx_read(struct serial_rx *r, uint8_t *buf, size_t size)
{
	ssize_t n = read(r->fd, buf, size);
	if (n > 0)
		return (int)n;
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (n == 0)
		log_debug("serial: end of the serial console's input");
	else
		log_warn("serial: cannot read the serial console's input (%s), ignoring it from now on",
			 strerror(errno));
	return -1;
}

static void *rx_main(void *arg)
{
	struct serial_rx *r = arg;
	uint8_t buf[SERIAL_RX_BUF];
	unsigned int len = 0, off = 0;
	bool ended = false;
	for (;;) {
		/* With bytes in hand the input is not read again: the guest's
		 * pace bounds what we take from the fd. */
		struct pollfd pfd[2] = {
			{.fd = r->wake_fd, .events = POLLIN},
			{.fd = len || ended ? -1 : r->fd, .events = POLLIN},
		};
		if (poll(pfd, 2, -1) < 0 && errno != EINTR) {
			log_warn("serial: poll on the serial console's input: %s", strerror(errno));
			break;
		}
		uint64_t v;
		if ((pfd[0].revents & POLLIN) && read(r->wake_fd, &v, sizeof(v)) < 0)
			v = 0;
		if (pfd[1].revents) {
			int n = rx_read(r, buf, sizeof(buf));
			if (n > 0)
				len = (unsigned int)n, off = 0;
			ended = n < 0;
		}
		pthread_mutex_lock(&r->lock);
		if (r->stop) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		if (off < len)
			off += feed(r->dev, buf + off, len - off, true);
		pthread_mutex_unlock(&r->lock);
		if (off == len)
			len = off = 0;
	}
	pthread_mutex_lock(&r->lock);
	r->exited = true;
	pthread_cond_broadcast(&r->done);
	pthread_mutex_unlock(&r->lock);
	rx_unref(r);
	return NULL;
}

int serial_attach_input(struct serial *s, int in_fd)
{
	if (s->input)
		return -EBUSY;
	struct serial_rx *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->fd = fcntl(in_fd, F_DUPFD_CLOEXEC, 3);
	r->wake_fd = r->fd < 0 ? -1 : eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wake_fd < 0) {
		int ret = -errno;
		if (r->fd >= 0)
			close(r->fd);
		free(r);
		return ret;
	}
	pthread_mutex_init(&r->lock, NULL);
	cond_init_monotonic(&r->done);
	r->dev = s;
	r->refs = 2; /* the device and the input thread */
	s->input = r;
	s->rx_wake_fd = r->wake_fd;
	int ret = spawn_quiet(s->launcher, &r->thread, "serial-in", rx_main, r);
	if (ret) {
		s->input = NULL;
		s->rx_wake_fd = -1;
		r->refs = 1;
		rx_unref(r);
	}
	return ret;
}

static void rx_stop(struct serial *s)
{
	struct serial_rx *r = s->input;
	if (!r)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = true;
	r->dev = NULL;
	uint64_t one = 1;
	ssize_t w = write(r->wake_fd, &one, sizeof(one));
	(void)w;
	finish_thread(&r->lock, &r->done, &r->exited, now_ns() + RX_STOP_NS, r->thread, "read");
	s->input = NULL;
	s->rx_wake_fd = -1;
	rx_unref(r);
}
