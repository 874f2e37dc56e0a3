/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-net (device id 1, virtio 1.2 5.1): one rx and one tx queue of
 * 1024, the 12-byte virtio_net_hdr_v1, no mergeable rx buffers, no control
 * queue.  It offers exactly the caller's feature bits plus MAC (and the
 * transport's EVENT_IDX and VERSION_1).  One thread per card moves frames
 * between the queues and its backend (src/backends/net/).
 */
#ifndef KRUN_VIRTIO_NET_H
#define KRUN_VIRTIO_NET_H

#include <stdint.h>

#include "virtio_mmio.h"
#include "../../backends/net/net_backend.h"

#define VIRTIO_ID_NET_DEV 1
#define NET_QUEUE_SIZE 1024

/* The virtio-net feature bits a caller may ask for (NET_FEATURE_* in
 * libkrun.h use the same numbering). */
#define VIRTIO_NET_CALLER_FEATURES \
	((1ull << 0) | (1ull << 1) | (1ull << 7) | (1ull << 8) | (1ull << 10) | \
	 (1ull << 11) | (1ull << 12) | (1ull << 14))

struct virtio_net_stats {
	uint64_t rx_frames, tx_frames;
	/* Frames too large for the guest's buffer or NET_MAX_FRAME. */
	uint64_t rx_dropped;
	/* Guest frames refused: bad header or size. */
	uint64_t tx_malformed;
	/* Guest frames lost because the backend had gone. */
	uint64_t tx_dropped;
};

struct virtio_net;

/* Takes the backend (destroyed with the device).  features: caller bits,
 * a subset of VIRTIO_NET_CALLER_FEATURES.  NULL on ENOMEM. */
struct virtio_net *virtio_net_create(struct net_backend *backend, const uint8_t mac[6],
				     uint64_t features, unsigned int index);
void virtio_net_destroy(struct virtio_net *net);
const struct virtio_device_ops *virtio_net_ops(struct virtio_net *net);
/* A snapshot; only meaningful once the device thread has stopped or for
 * tests, the counters are the thread's own. */
struct virtio_net_stats virtio_net_get_stats(const struct virtio_net *net);

/*
 * Whether a guest tx header may be acted on for a frame of frame_len bytes
 * with these acked features: checksum offload only with CSUM and inside
 * the frame, GSO only of a kind the device offered.  0 or -EINVAL.
 */
int virtio_net_check_tx_hdr(const uint8_t hdr[NET_VNET_HDR_LEN], size_t frame_len,
			    uint64_t acked);

#endif
