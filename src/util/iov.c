// SPDX-License-Identifier: Apache-2.0
/*
 * Byte-offset access to scatter lists.  Virtqueue buffers may be split
 * across descriptors at any byte, so nothing here assumes that a struct
 * lies within one segment.
 */
#include <string.h>

#include "iov.h"

#include <stdint.h>

size_t iov_total(const struct iovec *iov, unsigned int cnt)
{
	size_t total = 0;

	for (unsigned int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > SIZE_MAX - total)
			return SIZE_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

/* Skips to byte off; returns the segment index and sets *seg_off. */
static unsigned int iov_seek(const struct iovec *iov, unsigned int cnt, size_t off,
			     size_t *seg_off)
{
	unsigned int i = 0;

	while (i < cnt && off >= iov[i].iov_len) {
		off -= iov[i].iov_len;
		i++;
	}
	*seg_off = off;
	return i;
}

size_t iov_read(const struct iovec *iov, unsigned int cnt, size_t off, void *dst, size_t len)
{
	size_t so, done = 0;
	unsigned int i = iov_seek(iov, cnt, off, &so);

	for (; i < cnt && done < len; i++, so = 0) {
		size_t n = iov[i].iov_len - so;

		if (n > len - done)
			n = len - done;
		memcpy((char *)dst + done, (const char *)iov[i].iov_base + so, n);
		done += n;
	}
	return done;
}

size_t iov_write(const struct iovec *iov, unsigned int cnt, size_t off, const void *src,
		    size_t len)
{
	size_t so, done = 0;
	unsigned int i = iov_seek(iov, cnt, off, &so);

	for (; i < cnt && done < len; i++, so = 0) {
		size_t n = iov[i].iov_len - so;

		if (n > len - done)
			n = len - done;
		memcpy((char *)iov[i].iov_base + so, (const char *)src + done, n);
		done += n;
	}
	return done;
}

/* Describes bytes [off, off + len) of iov in dst (at most max entries) so
 * that the kernel can move data straight to or from guest memory. */
unsigned int iov_slice(const struct iovec *iov, unsigned int cnt, size_t off, size_t len,
			  struct iovec *dst, unsigned int max, size_t *got)
{
	size_t so, done = 0;
	unsigned int n = 0;
	unsigned int i = iov_seek(iov, cnt, off, &so);

	for (; i < cnt && done < len && n < max; i++, so = 0) {
		size_t seg = iov[i].iov_len - so;

		if (seg == 0)
			continue;
		if (seg > len - done)
			seg = len - done;
		dst[n].iov_base = (char *)iov[i].iov_base + so;
		dst[n].iov_len = seg;
		n++;
		done += seg;
	}
	*got = done;
	return n;
}
