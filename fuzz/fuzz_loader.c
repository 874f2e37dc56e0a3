// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the external-kernel loaders (krun_set_kernel) on an
 * arbitrary image in a memfd, loaded into fake guest RAM of one or two
 * regions whose host mappings end at a PROT_NONE guard page (a write past
 * a region's end faults) and start inside poisoned memory (a write before
 * it shows in the comparison below).
 *
 * Input (missing bytes read as 0):
 *   byte 0     bits 0-1: the image (0: the rest of the input as it is,
 *              1: an ELF built from the input, 2: a bzImage built from the
 *              input, 3: a compressed image: u8 which of the magics
 *              below, then the rest as it is), bit 2: call both loaders whatever
 *              kernel_detect_format() says, bit 3: patch the built image
 *   byte 1     bits 0-3: region 0 is [0, 1 MiB + n * 128 KiB), bit 4: a
 *              second region at R1_GPA, bits 5-7: its size (1 + n) * 64 KiB
 *   ELF        u8 flags (bit 0: e_phoff raw, bit 1: e_phnum raw, bit 2:
 *              e_phentsize raw, bit 3: e_type/e_machine raw, bit 4: entry
 *              in the first segment's virtual range), u8 phnum, u16 extra
 *              file bytes / 4, an address (e_entry), then per header: u8
 *              type (0: PT_LOAD, 1: PT_NOTE, else raw u32), an offset, two
 *              sizes (p_filesz, p_memsz - p_filesz), two addresses
 *   bzImage    the setup header's bytes, then u8 flags (bit 0: raw magic,
 *              bit 1: raw version, bit 2: raw xloadflags), u8 setup_sects,
 *              a size (syssize * 16), a size (init_size), an address
 *              (pref_address), u16 extra file bytes
 *   patches    (bit 3) u8 count, then count times u32 offset, u8 byte
 * Addresses and sizes are a selector byte and its operands (near the
 * regions' ends, page-aligned, raw 64-bit, near UINT64_MAX).
 *
 * Checks (__builtin_trap): kernel_detect_format() says what the file's
 * first bytes are (ELF, bzImage, -ENOTSUP for gzip, bzip2, xz, zstd and
 * lz4, which the loaders do not decompress, else -ENOEXEC); the loaders
 * return 0 or only the documented -errno values; a
 * refused image leaves guest RAM untouched; a loaded one changed exactly
 * what the file says (segments from their file bytes, BSS zeroed, the
 * bzImage's protected-mode part at pref_address) and nothing else, all of
 * it at or above 1 MiB inside one region, with the entry point inside
 * guest RAM (in a segment for ELF, in the loaded code for a bzImage), the
 * reported end and the returned setup header what the file holds.
 */
#include <elf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch/x86_64/layout.h"
#include "kernel/loader.h"
#include "vmm/guest_mem.h"
#include "fuzz_input.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define KIB 1024ULL
#define MIB (1024 * KIB)
#define R0_STEP (128 * KIB)
#define R0_MAX (MIB + 15 * R0_STEP)
#define R1_GPA (8 * MIB)
#define R1_MAX (8 * 64 * KIB)
#define FILE_MAX (512 * KIB)
#define POISON 0xa5
#define BZ_HDR_OFFSET 0x1f1
#define BZ_ENTRY_OFFSET 0x200

struct ram {
	uint8_t *base;		/* max bytes, then a guard page */
	uint8_t *expect;	/* what base should hold afterwards */
	uint64_t max;
	uint64_t gpa, size;	/* this input's region: base + max - size */
	uint64_t dirty_lo, dirty_hi;	/* what expect changed since poisoned */
	bool present;
};

struct fuzz_state {
	struct ram ram[2];
	int fd;
	uint8_t file[FILE_MAX];
	size_t file_len;
};

static struct fuzz_state *state;

static uint8_t *map_with_guard(uint64_t len)
{
	uint8_t *p = mmap(NULL, len + X86_PAGE_SIZE, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	require(p != MAP_FAILED);
	require(mprotect(p + len, X86_PAGE_SIZE, PROT_NONE) == 0);
	return p;
}

static struct fuzz_state *setup(void)
{
	static struct fuzz_state s;

	krun_log_configure(2, LOG_LVL_OFF);
	s.ram[0].max = R0_MAX;
	s.ram[1].max = R1_MAX;
	for (int i = 0; i < 2; i++) {
		s.ram[i].base = map_with_guard(s.ram[i].max);
		s.ram[i].expect = map_with_guard(s.ram[i].max);
		s.ram[i].dirty_hi = s.ram[i].max;	/* poisoned by the first run */
	}
	s.fd = memfd_create("krun-fuzz-loader", MFD_CLOEXEC);
	require(s.fd >= 0);
	return &s;
}

static uint64_t ram_end(const struct ram *r)
{
	return r->gpa + r->size;
}

static uint64_t get64(struct reader *r)
{
	uint64_t lo = get32(r);

	return lo | (uint64_t)get32(r) << 32;
}

/* Addresses where the loaders' range checks have their edges. */
static uint64_t get_addr(struct reader *r, const struct fuzz_state *s)
{
	switch (get8(r) % 8) {
	case 0: return get64(r);
	case 1: return X86_HIMEM_START + get16(r) * 16ULL;
	case 2: return X86_HIMEM_START + get16(r) * X86_PAGE_SIZE;
	case 3: return ram_end(&s->ram[0]) - get16(r);
	case 4: return R1_GPA + get16(r) * 16ULL;
	case 5: return R1_GPA + s->ram[1].size - get16(r);
	case 6: return UINT64_MAX - get16(r);
	default: return get32(r);
	}
}

static uint64_t get_size(struct reader *r, const struct fuzz_state *s)
{
	switch (get8(r) % 6) {
	case 0: return get16(r);
	case 1: return get32(r);
	case 2: return get64(r);
	case 3: return UINT64_MAX - get16(r);
	case 4: return s->ram[0].size - X86_HIMEM_START - get16(r);
	default: return get8(r);
	}
}

static size_t cap_len(uint64_t len)
{
	return len > FILE_MAX ? FILE_MAX : (size_t)len;
}

/* Bytes no header covers: a pattern, so loaded data is told from poison. */
static void fill_pattern(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 9));
}

static void build_elf(struct reader *r, struct fuzz_state *s)
{
	uint8_t flags = get8(r), phnum = get8(r);
	Elf64_Ehdr eh = { 0 };
	unsigned int n = phnum % 9;

	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_EXEC;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)n;
	s->file_len = cap_len(sizeof(eh) + n * sizeof(Elf64_Phdr) + get16(r) * 4ULL);
	fill_pattern(s->file, s->file_len, flags);
	eh.e_entry = get_addr(r, s);
	if (flags & 1)
		eh.e_phoff = get_size(r, s);
	if (flags & 2)
		eh.e_phnum = get16(r);
	if (flags & 4)
		eh.e_phentsize = get16(r);
	if (flags & 8) {
		eh.e_type = get16(r);
		eh.e_machine = get16(r);
	}
	for (unsigned int i = 0; i < n; i++) {
		uint8_t type = get8(r);
		Elf64_Phdr ph = {
			.p_type = type == 0 ? PT_LOAD : type == 1 ? PT_NOTE : get32(r),
			.p_offset = get_size(r, s),
		};

		ph.p_filesz = get_size(r, s);
		ph.p_memsz = ph.p_filesz + get_size(r, s);
		ph.p_paddr = get_addr(r, s);
		ph.p_vaddr = get_addr(r, s);
		if (i == 0 && (flags & 16))
			eh.e_entry = ph.p_vaddr + get16(r);
		size_t at = sizeof(eh) + i * sizeof(ph);

		if (at + sizeof(ph) <= s->file_len)
			memcpy(s->file + at, &ph, sizeof(ph));
	}
	memcpy(s->file, &eh, s->file_len < sizeof(eh) ? s->file_len : sizeof(eh));
}

static void build_bzimage(struct reader *r, struct fuzz_state *s)
{
	struct setup_header h;
	uint8_t raw[sizeof(h)];

	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = get8(r);
	memcpy(&h, raw, sizeof(h));
	uint8_t flags = get8(r);

	if (!(flags & 1)) {
		h.boot_flag = 0xaa55;
		h.header = 0x53726448u;
	}
	if (!(flags & 2))
		h.version = (uint16_t)(0x020c + (raw[0] & 3));
	if (!(flags & 4))
		h.xloadflags |= XLF_KERNEL_64;
	h.setup_sects = get8(r);
	h.syssize = (uint32_t)(get_size(r, s) / 16);
	h.init_size = (uint32_t)get_size(r, s);
	h.pref_address = get_addr(r, s);
	uint64_t setup = ((uint64_t)(h.setup_sects ? h.setup_sects : 4) + 1) * 512;

	s->file_len = cap_len(setup + (uint64_t)h.syssize * 16 + get16(r));
	if (s->file_len < BZ_HDR_OFFSET + sizeof(h))
		s->file_len = BZ_HDR_OFFSET + sizeof(h);
	fill_pattern(s->file, s->file_len, raw[1]);
	memcpy(s->file + BZ_HDR_OFFSET, &h, sizeof(h));
}

/* gzip, bzip2, xz, zstd, lz4 frame, lz4 legacy: the magics back to back. */
static const uint8_t magics[] = "\x1f\x8b" "BZh" "\xfd" "7zXZ\0" "\x28\xb5\x2f\xfd"
				"\x04\x22\x4d\x18" "\x02\x21\x4c\x18";
static const uint8_t magic_len[] = { 2, 3, 6, 4, 4, 4 };
#define NR_COMPRESSED sizeof(magic_len)

static const uint8_t *magic(unsigned int i)
{
	const uint8_t *p = magics;

	while (i--)
		p += magic_len[i];
	return p;
}

static void build_raw(struct reader *r, struct fuzz_state *s, size_t at)
{
	size_t n = cap_len(at + r->left) - at;

	memcpy(s->file + at, r->p, n);
	s->file_len = at + n;
	r->p += n;
	r->left -= n;
}

static void build_compressed(struct reader *r, struct fuzz_state *s)
{
	unsigned int i = get8(r) % NR_COMPRESSED;

	memcpy(s->file, magic(i), magic_len[i]);
	build_raw(r, s, magic_len[i]);
}

/* The format the file's first bytes name, worked out independently. */
static int expected_format(const struct fuzz_state *s)
{
	const uint8_t *f = s->file;
	size_t n = s->file_len;

	if (n >= SELFMAG && !memcmp(f, ELFMAG, SELFMAG))
		return KERNEL_FORMAT_ELF;
	if (n >= 0x206 && f[0x1fe] == 0x55 && f[0x1ff] == 0xaa && !memcmp(f + 0x202, "HdrS", 4))
		return KERNEL_FORMAT_BZIMAGE;
	for (unsigned int i = 0; i < NR_COMPRESSED; i++)
		if (n >= magic_len[i] && !memcmp(f, magic(i), magic_len[i]))
			return -ENOTSUP;
	return -ENOEXEC;
}

static void patch(struct reader *r, struct fuzz_state *s)
{
	unsigned int n = get8(r) % 16;

	for (unsigned int i = 0; i < n && s->file_len; i++) {
		uint32_t off = get32(r);

		s->file[off % s->file_len] = get8(r);
	}
}

static void write_file(struct fuzz_state *s)
{
	require(ftruncate(s->fd, 0) == 0);
	require(pwrite(s->fd, s->file, s->file_len, 0) == (ssize_t)s->file_len);
}

static void set_up_ram(struct fuzz_state *s, struct guest_mem *gm, uint8_t layout)
{
	memset(gm, 0, sizeof(*gm));
	s->ram[0].gpa = 0;
	s->ram[0].size = MIB + (layout & 15) * R0_STEP;
	s->ram[0].present = true;
	s->ram[1].gpa = R1_GPA;
	s->ram[1].size = (1 + (layout >> 5)) * 64 * KIB;
	s->ram[1].present = layout & 16;
	for (int i = 0; i < 2; i++) {
		struct ram *m = &s->ram[i];

		/*
		 * base equals expect after every passed check (else the run
		 * trapped), so only what the checks wrote needs poisoning again.
		 */
		if (m->dirty_lo < m->dirty_hi) {
			memset(m->base + m->dirty_lo, POISON, m->dirty_hi - m->dirty_lo);
			memset(m->expect + m->dirty_lo, POISON, m->dirty_hi - m->dirty_lo);
		}
		m->dirty_lo = m->max;
		m->dirty_hi = 0;
		if (m->present)
			require(gm_add_region(gm, m->gpa, m->base + m->max - m->size,
					      m->size, false) == 0);
	}
}

/* The region [gpa, gpa+len) lies in wholly, or NULL. */
static struct ram *ram_of(struct fuzz_state *s, uint64_t gpa, uint64_t len)
{
	for (int i = 0; i < 2; i++) {
		struct ram *m = &s->ram[i];

		if (m->present && gpa >= m->gpa && gpa - m->gpa < m->size &&
		    len <= m->size - (gpa - m->gpa))
			return m;
	}
	return NULL;
}

static bool in_ram(struct fuzz_state *s, uint64_t gpa, uint64_t len)
{
	return ram_of(s, gpa, len) != NULL;
}

/* Where the loader should have put [gpa, gpa+len), in the expected image. */
static uint8_t *expect_ptr(struct fuzz_state *s, uint64_t gpa, uint64_t len)
{
	struct ram *m = ram_of(s, gpa, len);

	check(m != NULL);
	uint64_t off = m->max - m->size + (gpa - m->gpa);

	if (off < m->dirty_lo)
		m->dirty_lo = off;
	if (off + len > m->dirty_hi)
		m->dirty_hi = off + len;
	return m->expect + off;
}

static void check_ram(const struct fuzz_state *s)
{
	for (int i = 0; i < 2; i++)
		check(memcmp(s->ram[i].base, s->ram[i].expect, s->ram[i].max) == 0);
}

static void check_errno(int ret)
{
	check(ret == -ENOEXEC || ret == -EFAULT || ret == -EINVAL);
}

/* What a loaded ELF must have done, worked out from the file alone. */
static void check_elf(struct fuzz_state *s, uint64_t entry, uint64_t end)
{
	Elf64_Ehdr eh;
	uint64_t want_end = 0;
	bool entry_ok = false;

	check(s->file_len >= sizeof(eh));
	memcpy(&eh, s->file, sizeof(eh));
	check(eh.e_phnum > 0 && eh.e_phnum <= KERNEL_ELF_MAX_PHDRS);
	check(eh.e_phentsize == sizeof(Elf64_Phdr));
	check(eh.e_phoff <= s->file_len &&
	      eh.e_phnum * sizeof(Elf64_Phdr) <= s->file_len - eh.e_phoff);
	for (unsigned int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;

		memcpy(&ph, s->file + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		check(in_ram(s, ph.p_paddr, ph.p_memsz));
		check(ph.p_paddr >= X86_HIMEM_START);
		check(ph.p_filesz <= ph.p_memsz);
		check(ph.p_offset <= s->file_len && ph.p_filesz <= s->file_len - ph.p_offset);
		/* Overlapping segments are refused: any order gives this image. */
		uint8_t *dst = expect_ptr(s, ph.p_paddr, ph.p_memsz);

		memcpy(dst, s->file + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		if (ph.p_paddr + ph.p_memsz > want_end)
			want_end = ph.p_paddr + ph.p_memsz;
		if (entry >= ph.p_paddr && entry - ph.p_paddr < ph.p_memsz)
			entry_ok = true;
	}
	check(entry_ok);
	check(end == want_end);
	check_ram(s);
}

static void check_bzimage(struct fuzz_state *s, uint64_t entry, uint64_t end,
			  const struct setup_header *out)
{
	struct setup_header h;

	check(s->file_len >= BZ_HDR_OFFSET + sizeof(h));
	memcpy(&h, s->file + BZ_HDR_OFFSET, sizeof(h));
	check(memcmp(out, &h, sizeof(h)) == 0);
	check(h.boot_flag == 0xaa55 && h.header == 0x53726448u && h.version >= 0x020c &&
	      (h.xloadflags & XLF_KERNEL_64));
	uint64_t setup = ((uint64_t)(h.setup_sects ? h.setup_sects : 4) + 1) * 512;
	uint64_t len = (uint64_t)h.syssize * 16;
	uint64_t need = h.init_size > len ? h.init_size : len;
	uint64_t load = h.pref_address;

	check(len > 0 && setup <= s->file_len && len <= s->file_len - setup);
	check(load >= X86_HIMEM_START && load % X86_PAGE_SIZE == 0);
	check(entry == load + BZ_ENTRY_OFFSET);
	check(end == load + need);
	check(in_ram(s, load, need));
	/* The 64-bit entry is code of the image, not memory left to chance. */
	check(entry >= load && entry - load < len);
	memcpy(expect_ptr(s, load, len), s->file + setup, len);
	check_ram(s);
}

static void run_elf(struct fuzz_state *s, const struct guest_mem *gm)
{
	uint64_t entry = 0, end = 0;
	int ret = kernel_load_elf(gm, s->fd, &entry, &end);

	if (ret == 0) {
		check_elf(s, entry, end);
	} else {
		check_errno(ret);
		check_ram(s);
	}
}

static void run_bzimage(struct fuzz_state *s, const struct guest_mem *gm)
{
	struct setup_header h;
	uint64_t entry = 0, end = 0;
	int ret = kernel_load_bzimage(gm, s->fd, &entry, &end, &h);

	if (ret == 0) {
		check_bzimage(s, entry, end, &h);
	} else {
		check_errno(ret);
		check_ram(s);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	struct guest_mem gm;

	if (!state)
		state = setup();
	uint8_t mode = get8(&r), layout = get8(&r);

	set_up_ram(state, &gm, layout);
	switch (mode & 3) {
	case 1:
		build_elf(&r, state);
		break;
	case 2:
		build_bzimage(&r, state);
		break;
	case 3:
		build_compressed(&r, state);
		break;
	default:
		build_raw(&r, state, 0);
		break;
	}
	if (mode & 8)
		patch(&r, state);
	write_file(state);

	int fmt = kernel_detect_format(state->fd);

	check(fmt == expected_format(state));
	if (fmt == KERNEL_FORMAT_ELF || (mode & 4))
		run_elf(state, &gm);
	/* Each loader is checked against RAM as it was before it ran. */
	if (mode & 4)
		set_up_ram(state, &gm, layout);
	if (fmt == KERNEL_FORMAT_BZIMAGE || (mode & 4))
		run_bzimage(state, &gm);
	return 0;
}
