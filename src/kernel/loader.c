// SPDX-License-Identifier: Apache-2.0
#include "kernel/loader.h"
#include "arch/x86_64/layout.h"
#include "vmm/guest_mem.h"

#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BZ_HDR_OFFSET		0x1f1
#define BZ_BOOT_FLAG		0xaa55
#define BZ_HDR_MAGIC		0x53726448u	/* "HdrS" */
#define BZ_MIN_VERSION		0x020c		/* xloadflags, pref_address */
#define BZ_DEFAULT_SETUP_SECTS	4
#define BZ_SECTOR		512
#define BZ_ENTRY_64_OFFSET	0x200
#define DETECT_BYTES		0x206

/* An image to load: a file, or a decompressed copy in memory. */
struct source {
	int fd;			/* -1: buf */
	const uint8_t *buf;
	uint64_t size;
};

/* 0 on success; -ENOEXEC when the file ends early, since that means truncated. */
int kernel_read_exact(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENOEXEC;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int kernel_file_size(int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	/* Sizes must be known up front to validate offsets. */
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	*size = (uint64_t)st.st_size;
	return 0;
}

static int source_of_fd(int fd, struct source *src)
{
	src->fd = fd;
	src->buf = NULL;
	return kernel_file_size(fd, &src->size);
}

/* Callers check off + len <= size first; a file may still shrink. */
static int src_read(const struct source *src, void *dst, size_t len, uint64_t off)
{
	if (src->fd >= 0)
		return kernel_read_exact(src->fd, dst, len, off);
	if (off > src->size || len > src->size - off)
		return -ENOEXEC;
	memcpy(dst, src->buf + off, len);
	return 0;
}

/* off + len <= limit without overflow. */
static bool range_ok(uint64_t off, uint64_t len, uint64_t limit)
{
	return off <= limit && len <= limit - off;
}

static bool is_compressed(const uint8_t *b, size_t n)
{
	static const struct {
		uint8_t len;
		uint8_t magic[6];
	} magics[] = {
		{ 2, { 0x1f, 0x8b } },				/* gzip */
		{ 3, { 'B', 'Z', 'h' } },			/* bzip2 */
		{ 6, { 0xfd, '7', 'z', 'X', 'Z', 0x00 } },	/* xz */
		{ 4, { 0x28, 0xb5, 0x2f, 0xfd } },		/* zstd */
		{ 4, { 0x04, 0x22, 0x4d, 0x18 } },		/* lz4 frame */
		{ 4, { 0x02, 0x21, 0x4c, 0x18 } },		/* lz4 legacy */
	};

	for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++)
		if (n >= magics[i].len && !memcmp(b, magics[i].magic, magics[i].len))
			return true;
	return false;
}

static bool is_bzimage(const uint8_t *b, size_t n)
{
	static const uint8_t flag[2] = { 0x55, 0xaa };

	return n >= DETECT_BYTES && !memcmp(b + 0x1fe, flag, 2) &&
	       !memcmp(b + 0x202, "HdrS", 4);
}

int kernel_detect_format(int fd)
{
	uint8_t b[DETECT_BYTES];
	uint64_t size = 0;
	size_t n;
	int ret = kernel_file_size(fd, &size);

	if (ret)
		return ret;
	n = size < sizeof(b) ? (size_t)size : sizeof(b);
	ret = kernel_read_exact(fd, b, n, 0);
	if (ret)
		return ret;
	if (n >= SELFMAG && !memcmp(b, ELFMAG, SELFMAG))
		return KERNEL_FORMAT_ELF;
	if (is_bzimage(b, n))
		return KERNEL_FORMAT_BZIMAGE;
	if (is_compressed(b, n))
		return -ENOTSUP;
	return -ENOEXEC;
}

static int elf_check_header(const Elf64_Ehdr *eh, uint64_t fsize)
{
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_ident[EI_DATA] != ELFDATA2LSB ||
	    eh->e_ident[EI_VERSION] != EV_CURRENT ||
	    eh->e_type != ET_EXEC || eh->e_machine != EM_X86_64)
		return -ENOEXEC;
	if (eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum == 0 ||
	    eh->e_phnum > KERNEL_ELF_MAX_PHDRS)
		return -ENOEXEC;
	if (!range_ok(eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr), fsize))
		return -ENOEXEC;
	return 0;
}

static bool is_loadable(const Elf64_Phdr *ph)
{
	return ph->p_type == PT_LOAD && ph->p_memsz > 0;
}

static int elf_check_segment(const struct guest_mem *gm, const Elf64_Phdr *ph,
			     uint64_t fsize)
{
	if (ph->p_filesz > ph->p_memsz ||
	    !range_ok(ph->p_offset, ph->p_filesz, fsize) ||
	    !range_ok(ph->p_paddr, ph->p_memsz, UINT64_MAX))
		return -ENOEXEC;
	/* Below 1 MiB are the boot structures we write after loading. */
	if (ph->p_paddr < X86_HIMEM_START)
		return -ENOEXEC;
	if (!gm_ptr(gm, ph->p_paddr, ph->p_memsz))
		return -EFAULT;
	return 0;
}

static bool segments_overlap(const Elf64_Phdr *a, const Elf64_Phdr *b)
{
	return a->p_paddr < b->p_paddr + b->p_memsz &&
	       b->p_paddr < a->p_paddr + a->p_memsz;
}

/* Checks every segment before any is copied: a bad file loads nothing. */
static int elf_check_segments(const struct guest_mem *gm, const Elf64_Phdr *ph,
			      unsigned int n, uint64_t fsize)
{
	unsigned int loadable = 0;

	for (unsigned int i = 0; i < n; i++) {
		if (!is_loadable(&ph[i]))
			continue;
		int ret = elf_check_segment(gm, &ph[i], fsize);

		if (ret)
			return ret;
		for (unsigned int j = 0; j < i; j++)
			if (is_loadable(&ph[j]) && segments_overlap(&ph[i], &ph[j]))
				return -ENOEXEC;
		loadable++;
	}
	return loadable ? 0 : -ENOEXEC;
}

/*
 * x86 vmlinux links e_entry at the physical startup_64; other kernels
 * (FreeBSD) give a virtual one, translated through its segment.
 */
static int elf_entry(const Elf64_Phdr *ph, unsigned int n, uint64_t e_entry,
		     uint64_t *entry)
{
	for (unsigned int i = 0; i < n; i++)
		if (is_loadable(&ph[i]) && e_entry >= ph[i].p_paddr &&
		    e_entry - ph[i].p_paddr < ph[i].p_memsz) {
			*entry = e_entry;
			return 0;
		}
	for (unsigned int i = 0; i < n; i++)
		if (is_loadable(&ph[i]) && e_entry >= ph[i].p_vaddr &&
		    e_entry - ph[i].p_vaddr < ph[i].p_memsz) {
			*entry = ph[i].p_paddr + (e_entry - ph[i].p_vaddr);
			return 0;
		}
	return -ENOEXEC;
}

static int elf_copy_segment(const struct guest_mem *gm, const struct source *src,
			    const Elf64_Phdr *ph)
{
	uint8_t *dst = gm_ptr(gm, ph->p_paddr, ph->p_memsz);
	int ret = src_read(src, dst, ph->p_filesz, ph->p_offset);

	if (ret)
		return ret;
	memset(dst + ph->p_filesz, 0, ph->p_memsz - ph->p_filesz);
	return 0;
}

static int load_elf(const struct guest_mem *gm, const struct source *src, uint64_t *entry,
		    uint64_t *highest_end)
{
	Elf64_Phdr ph[KERNEL_ELF_MAX_PHDRS];
	Elf64_Ehdr eh;
	uint64_t fsize = src->size, end = 0;
	int ret;

	if (fsize < sizeof(eh))
		return -ENOEXEC;
	ret = src_read(src, &eh, sizeof(eh), 0);
	if (!ret)
		ret = elf_check_header(&eh, fsize);
	if (!ret)
		ret = src_read(src, ph, eh.e_phnum * sizeof(ph[0]), eh.e_phoff);
	if (!ret)
		ret = elf_check_segments(gm, ph, eh.e_phnum, fsize);
	if (!ret)
		ret = elf_entry(ph, eh.e_phnum, eh.e_entry, entry);
	if (ret)
		return ret;

	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		if (!is_loadable(&ph[i]))
			continue;
		ret = elf_copy_segment(gm, src, &ph[i]);
		if (ret)
			return ret;
		if (ph[i].p_paddr + ph[i].p_memsz > end)
			end = ph[i].p_paddr + ph[i].p_memsz;
	}
	*highest_end = end;
	return 0;
}

int kernel_load_elf(const struct guest_mem *gm, int fd, uint64_t *entry,
		    uint64_t *highest_end)
{
	struct source src;
	int ret = source_of_fd(fd, &src);

	return ret ? ret : load_elf(gm, &src, entry, highest_end);
}

int kernel_load_elf_mem(const struct guest_mem *gm, const uint8_t *buf, size_t len,
			uint64_t *entry, uint64_t *highest_end)
{
	struct source src = { .fd = -1, .buf = buf, .size = len };

	return load_elf(gm, &src, entry, highest_end);
}

static int bz_check_header(const struct setup_header *h)
{
	if (h->boot_flag != BZ_BOOT_FLAG || h->header != BZ_HDR_MAGIC ||
	    h->version < BZ_MIN_VERSION || !(h->xloadflags & XLF_KERNEL_64))
		return -ENOEXEC;
	return 0;
}

int kernel_load_bzimage(const struct guest_mem *gm, int fd, uint64_t *entry,
			uint64_t *highest_end, struct setup_header *hdr_out)
{
	struct setup_header h;
	uint64_t fsize = 0, setup_size, load_len, need, load;
	int ret = kernel_file_size(fd, &fsize);

	if (ret)
		return ret;
	if (fsize < BZ_HDR_OFFSET + sizeof(h))
		return -ENOEXEC;
	ret = kernel_read_exact(fd, &h, sizeof(h), BZ_HDR_OFFSET);
	if (!ret)
		ret = bz_check_header(&h);
	if (ret)
		return ret;

	setup_size = ((uint64_t)(h.setup_sects ? h.setup_sects : BZ_DEFAULT_SETUP_SECTS) + 1) *
		     BZ_SECTOR;
	load_len = (uint64_t)h.syssize * 16;
	/* The 64-bit entry must be code of the image, not memory past it. */
	if (load_len <= BZ_ENTRY_64_OFFSET || !range_ok(setup_size, load_len, fsize))
		return -ENOEXEC;
	load = h.pref_address;
	if (load < X86_HIMEM_START || load % X86_PAGE_SIZE)
		return -ENOEXEC;
	/* It decompresses in place, so all of init_size must be RAM. */
	need = h.init_size > load_len ? h.init_size : load_len;
	if (!gm_ptr(gm, load, need))
		return -EFAULT;

	ret = kernel_read_exact(fd, gm_ptr(gm, load, load_len), load_len, setup_size);
	if (ret)
		return ret;
	*entry = load + BZ_ENTRY_64_OFFSET;
	*highest_end = load + need;
	*hdr_out = h;
	return 0;
}
