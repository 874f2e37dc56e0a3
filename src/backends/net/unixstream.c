// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net over a unix stream socket (passt, socket_vmnet): each
 * Ethernet frame goes with a 32-bit big-endian length in front of it and
 * without the virtio-net header, which the guest gets back zeroed.
 *
 * A stream may take part of a frame: the rest waits in tx_buf and no new
 * frame is taken until it has gone, so frames never interleave.  Reads
 * fill rx_buf with as many frames as the socket has, one syscall for many
 * small frames; a length above NET_MAX_FRAME means the peer does not speak
 * this framing (or the stream lost its place), so the backend gives up.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "net_backend.h"
#include "../../util/iov.h"
#include "../../util/log.h"
#include "../../util/unix_sock.h"

#define LEN_PREFIX 4
#define MAX_WIRE_FRAME (LEN_PREFIX + NET_MAX_FRAME)
/* Room for at least two whole frames, so compaction always leaves space
 * for the next one. */
#define RX_BUF_SIZE (256 * 1024)
#define SNDBUF_BYTES (16 * 1024 * 1024)

_Static_assert(RX_BUF_SIZE >= 2 * MAX_WIRE_FRAME, "rx buffer holds two frames");

struct unixstream {
	struct net_backend b;
	uint8_t *tx_buf;
	size_t tx_off, tx_len;
	uint8_t *rx_buf;
	size_t rx_start, rx_end;
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 16];
};

static struct unixstream *of(struct net_backend *b)
{
	return (struct unixstream *)b;
}

static int flush_pending(struct net_backend *b)
{
	struct unixstream *s = of(b);

	while (s->tx_off < s->tx_len) {
		ssize_t n = send(b->fd, s->tx_buf + s->tx_off, s->tx_len - s->tx_off,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
		s->tx_off += (size_t)n;
	}
	s->tx_off = s->tx_len = 0;
	return 0;
}

/* Keeps the unsent tail of [prefix | frame] for flush_pending(). */
static void keep_tail(struct unixstream *s, const uint8_t *prefix, const struct iovec *frame,
		      unsigned int cnt, size_t frame_len, size_t sent)
{
	size_t total = LEN_PREFIX + frame_len, at = 0;

	if (sent < LEN_PREFIX) {
		memcpy(s->tx_buf, prefix + sent, LEN_PREFIX - sent);
		at = LEN_PREFIX - sent;
		sent = LEN_PREFIX;
	}
	at += iov_read(frame, cnt, sent - LEN_PREFIX, s->tx_buf + at, total - sent);
	s->tx_off = 0;
	s->tx_len = at;
}

static int stream_send(struct net_backend *b, const struct iovec *iov, unsigned int cnt,
		       size_t len)
{
	struct unixstream *s = of(b);
	struct iovec wire[1 + 64];
	size_t frame_len = len - NET_VNET_HDR_LEN, got = 0;

	if (len < NET_VNET_HDR_LEN || frame_len > NET_MAX_FRAME)
		return 0;	/* the device checks sizes; never desync the stream */
	int ret = flush_pending(b);
	if (ret)
		return ret;
	uint32_t prefix = htobe32((uint32_t)frame_len);
	wire[0] = (struct iovec){ &prefix, LEN_PREFIX };
	unsigned int n = iov_slice(iov, cnt, NET_VNET_HDR_LEN, frame_len, wire + 1, 64, &got);
	if (got != frame_len)
		return 0;	/* more segments than a frame ever needs: dropped */
	struct msghdr msg = { .msg_iov = wire, .msg_iovlen = 1 + n };
	ssize_t sent;
	do {
		sent = sendmsg(b->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	} while (sent < 0 && errno == EINTR);
	if (sent < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	if ((size_t)sent < LEN_PREFIX + frame_len)
		keep_tail(s, (const uint8_t *)&prefix, wire + 1, n, frame_len, (size_t)sent);
	return 0;
}

static size_t rx_avail(const struct unixstream *s)
{
	return s->rx_end - s->rx_start;
}

/* Length of the frame at the head of rx_buf, if its prefix is in. */
static bool next_frame_len(const struct unixstream *s, uint32_t *len)
{
	uint32_t be;

	if (rx_avail(s) < LEN_PREFIX)
		return false;
	memcpy(&be, s->rx_buf + s->rx_start, LEN_PREFIX);
	*len = be32toh(be);
	return true;
}

static bool whole_frame_buffered(const struct unixstream *s)
{
	uint32_t len;

	return next_frame_len(s, &len) && len <= NET_MAX_FRAME &&
	       rx_avail(s) >= LEN_PREFIX + (size_t)len;
}

static bool stream_rx_buffered(const struct net_backend *b)
{
	return whole_frame_buffered((const struct unixstream *)b);
}

static int fill_rx(struct unixstream *s)
{
	if (RX_BUF_SIZE - s->rx_end < MAX_WIRE_FRAME) {
		memmove(s->rx_buf, s->rx_buf + s->rx_start, rx_avail(s));
		s->rx_end -= s->rx_start;
		s->rx_start = 0;
	}
	for (;;) {
		ssize_t n = recv(s->b.fd, s->rx_buf + s->rx_end, RX_BUF_SIZE - s->rx_end,
				 MSG_DONTWAIT);
		if (n > 0) {
			s->rx_end += (size_t)n;
			return 0;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno != EINTR)
			return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	}
}

static ssize_t deliver(struct unixstream *s, const struct iovec *iov, unsigned int cnt,
		       uint32_t len)
{
	const uint8_t *frame = s->rx_buf + s->rx_start + LEN_PREFIX;

	s->rx_start += LEN_PREFIX + (size_t)len;
	if (len < 14 || NET_VNET_HDR_LEN + (size_t)len > iov_total(iov, cnt))
		return -EMSGSIZE;
	/* virtio_net_hdr_v1: no offload claims, one buffer. */
	uint8_t hdr[NET_VNET_HDR_LEN] = { [10] = 1 };
	iov_write(iov, cnt, 0, hdr, sizeof(hdr));
	iov_write(iov, cnt, NET_VNET_HDR_LEN, frame, len);
	return NET_VNET_HDR_LEN + (ssize_t)len;
}

static ssize_t stream_recv(struct net_backend *b, const struct iovec *iov, unsigned int cnt)
{
	struct unixstream *s = of(b);

	for (;;) {
		uint32_t len;
		if (next_frame_len(s, &len) && len > NET_MAX_FRAME) {
			log_error("net: %s sent a %u-byte frame: not a length-prefixed frame "
				  "stream, closing it", b->name, len);
			return -EPROTO;
		}
		if (whole_frame_buffered(s))
			return deliver(s, iov, cnt, len);
		int ret = fill_rx(s);
		if (ret)
			return ret;
	}
}

static int stream_set_features(struct net_backend *b, uint64_t acked)
{
	(void)b, (void)acked;
	return 0;
}

static void stream_destroy(struct net_backend *b)
{
	struct unixstream *s = of(b);

	if (b->fd >= 0)
		close(b->fd);
	free(s->tx_buf);
	free(s->rx_buf);
	free(s);
}

static const struct net_backend_ops unixstream_ops = {
	.send = stream_send,
	.flush = flush_pending,
	.recv = stream_recv,
	.rx_buffered = stream_rx_buffered,
	.set_features = stream_set_features,
	.destroy = stream_destroy,
};

static int check_stream_fd(int fd)
{
	int type = 0;
	socklen_t len = sizeof(type);

	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM) {
		log_error("net: fd %d is not a stream socket", fd);
		return -EINVAL;
	}
	return 0;
}

int net_unixstream_open(const struct net_backend_config *cfg, struct net_backend **out)
{
	int fd = cfg->fd;

	if (fd >= 0) {
		int ret = check_stream_fd(fd);
		if (ret)
			return ret;
	} else {
		fd = unix_stream_connect(cfg->path, "net");
		if (fd < 0)
			return fd;
	}
	struct unixstream *s = calloc(1, sizeof(*s));
	if (s) {
		s->tx_buf = malloc(MAX_WIRE_FRAME);
		s->rx_buf = malloc(RX_BUF_SIZE);
	}
	if (!s || !s->tx_buf || !s->rx_buf) {
		if (s) {
			free(s->tx_buf);
			free(s->rx_buf);
		}
		free(s);
		if (cfg->fd < 0)
			close(fd);
		return -ENOMEM;
	}
	int sndbuf = SNDBUF_BYTES;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	snprintf(s->name, sizeof(s->name), "%s", cfg->path ? cfg->path : "the unix stream socket");
	s->b = (struct net_backend){ .ops = &unixstream_ops, .fd = fd, .name = s->name };
	*out = &s->b;
	return 0;
}
