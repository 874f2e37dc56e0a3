// SPDX-License-Identifier: Apache-2.0
#include "kernel/formats.h"
#include "arch/x86_64/mem_plan.h"
#include "kernel/decompress.h"
#include "kernel/loader.h"
#include "util/log.h"
#include "vmm/guest_mem.h"

#include <libkrun.h>

#include <elf.h>
#include <errno.h>
#include <string.h>

#define SCAN_CHUNK	(64 * 1024)
#define SCAN_OVERLAP	16

/* Linux's EFI zboot header (drivers/firmware/efi/libstub/zboot-header.S). */
#define ZBOOT_MAGIC_OFF		4	/* "zimg" */
#define ZBOOT_PAYLOAD_OFF	8	/* u32 payload offset, u32 payload size */
#define ZBOOT_COMP_OFF		0x18	/* NUL-terminated compression type */
#define ZBOOT_COMP_LEN		32
#define ZBOOT_HDR_LEN		(ZBOOT_COMP_OFF + ZBOOT_COMP_LEN)

struct magic {
	uint8_t bytes[4];
	uint8_t len;
	enum kernel_compression kind;
};

static const struct magic gzip_magic = { { 0x1f, 0x8b, 0x08 }, 3, KERNEL_GZIP };
static const struct magic bzip2_magic = { { 'B', 'Z', 'h' }, 3, KERNEL_BZIP2 };
static const struct magic zstd_magic = { { 0x28, 0xb5, 0x2f, 0xfd }, 4, KERNEL_ZSTD };

/* Where the compressed kernel is in the file. */
struct payload {
	enum kernel_compression kind;
	uint64_t off, end;
};

/*
 * "BZh" alone is three printable letters; a real stream goes on with the
 * block size digit and a block (pi) or end-of-stream (sqrt pi) magic.
 */
static bool bzip2_plausible(const uint8_t *p, size_t n)
{
	static const uint8_t block[6] = { 0x31, 0x41, 0x59, 0x26, 0x53, 0x59 };
	static const uint8_t eos[6] = { 0x17, 0x72, 0x45, 0x38, 0x50, 0x90 };

	return n >= 10 && p[3] >= '1' && p[3] <= '9' &&
	       (!memcmp(p + 4, block, 6) || !memcmp(p + 4, eos, 6));
}

/* The first offset of m in the file (upstream's rule), or -ENOEXEC. */
static int scan_magic(int fd, uint64_t size, const struct magic *m, uint64_t *found)
{
	uint8_t buf[SCAN_CHUNK + SCAN_OVERLAP];

	for (uint64_t pos = 0; pos < size; pos += SCAN_CHUNK) {
		uint64_t left = size - pos;
		size_t n = left < sizeof(buf) ? (size_t)left : sizeof(buf);
		int ret = kernel_read_exact(fd, buf, n, pos);

		if (ret)
			return ret;
		size_t last = n < SCAN_CHUNK ? n : SCAN_CHUNK;

		for (size_t i = 0; i < last && m->len <= n - i; i++) {
			if (memcmp(buf + i, m->bytes, m->len))
				continue;
			if (m->kind == KERNEL_BZIP2 && !bzip2_plausible(buf + i, n - i))
				continue;
			*found = pos + i;
			return 0;
		}
	}
	log_error("no %s stream in the kernel image", kernel_compression_name(m->kind));
	return -ENOEXEC;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* A zboot image names its payload exactly; other PE files are scanned. */
static int find_pe_payload(int fd, uint64_t size, struct payload *p)
{
	uint8_t h[ZBOOT_HDR_LEN];

	if (size < sizeof(h) || kernel_read_exact(fd, h, sizeof(h), 0) ||
	    h[0] != 'M' || h[1] != 'Z') {
		log_error("PE_GZ kernel is not a PE image (no MZ header)");
		return -ENOEXEC;
	}
	p->kind = KERNEL_GZIP;
	p->end = size;
	if (memcmp(h + ZBOOT_MAGIC_OFF, "zimg", 4))
		return scan_magic(fd, size, &gzip_magic, &p->off);

	uint64_t off = get_le32(h + ZBOOT_PAYLOAD_OFF);
	uint64_t len = get_le32(h + ZBOOT_PAYLOAD_OFF + 4);
	char comp[ZBOOT_COMP_LEN + 1];

	memcpy(comp, h + ZBOOT_COMP_OFF, ZBOOT_COMP_LEN);
	comp[ZBOOT_COMP_LEN] = 0;
	if (strcmp(comp, "gzip")) {
		log_error("zboot PE image compressed with \"%.32s\": PE_GZ needs gzip", comp);
		return -ENOTSUP;
	}
	if (off < sizeof(h) || off > size || len > size - off) {
		log_error("zboot PE image: payload [%llu, +%llu) outside the %llu-byte file",
			  (unsigned long long)off, (unsigned long long)len,
			  (unsigned long long)size);
		return -ENOEXEC;
	}
	p->off = off;
	p->end = off + len;
	return 0;
}

static int find_payload(int fd, uint64_t size, uint32_t fmt, struct payload *p)
{
	const struct magic *m;

	switch (fmt) {
	case KRUN_KERNEL_FORMAT_PE_GZ:
		return find_pe_payload(fd, size, p);
	case KRUN_KERNEL_FORMAT_IMAGE_GZ:
		m = &gzip_magic;
		break;
	case KRUN_KERNEL_FORMAT_IMAGE_BZ2:
		m = &bzip2_magic;
		break;
	case KRUN_KERNEL_FORMAT_IMAGE_ZSTD:
		m = &zstd_magic;
		break;
	default:
		return -EINVAL;
	}
	p->kind = m->kind;
	p->end = size;
	return scan_magic(fd, size, m, &p->off);
}

static bool is_compressed_format(uint32_t fmt)
{
	return fmt == KRUN_KERNEL_FORMAT_PE_GZ || fmt == KRUN_KERNEL_FORMAT_IMAGE_GZ ||
	       fmt == KRUN_KERNEL_FORMAT_IMAGE_BZ2 || fmt == KRUN_KERNEL_FORMAT_IMAGE_ZSTD;
}

static bool is_x86_64_elf(const uint8_t *b, size_t n)
{
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b;

	return n >= sizeof(*eh) && !memcmp(eh->e_ident, ELFMAG, SELFMAG) &&
	       eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_machine == EM_X86_64;
}

static int open_payload(int fd, uint32_t fmt, struct payload *p)
{
	uint64_t size = 0;
	int ret = kernel_file_size(fd, &size);

	if (ret)
		return ret;
	/* The scan reads the whole file: a disk image passed by mistake stops here. */
	if (size > KERNEL_DECOMPRESS_MAX) {
		log_error("compressed kernel image of %llu MiB: more than the %llu MiB allowed",
			  (unsigned long long)(size >> 20),
			  (unsigned long long)(KERNEL_DECOMPRESS_MAX >> 20));
		return -EFBIG;
	}
	return find_payload(fd, size, fmt, p);
}

static int decompress_payload(int fd, uint32_t fmt, uint64_t max, bool prefix,
			      struct kernel_blob *blob)
{
	struct payload p;
	int ret = open_payload(fd, fmt, &p);

	if (ret)
		return ret;
	struct kernel_stream s = { .fd = fd, .off = p.off, .end = p.end };

	ret = kernel_decompress(&s, p.kind, max, prefix, blob);
	if (ret)
		return ret;
	if (!is_x86_64_elf(blob->data, blob->len)) {
		log_error("the %s stream at offset %llu of the kernel image is not an x86_64 "
			  "ELF vmlinux", kernel_compression_name(p.kind),
			  (unsigned long long)p.off);
		kernel_blob_free(blob);
		return -ENOEXEC;
	}
	return 0;
}

/* What an uncompressed file is, for the ELF and RAW formats. */
static int sniff_plain(int fd, uint32_t fmt)
{
	int kind = kernel_detect_format(fd);

	if (kind == KERNEL_FORMAT_ELF || kind == KERNEL_FORMAT_BZIMAGE)
		return kind;
	if (kind == -ENOTSUP) {
		log_error("the kernel image is compressed: pass one of the IMAGE_* formats");
		return -ENOEXEC;
	}
	if (kind == -ENOEXEC && fmt == KRUN_KERNEL_FORMAT_RAW)
		return 0;	/* a flat image */
	if (kind == -ENOEXEC)
		log_error("the kernel image is not an ELF vmlinux or a bzImage");
	return kind;
}

int kernel_check_format(int fd, uint32_t krun_format)
{
	if (is_compressed_format(krun_format)) {
		struct kernel_blob blob;
		int ret = decompress_payload(fd, krun_format, sizeof(Elf64_Ehdr), true, &blob);

		kernel_blob_free(&blob);
		return ret;
	}
	if (krun_format != KRUN_KERNEL_FORMAT_RAW && krun_format != KRUN_KERNEL_FORMAT_ELF)
		return -EINVAL;
	int kind = sniff_plain(fd, krun_format);

	return kind < 0 ? kind : 0;
}

/*
 * A flat image has no header saying how much memory follows it (BSS, early
 * page tables): it gets the room the bundled kernel gets.
 */
static int load_flat(const struct guest_mem *gm, int fd, struct kernel_loaded *out)
{
	uint64_t size = 0;
	int ret = kernel_file_size(fd, &size);

	if (ret)
		return ret;
	if (size == 0 || size > KERNEL_DECOMPRESS_MAX) {
		log_error("RAW kernel image of %llu bytes", (unsigned long long)size);
		return -ENOEXEC;
	}
	uint64_t need = size + X86_MIN_RAM_AFTER_KERNEL;
	uint8_t *dst = gm_ptr(gm, KERNEL_RAW_LOAD_GPA, need);

	if (!dst) {
		log_error("a RAW kernel is loaded at 2 GiB: this one needs at least %llu MiB "
			  "of guest RAM", (unsigned long long)((KERNEL_RAW_LOAD_GPA + need) >> 20) + 1);
		return -EFAULT;
	}
	ret = kernel_read_exact(fd, dst, (size_t)size, 0);
	if (ret)
		return ret;
	out->entry = KERNEL_RAW_LOAD_GPA;
	out->end = KERNEL_RAW_LOAD_GPA + need;
	return 0;
}

static int load_compressed(const struct guest_mem *gm, int fd, uint32_t fmt, uint64_t max,
			   struct kernel_loaded *out)
{
	struct kernel_blob blob;
	int ret = decompress_payload(fd, fmt, max, false, &blob);

	if (ret)
		return ret;
	ret = kernel_load_elf_mem(gm, blob.data, blob.len, &out->entry, &out->end);
	kernel_blob_free(&blob);
	if (ret)
		log_error("cannot load the decompressed ELF vmlinux: %s", strerror(-ret));
	return ret;
}

int kernel_load_format(const struct guest_mem *gm, int fd, uint32_t krun_format,
		       uint64_t max_decompressed, struct kernel_loaded *out)
{
	memset(out, 0, sizeof(*out));
	if (is_compressed_format(krun_format)) {
		if (max_decompressed > KERNEL_DECOMPRESS_MAX)
			max_decompressed = KERNEL_DECOMPRESS_MAX;
		return load_compressed(gm, fd, krun_format, max_decompressed, out);
	}
	if (krun_format != KRUN_KERNEL_FORMAT_RAW && krun_format != KRUN_KERNEL_FORMAT_ELF)
		return -EINVAL;
	int kind = sniff_plain(fd, krun_format);

	if (kind == KERNEL_FORMAT_ELF)
		return kernel_load_elf(gm, fd, &out->entry, &out->end);
	if (kind == KERNEL_FORMAT_BZIMAGE) {
		out->have_hdr = true;
		return kernel_load_bzimage(gm, fd, &out->entry, &out->end, &out->hdr);
	}
	return kind < 0 ? kind : load_flat(gm, fd, out);
}
