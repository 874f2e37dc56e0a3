// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net, guest-facing half.
 *
 * One worker per card polls the stop eventfd, both queue eventfds and the
 * backend's fd, so the queues and the backend have a single user.  The
 * backend's fd is polled for reading only while the guest has rx buffers
 * (otherwise frames wait in the backend's socket, where the peer sees the
 * back-pressure) and for writing only while a tx frame waits for room.
 *
 * Every tx header is copied out of guest memory once and checked against
 * the acked features and the frame's size before a backend sees the frame;
 * a frame that fails is dropped, counted and its chain given back.
 *
 * The guest kicks only when the device asked for it (re-armed on an empty
 * queue), so the worker never sleeps while tx chains wait for it: not after
 * a full batch, not once the backend is gone (they are then dropped), and
 * not while the backend holds the unsent part of a frame it took.
 */
#include "net.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "../../util/log.h"

#define RX_Q 0
#define TX_Q 1
/* Frames per queue per wakeup, so neither direction starves the other. */
#define BATCH 256
#define ETH_HDR_LEN 14

struct virtio_net {
	struct virtio_device_ops ops;
	struct net_backend *backend;
	uint8_t mac[6];
	unsigned int index;
	int stop_evt;
	bool running;
	pthread_t thread;

	/* Worker state, valid while running. */
	struct virtio_mmio_dev *dev;
	bool backend_gone;
	bool rx_wants_buffers;	/* the guest's rx queue ran dry */
	bool tx_blocked;	/* a frame, or part of one, waits for the backend */
	bool tx_more;		/* tx chains may wait: look again without sleeping */
	struct vq_chain rx_chain;
	struct vq_chain tx_chain;
	struct virtio_net_stats stats;
};

static void drain_evt(int fd)
{
	eventfd_t v;

	(void)eventfd_read(fd, &v);
}

int virtio_net_check_tx_hdr(const uint8_t hdr[NET_VNET_HDR_LEN], size_t frame_len,
			    uint64_t acked_features)
{
	struct virtio_net_hdr_v1 h;

	memcpy(&h, hdr, sizeof(h));
	if (h.flags & ~VIRTIO_NET_HDR_F_NEEDS_CSUM)
		return -EINVAL;
	if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
		size_t start = le16toh(h.csum_start), off = le16toh(h.csum_offset);
		if (!(acked_features & (1ull << VIRTIO_NET_F_CSUM)) || start + off + 2 > frame_len)
			return -EINVAL;
	}
	unsigned int needs;
	switch (h.gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		return 0;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		needs = VIRTIO_NET_F_HOST_TSO4;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		needs = VIRTIO_NET_F_HOST_TSO6;
		break;
	case VIRTIO_NET_HDR_GSO_UDP:
		needs = VIRTIO_NET_F_HOST_UFO;
		break;
	default:	/* ECN and anything newer: never offered */
		return -EINVAL;
	}
	if (!(acked_features & (1ull << needs)) || le16toh(h.gso_size) == 0)
		return -EINVAL;
	return 0;
}

static void lose_backend(struct virtio_net *n, int err)
{
	if (n->backend_gone)
		return;
	n->backend_gone = true;
	/* What waited for the backend is dropped now, without waiting. */
	n->tx_blocked = false;
	n->tx_more = true;
	log_error("net: eth%u: %s is gone (%s); the guest's frames are dropped from now on",
		  n->index, n->backend->name, strerror(-err));
}

/* ---- tx: guest to backend ------------------------------------------------ */

static uint64_t acked_features(const struct virtio_net *n)
{
	return n->dev->driver_features;
}

static bool tx_frame_ok(struct virtio_net *n)
{
	const struct vq_chain *c = &n->tx_chain;
	uint8_t hdr[NET_VNET_HDR_LEN];

	if (c->nr_writable || c->readable_len < NET_VNET_HDR_LEN + ETH_HDR_LEN ||
	    c->readable_len - NET_VNET_HDR_LEN > NET_MAX_FRAME)
		return false;
	vq_chain_read(c, 0, hdr, sizeof(hdr));
	return virtio_net_check_tx_hdr(hdr, c->readable_len - NET_VNET_HDR_LEN,
				       acked_features(n)) == 0;
}

/* 1: the chain is done with, 0: the backend is full and has it back. */
static int send_one(struct virtio_net *n)
{
	const struct vq_chain *c = &n->tx_chain;

	if (!tx_frame_ok(n)) {
		n->stats.tx_malformed++;
		return 1;
	}
	if (n->backend_gone) {
		n->stats.tx_dropped++;
		return 1;
	}
	int ret = n->backend->ops->send(n->backend, c->iov, c->nr_readable, c->readable_len);
	if (ret == -EAGAIN)
		return 0;
	if (ret < 0) {
		lose_backend(n, ret);
		n->stats.tx_dropped++;
	} else {
		n->stats.tx_frames++;
	}
	return 1;
}

static void process_tx(struct virtio_net *n)
{
	struct virtqueue *vq = &n->dev->queues[TX_Q];
	bool pushed = false;
	int i;

	n->tx_more = false;
	for (i = 0; i < BATCH && !n->tx_blocked; i++) {
		if (virtio_mmio_pop(n->dev, TX_Q, &n->tx_chain) <= 0)
			break;
		if (!send_one(n)) {
			vq_unpop(vq);
			n->tx_blocked = true;
			break;
		}
		vq_push(vq, n->tx_chain.head, 0);
		pushed = true;
	}
	if (i == BATCH)
		n->tx_more = true;	/* the queue was not seen empty, nor re-armed */
	/* A frame the backend took only in part must not wait for the next. */
	if (pushed && !n->tx_blocked && !n->backend_gone) {
		int ret = n->backend->ops->flush(n->backend);
		if (ret == -EAGAIN)
			n->tx_blocked = true;
		else if (ret < 0)
			lose_backend(n, ret);
	}
	if (pushed)
		virtio_mmio_notify_queue(n->dev, TX_Q);
}

static void retry_blocked_tx(struct virtio_net *n)
{
	int ret = n->backend->ops->flush(n->backend);

	if (ret == -EAGAIN)
		return;
	if (ret < 0)
		lose_backend(n, ret);
	n->tx_blocked = false;
}

/* ---- rx: backend to guest ------------------------------------------------ */

/* >0: bytes of a frame written into the chain, 0: nothing for it (chain
 * unused), -1: a frame was dropped and the chain is still free. */
static ssize_t receive_one(struct virtio_net *n)
{
	const struct vq_chain *c = &n->rx_chain;
	const struct iovec *iov = c->iov + c->nr_readable;
	ssize_t got = n->backend->ops->recv(n->backend, iov, c->nr_writable);

	if (got == -EMSGSIZE) {
		n->stats.rx_dropped++;
		return -1;
	}
	if (got == -EAGAIN)
		return 0;
	if (got < 0) {
		lose_backend(n, (int)got);
		return 0;
	}
	n->stats.rx_frames++;
	return got;
}

static void process_rx(struct virtio_net *n)
{
	struct virtqueue *vq = &n->dev->queues[RX_Q];
	bool pushed = false;

	for (int i = 0; i < BATCH && !n->backend_gone; i++) {
		int ret = virtio_mmio_pop(n->dev, RX_Q, &n->rx_chain);
		if (ret <= 0) {
			/* Empty, or broken until the driver resets it: either way
			 * the backend's fd must not be polled meanwhile, or
			 * pending frames would wake us without end. */
			n->rx_wants_buffers = true;
			break;
		}
		ssize_t got = receive_one(n);
		if (got <= 0) {
			vq_unpop(vq);
			if (got == 0)
				break;
			continue;
		}
		vq_push(vq, n->rx_chain.head, (uint32_t)got);
		pushed = true;
	}
	if (pushed)
		virtio_mmio_notify_queue(n->dev, RX_Q);
}

/* ---- the worker ---------------------------------------------------------- */

enum { PFD_STOP, PFD_RXQ, PFD_TXQ, PFD_BACKEND, PFD_COUNT };

static int wait_events(struct virtio_net *n, struct pollfd *pfd)
{
	short backend_events = 0;
	int timeout = n->tx_more ? 0 : -1;

	if (!n->backend_gone) {
		bool rx_ready = !n->rx_wants_buffers;
		if (rx_ready && n->backend->ops->rx_buffered(n->backend))
			timeout = 0;
		if (rx_ready)
			backend_events |= POLLIN;
		if (n->tx_blocked) {
			backend_events |= POLLOUT;
			if (n->backend->retry_ms > 0 && timeout < 0)
				timeout = n->backend->retry_ms;
		}
	}
	pfd[PFD_STOP] = (struct pollfd){ .fd = n->stop_evt, .events = POLLIN };
	pfd[PFD_RXQ] = (struct pollfd){ .fd = n->dev->queue_evt[RX_Q], .events = POLLIN };
	pfd[PFD_TXQ] = (struct pollfd){ .fd = n->dev->queue_evt[TX_Q], .events = POLLIN };
	pfd[PFD_BACKEND] = (struct pollfd){ .fd = backend_events ? n->backend->fd : -1,
					    .events = backend_events };
	int ret;
	do {
		ret = poll(pfd, PFD_COUNT, timeout);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

static void *worker(void *arg)
{
	struct virtio_net *n = arg;
	struct pollfd pfd[PFD_COUNT];

	for (;;) {
		if (wait_events(n, pfd)) {
			log_error("net: eth%u: poll: %s", n->index, strerror(errno));
			return NULL;
		}
		if (pfd[PFD_STOP].revents)
			return NULL;
		if (pfd[PFD_RXQ].revents) {
			drain_evt(pfd[PFD_RXQ].fd);
			n->rx_wants_buffers = false;
		}
		if (pfd[PFD_TXQ].revents)
			drain_evt(pfd[PFD_TXQ].fd);
		if (n->tx_blocked)
			retry_blocked_tx(n);
		process_tx(n);
		if (!n->rx_wants_buffers)
			process_rx(n);
	}
}

/* ---- device ops ---------------------------------------------------------- */

static void net_read_config(void *opaque, uint32_t offset, void *data, uint32_t len)
{
	struct virtio_net *n = opaque;
	/* mac, then status and max_virtqueue_pairs: 0, their features are
	 * not offered. */
	uint8_t cfg[10] = { 0 };

	memcpy(cfg, n->mac, sizeof(n->mac));
	memcpy(data, cfg + offset, len);
}

static void net_write_config(void *opaque, uint32_t offset, const void *data, uint32_t len)
{
	/* The MAC is writable only with VIRTIO_NET_F_CTRL_MAC_ADDR, never
	 * offered: ignored, as the specification asks of devices. */
	(void)opaque, (void)offset, (void)data, (void)len;
}

static int net_activate(void *opaque, struct virtio_mmio_dev *dev)
{
	struct virtio_net *n = opaque;

	if (n->running)
		return -EBUSY;
	n->dev = dev;
	n->rx_wants_buffers = false;
	n->tx_blocked = false;
	n->tx_more = false;
	drain_evt(n->stop_evt);
	int ret = n->backend->ops->set_features(n->backend, dev->driver_features);
	if (ret)
		return ret;
	ret = virtio_start_worker(dev, &n->thread, KRUN_THREAD_NET, worker, n, "virtio-net");
	if (ret)
		return ret;
	n->running = true;
	return 0;
}

static void net_reset(void *opaque)
{
	struct virtio_net *n = opaque;

	if (!n->running)
		return;
	(void)eventfd_write(n->stop_evt, 1);
	pthread_join(n->thread, NULL);
	n->running = false;
	if (n->stats.rx_dropped || n->stats.tx_malformed || n->stats.tx_dropped)
		log_info("net: eth%u: %llu rx frames dropped (too large), %llu malformed and "
			 "%llu undeliverable tx frames", n->index,
			 (unsigned long long)n->stats.rx_dropped,
			 (unsigned long long)n->stats.tx_malformed,
			 (unsigned long long)n->stats.tx_dropped);
}

const struct virtio_device_ops *virtio_net_ops(struct virtio_net *n)
{
	return &n->ops;
}

struct virtio_net *virtio_net_create(struct net_backend *backend, const uint8_t mac[6],
				     uint64_t features, unsigned int index)
{
	struct virtio_net *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->stop_evt = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (n->stop_evt < 0) {
		free(n);
		return NULL;
	}
	n->backend = backend;
	memcpy(n->mac, mac, sizeof(n->mac));
	n->index = index;
	n->ops = (struct virtio_device_ops){
		.name = "virtio-net",
		.device_id = VIRTIO_ID_NET_DEV,
		.num_queues = 2,
		.queue_max_size = NET_QUEUE_SIZE,
		.features = (features & VIRTIO_NET_CALLER_FEATURES) |
			    (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_F_RING_EVENT_IDX),
		.config_size = 10,
		.read_config = net_read_config,
		.write_config = net_write_config,
		.activate = net_activate,
		.reset = net_reset,
	};
	return n;
}

void virtio_net_destroy(struct virtio_net *n)
{
	if (!n)
		return;
	net_reset(n);
	net_backend_destroy(n->backend);
	close(n->stop_evt);
	free(n);
}

struct virtio_net_stats virtio_net_get_stats(const struct virtio_net *n)
{
	return n->stats;
}
