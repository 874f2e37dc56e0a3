/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounded decompression of a kernel image (gzip, bzip2, zstd) into host
 * memory.  The input is untrusted: the output never grows past the
 * caller's limit, a stream that ends early or does not decode is refused,
 * and the decoders' own memory is capped (zstd's window, bzip2's block).
 */
#ifndef KRUN_KERNEL_DECOMPRESS_H
#define KRUN_KERNEL_DECOMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum kernel_compression {
	KERNEL_GZIP,
	KERNEL_BZIP2,
	KERNEL_ZSTD,
};

/* Hard cap on a decompressed kernel, whatever the guest's RAM. */
#define KERNEL_DECOMPRESS_MAX	(1ULL << 30)
/* zstd windows up to 128 MiB (what `zstd --ultra -22` uses), no larger. */
#define KERNEL_ZSTD_WINDOW_LOG_MAX	27

/* Output: data[0, len) in an anonymous mapping of map_len bytes. */
struct kernel_blob {
	uint8_t *data;
	size_t len;
	size_t map_len;
};

/* Where the compressed bytes are: a file range or a buffer. */
struct kernel_stream {
	int fd;			/* -1: use buf */
	const uint8_t *buf;
	uint64_t off, end;	/* [off, end) of the file or of buf */
};

/*
 * Decompresses the one stream (gzip member, bzip2 stream, zstd frame) that
 * starts at in->off; bytes after its end are ignored.  max: most output
 * bytes allowed.  prefix: stop successfully after max bytes (to peek at a
 * header) instead of failing.  Returns 0, -EFBIG if the stream decodes to
 * more than max bytes, -ENOEXEC if it is corrupt, truncated or not of that
 * kind, -ENOMEM, or -errno from reading.  On error *out is empty.
 */
int kernel_decompress(const struct kernel_stream *in, enum kernel_compression kind,
		      uint64_t max, bool prefix, struct kernel_blob *out);

void kernel_blob_free(struct kernel_blob *b);

const char *kernel_compression_name(enum kernel_compression kind);

#endif
