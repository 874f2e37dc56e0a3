// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-vsock, guest-facing half.
 *
 * One worker thread polls the stop eventfd, the three queue eventfds and
 * the mux's epoll descriptor (host sockets), so the queues, the mux and
 * every connection have a single user and nothing locks.
 *
 * Every tx header is copied out of guest memory once (it may be split
 * across descriptors) and checked before the mux sees it: len against the
 * chain and VSOCK_MAX_PAYLOAD, src CID 3, dst CID 2, type, op.  A packet
 * that fails is dropped and counted; the chain goes back to the guest.
 * The rx side holds at most one guest buffer at a time: it is filled when
 * the mux has a packet, straight from the host socket.
 */
#include "vsock.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_vsock.h>

#include "../../util/iov.h"
#include "../../util/log.h"

#define RX_Q 0
#define TX_Q 1
#define EVENT_Q 2
/* tx chains per wakeup before the rx side and host sockets get a turn. */
#define TX_BATCH 256

enum tag { TAG_STOP, TAG_QUEUE, TAG_HOST };

struct virtio_vsock {
	struct vsock_mux *mux;
	int stop_evt;
	int epfd;
	bool running;
	bool manual;		/* no worker: virtio_vsock_poll() serves */
	bool active;		/* manual mode: between activate and reset */
	pthread_t thread;

	/* Worker state, valid while running. */
	struct virtio_mmio_dev *dev;
	bool dgram;
	bool stopping;
	bool rx_held;
	struct vq_chain rx_chain;
	struct vq_chain tx_chain;
	struct iovec payload[VQ_MAX_SEGS];
	struct virtio_vsock_stats stats;
};

static void drain_evt(int fd)
{
	eventfd_t v;

	(void)eventfd_read(fd, &v);
}

static uint64_t tag(enum tag t, unsigned int i)
{
	return (uint64_t)t << 32 | i;
}

/* ---- wire format -------------------------------------------------------- */

static void hdr_decode(const struct virtio_vsock_hdr *w, struct vsock_hdr *h)
{
	*h = (struct vsock_hdr){
		.src_cid = le64toh(w->src_cid),
		.dst_cid = le64toh(w->dst_cid),
		.src_port = le32toh(w->src_port),
		.dst_port = le32toh(w->dst_port),
		.len = le32toh(w->len),
		.type = le16toh(w->type),
		.op = le16toh(w->op),
		.flags = le32toh(w->flags),
		.buf_alloc = le32toh(w->buf_alloc),
		.fwd_cnt = le32toh(w->fwd_cnt),
	};
}

static void hdr_encode(const struct vsock_hdr *h, struct virtio_vsock_hdr *w)
{
	w->src_cid = htole64(h->src_cid);
	w->dst_cid = htole64(h->dst_cid);
	w->src_port = htole32(h->src_port);
	w->dst_port = htole32(h->dst_port);
	w->len = htole32(h->len);
	w->type = htole16(h->type);
	w->op = htole16(h->op);
	w->flags = htole32(h->flags);
	w->buf_alloc = htole32(h->buf_alloc);
	w->fwd_cnt = htole32(h->fwd_cnt);
}

_Static_assert(sizeof(struct virtio_vsock_hdr) == VSOCK_HDR_SIZE, "vsock header is 44 bytes");

/* ---- queues ------------------------------------------------------------- */

static void rx_service(struct virtio_vsock *v)
{
	struct vq_chain *c = &v->rx_chain;
	bool pushed = false;

	while (vsock_mux_rx_pending(v->mux)) {
		if (!v->rx_held) {
			if (virtio_mmio_pop(v->dev, RX_Q, c) <= 0)
				break;
			v->rx_held = true;
		}
		if (c->writable_len < VSOCK_HDR_SIZE) {
			log_debug("vsock: rx buffer of %u bytes cannot hold a header",
				  c->writable_len);
			vq_push(&v->dev->queues[RX_Q], c->head, 0);
			v->rx_held = false;
			pushed = true;
			continue;
		}
		size_t room;
		unsigned int n = iov_slice(c->iov + c->nr_readable, c->nr_writable, VSOCK_HDR_SIZE,
					   c->writable_len - VSOCK_HDR_SIZE, v->payload,
					   VQ_MAX_SEGS, &room);
		struct vsock_hdr h;
		if (!vsock_mux_rx_fill(v->mux, &h, v->payload, n, room))
			break;
		struct virtio_vsock_hdr wire;
		hdr_encode(&h, &wire);
		vq_chain_write(c, 0, &wire, sizeof(wire));
		vq_push(&v->dev->queues[RX_Q], c->head, VSOCK_HDR_SIZE + h.len);
		v->rx_held = false;
		pushed = true;
	}
	if (pushed)
		virtio_mmio_notify_queue(v->dev, RX_Q);
}

static bool valid_stream_op(uint16_t op)
{
	return op >= VIRTIO_VSOCK_OP_REQUEST && op <= VIRTIO_VSOCK_OP_CREDIT_REQUEST;
}

/* Checks one tx packet and passes it on; nothing here trusts the guest. */
static void tx_packet(struct virtio_vsock *v, const struct vq_chain *c)
{
	struct virtio_vsock_hdr wire;
	struct vsock_hdr h;

	if (vq_chain_read(c, 0, &wire, sizeof(wire)) < sizeof(wire)) {
		v->stats.malformed++;
		return;
	}
	hdr_decode(&wire, &h);
	if (h.len > VSOCK_MAX_PAYLOAD || h.len > c->readable_len - VSOCK_HDR_SIZE) {
		log_debug("vsock: packet length %u beyond its buffer (%u)", h.len,
			  c->readable_len);
		v->stats.malformed++;
		return;
	}
	if (h.src_cid != VSOCK_GUEST_CID || h.dst_cid != VSOCK_HOST_CID) {
		log_debug("vsock: packet from CID %llu to CID %llu dropped",
			  (unsigned long long)h.src_cid, (unsigned long long)h.dst_cid);
		v->stats.wrong_cid++;
		return;
	}
	size_t got;
	unsigned int n = iov_slice(c->iov, c->nr_readable, VSOCK_HDR_SIZE, h.len, v->payload,
				   VQ_MAX_SEGS, &got);
	if (h.type == VSOCK_TYPE_STREAM) {
		if (!valid_stream_op(h.op)) {
			v->stats.bad_op++;
			return;
		}
		vsock_mux_guest_stream(v->mux, &h, v->payload, n);
	} else if (h.type == VSOCK_TYPE_DGRAM && v->dgram) {
		vsock_mux_guest_dgram(v->mux, &h, v->payload, n);
	} else {
		log_debug("vsock: packet of type %u dropped", h.type);
		v->stats.bad_type++;
	}
}

static void tx_service(struct virtio_vsock *v)
{
	unsigned int served = 0;

	while (served < TX_BATCH && virtio_mmio_pop(v->dev, TX_Q, &v->tx_chain) > 0) {
		tx_packet(v, &v->tx_chain);
		vq_push(&v->dev->queues[TX_Q], v->tx_chain.head, 0);
		served++;
	}
	if (served == TX_BATCH)
		(void)eventfd_write(v->dev->queue_evt[TX_Q], 1);
	if (served)
		virtio_mmio_notify_queue(v->dev, TX_Q);
}

/* ---- worker ------------------------------------------------------------- */

static void dispatch(struct virtio_vsock *v, uint64_t data)
{
	unsigned int q = (uint32_t)data;

	switch ((enum tag)(data >> 32)) {
	case TAG_STOP:
		v->stopping = true;
		return;
	case TAG_QUEUE:
		drain_evt(v->dev->queue_evt[q]);
		/* The event queue only carries TRANSPORT_RESET to the guest,
		 * which we never send: its buffers stay with us. */
		if (q == TX_Q)
			tx_service(v);
		break;
	case TAG_HOST:
		vsock_mux_host_events(v->mux);
		break;
	}
	rx_service(v);
}

static void *worker(void *arg)
{
	struct virtio_vsock *v = arg;
	struct epoll_event ev[8];

	while (!v->stopping) {
		int n = epoll_wait(v->epfd, ev, 8, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("vsock: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && !v->stopping; i++)
			dispatch(v, ev[i].data.u64);
	}
	return NULL;
}

static int ep_add(int epfd, int fd, uint64_t data)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = data };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

static int setup_epoll(struct virtio_vsock *v, struct virtio_mmio_dev *dev)
{
	v->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (v->epfd < 0)
		return -errno;
	int ret = ep_add(v->epfd, v->stop_evt, tag(TAG_STOP, 0));
	for (unsigned int q = 0; !ret && q < 3; q++)
		ret = ep_add(v->epfd, dev->queue_evt[q], tag(TAG_QUEUE, q));
	if (!ret)
		ret = ep_add(v->epfd, vsock_mux_fd(v->mux), tag(TAG_HOST, 0));
	if (ret) {
		close(v->epfd);
		v->epfd = -1;
	}
	return ret;
}

/* ---- device ops --------------------------------------------------------- */

static void vsock_read_config(void *opaque, uint32_t offset, void *data, uint32_t len)
{
	(void)opaque;
	struct virtio_vsock_config cfg = { .guest_cid = htole64(VSOCK_GUEST_CID) };

	memcpy(data, (uint8_t *)&cfg + offset, len);
}

static int vsock_activate(void *opaque, struct virtio_mmio_dev *dev)
{
	struct virtio_vsock *v = opaque;

	if (v->running || v->active)
		return -EBUSY;
	v->dev = dev;
	v->dgram = virtio_mmio_has_feature(dev, VIRTIO_VSOCK_F_DGRAM);
	v->stopping = false;
	v->rx_held = false;
	if (v->manual) {
		v->active = true;
		return 0;
	}
	drain_evt(v->stop_evt);
	int ret = setup_epoll(v, dev);
	if (ret)
		return ret;
	ret = virtio_start_worker(dev, &v->thread, KRUN_THREAD_VSOCK, worker, v, "vsock");
	if (ret) {
		close(v->epfd);
		v->epfd = -1;
		return ret;
	}
	v->running = true;
	return 0;
}

static void vsock_reset(void *opaque)
{
	struct virtio_vsock *v = opaque;

	if (v->running) {
		(void)eventfd_write(v->stop_evt, 1);
		pthread_join(v->thread, NULL);
		v->running = false;
		close(v->epfd);
		v->epfd = -1;
	} else if (!v->active) {
		return;
	}
	v->active = false;
	v->dev = NULL;
	/* The guest's sockets are gone with its driver; so are ours. */
	vsock_mux_reset(v->mux);
}

static const struct virtio_device_ops vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK_DEV,
	.num_queues = 3,
	.queue_max_size = VSOCK_QUEUE_SIZE,
	.features = 1ull << VIRTIO_VSOCK_F_DGRAM,
	.config_size = sizeof(struct virtio_vsock_config),
	.read_config = vsock_read_config,
	.activate = vsock_activate,
	.reset = vsock_reset,
};

const struct virtio_device_ops *virtio_vsock_ops(void)
{
	return &vsock_ops;
}

struct virtio_vsock *virtio_vsock_create(const struct vsock_port *ports, unsigned int nr_ports,
					 const struct vsock_limits *limits, int *err)
{
	struct virtio_vsock *v = calloc(1, sizeof(*v));

	*err = -ENOMEM;
	if (!v)
		return NULL;
	v->epfd = -1;
	v->stop_evt = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (v->stop_evt < 0) {
		*err = -errno;
		free(v);
		return NULL;
	}
	*err = vsock_mux_create(ports, nr_ports, limits, VSOCK_GUEST_CID, &v->mux);
	if (*err) {
		close(v->stop_evt);
		free(v);
		return NULL;
	}
	return v;
}

void virtio_vsock_destroy(struct virtio_vsock *v)
{
	if (!v)
		return;
	vsock_reset(v);
	vsock_mux_destroy(v->mux);
	close(v->stop_evt);
	free(v);
}

void virtio_vsock_stats(const struct virtio_vsock *v, struct virtio_vsock_stats *out)
{
	*out = v->stats;
	vsock_mux_stats(v->mux, &out->mux);
}

void virtio_vsock_set_manual(struct virtio_vsock *v)
{
	v->manual = true;
}

int virtio_vsock_set_tsi(struct virtio_vsock *v, const struct vsock_tsi_config *cfg)
{
	return vsock_mux_set_tsi(v->mux, cfg);
}

void virtio_vsock_poll(struct virtio_vsock *v)
{
	if (!v->active)
		return;
	tx_service(v);
	vsock_mux_host_events(v->mux);
	rx_service(v);
}
