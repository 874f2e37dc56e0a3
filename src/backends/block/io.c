// SPDX-License-Identifier: Apache-2.0
#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../util/iov.h"
#include "../../util/log.h"

/* Segments handed to one preadv/pwritev (a chain has at most a few hundred). */
#define IO_IOV_BATCH 64

int blk_io_xfer(int fd, const struct iovec *iov, unsigned int cnt, size_t total, uint64_t off,
		bool write, size_t *done)
{
	struct iovec cur[IO_IOV_BATCH];

	while (*done < total) {
		size_t got;
		unsigned int n = iov_slice(iov, cnt, *done, total - *done, cur, IO_IOV_BATCH,
					   &got);
		off_t pos = (off_t)(off + *done);
		ssize_t r = write ? pwritev(fd, cur, (int)n, pos) : preadv(fd, cur, (int)n, pos);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return write ? -EIO : 0;
		*done += (size_t)r;
	}
	return 0;
}

void blk_iov_zero(const struct iovec *iov, unsigned int cnt, size_t off, size_t len)
{
	struct iovec cur[IO_IOV_BATCH];

	while (len) {
		size_t got;
		unsigned int n = iov_slice(iov, cnt, off, len, cur, IO_IOV_BATCH, &got);

		if (!got)
			return;
		for (unsigned int i = 0; i < n; i++)
			memset(cur[i].iov_base, 0, cur[i].iov_len);
		off += got;
		len -= got;
	}
}

/* A sub-list describing [pos, pos + len) of iov; bounded by IO_IOV_BATCH
 * segments per call, so long lists are moved in several passes. */
static int xfer_part(int fd, const struct iovec *iov, unsigned int cnt, size_t pos, size_t len,
		     uint64_t off, bool write)
{
	struct iovec cur[IO_IOV_BATCH];

	while (len) {
		size_t got, done = 0;
		unsigned int n = iov_slice(iov, cnt, pos, len, cur, IO_IOV_BATCH, &got);

		if (!got)
			return -EIO;
		int ret = blk_io_xfer(fd, cur, n, got, off, write, &done);
		if (ret)
			return ret;
		if (done < got)	/* end of file: the rest reads as zeros */
			blk_iov_zero(cur, n, done, got - done);
		pos += got;
		off += got;
		len -= got;
	}
	return 0;
}

int blk_io_preadv(int fd, const struct iovec *iov, unsigned int cnt, size_t pos, size_t len,
		  uint64_t off)
{
	return xfer_part(fd, iov, cnt, pos, len, off, false);
}

int blk_io_pwritev(int fd, const struct iovec *iov, unsigned int cnt, size_t pos, size_t len,
		   uint64_t off)
{
	return xfer_part(fd, iov, cnt, pos, len, off, true);
}

int blk_io_pread(int fd, void *buf, size_t len, uint64_t off)
{
	struct iovec one = { buf, len };

	return xfer_part(fd, &one, 1, 0, len, off, false);
}

int blk_io_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	struct iovec one = { (void *)buf, len };

	return xfer_part(fd, &one, 1, 0, len, off, true);
}

int blk_io_sync(int fd, bool full)
{
	int ret;

	do
		ret = full ? fsync(fd) : fdatasync(fd);
	while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : 0;
}

/* Inode first so that truncation to BLK_ID_LEN drops device digits rather
 * than inode ones. */
void blk_make_id(char id[BLK_ID_LEN], const struct stat *st)
{
	char buf[64];
	int n;

	if (S_ISBLK(st->st_mode))
		n = snprintf(buf, sizeof(buf), "krun-blk-%llx", (unsigned long long)st->st_rdev);
	else
		n = snprintf(buf, sizeof(buf), "krun-%llx-%llx", (unsigned long long)st->st_ino,
			     (unsigned long long)st->st_dev);
	memset(id, 0, BLK_ID_LEN);
	memcpy(id, buf, n < BLK_ID_LEN ? (size_t)n : BLK_ID_LEN);
}

int blk_io_open_ro(const char *path, int *fd, struct stat *st)
{
	if (stat(path, st) < 0) {
		int err = errno;
		log_error("block: %s: %s", path, strerror(err));
		return -err;
	}
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode)) {
		log_error("block: %s is not a regular file or block device", path);
		return -EINVAL;
	}
	*fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (*fd < 0 || fstat(*fd, st) < 0) {
		int err = errno;
		log_error("block: cannot open %s: %s", path, strerror(err));
		if (*fd >= 0)
			close(*fd);
		return -err;
	}
	/* Swapped for something else between stat and open. */
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode)) {
		close(*fd);
		log_error("block: %s is not a regular file or block device", path);
		return -EINVAL;
	}
	return 0;
}

char *blk_relative_path(const char *base, const char *name)
{
	if (name[0] == '/')
		return strdup(name);
	const char *slash = strrchr(base, '/');
	size_t dir = slash ? (size_t)(slash - base) + 1 : 0;
	size_t n = strlen(name);
	char *p = malloc(dir + n + 1);

	if (!p)
		return NULL;
	memcpy(p, base, dir);
	memcpy(p + dir, name, n + 1);
	return p;
}
