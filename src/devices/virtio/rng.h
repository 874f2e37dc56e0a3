/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-rng (device id 4): one queue of 256; every device-writable byte
 * the driver offers is filled from getrandom().  Served by its own thread
 * from DRIVER_OK until reset.
 */
#ifndef KRUN_VIRTIO_RNG_H
#define KRUN_VIRTIO_RNG_H

#include "virtio_mmio.h"

#define VIRTIO_ID_RNG_DEV 4
#define RNG_QUEUE_SIZE 256

struct virtio_rng;

struct virtio_rng *virtio_rng_create(void);
/* Call after virtio_mmio_destroy() of the device it was attached to. */
void virtio_rng_destroy(struct virtio_rng *rng);
/* Ops for virtio_mmio_init(dev, ops, rng, ...). */
const struct virtio_device_ops *virtio_rng_ops(void);

#endif
