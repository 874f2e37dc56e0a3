/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Block backends: what a disk frontend (virtio-blk) needs from the storage
 * behind it, independent of any transport.  struct blk_backend is the
 * generic interface; blk_raw_open() is the host-file / host-block-device
 * implementation (the image is the disk, byte for byte).  The image formats
 * (qcow2, VMDK: image.h) provide their own ops and open functions.
 *
 * Offsets and lengths are in bytes.  Every operation returns 0 or -errno;
 * none of them is thread-safe against the others on the same backend (one
 * worker thread owns a disk).
 */
#ifndef KRUN_BLOCK_RAW_H
#define KRUN_BLOCK_RAW_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

/* Length of the disk identifier (the size virtio-blk's GET_ID answers). */
#define BLK_ID_LEN 20

struct blk_backend;

struct blk_backend_ops {
	/* Reads/writes exactly iov_total(iov) bytes at off (loops on short
	 * transfers, retries EINTR).  A read that finds the host file shorter
	 * than size fills the missing bytes with zeros; past size it is -EIO. */
	int (*preadv)(struct blk_backend *b, const struct iovec *iov, unsigned int cnt,
		      uint64_t off);
	int (*pwritev)(struct blk_backend *b, const struct iovec *iov, unsigned int cnt,
		       uint64_t off);
	/* Makes completed writes durable: fdatasync, or fsync when full. */
	int (*flush)(struct blk_backend *b, bool full);
	/* Deallocates the range (it then reads as zeros); -EOPNOTSUPP where
	 * the host cannot, and the data is left as it was. */
	int (*discard)(struct blk_backend *b, uint64_t off, uint64_t len);
	/* The range reads as zeros afterwards; may_unmap lets the backend
	 * deallocate it.  Falls back to writing zeros. */
	int (*write_zeroes)(struct blk_backend *b, uint64_t off, uint64_t len, bool may_unmap);
	void (*close)(struct blk_backend *b);
};

struct blk_backend {
	const struct blk_backend_ops *ops;
	/* Bytes the disk has (for a raw image: the file size at open). */
	uint64_t size;
	/* Logical block size I/O should be aligned to: a power of two in
	 * 512..4096 (more than 512 only for direct I/O on such a device). */
	uint32_t block_size;
	bool read_only;
	/* Stable identifier of the storage, NUL-padded, not NUL-terminated
	 * when all BLK_ID_LEN bytes are used. */
	char id[BLK_ID_LEN];
};

/*
 * Opens path (a regular file or a block device) as a raw disk image:
 * O_RDONLY when read_only, O_RDWR otherwise; direct_io adds O_DIRECT
 * (unaligned guest buffers then go through an aligned bounce buffer).
 * On success *out owns the descriptor; release it with ops->close.
 * -EISDIR / -EINVAL for a path that is neither a file nor a block device.
 */
int blk_raw_open(const char *path, bool read_only, bool direct_io, struct blk_backend **out);

#endif
