/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk (virtio 1.2, 5.2): one request queue of 256 served by the
 * disk's own worker thread from DRIVER_OK until reset, over a raw image
 * (src/backends/block).  Pass the struct virtio_blk * as the opaque pointer
 * of virtio_mmio_init() together with virtio_blk_ops(blk).
 */
#ifndef KRUN_VIRTIO_BLOCK_H
#define KRUN_VIRTIO_BLOCK_H

#include <stdbool.h>

#include "virtio_mmio.h"

#define VIRTIO_ID_BLOCK 2

/* Values of libkrun's KRUN_SYNC_*: what a guest FLUSH does on the host. */
enum virtio_blk_sync {
	VIRTIO_BLK_SYNC_NONE = 0,	/* FLUSH is not offered */
	VIRTIO_BLK_SYNC_RELAXED = 1,	/* fdatasync */
	VIRTIO_BLK_SYNC_FULL = 2,	/* fsync */
};

struct virtio_blk;

/* Opens the image now (so errors surface before the VM starts, and before
 * privileges are dropped).  Returns NULL with -errno in *err.  read_only
 * opens O_RDONLY; direct_io adds O_DIRECT. */
struct virtio_blk *virtio_blk_create(const char *path, bool read_only, bool direct_io,
				     enum virtio_blk_sync sync, int *err);
/* The same for an image of a given format (enum blk_format of
 * src/backends/block/image.h; virtio_blk_create is BLK_FORMAT_RAW). */
struct virtio_blk *virtio_blk_create_format(const char *path, int format, bool read_only,
					    bool direct_io, enum virtio_blk_sync sync, int *err);
/* The offered features depend on the disk (RO, FLUSH, DISCARD...), so each
 * disk has its own ops; they live as long as blk. */
const struct virtio_device_ops *virtio_blk_ops(const struct virtio_blk *blk);
/* The transport must have been reset (or never activated) first. */
void virtio_blk_destroy(struct virtio_blk *blk);

#endif
