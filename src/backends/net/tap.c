// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net over a tap device: frames go to and from /dev/net/tun with
 * the 12-byte virtio_net_hdr_v1 in front (IFF_VNET_HDR), so checksum and
 * segmentation offloads pass through untouched both ways.
 *
 * The kernel writes 10 of the 12 header bytes on a read; num_buffers is
 * ours to set (1).  A frame larger than the buffer is cut short by the
 * kernel with no sign of it, so reads get one byte of scratch space after
 * the guest's buffer: a read that reaches it was a frame that did not fit.
 *
 * Errors: EAGAIN is back-pressure; a tap that is down refuses writes with
 * EIO, which is not the end of it (it may be brought up later), so such
 * frames are dropped; EBADFD means the interface was deleted: gone.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>

#include "net_backend.h"
#include "../../util/iov.h"
#include "../../util/log.h"

#define TUN_PATH "/dev/net/tun"
/* More segments than a frame ever needs (the guest's chains are shorter). */
#define MAX_SEGS 128

/* virtio-net feature bits the tap's offloads follow. */
#define VIRTIO_NET_F_GUEST_CSUM 1
#define VIRTIO_NET_F_GUEST_TSO4 7
#define VIRTIO_NET_F_GUEST_TSO6 8
#define VIRTIO_NET_F_GUEST_ECN 9
#define VIRTIO_NET_F_GUEST_UFO 10

struct tap {
	struct net_backend b;
	bool warned_down;
	char name[IFNAMSIZ];
};

static struct tap *of(struct net_backend *b)
{
	return (struct tap *)b;
}

static int tap_send(struct net_backend *b, const struct iovec *iov, unsigned int cnt,
		    size_t len)
{
	struct tap *t = of(b);
	struct iovec seg[MAX_SEGS];
	size_t got = 0;

	if (len <= NET_VNET_HDR_LEN)
		return 0;	/* no frame: the device refuses these, drop */
	unsigned int n = iov_slice(iov, cnt, 0, len, seg, MAX_SEGS, &got);
	if (got != len) {
		log_debug("net: %s: a frame the iov does not hold (%zu of %zu bytes): dropped",
			  b->name, got, len);
		return 0;
	}
	ssize_t w;
	do {
		w = writev(b->fd, seg, (int)n);
	} while (w < 0 && errno == EINTR);
	b->retry_ms = 0;
	if (w >= 0) {
		t->warned_down = false;
		return 0;
	}
	int err = errno;
	switch (err) {
	case EAGAIN:
#if EWOULDBLOCK != EAGAIN
	case EWOULDBLOCK:
#endif
		return -EAGAIN;
	case EIO:
		/* The interface is down: nobody to take the frame now. */
		if (!t->warned_down)
			log_warn("net: tap %s is down: dropping the guest's frames", b->name);
		t->warned_down = true;
		return 0;
	case EINVAL:
		/* A header the kernel refuses (bad gso type, hdr_len beyond the
		 * frame, a runt): the guest's frame is wrong, the tap is fine. */
		log_debug("net: tap %s refused a %zu-byte frame: dropped", b->name, len);
		return 0;
	case ENOMEM:
	case ENOBUFS:
		b->retry_ms = 1;
		return -EAGAIN;
	default:
		log_error("net: tap %s: write failed: %s", b->name, strerror(err));
		return -err;
	}
}

static int tap_flush(struct net_backend *b)
{
	(void)b;
	return 0;
}

/* Reads and drops one frame; the guest's buffer cannot hold a header. */
static ssize_t drop_one(struct net_backend *b)
{
	uint8_t scratch[NET_VNET_HDR_LEN + 1];
	ssize_t r;

	do {
		r = read(b->fd, scratch, sizeof(scratch));
	} while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return -EAGAIN;
	if (r < 0 && errno != EINVAL)
		return -errno;
	return -EMSGSIZE;
}

static ssize_t tap_recv(struct net_backend *b, const struct iovec *iov, unsigned int cnt)
{
	struct iovec seg[MAX_SEGS + 1];
	uint8_t overflow;
	size_t got = 0;

	if (iov_total(iov, cnt) < NET_VNET_HDR_LEN)
		return drop_one(b);
	unsigned int n = iov_slice(iov, cnt, 0, NET_VNET_HDR_LEN + NET_MAX_FRAME, seg,
				   MAX_SEGS, &got);
	seg[n++] = (struct iovec){ &overflow, 1 };
	ssize_t r;
	do {
		r = readv(b->fd, seg, (int)n);
	} while (r < 0 && errno == EINTR);
	if (r < 0) {
		int err = errno;
		if (err == EAGAIN || err == EWOULDBLOCK)
			return -EAGAIN;
		log_error("net: tap %s: read failed: %s", b->name, strerror(err));
		return -err;
	}
	if ((size_t)r > got) {
		log_debug("net: tap %s: a frame larger than the guest's %zu-byte buffer: dropped",
			  b->name, got);
		return -EMSGSIZE;
	}
	if ((size_t)r < NET_VNET_HDR_LEN)
		return -EMSGSIZE;	/* never from a tap with a vnet header */
	uint16_t one = htole16(1);
	iov_write(iov, cnt, 10, &one, sizeof(one));
	return r;
}

static bool tap_rx_buffered(const struct net_backend *b)
{
	(void)b;
	return false;
}

static int tap_set_features(struct net_backend *b, uint64_t acked)
{
	unsigned int off = 0;

#define ACKED(bit) ((acked >> (bit)) & 1)
	/* The kernel takes segmentation offloads only with checksum offload. */
	if (ACKED(VIRTIO_NET_F_GUEST_CSUM)) {
		off |= TUN_F_CSUM;
		if (ACKED(VIRTIO_NET_F_GUEST_TSO4))
			off |= TUN_F_TSO4;
		if (ACKED(VIRTIO_NET_F_GUEST_TSO6))
			off |= TUN_F_TSO6;
		if (ACKED(VIRTIO_NET_F_GUEST_ECN) && (off & (TUN_F_TSO4 | TUN_F_TSO6)))
			off |= TUN_F_TSO_ECN;
		if (ACKED(VIRTIO_NET_F_GUEST_UFO))
			off |= TUN_F_UFO;
	}
#undef ACKED
	if (ioctl(b->fd, TUNSETOFFLOAD, (unsigned long)off) < 0) {
		int err = errno;
		log_error("net: tap %s: cannot set offloads 0x%x: %s", b->name, off,
			  strerror(err));
		return -err;
	}
	log_debug("net: tap %s: offloads 0x%x", b->name, off);
	return 0;
}

static void tap_destroy(struct net_backend *b)
{
	if (b->fd >= 0)
		close(b->fd);
	free(of(b));
}

static const struct net_backend_ops tap_ops = {
	.send = tap_send,
	.flush = tap_flush,
	.recv = tap_recv,
	.rx_buffered = tap_rx_buffered,
	.set_features = tap_set_features,
	.destroy = tap_destroy,
};

static int attach(const char *name, char *actual)
{
	struct ifreq ifr;
	int ret;

	int fd = open(TUN_PATH, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		log_error("net: cannot attach to tap %s: %s: %s", name, TUN_PATH, strerror(-ret));
		return ret;
	}
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name, strlen(name));	/* checked: < IFNAMSIZ */
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		ret = -errno;
		log_error("net: cannot attach to tap %s: %s", name, strerror(-ret));
		goto fail;
	}
	memcpy(actual, ifr.ifr_name, IFNAMSIZ);
	actual[IFNAMSIZ - 1] = '\0';
	int hdr = NET_VNET_HDR_LEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		ret = -errno;
		log_error("net: cannot attach to tap %s: vnet header size: %s", actual,
			  strerror(-ret));
		goto fail;
	}
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	/* virtio 1.0 headers are little endian whatever the host. */
	int le = 1;
	if (ioctl(fd, TUNSETVNETLE, &le) < 0) {
		ret = -errno;
		log_error("net: cannot attach to tap %s: little-endian vnet header: %s", actual,
			  strerror(-ret));
		goto fail;
	}
#endif
	/* No offloads until the guest acks them (set_features). */
	if (ioctl(fd, TUNSETOFFLOAD, 0UL) < 0) {
		ret = -errno;
		log_error("net: cannot attach to tap %s: offloads: %s", actual, strerror(-ret));
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return ret;
}

int net_tap_open(const struct net_backend_config *cfg, struct net_backend **out)
{
	const char *name = cfg->tap_name;

	if (!name || !*name) {
		log_error("net: a tap backend needs an interface name");
		return -EINVAL;
	}
	if (strlen(name) >= IFNAMSIZ) {
		log_error("net: cannot attach to tap %s: the name is longer than %d bytes", name,
			  IFNAMSIZ - 1);
		return -ENAMETOOLONG;
	}
	struct tap *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	int fd = attach(name, t->name);
	if (fd < 0) {
		free(t);
		return fd;
	}
	t->b = (struct net_backend){ .ops = &tap_ops, .fd = fd, .name = t->name };
	*out = &t->b;
	return 0;
}
