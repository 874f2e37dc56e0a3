/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File I/O shared by the block backends: whole transfers (short reads and
 * writes looped, EINTR retried), zeroing of scatter lists, and the disk
 * identifier derived from the host file.
 */
#ifndef KRUN_BLOCK_IO_H
#define KRUN_BLOCK_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "raw.h"

/*
 * Moves bytes [*done, total) of the list to or from fd at off + *done.
 * *done advances even when an error stops it; a read stops early (returning
 * 0) at end of file, a write that makes no progress is -EIO.
 */
int blk_io_xfer(int fd, const struct iovec *iov, unsigned int cnt, size_t total, uint64_t off,
		bool write, size_t *done);
/* Reads len bytes at off; what lies past the end of the file reads as zeros. */
int blk_io_pread(int fd, void *buf, size_t len, uint64_t off);
int blk_io_pwrite(int fd, const void *buf, size_t len, uint64_t off);
/* Like blk_io_pread but into bytes [pos, pos + len) of a list. */
int blk_io_preadv(int fd, const struct iovec *iov, unsigned int cnt, size_t pos, size_t len,
		  uint64_t off);
int blk_io_pwritev(int fd, const struct iovec *iov, unsigned int cnt, size_t pos, size_t len,
		   uint64_t off);
int blk_io_sync(int fd, bool full);
/* Zeroes bytes [off, off + len) of the list. */
void blk_iov_zero(const struct iovec *iov, unsigned int cnt, size_t off, size_t len);
/* Same file, same id across runs. */
void blk_make_id(char id[BLK_ID_LEN], const struct stat *st);
/* Opens path read-only for a backing file or extent: only a regular file or
 * a block device (checked before open, so a FIFO cannot block us). */
int blk_io_open_ro(const char *path, int *fd, struct stat *st);
/* dir_of(base) + "/" + name, or name when it is absolute; NULL on ENOMEM. */
char *blk_relative_path(const char *base, const char *name);

#endif
