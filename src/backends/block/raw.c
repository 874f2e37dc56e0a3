// SPDX-License-Identifier: Apache-2.0
/*
 * Raw disk images: the guest's sectors are the host file's bytes.  Works on
 * regular files and block devices alike (size by lseek, deallocation by
 * fallocate, which block devices also implement).
 */
#include "raw.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "../../util/iov.h"
#include "../../util/log.h"

#define RAW_SECTOR 512u
#define RAW_MAX_BLOCK 4096u
/* Bounce and zero buffers: page aligned (O_DIRECT), bounded in size. */
#define RAW_MEM_ALIGN 4096
#define RAW_BOUNCE_MAX (1u << 20)
#define RAW_ZERO_CHUNK (64u << 10)

struct raw_backend {
	struct blk_backend b;	/* first: the generic part is what callers hold */
	int fd;
	bool direct;
};

static struct raw_backend *to_raw(struct blk_backend *b)
{
	return (struct raw_backend *)b;
}

static int check_range(const struct blk_backend *b, uint64_t off, uint64_t len)
{
	return off > b->size || len > b->size - off ? -EIO : 0;
}

/* O_DIRECT refused the guest's buffers (-EINVAL: misaligned memory): go on
 * through an aligned buffer, at most RAW_BOUNCE_MAX bytes at a time. */
static int xfer_bounce(int fd, const struct iovec *iov, unsigned int cnt, size_t total,
		       uint64_t off, bool write, size_t *done)
{
	size_t cap = total - *done < RAW_BOUNCE_MAX ? total - *done : RAW_BOUNCE_MAX;
	void *buf;
	int ret = posix_memalign(&buf, RAW_MEM_ALIGN, cap);

	if (ret)
		return -ret;
	while (*done < total) {
		size_t n = total - *done < cap ? total - *done : cap, moved = 0;
		struct iovec one = { buf, n };

		if (write)
			iov_read(iov, cnt, *done, buf, n);
		ret = blk_io_xfer(fd, &one, 1, n, off + *done, write, &moved);
		if (!write)
			iov_write(iov, cnt, *done, buf, moved);
		*done += moved;
		if (ret || moved < n)
			break;
	}
	free(buf);
	return ret;
}

static int raw_rw(struct blk_backend *b, const struct iovec *iov, unsigned int cnt,
		  uint64_t off, bool write)
{
	struct raw_backend *r = to_raw(b);
	size_t total = iov_total(iov, cnt), done = 0;

	if (write && b->read_only)
		return -EROFS;
	if (check_range(b, off, total))
		return -EIO;
	int ret = blk_io_xfer(r->fd, iov, cnt, total, off, write, &done);
	if (ret == -EINVAL && r->direct)
		ret = xfer_bounce(r->fd, iov, cnt, total, off, write, &done);
	if (ret)
		return ret;
	/* The file shrank under us: what is gone reads as zeros, within size. */
	if (done < total)
		blk_iov_zero(iov, cnt, done, total - done);
	return 0;
}

static int raw_preadv(struct blk_backend *b, const struct iovec *iov, unsigned int cnt,
		      uint64_t off)
{
	return raw_rw(b, iov, cnt, off, false);
}

static int raw_pwritev(struct blk_backend *b, const struct iovec *iov, unsigned int cnt,
		       uint64_t off)
{
	return raw_rw(b, iov, cnt, off, true);
}

static int raw_flush(struct blk_backend *b, bool full)
{
	return blk_io_sync(to_raw(b)->fd, full);
}

static int falloc(int fd, int mode, uint64_t off, uint64_t len)
{
	int ret;

	do
		ret = fallocate(fd, mode, (off_t)off, (off_t)len);
	while (ret < 0 && errno == EINTR);
	if (ret < 0 && errno == ENOSYS)
		return -EOPNOTSUPP;
	return ret < 0 ? -errno : 0;
}

static int check_modify(const struct blk_backend *b, uint64_t off, uint64_t len)
{
	if (b->read_only)
		return -EROFS;
	return check_range(b, off, len);
}

static int raw_discard(struct blk_backend *b, uint64_t off, uint64_t len)
{
	int ret = check_modify(b, off, len);

	if (ret || !len)
		return ret;
	return falloc(to_raw(b)->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
}

/* fallocate modes the host may lack for this file (or range alignment). */
static bool falloc_unsupported(int ret)
{
	return ret == -EOPNOTSUPP || ret == -EINVAL;
}

static int write_zero_bytes(int fd, uint64_t off, uint64_t len)
{
	size_t cap = len < RAW_ZERO_CHUNK ? (size_t)len : RAW_ZERO_CHUNK;
	void *buf;
	int ret = posix_memalign(&buf, RAW_MEM_ALIGN, cap);

	if (ret)
		return -ret;
	memset(buf, 0, cap);
	while (len) {
		size_t n = len < cap ? (size_t)len : cap, done = 0;
		struct iovec one = { buf, n };

		ret = blk_io_xfer(fd, &one, 1, n, off, true, &done);
		if (ret)
			break;
		off += n;
		len -= n;
	}
	free(buf);
	return ret;
}

static int raw_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len, bool may_unmap)
{
	int fd = to_raw(b)->fd;
	int ret = check_modify(b, off, len);

	if (ret || !len)
		return ret;
	if (may_unmap) {
		ret = falloc(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len);
		if (!falloc_unsupported(ret))
			return ret;
	}
	ret = falloc(fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, len);
	if (!falloc_unsupported(ret))
		return ret;
	return write_zero_bytes(fd, off, len);
}

static void raw_close(struct blk_backend *b)
{
	if (!b)
		return;
	close(to_raw(b)->fd);
	free(to_raw(b));
}

static const struct blk_backend_ops raw_ops = {
	.preadv = raw_preadv,
	.pwritev = raw_pwritev,
	.flush = raw_flush,
	.discard = raw_discard,
	.write_zeroes = raw_write_zeroes,
	.close = raw_close,
};

static bool valid_block_size(uint64_t v)
{
	return v >= RAW_SECTOR && v <= RAW_MAX_BLOCK && !(v & (v - 1));
}

/* Buffered I/O takes any 512-byte sector; O_DIRECT needs the host's
 * alignment, which the guest then learns as its logical block size. */
static uint32_t pick_block_size(int fd, const struct stat *st, bool direct)
{
	uint64_t v = 0;

	if (!direct)
		return RAW_SECTOR;
#ifdef STATX_DIOALIGN
	struct statx sx;
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN))
		v = sx.stx_dio_offset_align;
#endif
	int ss = 0;
	if (!v && S_ISBLK(st->st_mode) && ioctl(fd, BLKSSZGET, &ss) == 0 && ss > 0)
		v = (uint64_t)ss;
	if (!valid_block_size(v)) {
		if (v > RAW_SECTOR)
			log_warn("block: direct I/O alignment %llu not supported; using %u",
				 (unsigned long long)v, RAW_SECTOR);
		return RAW_SECTOR;
	}
	return (uint32_t)v;
}

static int check_type(const char *path, const struct stat *st)
{
	if (S_ISREG(st->st_mode) || S_ISBLK(st->st_mode))
		return 0;
	log_error("block: %s is not a regular file or block device", path);
	return S_ISDIR(st->st_mode) ? -EISDIR : -EINVAL;
}

int blk_raw_open(const char *path, bool read_only, bool direct_io, struct blk_backend **out)
{
	int flags = (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | (direct_io ? O_DIRECT : 0);
	struct raw_backend *r = NULL;
	struct stat st;
	off_t end = -1;
	int ret;

	*out = NULL;
	int fd = open(path, flags);
	if (fd < 0) {
		ret = -errno;
		log_error("block: cannot open %s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0 || (end = lseek(fd, 0, SEEK_END)) < 0) {
		ret = -errno;
		log_error("block: cannot size %s: %s", path, strerror(errno));
		goto fail;
	}
	ret = check_type(path, &st);
	if (ret)
		goto fail;
	ret = -ENOMEM;
	r = calloc(1, sizeof(*r));
	if (!r)
		goto fail;
	r->b.ops = &raw_ops;
	r->b.size = (uint64_t)end;
	r->b.block_size = pick_block_size(fd, &st, direct_io);
	r->b.read_only = read_only;
	blk_make_id(r->b.id, &st);
	r->fd = fd;
	r->direct = direct_io;
	*out = &r->b;
	return 0;
fail:
	close(fd);
	return ret;
}
