// SPDX-License-Identifier: Apache-2.0
#include "kernel/decompress.h"
#include "util/log.h"

#include <bzlib.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define IN_CHUNK	(64 * 1024)
#define PAGE		4096ULL

struct input {
	const struct kernel_stream *s;
	uint64_t pos;
	uint8_t chunk[IN_CHUNK];
};

struct output {
	uint8_t *base;
	size_t cap;	/* room given to the decoder: max, or max + 1 to see overflow */
	size_t len;
	uint64_t max;
	bool prefix;
};

/* The next bytes of the range; *len is 0 at its end (or where the file ends). */
static int next_input(struct input *in, const uint8_t **p, size_t *len)
{
	uint64_t left = in->s->end > in->pos ? in->s->end - in->pos : 0;
	size_t n = left < IN_CHUNK ? (size_t)left : IN_CHUNK;

	*len = 0;
	if (n == 0)
		return 0;
	if (in->s->fd < 0) {
		*p = in->s->buf + in->pos;
	} else {
		ssize_t r;

		do
			r = pread(in->s->fd, in->chunk, n, (off_t)in->pos);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return -errno;
		n = (size_t)r;
		*p = in->chunk;
	}
	in->pos += n;
	*len = n;
	return 0;
}

/* After a decoder step: 1 to go on, else the result. */
static int step_result(const struct output *o, bool ended)
{
	if (o->prefix && o->len >= o->max)
		return 0;
	if (o->len > o->max) {
		log_error("decompressed kernel is larger than the %llu bytes allowed (the guest's "
			  "RAM, at most %llu MiB)", (unsigned long long)o->max,
			  (unsigned long long)(KERNEL_DECOMPRESS_MAX >> 20));
		return -EFBIG;
	}
	return ended ? 0 : 1;
}

/* More input for a decoder that used up what it had: an end here is a cut stream. */
static int refill(struct input *in, const char *what, const uint8_t **p, size_t *n)
{
	int ret = next_input(in, p, n);

	if (!ret && *n == 0) {
		log_error("%s stream ends before its end marker (truncated)", what);
		ret = -ENOEXEC;
	}
	return ret;
}

static int run_gzip(struct input *in, struct output *o)
{
	z_stream z;
	int ret = 1;

	memset(&z, 0, sizeof(z));
	/* 16 + window bits: a gzip header is required, zlib/raw deflate refused. */
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		return -ENOMEM;
	z.next_out = o->base;
	z.avail_out = (uInt)o->cap;
	while (ret == 1) {
		if (z.avail_in == 0) {
			const uint8_t *p = NULL;
			size_t n = 0;

			ret = refill(in, "gzip", &p, &n);
			if (ret)
				break;
			z.next_in = (Bytef *)p;
			z.avail_in = (uInt)n;
		}
		int zr = inflate(&z, Z_NO_FLUSH);

		o->len = o->cap - z.avail_out;
		if (zr != Z_OK && zr != Z_STREAM_END && zr != Z_BUF_ERROR) {
			log_error("gzip stream: %s", z.msg ? z.msg : "corrupt");
			ret = zr == Z_MEM_ERROR ? -ENOMEM : -ENOEXEC;
			break;
		}
		ret = step_result(o, zr == Z_STREAM_END);
	}
	inflateEnd(&z);
	return ret;
}

static int run_bzip2(struct input *in, struct output *o)
{
	bz_stream b;
	int ret = 1;

	memset(&b, 0, sizeof(b));
	/* Not the small-memory mode: at most ~3.6 MiB for a 900k block. */
	if (BZ2_bzDecompressInit(&b, 0, 0) != BZ_OK)
		return -ENOMEM;
	b.next_out = (char *)o->base;
	b.avail_out = (unsigned int)o->cap;
	while (ret == 1) {
		if (b.avail_in == 0) {
			const uint8_t *p = NULL;
			size_t n = 0;

			ret = refill(in, "bzip2", &p, &n);
			if (ret)
				break;
			b.next_in = (char *)p;
			b.avail_in = (unsigned int)n;
		}
		int br = BZ2_bzDecompress(&b);

		o->len = o->cap - b.avail_out;
		if (br != BZ_OK && br != BZ_STREAM_END) {
			log_error("bzip2 stream: %s", br == BZ_MEM_ERROR ? "out of memory"
			          : br == BZ_DATA_ERROR_MAGIC ? "not bzip2 data" : "corrupt");
			ret = br == BZ_MEM_ERROR ? -ENOMEM : -ENOEXEC;
			break;
		}
		ret = step_result(o, br == BZ_STREAM_END);
	}
	BZ2_bzDecompressEnd(&b);
	return ret;
}

static int run_zstd(struct input *in, struct output *o)
{
	ZSTD_DCtx *d = ZSTD_createDCtx();
	ZSTD_outBuffer ob = { o->base, o->cap, 0 };
	ZSTD_inBuffer ib = { NULL, 0, 0 };
	int ret = 1;

	if (!d)
		return -ENOMEM;
	/* A frame may ask for a window of up to 2 GiB of decoder memory. */
	if (ZSTD_isError(ZSTD_DCtx_setParameter(d, ZSTD_d_windowLogMax,
						KERNEL_ZSTD_WINDOW_LOG_MAX))) {
		ZSTD_freeDCtx(d);
		return -ENOMEM;
	}
	while (ret == 1) {
		if (ib.pos == ib.size) {
			const uint8_t *p = NULL;
			size_t n = 0;

			ret = refill(in, "zstd", &p, &n);
			if (ret)
				break;
			ib = (ZSTD_inBuffer){ p, n, 0 };
		}
		size_t zr = ZSTD_decompressStream(d, &ob, &ib);

		o->len = ob.pos;
		if (ZSTD_isError(zr)) {
			log_error("zstd stream: %s", ZSTD_getErrorName(zr));
			ret = -ENOEXEC;
			break;
		}
		/* 0: the frame is decoded and flushed. */
		ret = step_result(o, zr == 0);
	}
	ZSTD_freeDCtx(d);
	return ret;
}

const char *kernel_compression_name(enum kernel_compression kind)
{
	switch (kind) {
	case KERNEL_GZIP: return "gzip";
	case KERNEL_BZIP2: return "bzip2";
	case KERNEL_ZSTD: return "zstd";
	}
	return "?";
}

void kernel_blob_free(struct kernel_blob *b)
{
	if (b->data)
		munmap(b->data, b->map_len);
	memset(b, 0, sizeof(*b));
}

int kernel_decompress(const struct kernel_stream *in, enum kernel_compression kind,
		      uint64_t max, bool prefix, struct kernel_blob *out)
{
	struct output o = { .max = max, .prefix = prefix };
	struct input *inp;
	int ret;

	memset(out, 0, sizeof(*out));
	if (max == 0 || max > KERNEL_DECOMPRESS_MAX || in->off > in->end)
		return -EINVAL;
	o.cap = (size_t)(prefix ? max : max + 1);
	size_t map_len = (o.cap + PAGE - 1) & ~(PAGE - 1);
	/* Reserved, not committed: only what the stream writes costs memory. */
	o.base = mmap(NULL, map_len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (o.base == MAP_FAILED)
		return -ENOMEM;
	inp = malloc(sizeof(*inp));
	if (!inp) {
		munmap(o.base, map_len);
		return -ENOMEM;
	}
	inp->s = in;
	inp->pos = in->off;
	switch (kind) {
	case KERNEL_GZIP: ret = run_gzip(inp, &o); break;
	case KERNEL_BZIP2: ret = run_bzip2(inp, &o); break;
	case KERNEL_ZSTD: ret = run_zstd(inp, &o); break;
	default: ret = -EINVAL; break;
	}
	free(inp);
	if (ret) {
		munmap(o.base, map_len);
		return ret;
	}
	*out = (struct kernel_blob){ .data = o.base, .len = o.len, .map_len = map_len };
	if (prefix && out->len > max)
		out->len = (size_t)max;
	return 0;
}
