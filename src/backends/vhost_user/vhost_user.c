// SPDX-License-Identifier: Apache-2.0
#include "vhost_user.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../../util/log.h"
#include "../../util/unix_sock.h"

#define VU_MAX_FDS VU_MAX_REGIONS

/* Room for the descriptors one message may carry, aligned for cmsghdr. */
union vu_ctl {
	char b[CMSG_SPACE(VU_MAX_FDS * sizeof(int))];
	struct cmsghdr align;
};

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

int vu_parse_reply(const uint8_t *buf, size_t len, uint32_t request, void *payload,
		   size_t payload_max, size_t *payload_len)
{
	if (len < VU_HDR_SIZE)
		return -EPROTO;
	uint32_t req = get32(buf), flags = get32(buf + 4), size = get32(buf + 8);
	if (req != request)
		return -EPROTO;
	/* Version 1 with the reply bit and nothing else we would have to honour. */
	if ((flags & 0x3u) != VU_FLAG_VERSION || !(flags & VU_FLAG_REPLY) ||
	    (flags & VU_FLAG_NEED_REPLY))
		return -EPROTO;
	if (size > payload_max || size != len - VU_HDR_SIZE)
		return -EPROTO;
	if (size)
		memcpy(payload, buf + VU_HDR_SIZE, size);
	*payload_len = size;
	return 0;
}

void vu_conn_init(struct vu_conn *c, int fd, const char *name, int timeout_ms)
{
	*c = (struct vu_conn){ .fd = fd, .timeout_ms = timeout_ms, .name = name };
}

int vu_connect(struct vu_conn *c, const char *path, const char *name, int timeout_ms)
{
	int fd = unix_stream_connect(path, name);
	if (fd < 0)
		return fd;
	vu_conn_init(c, fd, name, timeout_ms);
	return 0;
}

void vu_close(struct vu_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->broken = true;
}

static int fail(struct vu_conn *c, int err, uint32_t request, const char *why)
{
	if (!atomic_exchange(&c->broken, true))
		log_error("%s: request %u: %s; the backend is not used any more "
			  "(reconnecting is not supported)", c->name, request, why);
	return err;
}

void vu_hung_up(struct vu_conn *c)
{
	if (!atomic_exchange(&c->broken, true))
		log_error("%s: the backend hung up; the device needs a reset and stays "
			  "unserved (reconnecting is not supported)", c->name);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* 0 when fd is ready for events before deadline, -ETIMEDOUT or -EPIPE. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = events };
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ETIMEDOUT;
		if (p.revents & events)
			return 0;
		return -EPIPE;
	}
}

static void close_passed_fds(struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
}

/* Reads exactly len bytes; a backend that passes descriptors gets them closed. */
static int recv_exact(struct vu_conn *c, uint8_t *buf, size_t len, int64_t deadline)
{
	size_t got = 0;
	while (got < len) {
		int ret = wait_fd(c->fd, POLLIN, deadline);
		if (ret)
			return ret;
		union vu_ctl ctl;
		struct iovec iov = { .iov_base = buf + got, .iov_len = len - got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b) };
		ssize_t r = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return -errno;
		close_passed_fds(&mh);
		if (r == 0)
			return -EPIPE;
		got += (size_t)r;
	}
	return 0;
}

static int send_msg(struct vu_conn *c, uint32_t request, uint32_t flags, const void *payload,
		    size_t len, const int *fds, unsigned int nfds)
{
	uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD + VU_MAX_CONFIG];
	if (len > sizeof(buf) - VU_HDR_SIZE || nfds > VU_MAX_FDS)
		return -EINVAL;
	put32(buf, request);
	put32(buf + 4, flags | VU_FLAG_VERSION);
	put32(buf + 8, (uint32_t)len);
	if (len)
		memcpy(buf + VU_HDR_SIZE, payload, len);

	int64_t deadline = now_ms() + c->timeout_ms;
	size_t off = 0, total = VU_HDR_SIZE + len;
	while (off < total) {
		int ret = wait_fd(c->fd, POLLOUT, deadline);
		if (ret)
			return ret;
		union vu_ctl ctl;
		struct iovec iov = { .iov_base = buf + off, .iov_len = total - off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		/* The descriptors travel with the first byte only. */
		if (off == 0 && nfds) {
			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.b;
			mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
		}
		ssize_t r = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return errno == ECONNRESET ? -EPIPE : -errno;
		off += (size_t)r;
	}
	return 0;
}

static int recv_reply(struct vu_conn *c, uint32_t request, void *payload, size_t max,
		      size_t *plen)
{
	uint8_t buf[VU_HDR_SIZE + VU_MAX_PAYLOAD + VU_MAX_CONFIG];
	int64_t deadline = now_ms() + c->timeout_ms;
	int ret = recv_exact(c, buf, VU_HDR_SIZE, deadline);
	if (ret)
		return ret;
	uint32_t size = get32(buf + 8);
	/* Never read past what this request may answer: the rest of an
	 * oversized message would be taken for the next reply. */
	if (size > max)
		return -EPROTO;
	ret = recv_exact(c, buf + VU_HDR_SIZE, size, deadline);
	if (ret)
		return ret;
	return vu_parse_reply(buf, VU_HDR_SIZE + size, request, payload, max, plen);
}

static const char *why(int err)
{
	switch (err) {
	case -ETIMEDOUT: return "no answer in time";
	case -EPIPE: return "the backend hung up";
	case -EPROTO: return "malformed reply";
	case -EIO: return "the backend refused it";
	default: return strerror(-err);
	}
}

/*
 * One request and, when it has one, its reply.  With REPLY_ACK negotiated
 * requests without their own reply ask for an acknowledgement, so a backend
 * that refuses (say) the memory table fails the call here rather than later.
 */
static int transact(struct vu_conn *c, uint32_t request, const void *payload, size_t len,
		    const int *fds, unsigned int nfds, void *reply, size_t reply_max,
		    size_t *reply_len)
{
	if (c->broken || c->fd < 0)
		return -EPIPE;
	bool ack = !reply && (c->protocol_features & (1ull << VU_PROTOCOL_F_REPLY_ACK));
	int ret = send_msg(c, request, ack ? VU_FLAG_NEED_REPLY : 0, payload, len, fds, nfds);
	if (ret == 0 && reply)
		ret = recv_reply(c, request, reply, reply_max, reply_len);
	if (ret == 0 && ack) {
		uint64_t status;
		size_t n;
		ret = recv_reply(c, request, &status, sizeof(status), &n);
		if (ret == 0 && n != sizeof(status))
			ret = -EPROTO;
		if (ret == 0 && status != 0)
			ret = -EIO;
	}
	if (ret)
		return fail(c, ret, request, why(ret));
	return 0;
}

int vu_get_u64(struct vu_conn *c, uint32_t request, uint64_t *val)
{
	size_t n;
	int ret = transact(c, request, NULL, 0, NULL, 0, val, sizeof(*val), &n);
	if (ret == 0 && n != sizeof(*val))
		return fail(c, -EPROTO, request, why(-EPROTO));
	return ret;
}

int vu_set_u64(struct vu_conn *c, uint32_t request, uint64_t val)
{
	return transact(c, request, &val, sizeof(val), NULL, 0, NULL, 0, NULL);
}

int vu_set_owner(struct vu_conn *c)
{
	return transact(c, VU_SET_OWNER, NULL, 0, NULL, 0, NULL, 0, NULL);
}

int vu_set_mem_table(struct vu_conn *c, const struct vu_region *r, unsigned int n)
{
	uint8_t p[VU_MAX_PAYLOAD] = {0};
	int fds[VU_MAX_REGIONS];
	if (n == 0 || n > VU_MAX_REGIONS)
		return -EINVAL;
	put32(p, n);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t f[4] = { r[i].gpa, r[i].size, r[i].uaddr, r[i].mmap_offset };
		memcpy(p + 8 + i * 32, f, sizeof(f));
		fds[i] = r[i].fd;
	}
	return transact(c, VU_SET_MEM_TABLE, p, 8 + n * 32, fds, n, NULL, 0, NULL);
}

int vu_set_vring_state(struct vu_conn *c, uint32_t request, uint32_t index, uint32_t num)
{
	uint32_t s[2] = { index, num };
	return transact(c, request, s, sizeof(s), NULL, 0, NULL, 0, NULL);
}

int vu_get_vring_base(struct vu_conn *c, uint32_t index, uint32_t *base)
{
	uint32_t s[2] = { index, 0 }, r[2];
	size_t n;
	/* Has its own reply: no acknowledgement on top. */
	int ret = transact(c, VU_GET_VRING_BASE, s, sizeof(s), NULL, 0, r, sizeof(r), &n);
	if (ret)
		return ret;
	if (n != sizeof(r) || r[0] != index)
		return fail(c, -EPROTO, VU_GET_VRING_BASE, why(-EPROTO));
	*base = r[1];
	return 0;
}

int vu_set_vring_addr(struct vu_conn *c, const struct vu_vring_addr *a)
{
	uint8_t p[40];
	put32(p, a->index);
	put32(p + 4, a->flags);
	uint64_t f[4] = { a->desc, a->used, a->avail, a->log };
	memcpy(p + 8, f, sizeof(f));
	return transact(c, VU_SET_VRING_ADDR, p, sizeof(p), NULL, 0, NULL, 0, NULL);
}

int vu_set_vring_fd(struct vu_conn *c, uint32_t request, uint32_t index, int fd)
{
	uint64_t v = index & 0xffu;
	if (fd < 0)
		v |= 1u << 8;	/* no descriptor: the backend polls */
	return transact(c, request, &v, sizeof(v), fd >= 0 ? &fd : NULL, fd >= 0, NULL, 0,
			NULL);
}

static void config_hdr(uint8_t *p, uint32_t offset, uint32_t len)
{
	put32(p, offset);
	put32(p + 4, len);
	put32(p + 8, 0);
}

int vu_get_config(struct vu_conn *c, uint32_t offset, void *data, uint32_t len)
{
	uint8_t p[12 + VU_MAX_CONFIG] = {0}, r[12 + VU_MAX_CONFIG];
	size_t n;
	if (len == 0 || len > VU_MAX_CONFIG || offset > VU_MAX_CONFIG - len)
		return -EINVAL;
	config_hdr(p, offset, len);
	/* The request carries the buffer the backend fills. */
	int ret = transact(c, VU_GET_CONFIG, p, 12 + len, NULL, 0, r, 12 + len, &n);
	if (ret)
		return ret;
	if (n != 12 + len || get32(r) != offset || get32(r + 4) != len)
		return fail(c, -EPROTO, VU_GET_CONFIG, why(-EPROTO));
	memcpy(data, r + 12, len);
	return 0;
}

int vu_set_config(struct vu_conn *c, uint32_t offset, const void *data, uint32_t len)
{
	uint8_t p[12 + VU_MAX_CONFIG];
	if (len == 0 || len > VU_MAX_CONFIG || offset > VU_MAX_CONFIG - len)
		return -EINVAL;
	config_hdr(p, offset, len);
	memcpy(p + 12, data, len);
	return transact(c, VU_SET_CONFIG, p, 12 + len, NULL, 0, NULL, 0, NULL);
}
