// SPDX-License-Identifier: Apache-2.0
/*
 * qcow2 image parser and I/O: the input is a script of up to 8 operations
 * (its first 64 bytes) followed by the image file, which lives in a memfd.
 * The image is opened read-write or read-only (backing files refused: the
 * fuzzer must not reach host files), then read, written, zeroed, discarded
 * and flushed at offsets the script picks.  Invariants: nothing crashes or
 * leaks, the header fields that locate the image (magic..L1 offset) are
 * never overwritten, a read-only image is not modified at all, and reads of
 * a range just written return what was written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/block/image.h"
#include "fuzz_input.h"
#include "util/log.h"

#define SCRIPT 64
#define MAX_LEN (16u << 10)

static uint8_t wbuf[MAX_LEN], rbuf[MAX_LEN];

static void run_op(struct blk_backend *b, struct reader *r)
{
	uint8_t op = get8(r) % 5;
	uint64_t len = (get16(r) % (MAX_LEN / 512) + 1) * 512ull;
	uint64_t off = (uint64_t)get32(r) * 512;
	struct iovec iov = { wbuf, len };

	if (b->size < len)
		return;
	off %= b->size - len + 1;
	switch (op) {
	case 0:
		iov.iov_base = rbuf;
		b->ops->preadv(b, &iov, 1, off);
		break;
	case 1:
		memset(wbuf, get8(r) | 1, len);
		if (b->ops->pwritev(b, &iov, 1, off) == 0 && !b->read_only) {
			iov.iov_base = rbuf;
			check(b->ops->preadv(b, &iov, 1, off) == 0);
			check(memcmp(rbuf, wbuf, len) == 0);
		}
		break;
	case 2:
		b->ops->write_zeroes(b, off, len, get8(r) & 1);
		break;
	case 3:
		b->ops->discard(b, off, len);
		break;
	case 4:
		b->ops->flush(b, false);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	if (!quiet++)
		krun_log_configure(2, LOG_LVL_OFF);
	if (size < SCRIPT + 72)
		return 0;
	struct reader r = { data, SCRIPT };
	const uint8_t *img = data + SCRIPT;
	size_t img_len = size - SCRIPT;
	bool ro = get8(&r) & 1;
	int fd = memfd_create("qcow2", MFD_CLOEXEC);
	char path[64];
	require(fd >= 0);
	require(write(fd, img, img_len) == (ssize_t)img_len);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	struct blk_backend *b = NULL;
	if (blk_qcow2_open(path, ro, 0, &b) == 0) {
		for (int i = 0; i < 8; i++)
			run_op(b, &r);
		b->ops->close(b);
	}
	uint8_t head[48];
	struct stat st;
	require(pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head));
	check(memcmp(head, img, sizeof(head)) == 0);
	require(fstat(fd, &st) == 0);
	check((uint64_t)st.st_size >= img_len);
	if (ro) {
		static uint8_t after[1 << 16];
		size_t n = img_len < sizeof(after) ? img_len : sizeof(after);
		check((uint64_t)st.st_size == img_len);
		require(pread(fd, after, n, 0) == (ssize_t)n);
		check(memcmp(after, img, n) == 0);
	}
	close(fd);
	return 0;
}
