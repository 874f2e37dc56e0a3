/* SPDX-License-Identifier: Apache-2.0 */
/* Copies to, from and within scatter lists (struct iovec arrays). */
#ifndef KRUN_IOV_H
#define KRUN_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Sum of the segment lengths, saturating at SIZE_MAX. */
size_t iov_total(const struct iovec *iov, unsigned int cnt);
/* Copy between a flat buffer and bytes [off, off + len) of the list; they
 * return how many bytes were copied (short when the list is). */
size_t iov_read(const struct iovec *iov, unsigned int cnt, size_t off, void *dst, size_t len);
size_t iov_write(const struct iovec *iov, unsigned int cnt, size_t off, const void *src,
		 size_t len);
/* Describes bytes [off, off + len) of iov in dst (at most max entries);
 * *got is how many bytes they cover. */
unsigned int iov_slice(const struct iovec *iov, unsigned int cnt, size_t off, size_t len,
		       struct iovec *dst, unsigned int max, size_t *got);

#endif
