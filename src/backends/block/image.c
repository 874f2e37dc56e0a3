// SPDX-License-Identifier: Apache-2.0
#include "image.h"

#include <errno.h>
#include <stddef.h>

#include "libkrun.h"
#include "../../util/log.h"

/* virtio_blk_create_format() takes the API's numbers as they are. */
_Static_assert(BLK_FORMAT_RAW == KRUN_DISK_FORMAT_RAW, "raw format number");
_Static_assert(BLK_FORMAT_QCOW2 == KRUN_DISK_FORMAT_QCOW2, "qcow2 format number");
_Static_assert(BLK_FORMAT_VMDK == KRUN_DISK_FORMAT_VMDK, "vmdk format number");

int blk_image_open(const char *path, enum blk_format fmt, bool read_only, bool direct_io,
		   struct blk_backend **out)
{
	*out = NULL;
	switch (fmt) {
	case BLK_FORMAT_RAW:
		return blk_raw_open(path, read_only, direct_io, out);
	case BLK_FORMAT_QCOW2:
		if (direct_io)
			log_info("block: %s: direct I/O is not used for qcow2 images", path);
		return blk_qcow2_open(path, read_only, BLK_MAX_BACKING_DEPTH, out);
	case BLK_FORMAT_VMDK:
		if (!read_only) {
			log_error("block: %s: VMDK images are read-only here; add the disk "
				  "read-only", path);
			return -EROFS;
		}
		return blk_vmdk_open(path, out);
	}
	log_error("block: %s: unknown image format %d", path, (int)fmt);
	return -EINVAL;
}
