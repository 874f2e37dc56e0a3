/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Disk image formats behind struct blk_backend (raw.h): qcow2 (read-write,
 * with read-only backing chains) and VMDK (read-only).  The format is
 * always the caller's choice, never guessed from the data of the image
 * itself (a guest that could write a raw image could otherwise make it name
 * host files); only a qcow2 backing file without a recorded format is
 * probed (qcow2 magic or raw), because a backing file is never writable
 * through us.
 */
#ifndef KRUN_BLOCK_IMAGE_H
#define KRUN_BLOCK_IMAGE_H

#include <stdbool.h>

#include "raw.h"

enum blk_format {
	BLK_FORMAT_RAW,
	BLK_FORMAT_QCOW2,
	BLK_FORMAT_VMDK,
};

/* Backing files followed below an image before the chain is refused. */
#define BLK_MAX_BACKING_DEPTH 16

/*
 * Opens path as fmt.  direct_io applies to raw images only (qcow2 and VMDK
 * metadata I/O is small and unaligned; they use the page cache).  VMDK is
 * read-only: -EROFS unless read_only.  Errors are logged.
 */
int blk_image_open(const char *path, enum blk_format fmt, bool read_only, bool direct_io,
		   struct blk_backend **out);

/* max_backing_depth 0: an image naming a backing file is refused. */
int blk_qcow2_open(const char *path, bool read_only, unsigned int max_backing_depth,
		   struct blk_backend **out);
/* monolithicSparse or monolithicFlat (FLAT and ZERO extents), no parent. */
int blk_vmdk_open(const char *path, struct blk_backend **out);

#endif
