/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-balloon (device id 5, virtio 1.2 5.5) as upstream libkrun offers
 * it: STATS_VQ, FREE_PAGE_HINT and REPORTING, five queues of 256, and a
 * num_pages that stays 0, so the guest never inflates.  What it is for is
 * free page reporting: every range the guest reports free is given back to
 * the host (MADV_REMOVE / MADV_DONTNEED), which brings the VMM's RSS down
 * after the guest frees memory.  Served by its own thread from DRIVER_OK
 * until reset.
 */
#ifndef KRUN_VIRTIO_BALLOON_H
#define KRUN_VIRTIO_BALLOON_H

#include <stdint.h>

#include "virtio_mmio.h"

#define VIRTIO_ID_BALLOON_DEV 5
#define BALLOON_QUEUE_SIZE 256
#define BALLOON_NUM_QUEUES 5

#define VIRTIO_BALLOON_F_STATS_VQ 1
#define VIRTIO_BALLOON_F_FREE_PAGE_HINT 3
#define VIRTIO_BALLOON_F_REPORTING 5

struct virtio_balloon;

struct virtio_balloon *virtio_balloon_create(void);
/* Call after virtio_mmio_destroy() of the device it was attached to. */
void virtio_balloon_destroy(struct virtio_balloon *b);
/* Ops for virtio_mmio_init(dev, ops, b, ...). */
const struct virtio_device_ops *virtio_balloon_ops(void);
/* Bytes of guest RAM given back to the host so far (all activations). */
uint64_t virtio_balloon_discarded(const struct virtio_balloon *b);

#endif
