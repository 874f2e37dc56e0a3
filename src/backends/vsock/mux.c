// SPDX-License-Identifier: Apache-2.0
/*
 * vsock host side: connections between guest vsock stream sockets and host
 * AF_UNIX sockets (krun_add_vsock_port2), in one epoll set.
 *
 * Shape.  Every host descriptor in the set carries a struct ep_item whose
 * kind says what it is: a listener (host clients connect, the guest gets an
 * OP_REQUEST) or a connection.  A connection (struct conn) is one vsock
 * stream, keyed by (host port, guest port); its kind says what is behind
 * its fd.  The stream protocol (REQUEST/RESPONSE, RW with credit,
 * SHUTDOWN, RST) is the same for every kind, so it lives here once.
 *
 * Adding TSI later, without touching the stream code:
 *  - the control channel: vsock_mux_guest_dgram() is where DGRAM packets to
 *    (2, 1024..1031) arrive; it parses PROXY_CREATE/CONNECT/LISTEN/... and
 *    answers with DGRAM packets from a bounded reply queue (like rsts[]);
 *  - outgoing TSI connects: a CONN_TSI kind whose fd is an inet or unix
 *    socket connected with a non-blocking connect(); the guest's REQUEST
 *    to (2, 620) finds it by guest port instead of the port map
 *    (handle_request); EPOLLOUT completes the connect;
 *  - TSI listeners: an EP_LISTENER whose port is the guest's vm_port and
 *    whose fd is an inet/unix listener (same accept path as unix ports);
 *  - UDP: another ep_item kind whose readable datagrams become DGRAM RW
 *    packets in the same reply queue.
 * Everything stays on the device's one worker thread.
 *
 * Bounds: at most limits.max_conns connections (a REQUEST over it, or a
 * host client over it, is refused: RST / closed); a connection has at most
 * one pending packet of each control kind (flags, not a queue) and is on
 * the rx list at most once; RSTs for packets that match no connection go
 * through a fixed queue (dropped when full: the guest never gave us rx
 * buffers).  Guest->host bytes go straight from guest memory to the host
 * socket; only what the socket does not take is copied into the
 * connection's ring, whose size is the credit we advertise (a guest that
 * sends beyond it is reset), allocated on first need from a global budget.
 * Host->guest bytes are read straight into the guest's rx buffer, never
 * more than the guest's credit.
 */
#include "mux.h"
#include "tsi.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/virtio_vsock.h>

#include "../../util/iov.h"
#include "../../util/log.h"

#define HASH_BUCKETS 256
#define RST_QUEUE 64
#define ACCEPT_BATCH 16
#define LISTEN_BACKLOG 32
/* Host ports we pick for host-initiated connections start here. */
#define FIRST_EPHEMERAL_PORT 1024u
#define PATH_MAX_UN sizeof(((struct sockaddr_un *)0)->sun_path)
#define MAX_IOV 64

/* What is behind a connection's fd. */
enum conn_kind {
	CONN_UNIX_OUT,	/* the guest connected; we connected to the port's path */
	CONN_UNIX_IN,	/* a host client connected to a listen=true path */
	CONN_TSI_OUT,	/* a guest TSI connect: the host socket its CONNECT opened */
	CONN_TSI_IN,	/* a host client of a TSI listener */
};

enum conn_state {
	ST_CONNECTING,	/* OP_REQUEST sent to the guest, waiting for RESPONSE */
	ST_ESTABLISHED,
	ST_CLOSING,	/* fd closed, OP_RST to send, then freed */
};

/* Control packets a connection owes the guest. */
enum {
	PEND_RST = 1 << 0,
	PEND_REQUEST = 1 << 1,
	PEND_RESPONSE = 1 << 2,
	PEND_CREDIT_UPDATE = 1 << 3,
	PEND_CREDIT_REQUEST = 1 << 4,
};

struct ring {
	uint8_t *buf;		/* NULL until first needed */
	uint32_t head;
	uint32_t used;
};

struct conn {
	struct ep_item ep;
	enum conn_kind kind;
	enum conn_state state;
	uint32_t host_port;
	uint32_t guest_port;
	int fd;
	uint32_t events;	/* epoll interest; 0: not in the set */
	struct conn *hnext;
	struct conn *rx_prev, *rx_next;
	bool on_rx;

	unsigned int pending;
	bool host_readable;	/* EPOLLIN seen and not yet drained */
	bool host_eof;		/* the host side sent everything (SHUTDOWN sent) */
	bool guest_no_send;	/* guest SHUTDOWN SEND: shutdown(SHUT_WR) once flushed */
	bool guest_no_recv;	/* guest SHUTDOWN RCV: stop reading */
	bool wr_shut;
	bool close_when_flushed; /* guest closed both ways; RST after the ring drains */

	/* The guest's receive window. */
	uint32_t peer_buf_alloc;
	uint32_t peer_fwd_cnt;
	uint32_t tx_cnt;	/* payload bytes sent to the guest */
	/* Ours: the guest may have buf_alloc - (its tx - fwd_cnt) in flight. */
	uint32_t fwd_cnt;	/* guest bytes handed to the host socket */
	uint32_t fwd_advertised;
	struct ring ring;
};

struct port_entry {
	uint32_t port;
	bool listen;
	char path[PATH_MAX_UN];
};

struct listener {
	struct ep_item ep;
	const struct port_entry *port;
	int fd;
	dev_t dev;
	ino_t ino;
};

struct rst_reply {
	uint32_t host_port;
	uint32_t guest_port;
};

struct vsock_mux {
	struct vsock_limits lim;
	uint64_t guest_cid;
	int epfd;

	struct port_entry ports[VSOCK_MAX_PORTS];
	unsigned int nr_ports;
	struct listener listeners[VSOCK_MAX_PORTS];
	unsigned int nr_listeners;

	struct conn *hash[HASH_BUCKETS];
	unsigned int nr_conns;
	size_t buffered;	/* bytes of ring memory allocated */
	uint32_t next_port;

	struct conn *rx_head, *rx_tail;
	struct rst_reply rsts[RST_QUEUE];
	unsigned int rst_head, rst_count;

	struct vsock_tsi *tsi;	/* NULL: TSI off */
	bool tsi_first;		/* whose turn it is for the next rx buffer */

	struct vsock_stats stats;
};

/* ---- connection table --------------------------------------------------- */

static unsigned int bucket(uint32_t host_port, uint32_t guest_port)
{
	uint32_t h = host_port * 0x9e3779b1u ^ guest_port * 0x85ebca6bu;

	return (h ^ h >> 16) % HASH_BUCKETS;
}

static struct conn *conn_find(const struct vsock_mux *m, uint32_t host_port,
			      uint32_t guest_port)
{
	for (struct conn *c = m->hash[bucket(host_port, guest_port)]; c; c = c->hnext)
		if (c->host_port == host_port && c->guest_port == guest_port)
			return c;
	return NULL;
}

static void rx_unlink(struct vsock_mux *m, struct conn *c)
{
	if (!c->on_rx)
		return;
	if (c->rx_prev)
		c->rx_prev->rx_next = c->rx_next;
	else
		m->rx_head = c->rx_next;
	if (c->rx_next)
		c->rx_next->rx_prev = c->rx_prev;
	else
		m->rx_tail = c->rx_prev;
	c->rx_prev = c->rx_next = NULL;
	c->on_rx = false;
}

static void rx_schedule(struct vsock_mux *m, struct conn *c)
{
	if (c->on_rx)
		return;
	c->rx_prev = m->rx_tail;
	c->rx_next = NULL;
	if (m->rx_tail)
		m->rx_tail->rx_next = c;
	else
		m->rx_head = c;
	m->rx_tail = c;
	c->on_rx = true;
}

static struct conn *conn_new(struct vsock_mux *m, enum conn_kind kind, int fd,
			     uint32_t host_port, uint32_t guest_port)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->ep.kind = EP_CONN;
	c->kind = kind;
	c->fd = fd;
	c->host_port = host_port;
	c->guest_port = guest_port;
	unsigned int b = bucket(host_port, guest_port);
	c->hnext = m->hash[b];
	m->hash[b] = c;
	m->nr_conns++;
	m->stats.conns_opened++;
	return c;
}

static void close_fd(struct vsock_mux *m, struct conn *c)
{
	if (c->fd < 0)
		return;
	if (c->events)
		epoll_ctl(m->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	c->fd = -1;
	c->events = 0;
}

static void ring_release(struct vsock_mux *m, struct conn *c)
{
	if (!c->ring.buf)
		return;
	free(c->ring.buf);
	m->buffered -= m->lim.buf_alloc;
	c->ring = (struct ring){ 0 };
}

static void conn_free(struct vsock_mux *m, struct conn *c)
{
	struct conn **pp = &m->hash[bucket(c->host_port, c->guest_port)];

	while (*pp != c)
		pp = &(*pp)->hnext;
	*pp = c->hnext;
	rx_unlink(m, c);
	close_fd(m, c);
	ring_release(m, c);
	m->nr_conns--;
	free(c);
}

/* Our side ends the stream: the host fd goes now, the guest learns by RST. */
static void conn_reset(struct vsock_mux *m, struct conn *c)
{
	close_fd(m, c);
	ring_release(m, c);
	c->state = ST_CLOSING;
	c->pending = PEND_RST;
	c->host_readable = false;
	rx_schedule(m, c);
}

static void queue_rst(struct vsock_mux *m, uint32_t host_port, uint32_t guest_port)
{
	if (m->rst_count == RST_QUEUE) {
		log_debug("vsock: reply queue full, RST to port %u dropped", guest_port);
		return;
	}
	m->rsts[(m->rst_head + m->rst_count++) % RST_QUEUE] =
		(struct rst_reply){ host_port, guest_port };
}

/* ---- flow control ------------------------------------------------------- */

static uint32_t peer_credit(const struct conn *c)
{
	uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

	return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static bool want_read(const struct conn *c)
{
	return c->state == ST_ESTABLISHED && !c->host_eof && !c->guest_no_recv &&
	       !c->host_readable && peer_credit(c) > 0;
}

static void update_interest(struct vsock_mux *m, struct conn *c)
{
	if (c->fd < 0)
		return;
	uint32_t want = (want_read(c) ? EPOLLIN : 0) |
			(c->ring.used || c->close_when_flushed ? EPOLLOUT : 0);
	if (want == c->events)
		return;
	/* Out of the set when idle: EPOLLHUP is reported whatever we ask for,
	 * and a closed peer we are not reading from would spin the loop. */
	struct epoll_event ev = { .events = want, .data.ptr = &c->ep };
	int op = !want ? EPOLL_CTL_DEL : c->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(m->epfd, op, c->fd, &ev) < 0) {
		log_warn("vsock: epoll_ctl: %s; closing connection", strerror(errno));
		conn_reset(m, c);
		return;
	}
	c->events = want;
}

/* Tells the guest about freed space once half of its window came back. */
static void maybe_credit_update(struct vsock_mux *m, struct conn *c)
{
	if (c->fwd_cnt - c->fwd_advertised >= m->lim.buf_alloc / 2) {
		c->pending |= PEND_CREDIT_UPDATE;
		rx_schedule(m, c);
	}
}

/* ---- guest -> host bytes ------------------------------------------------ */

static ssize_t sock_send(int fd, const struct iovec *iov, unsigned int nr)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = nr };
	ssize_t n;

	do
		n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

/* The ring's used bytes as at most two segments. */
static unsigned int ring_segments(const struct vsock_mux *m, const struct ring *r,
				  struct iovec iov[2])
{
	uint32_t cap = m->lim.buf_alloc;
	uint32_t first = r->used < cap - r->head ? r->used : cap - r->head;

	iov[0] = (struct iovec){ r->buf + r->head, first };
	iov[1] = (struct iovec){ r->buf, r->used - first };
	return r->used > first ? 2 : 1;
}

static void ring_consume(const struct vsock_mux *m, struct ring *r, uint32_t n)
{
	r->head = (r->head + n) % m->lim.buf_alloc;
	r->used -= n;
	if (!r->used)
		r->head = 0;
}

static int ring_append(struct vsock_mux *m, struct conn *c, const struct iovec *iov,
		       unsigned int nr, size_t off, size_t len)
{
	struct ring *r = &c->ring;
	uint32_t cap = m->lim.buf_alloc;

	if (!r->buf) {
		if (m->buffered + cap > m->lim.buffer_budget)
			return -ENOBUFS;
		r->buf = malloc(cap);
		if (!r->buf)
			return -ENOMEM;
		m->buffered += cap;
	}
	while (len) {
		uint32_t tail = (r->head + r->used) % cap;
		size_t n = cap - tail < len ? cap - tail : len;
		iov_read(iov, nr, off, r->buf + tail, n);
		r->used += (uint32_t)n;
		off += n;
		len -= n;
	}
	return 0;
}

static void finish_close(struct vsock_mux *m, struct conn *c)
{
	if (c->close_when_flushed) {
		conn_reset(m, c);
		return;
	}
	if (c->guest_no_send && !c->wr_shut) {
		shutdown(c->fd, SHUT_WR);
		c->wr_shut = true;
	}
}

/* Writes what the ring holds; false if the connection was reset. */
static bool flush_ring(struct vsock_mux *m, struct conn *c)
{
	while (c->ring.used) {
		struct iovec iov[2];
		unsigned int nr = ring_segments(m, &c->ring, iov);
		ssize_t n = sock_send(c->fd, iov, nr);
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			log_debug("vsock: port %u: host write: %s", c->host_port,
				  strerror(errno));
			conn_reset(m, c);
			return false;
		}
		ring_consume(m, &c->ring, (uint32_t)n);
		c->fwd_cnt += (uint32_t)n;
		m->stats.bytes_to_host += (uint64_t)n;
	}
	if (!c->ring.used)
		finish_close(m, c);
	if (c->state == ST_CLOSING)
		return false;
	maybe_credit_update(m, c);
	return true;
}

static void guest_rw(struct vsock_mux *m, struct conn *c, const struct iovec *iov,
		     unsigned int nr, uint32_t len)
{
	if (c->state != ST_ESTABLISHED || c->guest_no_send || c->close_when_flushed) {
		conn_reset(m, c);
		return;
	}
	if (!len)
		return;
	if ((uint64_t)c->ring.used + len > m->lim.buf_alloc) {
		log_warn("vsock: guest port %u sent beyond its credit; resetting",
			 c->guest_port);
		m->stats.credit_violations++;
		conn_reset(m, c);
		return;
	}
	size_t done = 0;
	if (!c->ring.used) {
		ssize_t n = sock_send(c->fd, iov, nr);
		if (n < 0 && errno != EAGAIN) {
			log_debug("vsock: port %u: host write: %s", c->host_port,
				  strerror(errno));
			conn_reset(m, c);
			return;
		}
		done = n > 0 ? (size_t)n : 0;
		c->fwd_cnt += (uint32_t)done;
		m->stats.bytes_to_host += done;
	}
	if (done < len) {
		int ret = ring_append(m, c, iov, nr, done, len - done);
		if (ret) {
			log_warn("vsock: port %u: cannot buffer guest data (%s); resetting",
				 c->host_port, strerror(-ret));
			conn_reset(m, c);
			return;
		}
	}
	maybe_credit_update(m, c);
}

/* ---- guest packets ------------------------------------------------------ */

static const struct port_entry *port_find(const struct vsock_mux *m, uint32_t port)
{
	for (unsigned int i = 0; i < m->nr_ports; i++)
		if (m->ports[i].port == port)
			return &m->ports[i];
	return NULL;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memcpy(sa.sun_path, path, strlen(path));
	/* A unix connect completes at once or fails (EAGAIN: backlog full). */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

static void refuse(struct vsock_mux *m, const struct vsock_hdr *h, const char *why)
{
	log_debug("vsock: connect from guest port %u to port %u refused: %s", h->src_port,
		  h->dst_port, why);
	m->stats.conns_refused++;
	queue_rst(m, h->dst_port, h->src_port);
}

static void take_credit(struct conn *c, const struct vsock_hdr *h)
{
	c->peer_buf_alloc = h->buf_alloc;
	c->peer_fwd_cnt = h->fwd_cnt;
}

/* The host socket behind a guest connect, or -errno (*why says why). */
static int open_for_request(struct vsock_mux *m, const struct vsock_hdr *h,
			    enum conn_kind *kind, const char **why)
{
	if (m->tsi && h->dst_port == TSI_PROXY_PORT) {
		*kind = CONN_TSI_OUT;
		*why = "no TSI proxy connected for that port";
		return vsock_tsi_take_stream(m->tsi, h->src_port);
	}
	const struct port_entry *p = port_find(m, h->dst_port);
	*kind = CONN_UNIX_OUT;
	if (!p || p->listen) {
		*why = p ? "the guest listens on that port" : "no such port";
		return -ECONNREFUSED;
	}
	int fd = unix_connect(p->path);
	*why = fd < 0 ? strerror(-fd) : NULL;
	return fd;
}

static void handle_request(struct vsock_mux *m, const struct vsock_hdr *h)
{
	if (m->nr_conns >= m->lim.max_conns) {
		refuse(m, h, "too many connections");
		return;
	}
	enum conn_kind kind;
	const char *why;
	int fd = open_for_request(m, h, &kind, &why);
	if (fd < 0) {
		refuse(m, h, why);
		return;
	}
	struct conn *c = conn_new(m, kind, fd, h->dst_port, h->src_port);
	if (!c) {
		close(fd);
		refuse(m, h, "out of memory");
		return;
	}
	take_credit(c, h);
	c->state = ST_ESTABLISHED;
	c->pending = PEND_RESPONSE;
	rx_schedule(m, c);
	update_interest(m, c);
}

static void guest_shutdown(struct vsock_mux *m, struct conn *c, uint32_t flags)
{
	if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
		c->guest_no_recv = true;
	if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
		c->guest_no_send = true;
	/* Linux closes with RCV|SEND and waits for our RST. */
	if (c->guest_no_recv && c->guest_no_send)
		c->close_when_flushed = true;
	if (!c->ring.used)
		finish_close(m, c);
}

static void conn_packet(struct vsock_mux *m, struct conn *c, const struct vsock_hdr *h,
			const struct iovec *iov, unsigned int nr)
{
	if (c->state == ST_CLOSING) {
		/* Our RST is on its way; the guest's own RST ends it too. */
		if (h->op == VIRTIO_VSOCK_OP_RST)
			conn_free(m, c);
		return;
	}
	take_credit(c, h);
	switch (h->op) {
	case VIRTIO_VSOCK_OP_RST:
		conn_free(m, c);
		return;
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != ST_CONNECTING) {
			conn_reset(m, c);
			return;
		}
		c->state = ST_ESTABLISHED;
		if (c->kind == CONN_TSI_IN && m->tsi)
			vsock_tsi_accepted(m->tsi, c->guest_port);
		break;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		guest_shutdown(m, c, h->flags);
		break;
	case VIRTIO_VSOCK_OP_RW:
		guest_rw(m, c, iov, nr, h->len);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->pending |= PEND_CREDIT_UPDATE;
		rx_schedule(m, c);
		break;
	default:	/* REQUEST on a live connection: the guest lost track */
		conn_reset(m, c);
		return;
	}
	if (c->state != ST_CLOSING) {
		if (peer_credit(c) > 0)
			c->pending &= ~PEND_CREDIT_REQUEST;
		update_interest(m, c);
	}
}

/*
 * TSI's control requests are DGRAM OP_RW packets to (2, 1024..1031) and
 * its UDP payloads DGRAM packets to (2, 1028) or (2, svm_port); tsi.c
 * takes them all.  Only a TSI-patched guest kernel sends them.
 */
void vsock_mux_guest_dgram(struct vsock_mux *m, const struct vsock_hdr *h,
			   const struct iovec *payload, unsigned int nr)
{
	if (m->tsi) {
		vsock_tsi_guest_dgram(m->tsi, h, payload, nr);
		return;
	}
	log_debug("vsock: datagram from guest port %u to port %u dropped (no TSI)",
		  h->src_port, h->dst_port);
	m->stats.dgram_dropped++;
}

void vsock_mux_guest_stream(struct vsock_mux *m, const struct vsock_hdr *h,
			    const struct iovec *payload, unsigned int nr)
{
	struct conn *c = conn_find(m, h->dst_port, h->src_port);

	if (c) {
		conn_packet(m, c, h, payload, nr);
		return;
	}
	if (h->op == VIRTIO_VSOCK_OP_REQUEST) {
		handle_request(m, h);
		return;
	}
	m->stats.dropped++;
	/* Anything but a RST for an unknown stream gets one (5.10.6.5). */
	if (h->op != VIRTIO_VSOCK_OP_RST)
		queue_rst(m, h->dst_port, h->src_port);
}

/* ---- host sockets ------------------------------------------------------- */

static uint32_t pick_host_port(struct vsock_mux *m, uint32_t guest_port)
{
	for (;;) {
		uint32_t p = m->next_port++;
		if (m->next_port < FIRST_EPHEMERAL_PORT)
			m->next_port = FIRST_EPHEMERAL_PORT;
		if (!conn_find(m, p, guest_port) && !port_find(m, p))
			return p;
	}
}

static int conn_in(struct vsock_mux *m, enum conn_kind kind, int fd, uint32_t guest_port)
{
	if (m->nr_conns >= m->lim.max_conns) {
		m->stats.conns_refused++;
		return -EMFILE;
	}
	struct conn *c = conn_new(m, kind, fd, pick_host_port(m, guest_port), guest_port);
	if (!c)
		return -ENOMEM;
	c->state = ST_CONNECTING;
	c->pending = PEND_REQUEST;
	rx_schedule(m, c);
	return 0;
}

static void accept_clients(struct vsock_mux *m, struct listener *l)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("vsock: accept on %s: %s", l->port->path,
					 strerror(errno));
			return;
		}
		int ret = conn_in(m, CONN_UNIX_IN, fd, l->port->port);
		if (ret) {
			log_warn("vsock: %s: %s, client closed", l->port->path,
				 ret == -EMFILE ? "too many connections" : strerror(-ret));
			close(fd);
		}
	}
}

static void conn_event(struct vsock_mux *m, struct conn *c, uint32_t ev)
{
	if (c->fd < 0)
		return;
	if ((ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) && (c->ring.used || c->close_when_flushed))
		if (!flush_ring(m, c))
			return;
	if ((ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) && want_read(c)) {
		c->host_readable = true;
		rx_schedule(m, c);
	}
	update_interest(m, c);
}

void vsock_mux_host_events(struct vsock_mux *m)
{
	struct epoll_event ev[64];
	int n = epoll_wait(m->epfd, ev, 64, 0);

	for (int i = 0; i < n; i++) {
		struct ep_item *it = ev[i].data.ptr;
		if (it->kind == EP_LISTENER)
			accept_clients(m, (struct listener *)it);
		else if (it->kind == EP_TSI)
			vsock_tsi_host_event(m->tsi, it, ev[i].events);
		else
			conn_event(m, (struct conn *)it, ev[i].events);
	}
}

/* ---- packets to the guest ----------------------------------------------- */

static void hdr_for(const struct vsock_mux *m, struct conn *c, struct vsock_hdr *h,
		    uint16_t op)
{
	*h = (struct vsock_hdr){
		.src_cid = VSOCK_HOST_CID,
		.dst_cid = m->guest_cid,
		.src_port = c->host_port,
		.dst_port = c->guest_port,
		.type = VSOCK_TYPE_STREAM,
		.op = op,
		.buf_alloc = m->lim.buf_alloc,
		.fwd_cnt = c->fwd_cnt,
	};
	/* Every packet carries our window, so it counts as an update. */
	c->fwd_advertised = c->fwd_cnt;
	c->pending &= ~PEND_CREDIT_UPDATE;
}

static ssize_t sock_recv(int fd, const struct iovec *iov, unsigned int nr)
{
	struct msghdr msg = { .msg_iov = (struct iovec *)iov, .msg_iovlen = nr };
	ssize_t n;

	do
		n = recvmsg(fd, &msg, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Host bytes straight into the guest's buffer. */
static bool fill_data(struct vsock_mux *m, struct conn *c, struct vsock_hdr *h,
		      const struct iovec *buf, unsigned int nr, size_t max)
{
	uint32_t credit = peer_credit(c);

	if (credit == 0) {
		/* Stop reading until the guest frees space; ask it to say so. */
		c->host_readable = false;
		c->pending |= PEND_CREDIT_REQUEST;
		update_interest(m, c);
		return false;
	}
	if (max > credit)
		max = credit;
	if (max > VSOCK_MAX_PAYLOAD)
		max = VSOCK_MAX_PAYLOAD;
	struct iovec iov[MAX_IOV];
	size_t got;
	unsigned int n_iov = iov_slice(buf, nr, 0, max, iov, MAX_IOV, &got);
	ssize_t n = sock_recv(c->fd, iov, n_iov);
	if (n < 0 && errno == EAGAIN) {
		c->host_readable = false;
		update_interest(m, c);
		return false;
	}
	if (n < 0) {
		log_debug("vsock: port %u: host read: %s", c->host_port, strerror(errno));
		conn_reset(m, c);
		return false;
	}
	if (n == 0) {
		c->host_eof = true;
		c->host_readable = false;
		hdr_for(m, c, h, VIRTIO_VSOCK_OP_SHUTDOWN);
		h->flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
		update_interest(m, c);
		return true;
	}
	hdr_for(m, c, h, VIRTIO_VSOCK_OP_RW);
	h->len = (uint32_t)n;
	c->tx_cnt += (uint32_t)n;
	m->stats.bytes_to_guest += (uint64_t)n;
	return true;
}

static const struct {
	unsigned int bit;
	uint16_t op;
} control_ops[] = {
	{ PEND_REQUEST, VIRTIO_VSOCK_OP_REQUEST },
	{ PEND_RESPONSE, VIRTIO_VSOCK_OP_RESPONSE },
	{ PEND_CREDIT_UPDATE, VIRTIO_VSOCK_OP_CREDIT_UPDATE },
	{ PEND_CREDIT_REQUEST, VIRTIO_VSOCK_OP_CREDIT_REQUEST },
};

/* One packet for c, if it owes one.  RST frees c. */
static bool conn_fill(struct vsock_mux *m, struct conn *c, struct vsock_hdr *h,
		      const struct iovec *buf, unsigned int nr, size_t max)
{
	if (c->pending & PEND_RST) {
		hdr_for(m, c, h, VIRTIO_VSOCK_OP_RST);
		m->stats.resets_sent++;
		conn_free(m, c);
		return true;
	}
	for (size_t i = 0; i < sizeof(control_ops) / sizeof(control_ops[0]); i++) {
		if (c->pending & control_ops[i].bit) {
			c->pending &= ~control_ops[i].bit;
			hdr_for(m, c, h, control_ops[i].op);
			return true;
		}
	}
	if (c->host_readable && c->state == ST_ESTABLISHED)
		return fill_data(m, c, h, buf, nr, max);
	return false;
}

static bool conn_has_work(const struct conn *c)
{
	return c->pending || (c->host_readable && c->state == ST_ESTABLISHED);
}

bool vsock_mux_rx_pending(const struct vsock_mux *m)
{
	return m->rst_count || m->rx_head || (m->tsi && vsock_tsi_rx_pending(m->tsi));
}

static bool streams_fill(struct vsock_mux *m, struct vsock_hdr *h, const struct iovec *buf,
			 unsigned int nr, size_t max)
{
	while (m->rx_head) {
		struct conn *c = m->rx_head;
		rx_unlink(m, c);
		bool is_rst = c->pending & PEND_RST;
		bool made = conn_fill(m, c, h, buf, nr, max);
		/* Round robin: a busy connection goes to the back. */
		if (!is_rst && conn_has_work(c))
			rx_schedule(m, c);
		if (made)
			return true;
	}
	return false;
}

bool vsock_mux_rx_fill(struct vsock_mux *m, struct vsock_hdr *h, const struct iovec *buf,
		       unsigned int nr, size_t max)
{
	if (m->rst_count) {
		const struct rst_reply *r = &m->rsts[m->rst_head];
		*h = (struct vsock_hdr){
			.src_cid = VSOCK_HOST_CID, .dst_cid = m->guest_cid,
			.src_port = r->host_port, .dst_port = r->guest_port,
			.type = VSOCK_TYPE_STREAM, .op = VIRTIO_VSOCK_OP_RST,
		};
		m->rst_head = (m->rst_head + 1) % RST_QUEUE;
		m->rst_count--;
		m->stats.resets_sent++;
		return true;
	}
	if (!m->tsi)
		return streams_fill(m, h, buf, nr, max);
	/* Turns, so that neither a UDP flood nor a bulk stream starves the other. */
	m->tsi_first = !m->tsi_first;
	if (m->tsi_first)
		return vsock_tsi_rx_fill(m->tsi, h, buf, nr, max) ||
		       streams_fill(m, h, buf, nr, max);
	return streams_fill(m, h, buf, nr, max) || vsock_tsi_rx_fill(m->tsi, h, buf, nr, max);
}

/* ---- setup -------------------------------------------------------------- */

static int listen_on(struct vsock_mux *m, const struct port_entry *p)
{
	struct listener *l = &m->listeners[m->nr_listeners];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;

	l->ep.kind = EP_LISTENER;
	l->port = p;
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	memcpy(sa.sun_path, p->path, strlen(p->path));
	if (bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int ret = -errno;
		log_error("vsock: cannot bind %s: %s", p->path, strerror(-ret));
		close(l->fd);
		return ret;
	}
	/* From here on the file is ours and vsock_mux_destroy() removes it. */
	if (stat(p->path, &st) == 0) {
		l->dev = st.st_dev;
		l->ino = st.st_ino;
	}
	m->nr_listeners++;
	if (listen(l->fd, LISTEN_BACKLOG) < 0)
		return -errno;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &l->ep };
	if (epoll_ctl(m->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0)
		return -errno;
	return 0;
}

static int add_port(struct vsock_mux *m, const struct vsock_port *p)
{
	if (!p->path || strlen(p->path) >= PATH_MAX_UN || !p->path[0])
		return -EINVAL;
	if (port_find(m, p->port))
		return -EEXIST;
	if (m->nr_ports == VSOCK_MAX_PORTS)
		return -ENOSPC;
	struct port_entry *e = &m->ports[m->nr_ports++];
	e->port = p->port;
	e->listen = p->listen;
	strcpy(e->path, p->path);
	return p->listen ? listen_on(m, e) : 0;
}

static void set_limits(struct vsock_mux *m, const struct vsock_limits *lim)
{
	m->lim = lim ? *lim : (struct vsock_limits){ 0 };
	if (!m->lim.max_conns)
		m->lim.max_conns = VSOCK_DEFAULT_MAX_CONNS;
	if (!m->lim.buf_alloc)
		m->lim.buf_alloc = VSOCK_DEFAULT_BUF_ALLOC;
	if (!m->lim.buffer_budget)
		m->lim.buffer_budget = VSOCK_DEFAULT_BUFFER_BUDGET;
}

int vsock_mux_create(const struct vsock_port *ports, unsigned int nr_ports,
		     const struct vsock_limits *limits, uint64_t guest_cid,
		     struct vsock_mux **out)
{
	struct vsock_mux *m = calloc(1, sizeof(*m));

	if (!m)
		return -ENOMEM;
	set_limits(m, limits);
	m->guest_cid = guest_cid;
	m->next_port = FIRST_EPHEMERAL_PORT;
	m->epfd = epoll_create1(EPOLL_CLOEXEC);
	int ret = m->epfd < 0 ? -errno : 0;
	for (unsigned int i = 0; !ret && i < nr_ports; i++)
		ret = add_port(m, &ports[i]);
	if (ret) {
		vsock_mux_destroy(m);
		return ret;
	}
	*out = m;
	return 0;
}

void vsock_mux_reset(struct vsock_mux *m)
{
	for (unsigned int b = 0; b < HASH_BUCKETS; b++)
		while (m->hash[b])
			conn_free(m, m->hash[b]);
	m->rst_head = m->rst_count = 0;
	if (m->tsi)
		vsock_tsi_reset(m->tsi);
}

/* Only the socket file we created: someone may have replaced it since. */
static void remove_socket_file(const struct listener *l)
{
	struct stat st;

	if (stat(l->port->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == l->dev &&
	    st.st_ino == l->ino)
		unlink(l->port->path);
}

void vsock_mux_destroy(struct vsock_mux *m)
{
	if (!m)
		return;
	vsock_mux_reset(m);
	vsock_tsi_destroy(m->tsi);
	for (unsigned int i = 0; i < m->nr_listeners; i++) {
		close(m->listeners[i].fd);
		remove_socket_file(&m->listeners[i]);
	}
	if (m->epfd >= 0)
		close(m->epfd);
	free(m);
}

int vsock_mux_fd(const struct vsock_mux *m)
{
	return m->epfd;
}

void vsock_mux_stats(const struct vsock_mux *m, struct vsock_stats *out)
{
	*out = m->stats;
}

int vsock_mux_set_tsi(struct vsock_mux *m, const struct vsock_tsi_config *cfg)
{
	if (m->tsi)
		return -EEXIST;
	if (!cfg->inet && !cfg->unix_)
		return 0;
	return vsock_tsi_create(m, cfg, &m->stats, &m->tsi);
}

/* ---- services for tsi.c ------------------------------------------------- */

int vsock_mux_epfd(const struct vsock_mux *m)
{
	return m->epfd;
}

int vsock_mux_conn_in(struct vsock_mux *m, int fd, uint32_t vm_port)
{
	return conn_in(m, CONN_TSI_IN, fd, vm_port);
}

int vsock_mux_conn_fd(const struct vsock_mux *m, uint32_t host_port, uint32_t guest_port)
{
	const struct conn *c = conn_find(m, host_port, guest_port);

	return c && c->kind >= CONN_TSI_OUT ? c->fd : -1;
}

uint64_t vsock_mux_guest_cid(const struct vsock_mux *m)
{
	return m->guest_cid;
}
