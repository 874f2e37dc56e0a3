// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-console with multiport.
 *
 * Everything after DRIVER_OK happens on one worker thread: it owns the
 * queues, the per-port state and the pending control messages, so none of
 * that needs a lock.  Other threads only touch winsize (atomic) and write
 * the stop/resize eventfds.
 *
 * Flow control: a port holds at most one rx chain and one tx chain.  The
 * input fd is in the epoll set only while an rx chain is held, so a
 * readable fd with no guest buffer does not spin; a tx chain that hits
 * EAGAIN blocks its port (out fd polled for EPOLLOUT) instead of dropping.
 */
#include "console.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/virtio_console.h>

#include "../../util/log.h"

#define CTRL_RX_Q 2
#define CTRL_TX_Q 3
#define CTRL_RING 64
/* Chains served per wakeup before yielding to other ports. */
#define TX_BATCH 64

enum fd_kind {
	FD_NONE,
	FD_STREAM,	/* pipe, tty, char device: private O_NONBLOCK description */
	FD_SOCK,	/* socket: per-call MSG_DONTWAIT */
	FD_FILE,	/* never blocks and cannot be polled: always ready */
};

enum tag { TAG_STOP, TAG_RESIZE, TAG_QUEUE, TAG_IN, TAG_OUT, TAG_GATE };

struct port {
	char name[CONSOLE_PORT_NAME_MAX + 1];
	bool is_console;
	int in_fd, out_fd;
	enum fd_kind in_kind, out_kind;

	/* Worker state, cleared at every activation. */
	bool ready;		/* guest sent PORT_READY(1) */
	bool console_deferred;	/* CONSOLE_PORT held back until the gate opens */
	bool guest_open;
	bool in_eof;
	bool in_armed;
	bool out_armed;
	bool out_failed;
	bool rx_held;
	bool tx_held;
	unsigned int tx_seg;	/* first unwritten readable segment of tx_chain */
	struct vq_chain rx_chain;
	struct vq_chain tx_chain;
};

struct ctrl_msg {
	uint32_t id;
	uint16_t event;
	uint16_t value;
};

struct virtio_console {
	struct virtio_device_ops ops;
	bool sealed;
	unsigned int nr_ports;
	struct port ports[CONSOLE_MAX_PORTS];
	_Atomic uint32_t winsize;	/* cols | rows << 16 */

	int stop_evt;
	int resize_evt;
	int epfd;
	int gate_fd;		/* see virtio_console_order(); -1: none */
	bool gate_primary;
	bool running;
	pthread_t thread;

	/* Valid while running; owned by the worker. */
	struct virtio_mmio_dev *dev;
	bool multiport;
	bool stopping;
	bool gate_open;		/* console ports may be announced */
	bool gate_signalled;
	struct ctrl_msg ctrl[CTRL_RING];
	unsigned int ctrl_head, ctrl_count;
	struct vq_chain ctrl_chain;
};

static uint64_t tag(enum tag t, unsigned int i)
{
	return (uint64_t)t << 32 | i;
}

static void drain_evt(int fd)
{
	eventfd_t v;

	(void)eventfd_read(fd, &v);
}

static void kick_evt(int fd)
{
	(void)eventfd_write(fd, 1);
}

/* ---- configuration ------------------------------------------------------ */

static int reopen_nonblock(int fd, bool for_write)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	int nfd = open(path, (for_write ? O_WRONLY : O_RDONLY) | O_NONBLOCK | O_CLOEXEC |
			     O_NOCTTY);
	if (nfd >= 0)
		return nfd;
	/* No /proc or a FIFO without readers: share the caller's description. */
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (nfd < 0)
		return -errno;
	int fl = fcntl(nfd, F_GETFL);
	if (fl < 0 || fcntl(nfd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int ret = -errno;
		close(nfd);
		return ret;
	}
	log_debug("console: fd %d set O_NONBLOCK (could not reopen)", fd);
	return nfd;
}

/* A private fd for the worker; the caller keeps fd. */
static int open_private(int fd, bool for_write, enum fd_kind *kind)
{
	struct stat st;

	*kind = FD_NONE;
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISSOCK(st.st_mode) || S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		int nfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (nfd < 0)
			return -errno;
		*kind = S_ISSOCK(st.st_mode) ? FD_SOCK : FD_FILE;
		return nfd;
	}
	int nfd = reopen_nonblock(fd, for_write);
	if (nfd >= 0)
		*kind = FD_STREAM;
	return nfd;
}

struct virtio_console *virtio_console_create(void)
{
	struct virtio_console *con = calloc(1, sizeof(*con));

	if (!con)
		return NULL;
	con->epfd = -1;
	con->gate_fd = -1;
	con->stop_evt = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	con->resize_evt = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (con->stop_evt < 0 || con->resize_evt < 0) {
		if (con->stop_evt >= 0)
			close(con->stop_evt);
		if (con->resize_evt >= 0)
			close(con->resize_evt);
		free(con);
		return NULL;
	}
	return con;
}

int virtio_console_add_port(struct virtio_console *con, const char *name, int in_fd,
			    int out_fd, bool is_console)
{
	if (con->sealed)
		return -EBUSY;
	if (con->nr_ports >= CONSOLE_MAX_PORTS)
		return -ENOSPC;
	if (name && strlen(name) > CONSOLE_PORT_NAME_MAX)
		return -EINVAL;

	struct port *p = &con->ports[con->nr_ports];
	memset(p, 0, sizeof(*p));
	p->in_fd = open_private(in_fd, false, &p->in_kind);
	if (in_fd >= 0 && p->in_fd < 0)
		return p->in_fd;
	p->out_fd = open_private(out_fd, true, &p->out_kind);
	if (out_fd >= 0 && p->out_fd < 0) {
		int ret = p->out_fd;
		if (p->in_fd >= 0)
			close(p->in_fd);
		return ret;
	}
	if (name)
		strcpy(p->name, name);
	p->is_console = is_console;
	return (int)con->nr_ports++;
}

int virtio_console_resize(struct virtio_console *con, uint16_t cols, uint16_t rows)
{
	atomic_store(&con->winsize, (uint32_t)cols | (uint32_t)rows << 16);
	kick_evt(con->resize_evt);
	return 0;
}

/* ---- epoll helpers ------------------------------------------------------ */

static int ep_add(struct virtio_console *con, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	return epoll_ctl(con->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static void ep_del(struct virtio_console *con, int fd)
{
	epoll_ctl(con->epfd, EPOLL_CTL_DEL, fd, NULL);
}

static void in_arm(struct virtio_console *con, struct port *p, unsigned int id, bool on)
{
	if (p->in_kind == FD_FILE || p->in_armed == on)
		return;
	if (!on) {
		ep_del(con, p->in_fd);
		p->in_armed = false;
		return;
	}
	int ret = ep_add(con, p->in_fd, EPOLLIN, tag(TAG_IN, id));
	if (ret == -EPERM) {
		/* e.g. /dev/null: no poll support, reads never block. */
		p->in_kind = FD_FILE;
		return;
	}
	p->in_armed = ret == 0;
}

static void out_arm(struct virtio_console *con, struct port *p, unsigned int id, bool on)
{
	if (p->out_armed == on)
		return;
	if (!on) {
		ep_del(con, p->out_fd);
		p->out_armed = false;
		return;
	}
	if (ep_add(con, p->out_fd, EPOLLOUT, tag(TAG_OUT, id)) < 0) {
		log_warn("console: port %u: cannot poll output; dropping it", id);
		p->out_failed = true;
		return;
	}
	p->out_armed = true;
}

/* ---- queues ------------------------------------------------------------- */

static unsigned int rx_queue(unsigned int id)
{
	return id == 0 ? 0 : 2 + 2 * id;
}

static unsigned int tx_queue(unsigned int id)
{
	return rx_queue(id) + 1;
}

static struct virtqueue *queue(struct virtio_console *con, unsigned int q)
{
	return &con->dev->queues[q];
}

/* ---- control queue ------------------------------------------------------ */

static void ctrl_queue_msg(struct virtio_console *con, uint32_t id, uint16_t event,
			   uint16_t value)
{
	if (event == VIRTIO_CONSOLE_RESIZE) {
		/* The size is read when sent, so one pending RESIZE is enough. */
		for (unsigned int i = 0; i < con->ctrl_count; i++) {
			const struct ctrl_msg *m = &con->ctrl[(con->ctrl_head + i) % CTRL_RING];
			if (m->id == id && m->event == event)
				return;
		}
	}
	if (con->ctrl_count == CTRL_RING) {
		log_warn("console: control queue full, message dropped");
		return;
	}
	con->ctrl[(con->ctrl_head + con->ctrl_count++) % CTRL_RING] =
		(struct ctrl_msg){ id, event, value };
}

static size_t ctrl_build(const struct virtio_console *con, const struct ctrl_msg *m,
			 uint8_t *buf)
{
	struct virtio_console_control h = {
		.id = htole32(m->id), .event = htole16(m->event), .value = htole16(m->value),
	};
	size_t n = sizeof(h);

	memcpy(buf, &h, n);
	if (m->event == VIRTIO_CONSOLE_RESIZE) {
		uint32_t ws = atomic_load(&con->winsize);
		uint16_t sz[2] = { htole16(ws & 0xffff), htole16(ws >> 16) };
		memcpy(buf + n, sz, sizeof(sz));
		n += sizeof(sz);
	} else if (m->event == VIRTIO_CONSOLE_PORT_NAME) {
		size_t len = strlen(con->ports[m->id].name);
		memcpy(buf + n, con->ports[m->id].name, len);
		n += len;
	}
	return n;
}

static void ctrl_flush(struct virtio_console *con)
{
	uint8_t buf[sizeof(struct virtio_console_control) + CONSOLE_PORT_NAME_MAX + 1];
	bool pushed = false;

	while (con->ctrl_count) {
		if (virtio_mmio_pop(con->dev, CTRL_RX_Q, &con->ctrl_chain) <= 0)
			break;
		size_t n = ctrl_build(con, &con->ctrl[con->ctrl_head], buf);
		size_t done = vq_chain_write(&con->ctrl_chain, 0, buf, n);
		if (done < n)
			log_debug("console: control buffer too small (%zu < %zu)", done, n);
		vq_push(queue(con, CTRL_RX_Q), con->ctrl_chain.head, (uint32_t)done);
		con->ctrl_head = (con->ctrl_head + 1) % CTRL_RING;
		con->ctrl_count--;
		pushed = true;
	}
	if (pushed)
		virtio_mmio_notify_queue(con->dev, CTRL_RX_Q);
}

static void port_ready(struct virtio_console *con, uint32_t id)
{
	struct port *p = &con->ports[id];

	p->ready = true;
	if (p->is_console && !con->gate_open) {
		p->console_deferred = true;
		return;
	}
	if (p->is_console)
		ctrl_queue_msg(con, id, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
	ctrl_queue_msg(con, id, VIRTIO_CONSOLE_PORT_OPEN, 1);
	if (p->is_console)
		ctrl_queue_msg(con, id, VIRTIO_CONSOLE_RESIZE, 0);
	if (p->name[0])
		ctrl_queue_msg(con, id, VIRTIO_CONSOLE_PORT_NAME, 1);
}

static void port_service(struct virtio_console *con, unsigned int id);

static void ctrl_handle(struct virtio_console *con, const struct virtio_console_control *h)
{
	uint32_t id = le32toh(h->id);
	uint16_t event = le16toh(h->event), value = le16toh(h->value);

	if (event == VIRTIO_CONSOLE_DEVICE_READY) {
		if (value != 1) {
			log_warn("console: guest driver failed to initialise");
			return;
		}
		for (unsigned int i = 0; i < con->nr_ports; i++)
			ctrl_queue_msg(con, i, VIRTIO_CONSOLE_PORT_ADD, 0);
		return;
	}
	if (id >= con->nr_ports) {
		log_debug("console: control event %u for unknown port %u", event, id);
		return;
	}
	switch (event) {
	case VIRTIO_CONSOLE_PORT_READY:
		if (value == 1)
			port_ready(con, id);
		else
			log_warn("console: guest failed to add port %u", id);
		break;
	case VIRTIO_CONSOLE_PORT_OPEN:
		/* The guest opens a console port once it has made it an hvc. */
		if (con->gate_primary && value && con->ports[id].is_console &&
		    !con->gate_signalled) {
			kick_evt(con->gate_fd);
			con->gate_signalled = true;
		}
		__atomic_store_n(&con->ports[id].guest_open, value != 0, __ATOMIC_RELEASE);
		port_service(con, id);
		break;
	default:
		log_debug("console: ignored control event %u", event);
		break;
	}
}

bool virtio_console_port_guest_open(struct virtio_console *con, unsigned int id)
{
	return id < con->nr_ports && __atomic_load_n(&con->ports[id].guest_open, __ATOMIC_ACQUIRE);
}

static void ctrl_tx_service(struct virtio_console *con)
{
	while (virtio_mmio_pop(con->dev, CTRL_TX_Q, &con->ctrl_chain) > 0) {
		struct virtio_console_control h;
		size_t n = vq_chain_read(&con->ctrl_chain, 0, &h, sizeof(h));

		/* Return the buffer first: handling reuses ctrl_chain. */
		vq_push(queue(con, CTRL_TX_Q), con->ctrl_chain.head, 0);
		virtio_mmio_notify_queue(con->dev, CTRL_TX_Q);
		if (n == sizeof(h))
			ctrl_handle(con, &h);
		else
			log_debug("console: short control message");
	}
	ctrl_flush(con);
}

/* ---- port data ---------------------------------------------------------- */

static ssize_t port_read(const struct port *p, const struct vq_chain *c)
{
	const struct iovec *iov = c->iov + c->nr_readable;

	if (p->in_kind == FD_SOCK) {
		struct msghdr msg = { .msg_iov = (struct iovec *)iov,
				      .msg_iovlen = c->nr_writable };
		return recvmsg(p->in_fd, &msg, MSG_DONTWAIT);
	}
	return readv(p->in_fd, iov, (int)c->nr_writable);
}

static void port_eof(struct virtio_console *con, struct port *p, unsigned int id)
{
	p->in_eof = true;
	in_arm(con, p, id, false);
	/* The guest reads EOF once the host side is closed and its data is
	 * drained; the data went out on the rx queue first. */
	if (con->multiport) {
		ctrl_queue_msg(con, id, VIRTIO_CONSOLE_PORT_OPEN, 0);
		ctrl_flush(con);
	}
}

static bool rx_wanted(const struct port *p)
{
	return p->in_fd >= 0 && p->guest_open && !p->in_eof;
}

static void rx_service(struct virtio_console *con, unsigned int id)
{
	struct port *p = &con->ports[id];
	bool pushed = false;

	while (rx_wanted(p)) {
		if (!p->rx_held) {
			if (virtio_mmio_pop(con->dev, rx_queue(id), &p->rx_chain) <= 0) {
				in_arm(con, p, id, false);
				break;
			}
			p->rx_held = true;
		}
		if (p->rx_chain.writable_len == 0) {
			vq_push(queue(con, rx_queue(id)), p->rx_chain.head, 0);
			p->rx_held = false;
			pushed = true;
			continue;
		}
		ssize_t n = port_read(p, &p->rx_chain);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			in_arm(con, p, id, true);
			break;
		}
		if (n <= 0) {
			if (n < 0)
				log_debug("console: port %u input error: %s", id,
					  strerror(errno));
			port_eof(con, p, id);
			break;
		}
		vq_push(queue(con, rx_queue(id)), p->rx_chain.head, (uint32_t)n);
		p->rx_held = false;
		pushed = true;
	}
	if (!rx_wanted(p))
		in_arm(con, p, id, false);
	if (pushed)
		virtio_mmio_notify_queue(con->dev, rx_queue(id));
}

static ssize_t port_write(const struct port *p, const struct iovec *iov, unsigned int n)
{
	if (p->out_kind == FD_SOCK) {
		struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = n };
		return sendmsg(p->out_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	return writev(p->out_fd, iov, (int)n);
}

/* Writes what is left of the held tx chain: 0 done, -EAGAIN blocked. */
static int tx_flush(struct port *p, unsigned int id)
{
	struct vq_chain *c = &p->tx_chain;

	while (p->tx_seg < c->nr_readable && p->out_fd >= 0 && !p->out_failed) {
		ssize_t n = port_write(p, c->iov + p->tx_seg, c->nr_readable - p->tx_seg);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return -EAGAIN;
		if (n < 0) {
			/* The reader went away: keep the guest running. */
			log_warn("console: port %u output: %s; discarding", id,
				 strerror(errno));
			p->out_failed = true;
			break;
		}
		/* The chain is our copy; consume written bytes in place. */
		size_t left = (size_t)n;
		while (p->tx_seg < c->nr_readable && left >= c->iov[p->tx_seg].iov_len)
			left -= c->iov[p->tx_seg++].iov_len;
		if (left) {
			c->iov[p->tx_seg].iov_base = (uint8_t *)c->iov[p->tx_seg].iov_base + left;
			c->iov[p->tx_seg].iov_len -= left;
		}
	}
	return 0;
}

static void tx_service(struct virtio_console *con, unsigned int id)
{
	struct port *p = &con->ports[id];
	unsigned int served = 0;

	if (p->out_armed)
		return;		/* waiting for EPOLLOUT */
	for (;;) {
		if (!p->tx_held) {
			if (served == TX_BATCH) {
				kick_evt(con->dev->queue_evt[tx_queue(id)]);
				break;
			}
			if (virtio_mmio_pop(con->dev, tx_queue(id), &p->tx_chain) <= 0)
				break;
			p->tx_held = true;
			p->tx_seg = 0;
		}
		if (tx_flush(p, id) == -EAGAIN) {
			out_arm(con, p, id, true);
			if (!p->out_failed)
				break;
			continue;
		}
		vq_push(queue(con, tx_queue(id)), p->tx_chain.head, 0);
		p->tx_held = false;
		served++;
	}
	if (served)
		virtio_mmio_notify_queue(con->dev, tx_queue(id));
}

static void port_service(struct virtio_console *con, unsigned int id)
{
	rx_service(con, id);
	tx_service(con, id);
}

/* ---- worker ------------------------------------------------------------- */

static void send_resize(struct virtio_console *con)
{
	if (!con->multiport) {
		virtio_mmio_notify_config(con->dev);
		return;
	}
	for (unsigned int i = 0; i < con->nr_ports; i++)
		if (con->ports[i].is_console && con->ports[i].ready &&
		    !con->ports[i].console_deferred)
			ctrl_queue_msg(con, i, VIRTIO_CONSOLE_RESIZE, 0);
	ctrl_flush(con);
}

static void queue_event(struct virtio_console *con, unsigned int q)
{
	drain_evt(con->dev->queue_evt[q]);
	if (q == CTRL_RX_Q) {
		ctrl_flush(con);
		return;
	}
	if (q == CTRL_TX_Q) {
		ctrl_tx_service(con);
		return;
	}
	unsigned int id = q < 2 ? 0 : q / 2 - 1;
	if (id >= con->nr_ports)
		return;
	if (q & 1)
		tx_service(con, id);
	else
		rx_service(con, id);
}

static void out_event(struct virtio_console *con, unsigned int id)
{
	struct port *p = &con->ports[id];

	out_arm(con, p, id, false);
	tx_service(con, id);
}

static void open_gate(struct virtio_console *con)
{
	/* Never read: the eventfd stays readable for the other consoles. */
	ep_del(con, con->gate_fd);
	con->gate_open = true;
	for (unsigned int id = 0; id < con->nr_ports; id++) {
		if (con->ports[id].console_deferred) {
			con->ports[id].console_deferred = false;
			port_ready(con, id);
		}
	}
	ctrl_flush(con);
}

static void dispatch(struct virtio_console *con, uint64_t data)
{
	unsigned int i = (uint32_t)data;

	switch ((enum tag)(data >> 32)) {
	case TAG_STOP:
		con->stopping = true;
		break;
	case TAG_RESIZE:
		drain_evt(con->resize_evt);
		send_resize(con);
		break;
	case TAG_QUEUE:
		queue_event(con, i);
		break;
	case TAG_IN:
		rx_service(con, i);
		break;
	case TAG_OUT:
		out_event(con, i);
		break;
	case TAG_GATE:
		open_gate(con);
		break;
	}
}

#define FINAL_DRAIN_MS 2000

/* Output the guest queued just before it ended (a workload's last lines,
 * then the reboot) must reach the host: write what is left, waiting a
 * bounded time for slow readers. */
static void final_drain(struct virtio_console *con)
{
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (unsigned int id = 0; id < con->nr_ports; id++) {
		struct port *p = &con->ports[id];
		struct virtqueue *vq = queue(con, tx_queue(id));
		if (p->out_fd < 0 || !vq->ready || vq->broken)
			continue;
		for (;;) {
			if (!p->tx_held) {
				if (vq_pop(vq, &p->tx_chain) <= 0)
					break;
				p->tx_held = true;
				p->tx_seg = 0;
			}
			if (tx_flush(p, id) == -EAGAIN) {
				struct timespec now;
				clock_gettime(CLOCK_MONOTONIC, &now);
				long spent = (now.tv_sec - start.tv_sec) * 1000 +
					     (now.tv_nsec - start.tv_nsec) / 1000000;
				struct pollfd pfd = {.fd = p->out_fd, .events = POLLOUT};
				if (spent >= FINAL_DRAIN_MS || poll(&pfd, 1, FINAL_DRAIN_MS - (int)spent) <= 0)
					break;
				continue;
			}
			vq_push(vq, p->tx_chain.head, 0);
			p->tx_held = false;
		}
	}
}

static void *worker(void *arg)
{
	struct virtio_console *con = arg;
	struct epoll_event ev[16];

	/* Kicks that arrived before activation are still in the eventfds. */
	while (!con->stopping) {
		int n = epoll_wait(con->epfd, ev, 16, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("console: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !con->stopping; i++)
			dispatch(con, ev[i].data.u64);
	}
	final_drain(con);
	return NULL;
}

/* ---- device ops --------------------------------------------------------- */

static void console_read_config(void *opaque, uint32_t offset, void *data, uint32_t len)
{
	struct virtio_console *con = opaque;
	uint32_t ws = atomic_load(&con->winsize);
	struct virtio_console_config cfg = {
		.cols = htole16(ws & 0xffff),
		.rows = htole16(ws >> 16),
		.max_nr_ports = htole32(con->nr_ports),
	};

	memcpy(data, (uint8_t *)&cfg + offset, len);
}

static void reset_port_state(struct port *p)
{
	p->ready = p->in_eof = false;
	__atomic_store_n(&p->guest_open, false, __ATOMIC_RELEASE);
	p->console_deferred = false;
	p->in_armed = p->out_armed = p->out_failed = false;
	p->rx_held = p->tx_held = false;
	p->tx_seg = 0;
}

static int setup_epoll(struct virtio_console *con, struct virtio_mmio_dev *dev)
{
	int ret;

	con->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (con->epfd < 0)
		return -errno;
	ret = ep_add(con, con->stop_evt, EPOLLIN, tag(TAG_STOP, 0));
	if (!ret)
		ret = ep_add(con, con->resize_evt, EPOLLIN, tag(TAG_RESIZE, 0));
	for (unsigned int q = 0; !ret && q < con->ops.num_queues; q++)
		ret = ep_add(con, dev->queue_evt[q], EPOLLIN, tag(TAG_QUEUE, q));
	con->gate_open = con->gate_fd < 0 || con->gate_primary;
	con->gate_signalled = false;
	if (!ret && !con->gate_open)
		ret = ep_add(con, con->gate_fd, EPOLLIN, tag(TAG_GATE, 0));
	if (ret) {
		close(con->epfd);
		con->epfd = -1;
	}
	return ret;
}

static int console_activate(void *opaque, struct virtio_mmio_dev *dev)
{
	struct virtio_console *con = opaque;

	if (con->running)
		return -EBUSY;
	if (con->nr_ports == 0)
		return -EINVAL;
	con->dev = dev;
	con->multiport = virtio_mmio_has_feature(dev, VIRTIO_CONSOLE_F_MULTIPORT);
	con->stopping = false;
	con->ctrl_head = con->ctrl_count = 0;
	for (unsigned int i = 0; i < con->nr_ports; i++)
		reset_port_state(&con->ports[i]);
	/* Without multiport there is no handshake: port 0 is simply open. */
	if (!con->multiport)
		con->ports[0].guest_open = true;
	drain_evt(con->stop_evt);

	int ret = setup_epoll(con, dev);
	if (ret)
		return ret;
	ret = virtio_start_worker(dev, &con->thread, KRUN_THREAD_CONSOLE, worker, con, "console");
	if (ret) {
		close(con->epfd);
		con->epfd = -1;
		return ret;
	}
	con->running = true;
	return 0;
}

static void console_reset(void *opaque)
{
	struct virtio_console *con = opaque;

	if (!con->running)
		return;
	kick_evt(con->stop_evt);
	pthread_join(con->thread, NULL);
	con->running = false;
	close(con->epfd);
	con->epfd = -1;
	con->dev = NULL;
}

const struct virtio_device_ops *virtio_console_ops(struct virtio_console *con)
{
	unsigned int ports = con->nr_ports ? con->nr_ports : 1;

	con->sealed = true;
	con->ops = (struct virtio_device_ops){
		.name = "virtio-console",
		.device_id = VIRTIO_ID_CONSOLE_DEV,
		.num_queues = (uint16_t)(2 * (ports + 1)),
		.queue_max_size = CONSOLE_QUEUE_SIZE,
		.features = (1ull << VIRTIO_CONSOLE_F_SIZE) | (1ull << VIRTIO_CONSOLE_F_MULTIPORT),
		.config_size = sizeof(struct virtio_console_config),
		.read_config = console_read_config,
		.activate = console_activate,
		.reset = console_reset,
	};
	return &con->ops;
}

void virtio_console_destroy(struct virtio_console *con)
{
	if (!con)
		return;
	console_reset(con);
	for (unsigned int i = 0; i < con->nr_ports; i++) {
		if (con->ports[i].in_fd >= 0)
			close(con->ports[i].in_fd);
		if (con->ports[i].out_fd >= 0)
			close(con->ports[i].out_fd);
	}
	close(con->stop_evt);
	close(con->resize_evt);
	free(con);
}

void virtio_console_order(struct virtio_console *con, int gate_fd, bool primary)
{
	con->gate_fd = gate_fd;
	con->gate_primary = primary;
}
