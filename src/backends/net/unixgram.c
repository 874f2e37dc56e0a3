// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net over unix datagrams (gvproxy, vfkit, vmnet-helper): one
 * datagram is one Ethernet frame, without the virtio-net header, which the
 * guest gets back zeroed (num_buffers 1).
 *
 * With a path we bind our own socket to $TMPDIR/krun-net-<pid>-<index>.sock
 * (the peer answers to that address) and connect to the peer, so that only
 * the peer can send to us; destroy() removes the file.  With an fd the
 * caller's connected socket is used as it is.  Nothing is ever queued
 * here: a datagram is taken whole by the kernel or not at all.  The socket
 * is never made O_NONBLOCK (it may be the caller's): every call passes
 * MSG_DONTWAIT instead.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net_backend.h"
#include "../../util/iov.h"
#include "../../util/log.h"

#define SOCK_BUF_BYTES (7 * 1024 * 1024)
/* More segments than a frame ever needs (the guest's chains are shorter). */
#define MAX_SEGS 128
#define ETH_HLEN_MIN 14
#define VFKIT_MAGIC "VFKT"
#define GREETING_WAIT_MS 1000
/* ENOBUFS gives no POLLOUT: retry after 1, 2, 4, 5, 5... ms. */
#define ENOBUFS_RETRY_MIN_MS 1
#define ENOBUFS_RETRY_MAX_MS 5

typedef char sun_path_t[sizeof(((struct sockaddr_un *)0)->sun_path)];

struct unixgram {
	struct net_backend b;
	bool bound;		/* local_path is ours to unlink */
	sun_path_t local_path;
	char name[sizeof(sun_path_t) + 32];
};

static struct unixgram *of(struct net_backend *b)
{
	return (struct unixgram *)b;
}

static int gram_send(struct net_backend *b, const struct iovec *iov, unsigned int cnt,
		     size_t len)
{
	struct iovec frame[MAX_SEGS];
	size_t got = 0;

	if (len <= NET_VNET_HDR_LEN)
		return 0;	/* no frame: the device refuses these, drop */
	size_t want = len - NET_VNET_HDR_LEN;
	unsigned int n = iov_slice(iov, cnt, NET_VNET_HDR_LEN, want, frame, MAX_SEGS, &got);
	if (got != want) {
		log_debug("net: %s: a frame the iov does not hold (%zu of %zu bytes): dropped",
			  b->name, got, want);
		return 0;
	}
	struct msghdr msg = { .msg_iov = frame, .msg_iovlen = n };
	ssize_t sent;
	do {
		sent = sendmsg(b->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (sent < 0 && errno == EINTR);
	if (sent >= 0) {
		b->retry_ms = 0;
		return 0;
	}
	switch (errno) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
		b->retry_ms = 0;	/* POLLOUT comes when the peer's queue drains */
		return -EAGAIN;
	case ENOBUFS:
		/* Out of buffer space with no writability signal to wait for. */
		b->retry_ms = b->retry_ms <= 0 ? ENOBUFS_RETRY_MIN_MS : b->retry_ms * 2;
		if (b->retry_ms > ENOBUFS_RETRY_MAX_MS)
			b->retry_ms = ENOBUFS_RETRY_MAX_MS;
		return -EAGAIN;
	case EMSGSIZE:
		/* Larger than the socket takes: this frame only, not the link. */
		log_debug("net: %s: %zu-byte frame too large for the socket: dropped", b->name,
			  want);
		b->retry_ms = 0;
		return 0;
	default: {
		int err = errno;
		log_error("net: %s: send failed: %s", b->name, strerror(err));
		return -err;
	}
	}
}

static int gram_flush(struct net_backend *b)
{
	(void)b;
	return 0;
}

static ssize_t gram_recv(struct net_backend *b, const struct iovec *iov, unsigned int cnt)
{
	struct iovec frame[MAX_SEGS];
	size_t got = 0;
	unsigned int n = 0;

	/* Room for at most NET_MAX_FRAME after the header: anything larger
	 * arrives truncated and is refused below.  A buffer without room for
	 * the header gets no slice at all, so the datagram is consumed. */
	if (iov_total(iov, cnt) >= NET_VNET_HDR_LEN)
		n = iov_slice(iov, cnt, NET_VNET_HDR_LEN, NET_MAX_FRAME, frame, MAX_SEGS, &got);
	struct msghdr msg = { .msg_iov = n ? frame : NULL, .msg_iovlen = n };
	ssize_t r;
	do {
		r = recvmsg(b->fd, &msg, MSG_DONTWAIT);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		int err = errno;
		if (err == EAGAIN || err == EWOULDBLOCK)
			return -EAGAIN;
		log_error("net: %s: receive failed: %s", b->name, strerror(err));
		return -err;
	}
	if (msg.msg_flags & MSG_TRUNC) {
		log_debug("net: %s: a frame larger than the guest's %zu-byte buffer: dropped",
			  b->name, got);
		return -EMSGSIZE;
	}
	if (n == 0 || (size_t)r < ETH_HLEN_MIN) {
		log_debug("net: %s: a %zd-byte datagram is no frame: dropped", b->name, r);
		return -EMSGSIZE;
	}
	/* virtio_net_hdr_v1: no offload claims, one buffer (le16 at 10). */
	static const uint8_t hdr[NET_VNET_HDR_LEN] = { [10] = 1 };
	iov_write(iov, cnt, 0, hdr, sizeof(hdr));
	return NET_VNET_HDR_LEN + r;
}

static bool gram_rx_buffered(const struct net_backend *b)
{
	(void)b;
	return false;
}

static int gram_set_features(struct net_backend *b, uint64_t acked)
{
	(void)b, (void)acked;
	return 0;
}

static void gram_destroy(struct net_backend *b)
{
	struct unixgram *g = of(b);

	if (b->fd >= 0)
		close(b->fd);
	if (g->bound && unlink(g->local_path) < 0 && errno != ENOENT)
		log_warn("net: cannot remove %s: %s", g->local_path, strerror(errno));
	free(g);
}

static const struct net_backend_ops unixgram_ops = {
	.send = gram_send,
	.flush = gram_flush,
	.recv = gram_recv,
	.rx_buffered = gram_rx_buffered,
	.set_features = gram_set_features,
	.destroy = gram_destroy,
};

static void set_buffers(int fd)
{
	int sz = SOCK_BUF_BYTES;

	/* Best effort: the kernel caps them at net.core.[wr]mem_max. */
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

static int check_dgram_fd(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_DGRAM) {
		log_error("net: fd %d is not a datagram socket", fd);
		return -EINVAL;
	}
	return 0;
}

static int local_path_for(unsigned int index, sun_path_t out)
{
	const char *dir = getenv("TMPDIR");

	if (!dir || !*dir)
		dir = "/tmp";
	int n = snprintf(out, sizeof(sun_path_t), "%s/krun-net-%ld-%u.sock", dir,
			 (long)getpid(), index);
	if (n < 0 || (size_t)n >= sizeof(sun_path_t)) {
		log_error("net: our datagram socket's path %s/krun-net-%ld-%u.sock is longer "
			  "than a unix socket path may be (%zu bytes): set TMPDIR to a shorter "
			  "directory", dir, (long)getpid(), index, sizeof(sun_path_t) - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Removes a socket file left by an earlier process with our pid; anything
 * else at that path is not ours (bind then fails with EADDRINUSE). */
static void remove_stale(const char *path)
{
	struct stat st;

	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) && unlink(path) < 0)
		log_debug("net: cannot remove stale %s: %s", path, strerror(errno));
}

static int send_greeting(int fd, const char *peer)
{
	for (int tries = 0;; tries++) {
		ssize_t n = send(fd, VFKIT_MAGIC, 4, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n == 4)
			return 0;
		int err = n < 0 ? errno : EIO;
		if (err == EINTR)
			continue;
		if ((err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS) && tries == 0) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			(void)poll(&p, 1, GREETING_WAIT_MS);
			continue;
		}
		log_error("net: cannot send the vfkit greeting to %s: %s", peer, strerror(err));
		return -err;
	}
}

static int open_path(const struct net_backend_config *cfg, struct unixgram *g)
{
	struct sockaddr_un peer = { .sun_family = AF_UNIX };
	struct sockaddr_un local = { .sun_family = AF_UNIX };

	if (!cfg->path || !*cfg->path) {
		log_error("net: a unix datagram backend needs a socket path or an fd");
		return -EINVAL;
	}
	if (strlen(cfg->path) >= sizeof(peer.sun_path)) {
		log_error("net: socket path %s is too long (at most %zu bytes)", cfg->path,
			  sizeof(peer.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(peer.sun_path, cfg->path);
	int ret = local_path_for(cfg->index, g->local_path);
	if (ret)
		return ret;
	strcpy(local.sun_path, g->local_path);

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		log_error("net: cannot create a unix datagram socket: %s", strerror(-ret));
		return ret;
	}
	remove_stale(g->local_path);
	if (bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		ret = -errno;
		log_error("net: cannot bind %s: %s", g->local_path, strerror(-ret));
		close(fd);
		return ret;
	}
	g->bound = true;
	set_buffers(fd);
	if (connect(fd, (struct sockaddr *)&peer, sizeof(peer)) < 0) {
		ret = -errno;
		log_error("net: cannot connect to %s: %s", cfg->path, strerror(-ret));
		goto fail;
	}
	if (cfg->vfkit_magic) {
		ret = send_greeting(fd, cfg->path);
		if (ret)
			goto fail;
	}
	g->b.fd = fd;
	return 0;
fail:
	close(fd);
	unlink(g->local_path);
	g->bound = false;
	return ret;
}

int net_unixgram_open(const struct net_backend_config *cfg, struct net_backend **out)
{
	struct unixgram *g = calloc(1, sizeof(*g));

	if (!g)
		return -ENOMEM;
	g->b = (struct net_backend){ .ops = &unixgram_ops, .fd = -1, .name = g->name };
	if (cfg->fd >= 0) {
		/* The caller's socket: ours only once this returns 0. */
		int ret = check_dgram_fd(cfg->fd);
		if (ret) {
			free(g);
			return ret;
		}
		set_buffers(cfg->fd);
		g->b.fd = cfg->fd;
		snprintf(g->name, sizeof(g->name), "the unix datagram socket (fd %d)", cfg->fd);
	} else {
		int ret = open_path(cfg, g);
		if (ret) {
			free(g);
			return ret;
		}
		snprintf(g->name, sizeof(g->name), "%s", cfg->path);
	}
	*out = &g->b;
	return 0;
}
