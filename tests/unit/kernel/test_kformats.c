// SPDX-License-Identifier: Apache-2.0
/*
 * krun_set_kernel's compressed and RAW formats: the bounded decompressors
 * over good, truncated, corrupt, wrong-kind and bomb input, and the format
 * layer (payload search, zboot PE header, flat RAW images) over guest RAM.
 * Compressed test data is made here with the same libraries.
 */
#include "../test.h"
#include "elf_fixture.h"
#include "kernel/decompress.h"
#include "kernel/formats.h"
#include "kernel/loader.h"
#include "util/log.h"
#include "vmm/guest_mem.h"

#include <libkrun.h>

#include <bzlib.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#define KIB 1024ULL
#define MIB (1024 * KIB)
#define KLOAD 0x1000000ULL
#define KVIRT 0xffffffff81000000ULL

static const enum kernel_compression kinds[] = { KERNEL_GZIP, KERNEL_BZIP2, KERNEL_ZSTD };
#define NR_KINDS 3

static const uint32_t image_format[] = {
	KRUN_KERNEL_FORMAT_IMAGE_GZ, KRUN_KERNEL_FORMAT_IMAGE_BZ2, KRUN_KERNEL_FORMAT_IMAGE_ZSTD,
};

struct buf {
	uint8_t *p;
	size_t len;
};

static struct buf gzip_of(const uint8_t *in, size_t len)
{
	struct buf b = { malloc(len + len / 100 + 1024), 0 };
	z_stream z;

	memset(&z, 0, sizeof(z));
	CHECK(deflateInit2(&z, 9, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = b.p;
	z.avail_out = (uInt)(len + len / 100 + 1024);
	CHECK(deflate(&z, Z_FINISH) == Z_STREAM_END);
	b.len = z.total_out;
	deflateEnd(&z);
	return b;
}

static struct buf bzip2_of(const uint8_t *in, size_t len)
{
	unsigned int out_len = (unsigned int)(len + len / 100 + 1024);
	struct buf b = { malloc(out_len), 0 };

	CHECK(BZ2_bzBuffToBuffCompress((char *)b.p, &out_len, (char *)in, (unsigned int)len,
				       9, 0, 0) == BZ_OK);
	b.len = out_len;
	return b;
}

static struct buf zstd_of(const uint8_t *in, size_t len)
{
	size_t cap = ZSTD_compressBound(len);
	struct buf b = { malloc(cap), 0 };

	b.len = ZSTD_compress(b.p, cap, in, len, 3);
	CHECK(!ZSTD_isError(b.len));
	return b;
}

static struct buf compress_as(enum kernel_compression k, const uint8_t *in, size_t len)
{
	return k == KERNEL_GZIP ? gzip_of(in, len) : k == KERNEL_BZIP2 ? bzip2_of(in, len)
								  : zstd_of(in, len);
}

static int decompress_buf(enum kernel_compression k, const uint8_t *in, size_t len,
			  uint64_t max, bool prefix, struct kernel_blob *out)
{
	struct kernel_stream s = { .fd = -1, .buf = in, .off = 0, .end = len };

	return kernel_decompress(&s, k, max, prefix, out);
}

/* Compressible but not trivial: text-like with some variety. */
static uint8_t *sample(size_t len)
{
	uint8_t *p = malloc(len);

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)("kernel image "[i % 13] ^ ((i >> 10) & 7));
	return p;
}

static void test_round_trip(void)
{
	const size_t len = 300 * KIB;
	uint8_t *data = sample(len);

	for (int i = 0; i < NR_KINDS; i++) {
		struct buf c = compress_as(kinds[i], data, len);
		struct kernel_blob out;

		CHECK_EQ(decompress_buf(kinds[i], c.p, c.len, len, false, &out), 0);
		CHECK_EQ(out.len, len);
		CHECK(out.data && memcmp(out.data, data, len) == 0);
		kernel_blob_free(&out);
		/* One byte of room short: refused, not cut. */
		CHECK_EQ(decompress_buf(kinds[i], c.p, c.len, len - 1, false, &out), -EFBIG);
		CHECK(out.data == NULL && out.len == 0);
		/* A peek at the start stops early and succeeds. */
		CHECK_EQ(decompress_buf(kinds[i], c.p, c.len, 64, true, &out), 0);
		CHECK_EQ(out.len, 64);
		CHECK(memcmp(out.data, data, 64) == 0);
		kernel_blob_free(&out);
		free(c.p);
	}
	free(data);
}

static void test_truncated(void)
{
	const size_t len = 100 * KIB;
	uint8_t *data = sample(len);

	for (int i = 0; i < NR_KINDS; i++) {
		struct buf c = compress_as(kinds[i], data, len);
		struct kernel_blob out;

		/* Every cut short of the end marker, densely near both ends. */
		for (size_t cut = 0; cut < c.len; cut += cut < 64 || c.len - cut < 64 ? 1 : 97) {
			int ret = decompress_buf(kinds[i], c.p, cut, len, false, &out);

			if (ret != -ENOEXEC)
				fprintf(stderr, "  %s cut at %zu of %zu: %d\n",
					kernel_compression_name(kinds[i]), cut, c.len, ret);
			CHECK_EQ(ret, -ENOEXEC);
		}
		free(c.p);
	}
	free(data);
}

static void test_garbage_and_wrong_kind(void)
{
	static uint8_t junk[4096];
	struct kernel_blob out;
	uint32_t seed = 7;

	for (size_t i = 0; i < sizeof(junk); i++) {
		seed = seed * 1103515245u + 12345u;
		junk[i] = (uint8_t)(seed >> 16);
	}
	uint8_t *data = sample(10 * KIB);

	for (int i = 0; i < NR_KINDS; i++) {
		CHECK_EQ(decompress_buf(kinds[i], junk, sizeof(junk), MIB, false, &out), -ENOEXEC);
		CHECK_EQ(decompress_buf(kinds[i], junk, 0, MIB, false, &out), -ENOEXEC);
		struct buf c = compress_as(kinds[i], data, 10 * KIB);

		for (int j = 0; j < NR_KINDS; j++)
			if (j != i)
				CHECK_EQ(decompress_buf(kinds[j], c.p, c.len, MIB, false, &out),
					 -ENOEXEC);
		free(c.p);
	}
	/* A zlib (not gzip) stream is not what IMAGE_GZ means. */
	uLongf zlen = compressBound(10 * KIB);
	uint8_t *z = malloc(zlen);

	CHECK(compress(z, &zlen, data, 10 * KIB) == Z_OK);
	CHECK_EQ(decompress_buf(KERNEL_GZIP, z, zlen, MIB, false, &out), -ENOEXEC);
	free(z);
	free(data);
}

/* 64 MiB of zeros in at most 256 KiB: refused at the cap, quickly. */
static void test_bombs(void)
{
	const size_t len = 64 * MIB;
	uint8_t *zeros = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	CHECK(zeros != MAP_FAILED);
	for (int i = 0; i < NR_KINDS; i++) {
		struct buf c = compress_as(kinds[i], zeros, len);
		struct kernel_blob out;

		CHECK(c.len < len / 256);
		CHECK_EQ(decompress_buf(kinds[i], c.p, c.len, 8 * MIB, false, &out), -EFBIG);
		CHECK(out.data == NULL);
		free(c.p);
	}
	munmap(zeros, len);
	struct kernel_blob out;
	uint8_t one = 0;

	CHECK_EQ(decompress_buf(KERNEL_GZIP, &one, 1, 0, false, &out), -EINVAL);
	CHECK_EQ(decompress_buf(KERNEL_GZIP, &one, 1, KERNEL_DECOMPRESS_MAX + 1, false, &out),
		 -EINVAL);
}

/*
 * A frame asking for a 1 GiB window is refused, not allocated: a header
 * (no content size, window descriptor exponent 20: 2^30) and one raw
 * last block of one byte.
 */
static void test_zstd_window_limit(void)
{
	static const uint8_t frame[] = { 0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3,
					 0x09, 0x00, 0x00, 'x' };
	static const uint8_t small[] = { 0x28, 0xb5, 0x2f, 0xfd, 0x00, 10 << 3,
					 0x09, 0x00, 0x00, 'x' };
	struct kernel_blob out;

	CHECK_EQ(decompress_buf(KERNEL_ZSTD, frame, sizeof(frame), MIB, false, &out), -ENOEXEC);
	/* The same frame with a 1 MiB window decodes: the header was the reason. */
	CHECK_EQ(decompress_buf(KERNEL_ZSTD, small, sizeof(small), MIB, false, &out), 0);
	CHECK(out.len == 1 && out.data[0] == 'x');
	kernel_blob_free(&out);
}

/* Flipped bytes anywhere: a result or a refusal, never a crash or overrun. */
static void test_corruption(void)
{
	const size_t len = 64 * KIB;
	uint8_t *data = sample(len);
	uint32_t seed = 99;

	for (int i = 0; i < NR_KINDS; i++) {
		struct buf c = compress_as(kinds[i], data, len);
		uint8_t *m = malloc(c.len);

		for (int round = 0; round < 200; round++) {
			memcpy(m, c.p, c.len);
			for (int k = 0; k < 3; k++) {
				seed = seed * 1103515245u + 12345u;
				m[(seed >> 8) % c.len] ^= (uint8_t)(1 + (seed >> 20) % 255);
			}
			struct kernel_blob out;
			int ret = decompress_buf(kinds[i], m, c.len, len, false, &out);

			CHECK(ret == 0 || ret == -ENOEXEC || ret == -EFBIG);
			if (ret == 0) {
				CHECK(out.len <= len);
				kernel_blob_free(&out);
			}
		}
		free(m);
		free(c.p);
	}
	free(data);
}

static int file_with(const void *a, size_t alen, const void *b, size_t blen)
{
	char path[] = "/tmp/krun-kformats-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (write(fd, a, alen) != (ssize_t)alen || (blen && write(fd, b, blen) != (ssize_t)blen)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A stream in the middle of a file: [off, end), bytes after it ignored. */
static void test_file_range(void)
{
	const size_t len = 50 * KIB;
	uint8_t *data = sample(len);
	struct buf c = zstd_of(data, len);
	uint8_t pad[300];

	memset(pad, 0xee, sizeof(pad));
	uint8_t *whole = malloc(sizeof(pad) + c.len + sizeof(pad));

	memcpy(whole, pad, sizeof(pad));
	memcpy(whole + sizeof(pad), c.p, c.len);
	memcpy(whole + sizeof(pad) + c.len, pad, sizeof(pad));
	int fd = file_with(whole, sizeof(pad) * 2 + c.len, NULL, 0);
	struct kernel_stream s = { .fd = fd, .off = sizeof(pad), .end = sizeof(pad) * 2 + c.len };
	struct kernel_blob out;

	CHECK(fd >= 0);
	CHECK_EQ(kernel_decompress(&s, KERNEL_ZSTD, len, false, &out), 0);
	CHECK(out.len == len && memcmp(out.data, data, len) == 0);
	kernel_blob_free(&out);
	s.end = sizeof(pad) + c.len - 1;
	CHECK_EQ(kernel_decompress(&s, KERNEL_ZSTD, len, false, &out), -ENOEXEC);
	s.off = s.end + 1;
	CHECK_EQ(kernel_decompress(&s, KERNEL_ZSTD, len, false, &out), -EINVAL);
	close(fd);
	free(whole);
	free(c.p);
	free(data);
}

/* ---- the format layer -------------------------------------------------- */

static uint8_t elf_img[0x4000];

/* A two-segment vmlinux-like ELF (as in test_loader.c). */
static void make_elf(void)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)elf_img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(elf_img + sizeof(*eh));

	memset(elf_img, 0, sizeof(elf_img));
	fill_vmlinux_ehdr(eh, KLOAD + 0x40, 2);
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x1000, .p_vaddr = KVIRT,
			      .p_paddr = KLOAD, .p_filesz = 0x2000, .p_memsz = 0x3000 };
	ph[1] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_offset = 0x3000, .p_vaddr = KVIRT + 0x4000,
			      .p_paddr = KLOAD + 0x4000, .p_filesz = 0x100, .p_memsz = 0x100 };
	for (size_t i = 0x1000; i < 0x3100; i++)
		elf_img[i] = (uint8_t)(i * 13);
}

static void new_ram(struct guest_mem *gm, uint64_t size)
{
	memset(gm, 0, sizeof(*gm));
	CHECK_EQ(gm_alloc_region(gm, 0, size), 0);
}

/* The ELF's segments where make_elf() put them. */
static bool elf_loaded(const struct guest_mem *gm)
{
	const uint8_t *k = gm_ptr(gm, KLOAD, 0x4100);

	return k && !memcmp(k, elf_img + 0x1000, 0x2000) &&
	       !memcmp(k + 0x4000, elf_img + 0x3000, 0x100);
}

static int load_fd(int fd, uint32_t fmt, uint64_t ram, uint64_t max, struct kernel_loaded *k)
{
	struct guest_mem gm;

	new_ram(&gm, ram);
	int ret = kernel_load_format(&gm, fd, fmt, max, k);

	if (ret == 0 && k->entry == KLOAD + 0x40)
		CHECK(elf_loaded(&gm));
	gm_destroy(&gm);
	return ret;
}

static void test_image_formats(void)
{
	static const uint8_t junk[] = "a header the scan skips over, with a decoy \x1f\x8b\x08";

	make_elf();
	for (int i = 0; i < NR_KINDS; i++) {
		struct buf c = compress_as(kinds[i], elf_img, sizeof(elf_img));
		struct kernel_loaded k;
		int fd = file_with(c.p, c.len, NULL, 0);

		CHECK_EQ(kernel_check_format(fd, image_format[i]), 0);
		CHECK_EQ(load_fd(fd, image_format[i], 64 * MIB, 64 * MIB, &k), 0);
		CHECK_EQ(k.entry, KLOAD + 0x40);
		CHECK_EQ(k.end, KLOAD + 0x4100);
		CHECK(!k.have_hdr);
		/* Decompressing to more than the cap is refused. */
		CHECK_EQ(load_fd(fd, image_format[i], 64 * MIB, sizeof(elf_img) - 1, &k), -EFBIG);
		/* Another kind's format finds no stream of its own. */
		CHECK(kernel_check_format(fd, image_format[(i + 1) % NR_KINDS]) < 0);
		/* Not a kernel format: ELF and RAW refuse a compressed file. */
		CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_ELF), -ENOEXEC);
		CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_RAW), -ENOEXEC);
		close(fd);

		/* Upstream's rule: the first magic in the file starts the stream. */
		fd = file_with(junk, sizeof(junk) - 1, c.p, c.len);
		CHECK_EQ(kernel_check_format(fd, image_format[i]), i == 0 ? -ENOEXEC : 0);
		CHECK_EQ(load_fd(fd, image_format[i], 64 * MIB, 64 * MIB, &k), i == 0 ? -ENOEXEC : 0);
		close(fd);
		fd = file_with("MZ padding ", 11, c.p, c.len);
		CHECK_EQ(load_fd(fd, image_format[i], 64 * MIB, 64 * MIB, &k), 0);
		close(fd);
		free(c.p);
	}
}

static void test_image_not_elf(void)
{
	uint8_t *data = sample(8 * KIB);
	struct buf c = gzip_of(data, 8 * KIB);
	int fd = file_with(c.p, c.len, NULL, 0);
	struct kernel_loaded k;

	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_IMAGE_GZ), -ENOEXEC);
	CHECK_EQ(load_fd(fd, KRUN_KERNEL_FORMAT_IMAGE_GZ, 64 * MIB, 64 * MIB, &k), -ENOEXEC);
	close(fd);
	/* An ELF for another machine is not loaded either. */
	make_elf();
	((Elf64_Ehdr *)elf_img)->e_machine = EM_AARCH64;
	free(c.p);
	c = gzip_of(elf_img, sizeof(elf_img));
	fd = file_with(c.p, c.len, NULL, 0);
	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_IMAGE_GZ), -ENOEXEC);
	close(fd);
	/* A truncated stream passes the cheap check, fails the load. */
	make_elf();
	free(c.p);
	c = gzip_of(elf_img, sizeof(elf_img));
	fd = file_with(c.p, c.len - 10, NULL, 0);
	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_IMAGE_GZ), 0);
	CHECK_EQ(load_fd(fd, KRUN_KERNEL_FORMAT_IMAGE_GZ, 64 * MIB, 64 * MIB, &k), -ENOEXEC);
	close(fd);
	free(c.p);
	free(data);
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* An EFI zboot image's header: MZ, "zimg", payload offset and size, type. */
static size_t zboot_image(uint8_t *out, const struct buf *payload, const char *type)
{
	const size_t off = 0x200;

	memset(out, 0, off);
	out[0] = 'M';
	out[1] = 'Z';
	memcpy(out + 4, "zimg", 4);
	put32(out + 8, (uint32_t)off);
	put32(out + 12, (uint32_t)payload->len);
	strcpy((char *)out + 0x18, type);
	put32(out + 0x3c, 0x80);
	memcpy(out + 0x80, "PE\0\0", 4);
	/* A decoy gzip magic before the payload: the header wins over a scan. */
	memcpy(out + 0x100, "\x1f\x8b\x08", 3);
	memcpy(out + off, payload->p, payload->len);
	return off + payload->len;
}

static void test_pe_gz(void)
{
	struct kernel_loaded k;

	make_elf();
	struct buf c = gzip_of(elf_img, sizeof(elf_img));
	uint8_t *img = malloc(0x200 + c.len + 64);
	size_t n = zboot_image(img, &c, "gzip");
	int fd = file_with(img, n, NULL, 0);

	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_PE_GZ), 0);
	CHECK_EQ(load_fd(fd, KRUN_KERNEL_FORMAT_PE_GZ, 64 * MIB, 64 * MIB, &k), 0);
	CHECK_EQ(k.entry, KLOAD + 0x40);
	close(fd);

	/* Other zboot compressions are named in the refusal. */
	zboot_image(img, &c, "zstd");
	fd = file_with(img, n, NULL, 0);
	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_PE_GZ), -ENOTSUP);
	close(fd);

	/* A payload past the end of the file. */
	zboot_image(img, &c, "gzip");
	put32(img + 12, (uint32_t)c.len + 1);
	fd = file_with(img, n, NULL, 0);
	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_PE_GZ), -ENOEXEC);
	close(fd);
	put32(img + 12, (uint32_t)c.len);
	put32(img + 8, 0xfffffff0u);
	fd = file_with(img, n, NULL, 0);
	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_PE_GZ), -ENOEXEC);
	close(fd);

	/* Without a zboot header, upstream's scan: the first 1f 8b 08. */
	zboot_image(img, &c, "gzip");
	memcpy(img + 4, "xxxx", 4);
	memset(img + 0x100, 0, 3);
	fd = file_with(img, n, NULL, 0);
	CHECK_EQ(load_fd(fd, KRUN_KERNEL_FORMAT_PE_GZ, 64 * MIB, 64 * MIB, &k), 0);
	close(fd);

	/* Not a PE file at all. */
	fd = file_with(c.p, c.len, NULL, 0);
	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_PE_GZ), -ENOEXEC);
	close(fd);
	free(img);
	free(c.p);
}

static void test_raw(void)
{
	struct guest_mem gm;
	struct kernel_loaded k;
	uint8_t flat[8192];

	for (size_t i = 0; i < sizeof(flat); i++)
		flat[i] = (uint8_t)(i * 31 + 5);
	flat[0] = 0xfa;	/* cli: no magic of any kind */
	int fd = file_with(flat, sizeof(flat), NULL, 0);

	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_RAW), 0);
	/* Upstream's place: 2 GiB, entered at its first byte. */
	new_ram(&gm, KERNEL_RAW_LOAD_GPA + 64 * MIB);
	CHECK_EQ(kernel_load_format(&gm, fd, KRUN_KERNEL_FORMAT_RAW, 0, &k), 0);
	CHECK_EQ(k.entry, KERNEL_RAW_LOAD_GPA);
	CHECK(k.end >= KERNEL_RAW_LOAD_GPA + sizeof(flat));
	CHECK(!k.have_hdr);
	CHECK(memcmp(gm_ptr(&gm, KERNEL_RAW_LOAD_GPA, sizeof(flat)), flat, sizeof(flat)) == 0);
	gm_destroy(&gm);
	/* Too little RAM for 2 GiB + the image: a clear refusal. */
	new_ram(&gm, 512 * MIB);
	CHECK_EQ(kernel_load_format(&gm, fd, KRUN_KERNEL_FORMAT_RAW, 0, &k), -EFAULT);
	gm_destroy(&gm);
	/* The ELF format does not take a flat image. */
	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_ELF), -ENOEXEC);
	close(fd);

	/* An ELF passed as RAW is loaded as an ELF. */
	make_elf();
	fd = file_with(elf_img, sizeof(elf_img), NULL, 0);
	CHECK_EQ(kernel_check_format(fd, KRUN_KERNEL_FORMAT_RAW), 0);
	CHECK_EQ(load_fd(fd, KRUN_KERNEL_FORMAT_RAW, 64 * MIB, 0, &k), 0);
	CHECK_EQ(k.entry, KLOAD + 0x40);
	close(fd);

	fd = file_with("", 0, NULL, 0);
	new_ram(&gm, KERNEL_RAW_LOAD_GPA + 64 * MIB);
	CHECK_EQ(kernel_load_format(&gm, fd, KRUN_KERNEL_FORMAT_RAW, 0, &k), -ENOEXEC);
	CHECK_EQ(kernel_load_format(&gm, fd, 6, 0, &k), -EINVAL);
	gm_destroy(&gm);
	close(fd);
}

/* The build's own vmlinux, gzipped: loads exactly as the ELF does. */
static void test_real_vmlinux_gz(void)
{
	const char *root = getenv("KRUN_TEST_BUILD_ROOT");
	char path[4096];

	snprintf(path, sizeof(path), "%s/krunfw/vmlinux", root ? root : "");
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	uint64_t size = 0;

	CHECK(fd >= 0 && kernel_file_size(fd, &size) == 0);
	uint8_t *v = malloc(size);

	CHECK(kernel_read_exact(fd, v, size, 0) == 0);
	close(fd);
	struct buf c = gzip_of(v, size);

	fd = file_with(c.p, c.len, NULL, 0);
	struct guest_mem a, b;
	struct kernel_loaded ka, kb;
	int vfd = open(path, O_RDONLY | O_CLOEXEC);

	new_ram(&a, 512 * MIB);
	new_ram(&b, 512 * MIB);
	CHECK_EQ(kernel_load_format(&a, vfd, KRUN_KERNEL_FORMAT_ELF, 0, &ka), 0);
	CHECK_EQ(kernel_load_format(&b, fd, KRUN_KERNEL_FORMAT_IMAGE_GZ, 512 * MIB, &kb), 0);
	CHECK_EQ(ka.entry, kb.entry);
	CHECK_EQ(ka.end, kb.end);
	CHECK(memcmp(gm_ptr(&a, KLOAD, ka.end - KLOAD), gm_ptr(&b, KLOAD, ka.end - KLOAD),
		     ka.end - KLOAD) == 0);
	gm_destroy(&a);
	gm_destroy(&b);
	close(vfd);
	close(fd);
	free(c.p);
	free(v);
}

int main(void)
{
	/* Every refusal logs why; the cases check the return values. */
	krun_log_configure(2, LOG_LVL_OFF);
	RUN_TEST(test_round_trip);
	RUN_TEST(test_truncated);
	RUN_TEST(test_garbage_and_wrong_kind);
	RUN_TEST(test_bombs);
	RUN_TEST(test_zstd_window_limit);
	RUN_TEST(test_corruption);
	RUN_TEST(test_file_range);
	RUN_TEST(test_image_formats);
	RUN_TEST(test_image_not_elf);
	RUN_TEST(test_pe_gz);
	RUN_TEST(test_raw);
	const char *root = getenv("KRUN_TEST_BUILD_ROOT");
	char path[4096];

	snprintf(path, sizeof(path), "%s/krunfw/vmlinux", root ? root : "");
	if (root && access(path, R_OK) == 0)
		RUN_TEST(test_real_vmlinux_gz);
	else
		printf("SKIP test_real_vmlinux_gz (no krunfw/vmlinux in build)\n");
	TEST_MAIN_END();
}
