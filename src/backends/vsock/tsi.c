// SPDX-License-Identifier: Apache-2.0
/*
 * TSI host side: the guest kernel's TSI sockets (tsi_hijack) proxied
 * through host sockets, on the control protocol of upstream libkrun's
 * patched guest kernel (see the reference's section 9.5).
 *
 * Control requests are DGRAM OP_RW packets from (guest, control_port) to
 * (2, opcode 1024..1031); answers go back from (2, opcode) to
 * (guest, control_port).  Payloads are packed little-endian; addresses are
 * raw Linux sockaddrs of at most TSI_ADDR_LEN bytes.  A proxy is keyed by
 * the guest's data vsocket port (svm_port) and owns at most one host
 * socket:
 *  - stream CONNECT: a non-blocking connect(); answered at once or when
 *    the socket turns writable.  The guest then opens a vsock stream to
 *    (2, 620) from svm_port and the mux takes the socket over as an
 *    ordinary connection (credit, shutdown, RST all in mux.c);
 *  - LISTEN: a host listener; each host client becomes a mux connection
 *    that sends OP_REQUEST to (guest, vm_port); the guest's OP_RESPONSE
 *    makes it ready for the guest's ACCEPT;
 *  - datagrams: a host UDP (or unix dgram) socket; SENDTO_ADDR sets the
 *    destination, payloads come to (2, 1028) from svm_port (or to
 *    (2, svm_port) once connected); host datagrams are read straight into
 *    a guest rx buffer as DGRAM OP_RW from (2, svm_port) to
 *    (guest, svm_port): nothing is queued here, the host socket's own
 *    buffer holds them until the guest has room.
 *
 * Bounds: at most cfg.max_proxies proxies and VSOCK_TSI_MAX_LISTENERS of
 * them listening; REPLY_QUEUE answers waiting for rx buffers (a guest that
 * floods requests without reading loses answers, it never gets memory);
 * ACCEPT_WAITERS blocked ACCEPTs per listener.  Every field from the guest
 * is checked before use; nothing here blocks.
 */
#include "tsi.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stddef.h>
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

#define TSI_ADDR_LEN 128

enum {
	OP_PROXY_CREATE = 1024,
	OP_CONNECT = 1025,
	OP_GETNAME = 1026,
	OP_SENDTO_ADDR = 1027,
	OP_SENDTO_DATA = 1028,
	OP_LISTEN = 1029,
	OP_ACCEPT = 1030,
	OP_PROXY_RELEASE = 1031,
};

#define PROXY_BUCKETS 64
#define REPLY_QUEUE 64
#define REPLY_MAX (8 + TSI_ADDR_LEN)
#define ACCEPT_WAITERS 8
#define ACCEPT_BATCH 16
/* Linux's O_NONBLOCK, as the guest passes it in ACCEPT's flags. */
#define GUEST_O_NONBLOCK 04000

/* Request layouts: sizes on the wire (packed, no padding). */
#define SZ_PROXY_CREATE 8
#define SZ_ADDR_REQ (8 + TSI_ADDR_LEN)
#define SZ_GETNAME 12
#define SZ_LISTEN (16 + TSI_ADDR_LEN)
#define SZ_ACCEPT 8
#define SZ_RELEASE 8

enum proxy_state {
	P_IDLE,
	P_CONNECTING,	/* stream connect in progress, answer owed to ctl_port */
	P_CONNECTED,	/* stream: waiting for the guest's REQUEST to 620 */
	P_HANDED,	/* stream: the mux owns the socket now */
	P_LISTENING,
	P_DGRAM,	/* datagram socket open */
};

struct proxy {
	struct ep_item ep;
	uint32_t svm_port;
	uint16_t family;
	uint16_t type;
	enum proxy_state state;
	int fd;
	uint32_t events;	/* epoll interest; 0: not in the set */
	uint32_t ctl_port;	/* where the pending CONNECT answer goes */
	struct proxy *hnext;

	/* Datagrams. */
	struct sockaddr_storage dst;
	socklen_t dst_len;
	bool readable;
	bool on_rx;
	struct proxy *rx_next;

	/* Listening. */
	uint32_t vm_port;
	unsigned int ready;	/* accepted by the guest, not yet claimed by ACCEPT */
	uint32_t waiters[ACCEPT_WAITERS];
	unsigned int nr_waiters;
	dev_t dev;		/* AF_UNIX: the socket file we created */
	ino_t ino;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
};

struct reply {
	uint32_t op;
	uint32_t ctl_port;
	uint16_t len;
	uint8_t data[REPLY_MAX];
};

struct vsock_tsi {
	struct vsock_mux *mux;
	struct vsock_stats *stats;
	bool inet, unix_;
	bool has_map;
	struct vsock_port_map map[VSOCK_TSI_MAX_PORT_MAP];
	unsigned int nr_map;
	unsigned int max_proxies;

	struct proxy *hash[PROXY_BUCKETS];
	unsigned int nr_proxies;
	unsigned int nr_listeners;

	struct reply replies[REPLY_QUEUE];
	unsigned int reply_head, reply_count;
	struct proxy *rx_head, *rx_tail;
};

/* A guest address made usable: family checked, length exact. */
struct host_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* ---- little-endian fields --------------------------------------------- */

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return le16toh(v);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

/* ---- proxies ------------------------------------------------------------ */

static struct proxy **slot(struct vsock_tsi *t, uint32_t svm_port)
{
	struct proxy **pp = &t->hash[(svm_port * 0x9e3779b1u) >> 26];

	while (*pp && (*pp)->svm_port != svm_port)
		pp = &(*pp)->hnext;
	return pp;
}

static struct proxy *proxy_find(struct vsock_tsi *t, uint32_t svm_port)
{
	return *slot(t, svm_port);
}

static int set_interest(struct vsock_tsi *t, struct proxy *p, uint32_t want)
{
	if (p->fd < 0 || want == p->events)
		return 0;
	struct epoll_event ev = { .events = want, .data.ptr = &p->ep };
	int op = !want ? EPOLL_CTL_DEL : p->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
	if (epoll_ctl(vsock_mux_epfd(t->mux), op, p->fd, &ev) < 0)
		return -errno;
	p->events = want;
	return 0;
}

static void rx_unlink(struct vsock_tsi *t, struct proxy *p)
{
	if (!p->on_rx)
		return;
	struct proxy **pp = &t->rx_head;
	struct proxy *prev = NULL;
	while (*pp != p) {
		prev = *pp;
		pp = &(*pp)->rx_next;
	}
	*pp = p->rx_next;
	if (t->rx_tail == p)
		t->rx_tail = prev;
	p->rx_next = NULL;
	p->on_rx = false;
}

static void rx_schedule(struct vsock_tsi *t, struct proxy *p)
{
	if (p->on_rx)
		return;
	p->rx_next = NULL;
	if (t->rx_tail)
		t->rx_tail->rx_next = p;
	else
		t->rx_head = p;
	t->rx_tail = p;
	p->on_rx = true;
}

/* Only the socket file we created: someone may have replaced it since. */
static void remove_socket_file(const struct proxy *p)
{
	struct stat st;

	if (p->path[0] && stat(p->path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == p->dev && st.st_ino == p->ino)
		unlink(p->path);
}

/* Back to a proxy without a host socket. */
static void proxy_close(struct vsock_tsi *t, struct proxy *p)
{
	rx_unlink(t, p);
	if (p->fd >= 0 && p->state != P_HANDED) {
		(void)set_interest(t, p, 0);
		close(p->fd);
	}
	if (p->state == P_LISTENING) {
		remove_socket_file(p);
		t->nr_listeners--;
	}
	p->fd = -1;
	p->events = 0;
	p->readable = false;
	p->state = P_IDLE;
	p->nr_waiters = 0;
	p->ready = 0;
	p->path[0] = 0;
}

static void proxy_free(struct vsock_tsi *t, struct proxy *p)
{
	struct proxy **pp = slot(t, p->svm_port);

	proxy_close(t, p);
	*pp = p->hnext;
	t->nr_proxies--;
	free(p);
}

/* ---- answers ------------------------------------------------------------ */

static void queue_reply(struct vsock_tsi *t, uint32_t op, uint32_t ctl_port, const void *data,
			uint16_t len)
{
	if (t->reply_count == REPLY_QUEUE) {
		log_debug("tsi: reply queue full, answer to control port %u dropped", ctl_port);
		return;
	}
	struct reply *r = &t->replies[(t->reply_head + t->reply_count++) % REPLY_QUEUE];
	r->op = op;
	r->ctl_port = ctl_port;
	r->len = len;
	memcpy(r->data, data, len);
}

static void answer(struct vsock_tsi *t, uint32_t op, uint32_t ctl_port, int result)
{
	uint8_t b[4];

	put32(b, (uint32_t)result);
	queue_reply(t, op, ctl_port, b, sizeof(b));
}

/* ---- addresses ---------------------------------------------------------- */

static bool family_on(const struct vsock_tsi *t, uint16_t family)
{
	return family == AF_UNIX ? t->unix_ : (family == AF_INET || family == AF_INET6) && t->inet;
}

static int parse_unix(const uint8_t *a, uint32_t len, struct host_addr *out)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
	size_t max = len - offsetof(struct sockaddr_un, sun_path);

	if (len <= offsetof(struct sockaddr_un, sun_path) || max > sizeof(sun->sun_path))
		return -EINVAL;
	const char *path = (const char *)a + offsetof(struct sockaddr_un, sun_path);
	size_t n = strnlen(path, max);
	/* Abstract names belong to the guest's namespace, not the host's. */
	if (n == 0 || n == sizeof(sun->sun_path))
		return -EINVAL;
	memcpy(sun->sun_path, path, n);
	sun->sun_path[n] = 0;
	out->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

/* addr_len bytes of a guest sockaddr of the proxy's family, made host-usable. */
static int parse_addr(const struct proxy *p, const uint8_t *a, uint32_t len,
		      struct host_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (len < 2 || len > TSI_ADDR_LEN)
		return -EINVAL;
	uint16_t family = get16(a);
	if (family != p->family)
		return -EAFNOSUPPORT;
	out->ss.ss_family = family;
	switch (family) {
	case AF_INET:
		if (len < sizeof(struct sockaddr_in))
			return -EINVAL;
		memcpy((uint8_t *)&out->ss + 2, a + 2, sizeof(struct sockaddr_in) - 2);
		out->len = sizeof(struct sockaddr_in);
		return 0;
	case AF_INET6: {
		/* Linux takes the RFC 2133 size (no scope id) too. */
		if (len < 24)
			return -EINVAL;
		size_t n = len < sizeof(struct sockaddr_in6) ? len : sizeof(struct sockaddr_in6);
		memcpy((uint8_t *)&out->ss + 2, a + 2, n - 2);
		out->len = sizeof(struct sockaddr_in6);
		return 0;
	}
	case AF_UNIX:
		return parse_unix(a, len, out);
	}
	return -EAFNOSUPPORT;
}

static uint16_t *inet_port(struct host_addr *a)
{
	if (a->ss.ss_family == AF_INET)
		return &((struct sockaddr_in *)&a->ss)->sin_port;
	if (a->ss.ss_family == AF_INET6)
		return &((struct sockaddr_in6 *)&a->ss)->sin6_port;
	return NULL;
}

/* krun_set_port_map: without a map every port is itself; with one only
 * the mapped ones are exposed. */
static int translate_port(const struct vsock_tsi *t, struct host_addr *a)
{
	uint16_t *port = inet_port(a);

	if (!port || !t->has_map)
		return 0;
	uint16_t guest = ntohs(*port);
	for (unsigned int i = 0; i < t->nr_map; i++) {
		if (t->map[i].guest == guest) {
			*port = htons(t->map[i].host);
			return 0;
		}
	}
	log_debug("tsi: guest port %u is not in the port map: not exposed", guest);
	return -EPERM;
}

/* ---- host sockets ------------------------------------------------------- */

static int new_socket(const struct proxy *p)
{
	int type = p->type == SOCK_STREAM ? SOCK_STREAM : SOCK_DGRAM;
	int fd = socket(p->family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	return fd < 0 ? -errno : fd;
}

static int sock_error(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	return -err;
}

/* ---- requests ----------------------------------------------------------- */

static void proxy_create(struct vsock_tsi *t, const uint8_t *b)
{
	uint32_t svm_port = get32(b);
	uint16_t family = get16(b + 4), type = get16(b + 6);

	if (!family_on(t, family) || (type != SOCK_STREAM && type != SOCK_DGRAM)) {
		log_debug("tsi: proxy for family %u type %u refused", family, type);
		t->stats->tsi_refused++;
		return;
	}
	struct proxy *p = proxy_find(t, svm_port);
	if (p) {
		/* The guest reused the port: the old socket is gone on its side. */
		proxy_free(t, p);
	}
	if (t->nr_proxies >= t->max_proxies) {
		/* No answer to PROXY_CREATE: the guest sees -ENOBUFS from its
		 * next request on this port instead. */
		log_warn("tsi: at most %u proxies; guest port %u refused", t->max_proxies,
			 svm_port);
		t->stats->tsi_refused++;
		return;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return;
	*p = (struct proxy){ .ep.kind = EP_TSI, .svm_port = svm_port, .family = family,
			     .type = type, .fd = -1 };
	p->hnext = NULL;
	*slot(t, svm_port) = p;
	t->nr_proxies++;
}

static int connect_stream(struct vsock_tsi *t, struct proxy *p, const struct host_addr *a,
			  uint32_t ctl_port)
{
	int fd = new_socket(p);
	if (fd < 0)
		return fd;
	p->fd = fd;
	if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0) {
		p->state = P_CONNECTED;
		return 0;
	}
	int ret = -errno;
	if (ret == -EINPROGRESS) {
		ret = set_interest(t, p, EPOLLOUT);
		if (!ret) {
			p->state = P_CONNECTING;
			p->ctl_port = ctl_port;
			return 1;
		}
	}
	close(fd);
	p->fd = -1;
	return ret;
}

static int connect_dgram(struct vsock_tsi *t, struct proxy *p, const struct host_addr *a)
{
	if (p->fd < 0) {
		int fd = new_socket(p);
		if (fd < 0)
			return fd;
		p->fd = fd;
		p->state = P_DGRAM;
	}
	if (connect(p->fd, (const struct sockaddr *)&a->ss, a->len) < 0)
		return -errno;
	return set_interest(t, p, p->readable ? 0 : EPOLLIN);
}

static void do_connect(struct vsock_tsi *t, struct proxy *p, const uint8_t *b, uint32_t ctl)
{
	struct host_addr a;
	int ret = p ? parse_addr(p, b + 8, get32(b + 4), &a) : -ENOBUFS;

	if (!ret && p->type == SOCK_DGRAM) {
		ret = p->state == P_IDLE || p->state == P_DGRAM ? connect_dgram(t, p, &a) : -EINVAL;
	} else if (!ret) {
		if (p->state == P_CONNECTING)
			ret = -EALREADY;
		else if (p->state != P_IDLE)
			ret = -EISCONN;
		else
			ret = connect_stream(t, p, &a, ctl);
		if (ret == 1)
			return;	/* answered when the connect completes */
	}
	answer(t, OP_CONNECT, ctl, ret);
}

static void connect_done(struct vsock_tsi *t, struct proxy *p, uint32_t events)
{
	int err = sock_error(p->fd);

	if (!err && (events & (EPOLLHUP | EPOLLERR)))
		err = -ECONNREFUSED;
	(void)set_interest(t, p, 0);
	if (err) {
		close(p->fd);
		p->fd = -1;
		p->state = P_IDLE;
	} else {
		p->state = P_CONNECTED;
	}
	answer(t, OP_CONNECT, p->ctl_port, err);
}

static int name_of(struct vsock_tsi *t, const uint8_t *b, struct sockaddr_storage *ss,
		   socklen_t *len)
{
	uint32_t svm_port = get32(b), peer_port = get32(b + 4), peer = get32(b + 8);
	int fd = vsock_mux_conn_fd(t->mux, peer_port, svm_port);

	if (fd < 0) {
		const struct proxy *p = proxy_find(t, svm_port);
		fd = p && p->state != P_HANDED ? p->fd : -1;
	}
	if (fd < 0)
		return -ENOTCONN;
	*len = sizeof(*ss);
	int r = peer ? getpeername(fd, (struct sockaddr *)ss, len)
		     : getsockname(fd, (struct sockaddr *)ss, len);
	return r < 0 ? -errno : 0;
}

static void do_getname(struct vsock_tsi *t, const uint8_t *b, uint32_t ctl)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t len = 0;
	uint8_t rsp[8 + TSI_ADDR_LEN] = { 0 };
	int ret = name_of(t, b, &ss, &len);

	if (!ret) {
		if (len > TSI_ADDR_LEN)
			len = TSI_ADDR_LEN;
		memcpy(rsp + 8, &ss, len);
		uint16_t fam = htole16(ss.ss_family);
		memcpy(rsp + 8, &fam, 2);
		put32(rsp + 4, len);
	}
	put32(rsp, (uint32_t)ret);
	queue_reply(t, OP_GETNAME, ctl, rsp, sizeof(rsp));
}

static int open_dgram(struct vsock_tsi *t, struct proxy *p)
{
	if (p->fd >= 0)
		return 0;
	int fd = new_socket(p);
	if (fd < 0)
		return fd;
	p->fd = fd;
	p->state = P_DGRAM;
	/* An unbound inet socket gets its ephemeral port at the first sendto. */
	return set_interest(t, p, EPOLLIN);
}

static void do_sendto_addr(struct vsock_tsi *t, struct proxy *p, const uint8_t *b)
{
	struct host_addr a;

	if (!p || p->type != SOCK_DGRAM || (p->state != P_IDLE && p->state != P_DGRAM) ||
	    parse_addr(p, b + 8, get32(b + 4), &a) || open_dgram(t, p)) {
		log_debug("tsi: SENDTO_ADDR for guest port %u refused", get32(b));
		t->stats->tsi_refused++;
		return;
	}
	memcpy(&p->dst, &a.ss, sizeof(a.ss));
	p->dst_len = a.len;
}

/*
 * With the host's / as its root, the guest's own bind() has already made
 * the socket file through virtio-fs, so the host bind finds it in the way.
 * A socket file nobody listens on is stale: it goes, and the bind is tried
 * again.  Anything else at the path (a live socket, a regular file) stays.
 */
static bool remove_stale_unix_socket(const struct sockaddr_un *sun)
{
	struct stat st;
	if (lstat(sun->sun_path, &st) || !S_ISSOCK(st.st_mode))
		return false;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	bool stale = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) < 0 &&
		     errno == ECONNREFUSED;
	close(fd);
	return stale && unlink(sun->sun_path) == 0;
}

static int bind_listener(struct vsock_tsi *t, struct proxy *p, struct host_addr *a,
			 uint32_t backlog)
{
	int ret = translate_port(t, a);
	if (ret)
		return ret;
	int fd = new_socket(p);
	if (fd < 0)
		return fd;
	int one = 1;
	if (p->family != AF_UNIX)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	int bound = bind(fd, (struct sockaddr *)&a->ss, a->len);
	if (bound < 0 && errno == EADDRINUSE && p->family == AF_UNIX &&
	    remove_stale_unix_socket((struct sockaddr_un *)&a->ss))
		bound = bind(fd, (struct sockaddr *)&a->ss, a->len);
	if (bound < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	p->fd = fd;
	p->state = P_LISTENING;
	t->nr_listeners++;
	if (p->family == AF_UNIX) {
		/* From here on the file is ours and proxy_close() removes it. */
		struct stat st;
		const char *path = ((struct sockaddr_un *)&a->ss)->sun_path;
		if (stat(path, &st) == 0) {
			strcpy(p->path, path);
			p->dev = st.st_dev;
			p->ino = st.st_ino;
		}
	}
	if (listen(fd, backlog > SOMAXCONN ? SOMAXCONN : (int)backlog) < 0)
		return -errno;
	return set_interest(t, p, EPOLLIN);
}

static void do_listen(struct vsock_tsi *t, struct proxy *p, const uint8_t *b, uint32_t ctl)
{
	struct host_addr a;
	int ret = p ? parse_addr(p, b + 16, get32(b + 12), &a) : -ENOBUFS;

	if (!ret && (p->type != SOCK_STREAM || p->state != P_IDLE))
		ret = -EINVAL;
	if (!ret && t->nr_listeners >= VSOCK_TSI_MAX_LISTENERS)
		ret = -ENOBUFS;
	if (!ret) {
		p->vm_port = get32(b + 4);
		ret = bind_listener(t, p, &a, get32(b + 8));
		if (ret && p->fd >= 0)
			proxy_close(t, p);
	}
	answer(t, OP_LISTEN, ctl, ret);
}

static void do_accept(struct vsock_tsi *t, struct proxy *p, const uint8_t *b, uint32_t ctl)
{
	int32_t flags = (int32_t)get32(b + 4);
	int ret = -EINVAL;

	if (p && p->state == P_LISTENING) {
		if (p->ready) {
			p->ready--;
			ret = 0;
		} else if (flags & GUEST_O_NONBLOCK) {
			ret = -EWOULDBLOCK;
		} else if (p->nr_waiters < ACCEPT_WAITERS) {
			p->waiters[p->nr_waiters++] = ctl;
			return;
		} else {
			ret = -EBUSY;
		}
	}
	answer(t, OP_ACCEPT, ctl, ret);
}

static void do_release(struct vsock_tsi *t, struct proxy *p)
{
	if (p)
		proxy_free(t, p);
}

/* ---- datagrams from the guest ----------------------------------------- */

static const struct {
	uint16_t op;
	uint16_t size;
} req_sizes[] = {
	{ OP_PROXY_CREATE, SZ_PROXY_CREATE }, { OP_CONNECT, SZ_ADDR_REQ },
	{ OP_GETNAME, SZ_GETNAME },	      { OP_SENDTO_ADDR, SZ_ADDR_REQ },
	{ OP_LISTEN, SZ_LISTEN },	      { OP_ACCEPT, SZ_ACCEPT },
	{ OP_PROXY_RELEASE, SZ_RELEASE },
};

static uint16_t req_size(uint32_t op)
{
	for (size_t i = 0; i < sizeof(req_sizes) / sizeof(req_sizes[0]); i++)
		if (req_sizes[i].op == op)
			return req_sizes[i].size;
	return 0;
}

static void control(struct vsock_tsi *t, const struct vsock_hdr *h, const struct iovec *iov,
		    unsigned int nr)
{
	uint8_t b[SZ_LISTEN];
	uint16_t size = req_size(h->dst_port);

	if (!size || h->len != size || iov_read(iov, nr, 0, b, size) != size) {
		log_debug("tsi: control request %u of %u bytes refused", h->dst_port, h->len);
		t->stats->tsi_refused++;
		return;
	}
	t->stats->tsi_requests++;
	log_debug("tsi: request %u for guest port %u", h->dst_port, get32(b));
	uint32_t ctl = h->src_port;
	struct proxy *p = h->dst_port == OP_PROXY_CREATE ? NULL : proxy_find(t, get32(b));
	switch (h->dst_port) {
	case OP_PROXY_CREATE:
		proxy_create(t, b);
		break;
	case OP_CONNECT:
		do_connect(t, p, b, ctl);
		break;
	case OP_GETNAME:
		do_getname(t, b, ctl);
		break;
	case OP_SENDTO_ADDR:
		do_sendto_addr(t, p, b);
		break;
	case OP_LISTEN:
		do_listen(t, p, b, ctl);
		break;
	case OP_ACCEPT:
		do_accept(t, p, b, ctl);
		break;
	case OP_PROXY_RELEASE:
		do_release(t, p);
		break;
	}
}

static ssize_t send_datagram(int fd, const struct iovec *iov, unsigned int nr,
			     const struct sockaddr_storage *dst, socklen_t dst_len)
{
	struct msghdr msg = {
		.msg_name = (void *)dst, .msg_namelen = dst ? dst_len : 0,
		.msg_iov = (struct iovec *)iov, .msg_iovlen = nr,
	};
	ssize_t n;

	do
		n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

/* A payload from the data vsocket: to the SENDTO_ADDR destination (sent to
 * 1028) or to the connected peer (sent to svm_port itself). */
static void guest_datagram(struct vsock_tsi *t, const struct vsock_hdr *h,
			   const struct iovec *iov, unsigned int nr)
{
	struct proxy *p = proxy_find(t, h->src_port);
	bool to_dst = h->dst_port == OP_SENDTO_DATA;

	if (!p || p->type != SOCK_DGRAM || p->state != P_DGRAM || (to_dst && !p->dst_len)) {
		log_debug("tsi: datagram from guest port %u to %u matches no datagram proxy",
			  h->src_port, h->dst_port);
		t->stats->dgram_dropped++;
		return;
	}
	/* Unreliable by nature: a full host buffer drops it, as a NIC would. */
	if (send_datagram(p->fd, iov, nr, to_dst ? &p->dst : NULL, p->dst_len) < 0) {
		log_debug("tsi: sendto from guest port %u: %s", h->src_port, strerror(errno));
		t->stats->dgram_dropped++;
	}
}

void vsock_tsi_guest_dgram(struct vsock_tsi *t, const struct vsock_hdr *h,
			   const struct iovec *payload, unsigned int nr)
{
	if (h->op != VIRTIO_VSOCK_OP_RW) {
		t->stats->tsi_refused++;
		return;
	}
	if (h->dst_port == OP_SENDTO_DATA || (h->dst_port == h->src_port &&
					      (h->dst_port < TSI_OP_FIRST || h->dst_port > TSI_OP_LAST))) {
		guest_datagram(t, h, payload, nr);
		return;
	}
	if (h->dst_port >= TSI_OP_FIRST && h->dst_port <= TSI_OP_LAST) {
		control(t, h, payload, nr);
		return;
	}
	t->stats->dgram_dropped++;
}

/* ---- host events -------------------------------------------------------- */

static void accept_clients(struct vsock_tsi *t, struct proxy *p)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept4(p->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
				log_warn("tsi: accept: %s", strerror(errno));
			return;
		}
		int ret = vsock_mux_conn_in(t->mux, fd, p->vm_port);
		if (ret) {
			log_warn("tsi: host client of guest port %u closed: %s", p->vm_port,
				 strerror(-ret));
			close(fd);
		}
	}
}

void vsock_tsi_host_event(struct vsock_tsi *t, struct ep_item *it, uint32_t events)
{
	struct proxy *p = (struct proxy *)it;

	switch (p->state) {
	case P_CONNECTING:
		connect_done(t, p, events);
		break;
	case P_LISTENING:
		accept_clients(t, p);
		break;
	case P_DGRAM:
		/* Out of the set until drained: the datagrams wait in the socket. */
		p->readable = true;
		(void)set_interest(t, p, 0);
		rx_schedule(t, p);
		break;
	default:
		(void)set_interest(t, p, 0);
		break;
	}
}

/* ---- packets to the guest ----------------------------------------------- */

static void dgram_hdr(const struct vsock_tsi *t, struct vsock_hdr *h, uint32_t src,
		      uint32_t dst, uint32_t len)
{
	*h = (struct vsock_hdr){
		.src_cid = VSOCK_HOST_CID, .dst_cid = vsock_mux_guest_cid(t->mux),
		.src_port = src, .dst_port = dst, .len = len,
		.type = VSOCK_TYPE_DGRAM, .op = VIRTIO_VSOCK_OP_RW,
	};
}

/* One host datagram of p straight into the guest's buffer. */
static bool fill_datagram(struct vsock_tsi *t, struct proxy *p, struct vsock_hdr *h,
			  const struct iovec *buf, unsigned int nr, size_t max)
{
	struct iovec iov[64];
	size_t got;
	if (max > VSOCK_MAX_PAYLOAD)
		max = VSOCK_MAX_PAYLOAD;
	unsigned int n_iov = iov_slice(buf, nr, 0, max, iov, 64, &got);
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = n_iov };
	ssize_t n;

	do
		n = recvmsg(p->fd, &msg, MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		/* EAGAIN, or an ICMP error on a connected socket (reported once):
		 * back to waiting; epoll says when there is more. */
		if (errno != EAGAIN)
			log_debug("tsi: recv for guest port %u: %s", p->svm_port, strerror(errno));
		p->readable = false;
		(void)set_interest(t, p, EPOLLIN);
		return false;
	}
	/* A datagram longer than the buffer arrives cut, as with a short recv(). */
	dgram_hdr(t, h, p->svm_port, p->svm_port, (uint32_t)n);
	t->stats->bytes_to_guest += (uint64_t)n;
	return true;
}

bool vsock_tsi_rx_pending(const struct vsock_tsi *t)
{
	return t->reply_count || t->rx_head;
}

bool vsock_tsi_rx_fill(struct vsock_tsi *t, struct vsock_hdr *h, const struct iovec *buf,
		       unsigned int nr, size_t max)
{
	if (t->reply_count) {
		const struct reply *r = &t->replies[t->reply_head];
		if (max < r->len)
			return false;	/* the guest's buffers are always bigger */
		iov_write(buf, nr, 0, r->data, r->len);
		dgram_hdr(t, h, r->op, r->ctl_port, r->len);
		t->reply_head = (t->reply_head + 1) % REPLY_QUEUE;
		t->reply_count--;
		return true;
	}
	while (t->rx_head) {
		struct proxy *p = t->rx_head;
		rx_unlink(t, p);
		bool made = fill_datagram(t, p, h, buf, nr, max);
		if (p->readable)
			rx_schedule(t, p);
		if (made)
			return true;
	}
	return false;
}

/* ---- streams handed to the mux ---------------------------------------- */

int vsock_tsi_take_stream(struct vsock_tsi *t, uint32_t svm_port)
{
	struct proxy *p = proxy_find(t, svm_port);

	if (!p || p->state != P_CONNECTED)
		return -ECONNREFUSED;
	p->state = P_HANDED;
	return p->fd;
}

void vsock_tsi_accepted(struct vsock_tsi *t, uint32_t vm_port)
{
	for (unsigned int b = 0; b < PROXY_BUCKETS; b++) {
		for (struct proxy *p = t->hash[b]; p; p = p->hnext) {
			if (p->state != P_LISTENING || p->vm_port != vm_port)
				continue;
			if (p->nr_waiters) {
				answer(t, OP_ACCEPT, p->waiters[0], 0);
				memmove(p->waiters, p->waiters + 1,
					--p->nr_waiters * sizeof(p->waiters[0]));
			} else {
				p->ready++;
			}
			return;
		}
	}
}

/* ---- setup -------------------------------------------------------------- */

int vsock_tsi_create(struct vsock_mux *m, const struct vsock_tsi_config *cfg,
		     struct vsock_stats *stats, struct vsock_tsi **out)
{
	if (cfg->nr_map > VSOCK_TSI_MAX_PORT_MAP || (cfg->nr_map && !cfg->map))
		return -EINVAL;
	struct vsock_tsi *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->mux = m;
	t->stats = stats;
	t->inet = cfg->inet;
	t->unix_ = cfg->unix_;
	t->has_map = cfg->has_map;
	t->nr_map = cfg->nr_map;
	if (cfg->nr_map)
		memcpy(t->map, cfg->map, cfg->nr_map * sizeof(*cfg->map));
	t->max_proxies = cfg->max_proxies ? cfg->max_proxies : VSOCK_TSI_DEFAULT_MAX_PROXIES;
	*out = t;
	return 0;
}

void vsock_tsi_reset(struct vsock_tsi *t)
{
	for (unsigned int b = 0; b < PROXY_BUCKETS; b++)
		while (t->hash[b])
			proxy_free(t, t->hash[b]);
	t->reply_head = t->reply_count = 0;
}

void vsock_tsi_destroy(struct vsock_tsi *t)
{
	if (!t)
		return;
	vsock_tsi_reset(t);
	free(t);
}
