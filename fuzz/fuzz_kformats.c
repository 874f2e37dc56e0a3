// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: krun_set_kernel's compressed formats (IMAGE_GZ, _BZ2,
 * _ZSTD, PE_GZ) through the bounded decompressors and the ELF loader
 * behind them, over fake guest RAM ending at a PROT_NONE guard page.
 *
 * Input (missing bytes read as 0):
 *   byte 0  bits 0-1: the compression (gzip, bzip2, zstd, 3: gzip in a
 *           zboot PE file), bit 2: the rest of the input is the plain
 *           image and the harness compresses it with the real library
 *           (else the rest is the compressed file as it is), bit 3: cut
 *           byte 1 * 7 bytes off the compressed stream's end, bit 4: PE
 *           without the zboot header (upstream's magic scan finds it)
 *   byte 1  the cut; bits 0-3 also pick the output cap: (1 + n) * 16 KiB
 *   rest    the image
 *
 * Checks (__builtin_trap): kernel_decompress() gives 0 with exactly the
 * original bytes for a whole stream the harness made that fits the cap,
 * -EFBIG for one that does not, and otherwise only 0, -ENOEXEC or -EFBIG
 * with never more than the cap; kernel_load_format() returns only the
 * documented errors, loads nothing outside RAM, and succeeds only when
 * kernel_check_format() accepts the same file.
 */
#include <bzlib.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <libkrun.h>

#include "kernel/decompress.h"
#include "kernel/formats.h"
#include "vmm/guest_mem.h"
#include "fuzz_input.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KIB 1024ULL
#define MIB (1024 * KIB)
#define RAM_SIZE (32 * MIB)
#define IMG_MAX (256 * KIB)
#define OUT_MAX (IMG_MAX + IMG_MAX / 8 + 4096)
#define PE_HDR 0x200

struct fuzz_state {
	uint8_t *ram;
	int fd;
	uint8_t comp[OUT_MAX + PE_HDR];
};

static struct fuzz_state *state;

static struct fuzz_state *setup(void)
{
	static struct fuzz_state s;

	krun_log_configure(2, LOG_LVL_OFF);
	s.ram = mmap(NULL, RAM_SIZE + 4096, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	require(s.ram != MAP_FAILED);
	require(mprotect(s.ram + RAM_SIZE, 4096, PROT_NONE) == 0);
	s.fd = memfd_create("krun-fuzz-kformats", MFD_CLOEXEC);
	require(s.fd >= 0);
	return &s;
}

/* The real library's stream for in[0, len) into out; its length. */
static size_t compress_with(enum kernel_compression k, const uint8_t *in, size_t len,
			    uint8_t *out, size_t cap)
{
	if (k == KERNEL_GZIP) {
		z_stream z;

		memset(&z, 0, sizeof(z));
		require(deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8,
				     Z_DEFAULT_STRATEGY) == Z_OK);
		z.next_in = (Bytef *)in;
		z.avail_in = (uInt)len;
		z.next_out = out;
		z.avail_out = (uInt)cap;
		require(deflate(&z, Z_FINISH) == Z_STREAM_END);
		size_t n = z.total_out;

		deflateEnd(&z);
		return n;
	}
	if (k == KERNEL_BZIP2) {
		unsigned int n = (unsigned int)cap;

		require(BZ2_bzBuffToBuffCompress((char *)out, &n, (char *)in,
						 (unsigned int)len, 1, 0, 0) == BZ_OK);
		return n;
	}
	size_t n = ZSTD_compress(out, cap, in, len, 1);

	require(!ZSTD_isError(n));
	return n;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* A zboot (or, plain, a bare MZ) header before the payload. */
static void pe_header(uint8_t *h, size_t payload_len, bool zboot)
{
	memset(h, 0, PE_HDR);
	h[0] = 'M';
	h[1] = 'Z';
	if (zboot) {
		memcpy(h + 4, "zimg", 4);
		put32(h + 8, PE_HDR);
		put32(h + 12, (uint32_t)payload_len);
		memcpy(h + 0x18, "gzip", 4);
	}
}

static void check_decompress(const uint8_t *stream, size_t len, enum kernel_compression k,
			     uint64_t max, const uint8_t *orig, size_t orig_len, bool whole)
{
	struct kernel_stream s = { .fd = -1, .buf = stream, .off = 0, .end = len };
	struct kernel_blob out;
	int ret = kernel_decompress(&s, k, max, false, &out);

	if (whole)
		check(orig_len <= max ? ret == 0 : ret == -EFBIG);
	check(ret == 0 || ret == -ENOEXEC || ret == -EFBIG);
	if (ret == 0) {
		check(out.len <= max);
		if (whole)
			check(out.len == orig_len && !memcmp(out.data, orig, orig_len));
		kernel_blob_free(&out);
	} else {
		check(out.data == NULL && out.len == 0);
	}
}

static void check_load(struct fuzz_state *s, const uint8_t *file, size_t len, uint32_t fmt,
		       uint64_t max)
{
	struct guest_mem gm;
	struct kernel_loaded k;

	require(ftruncate(s->fd, 0) == 0);
	require(pwrite(s->fd, file, len, 0) == (ssize_t)len);
	memset(&gm, 0, sizeof(gm));
	require(gm_add_region(&gm, 0, s->ram, RAM_SIZE, false) == 0);
	int checked = kernel_check_format(s->fd, fmt);
	int ret = kernel_load_format(&gm, s->fd, fmt, max, &k);

	check(checked == 0 || checked == -ENOEXEC || checked == -ENOTSUP ||
	      checked == -EFBIG);
	check(ret == 0 || ret == -ENOEXEC || ret == -ENOTSUP || ret == -EFBIG ||
	      ret == -EFAULT);
	if (ret == 0) {
		check(checked == 0);
		check(gm_ptr(&gm, k.entry, 1) != NULL);
		check(k.end > k.entry && k.end <= RAM_SIZE);
		check(!k.have_hdr);
	}
}

static const uint32_t formats[] = {
	KRUN_KERNEL_FORMAT_IMAGE_GZ, KRUN_KERNEL_FORMAT_IMAGE_BZ2,
	KRUN_KERNEL_FORMAT_IMAGE_ZSTD, KRUN_KERNEL_FORMAT_PE_GZ,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };

	if (!state)
		state = setup();
	uint8_t mode = get8(&r), arg = get8(&r);
	unsigned int which = mode & 3;
	enum kernel_compression k = which == 3 ? KERNEL_GZIP : (enum kernel_compression)which;
	uint64_t max = (1 + (arg & 15)) * 16 * KIB;
	size_t img_len = r.left > IMG_MAX ? IMG_MAX : r.left;
	uint8_t *stream = state->comp + (which == 3 ? PE_HDR : 0);
	size_t len;
	bool whole = mode & 4;

	if (whole) {
		len = compress_with(k, r.p, img_len, stream, OUT_MAX);
	} else {
		len = img_len;
		memcpy(stream, r.p, len);
	}
	if (mode & 8) {
		size_t cut = (size_t)arg * 7;

		len = cut < len ? len - cut : 0;
		whole = whole && cut == 0;
	}
	check_decompress(stream, len, k, max, r.p, img_len, whole);
	if (which == 3)
		pe_header(state->comp, len, !(mode & 16));
	check_load(state, state->comp, len + (which == 3 ? PE_HDR : 0), formats[which], max);
	return 0;
}
