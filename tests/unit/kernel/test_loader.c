// SPDX-License-Identifier: Apache-2.0
#include "../test.h"
#include "elf_fixture.h"
#include "kernel/loader.h"
#include "vmm/guest_mem.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#define MIB (1ULL << 20)
#define RAM (64 * MIB)
#define KLOAD 0x1000000ULL
#define KVIRT 0xffffffff81000000ULL
#define POISON 0xa5

static uint8_t img[0x4000];

static int tmpfile_with(const void *data, size_t len)
{
	char path[] = "/tmp/krun-loader-XXXXXX";
	int fd = mkstemp(path);

	if (fd < 0)
		return -1;
	unlink(path);
	if (write(fd, data, len) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

static void new_ram(struct guest_mem *gm)
{
	memset(gm, 0, sizeof(*gm));
	CHECK_EQ(gm_alloc_region(gm, 0, RAM), 0);
	/* Only where kernels land: poisoning all of RAM per case is slow. */
	memset(gm_ptr(gm, KLOAD, MIB), POISON, MIB);
}

static Elf64_Ehdr *ehdr(void)
{
	return (Elf64_Ehdr *)img;
}

static Elf64_Phdr *phdr(unsigned int i)
{
	return (Elf64_Phdr *)(img + sizeof(Elf64_Ehdr)) + i;
}

/* Two PT_LOADs like a vmlinux: text with a BSS tail, then data; a note. */
static void make_elf(void)
{
	Elf64_Ehdr *eh = ehdr();

	memset(img, 0, sizeof(img));
	fill_vmlinux_ehdr(eh, KLOAD + 0x40, 3);
	*phdr(0) = (Elf64_Phdr){
		.p_type = PT_LOAD, .p_offset = 0x1000, .p_vaddr = KVIRT,
		.p_paddr = KLOAD, .p_filesz = 0x2000, .p_memsz = 0x3000,
	};
	*phdr(1) = (Elf64_Phdr){
		.p_type = PT_NOTE, .p_offset = 0x200, .p_filesz = 0x10,
		.p_memsz = 0x10,
	};
	*phdr(2) = (Elf64_Phdr){
		.p_type = PT_LOAD, .p_offset = 0x3000, .p_vaddr = KVIRT + 0x4000,
		.p_paddr = KLOAD + 0x4000, .p_filesz = 0x100, .p_memsz = 0x100,
	};
	memset(img + 0x1000, 0x11, 0x2000);
	memset(img + 0x3000, 0x22, 0x100);
}

static int load_img(struct guest_mem *gm, size_t len, uint64_t *entry, uint64_t *end)
{
	int fd = tmpfile_with(img, len);
	int ret;

	if (fd < 0)
		return -999;
	ret = kernel_load_elf(gm, fd, entry, end);
	close(fd);
	return ret;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static void test_elf_good(void)
{
	struct guest_mem gm;
	uint64_t entry = 0, end = 0;
	uint8_t *k;

	new_ram(&gm);
	make_elf();
	CHECK_EQ(load_img(&gm, sizeof(img), &entry, &end), 0);
	CHECK_EQ(entry, KLOAD + 0x40);
	CHECK_EQ(end, KLOAD + 0x4100);
	k = gm_ptr(&gm, KLOAD, 0x5000);
	CHECK(all_bytes(k, 0x2000, 0x11));
	CHECK(all_bytes(k + 0x2000, 0x1000, 0));	/* BSS zeroed */
	CHECK(all_bytes(k + 0x3000, 0x1000, POISON));	/* gap untouched */
	CHECK(all_bytes(k + 0x4000, 0x100, 0x22));
	gm_destroy(&gm);
}

static void test_elf_virtual_entry(void)
{
	struct guest_mem gm;
	uint64_t entry = 0, end = 0;

	new_ram(&gm);
	make_elf();
	ehdr()->e_entry = KVIRT + 0x4010;
	CHECK_EQ(load_img(&gm, sizeof(img), &entry, &end), 0);
	CHECK_EQ(entry, KLOAD + 0x4010);
	ehdr()->e_entry = KVIRT + 0x9000;
	CHECK_EQ(load_img(&gm, sizeof(img), &entry, &end), -ENOEXEC);
	gm_destroy(&gm);
}

/* Each case: mutate a fresh image, expect ret, and RAM left untouched. */
static void expect_refused(const char *what, int expected, size_t len)
{
	struct guest_mem gm;
	uint64_t entry = 0, end = 0;
	int ret;

	new_ram(&gm);
	ret = load_img(&gm, len, &entry, &end);
	if (ret != expected)
		fprintf(stderr, "  case %s\n", what);
	CHECK_EQ(ret, expected);
	CHECK(all_bytes(gm_ptr(&gm, KLOAD, 0x5000), 0x5000, POISON));
	gm_destroy(&gm);
}

static void test_elf_refused(void)
{
	make_elf();
	expect_refused("truncated data", -ENOEXEC, 0x2000);
	expect_refused("truncated header", -ENOEXEC, 10);
	expect_refused("truncated phdrs", -ENOEXEC, 100);
	expect_refused("empty", -ENOEXEC, 0);

	make_elf();
	img[0] = 'X';
	expect_refused("bad magic", -ENOEXEC, sizeof(img));
	make_elf();
	img[EI_CLASS] = ELFCLASS32;
	expect_refused("32-bit", -ENOEXEC, sizeof(img));
	make_elf();
	ehdr()->e_machine = EM_AARCH64;
	expect_refused("machine", -ENOEXEC, sizeof(img));
	make_elf();
	ehdr()->e_type = ET_DYN;
	expect_refused("ET_DYN", -ENOEXEC, sizeof(img));
	make_elf();
	ehdr()->e_phnum = 0;
	expect_refused("no phdrs", -ENOEXEC, sizeof(img));
	make_elf();
	ehdr()->e_phnum = KERNEL_ELF_MAX_PHDRS + 1;
	expect_refused("too many phdrs", -ENOEXEC, sizeof(img));
	make_elf();
	ehdr()->e_phoff = UINT64_MAX - 8;
	expect_refused("phoff overflow", -ENOEXEC, sizeof(img));
	make_elf();
	ehdr()->e_phentsize = 32;
	expect_refused("phentsize", -ENOEXEC, sizeof(img));
	make_elf();
	phdr(2)->p_paddr = 256 * MIB;
	expect_refused("outside RAM", -EFAULT, sizeof(img));
	make_elf();
	phdr(2)->p_paddr = RAM - 0x80;
	expect_refused("straddles end of RAM", -EFAULT, sizeof(img));
	make_elf();
	phdr(0)->p_filesz = 0xffffffffffff0000ULL;
	phdr(0)->p_memsz = 0xffffffffffff0000ULL;
	expect_refused("huge filesz", -ENOEXEC, sizeof(img));
	make_elf();
	phdr(0)->p_filesz = 0x4000;
	expect_refused("filesz > memsz", -ENOEXEC, sizeof(img));
	make_elf();
	phdr(0)->p_offset = UINT64_MAX - 0x100;
	expect_refused("offset overflow", -ENOEXEC, sizeof(img));
	make_elf();
	phdr(2)->p_paddr = UINT64_MAX - 0x10;
	expect_refused("paddr overflow", -ENOEXEC, sizeof(img));
	make_elf();
	phdr(2)->p_paddr = KLOAD + 0x2800;
	expect_refused("overlap", -ENOEXEC, sizeof(img));
	make_elf();
	phdr(0)->p_paddr = 0x7000;
	expect_refused("below 1 MiB", -ENOEXEC, sizeof(img));
	make_elf();
	phdr(0)->p_type = PT_NULL;
	phdr(2)->p_type = PT_NULL;
	expect_refused("no PT_LOAD", -ENOEXEC, sizeof(img));
	make_elf();
	ehdr()->e_entry = 0x500;
	expect_refused("entry outside", -ENOEXEC, sizeof(img));
}

/* Deterministic byte flips in the headers: any result but a crash is fine. */
static void test_elf_corruption_never_crashes(void)
{
	struct guest_mem gm;
	uint32_t seed = 12345;
	uint64_t entry, end;

	new_ram(&gm);
	for (int round = 0; round < 300; round++) {
		make_elf();
		for (int k = 0; k < 4; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t off = (seed >> 8) % (sizeof(Elf64_Ehdr) + 3 * sizeof(Elf64_Phdr));
			img[off] = (uint8_t)(seed >> 16);
		}
		int ret = load_img(&gm, sizeof(img), &entry, &end);
		CHECK(ret == 0 || (ret < 0 && ret != -999));
		if (ret == 0)
			CHECK(gm_ptr(&gm, entry, 1) != NULL);
	}
	gm_destroy(&gm);
}

static int detect_bytes(const void *data, size_t len)
{
	int fd = tmpfile_with(data, len);
	int ret = fd < 0 ? -999 : kernel_detect_format(fd);

	if (fd >= 0)
		close(fd);
	return ret;
}

static void test_detect(void)
{
	static const uint8_t gz[] = { 0x1f, 0x8b, 0x08, 0, 0, 0 };
	static const uint8_t zst[] = { 0x28, 0xb5, 0x2f, 0xfd, 0 };
	static const uint8_t xz[] = { 0xfd, '7', 'z', 'X', 'Z', 0 };
	int p[2];

	make_elf();
	CHECK_EQ(detect_bytes(img, sizeof(img)), KERNEL_FORMAT_ELF);
	CHECK_EQ(detect_bytes(gz, sizeof(gz)), -ENOTSUP);
	CHECK_EQ(detect_bytes(zst, sizeof(zst)), -ENOTSUP);
	CHECK_EQ(detect_bytes(xz, sizeof(xz)), -ENOTSUP);
	CHECK_EQ(detect_bytes("BZh91AY", 7), -ENOTSUP);
	CHECK_EQ(detect_bytes("hello world", 11), -ENOEXEC);
	CHECK_EQ(detect_bytes("", 0), -ENOEXEC);
	CHECK_EQ(pipe(p), 0);
	CHECK_EQ(kernel_detect_format(p[0]), -EINVAL);
	close(p[0]);
	close(p[1]);
	CHECK_EQ(kernel_detect_format(-1), -EBADF);
}

#define BZ_SETUP_SECTS 3
#define BZ_SETUP_SIZE ((BZ_SETUP_SECTS + 1) * 512)
#define BZ_PAYLOAD 0x1000

static void make_bzimage(struct setup_header *h)
{
	memset(img, 0, sizeof(img));
	memset(h, 0, sizeof(*h));
	h->setup_sects = BZ_SETUP_SECTS;
	h->boot_flag = 0xaa55;
	h->header = 0x53726448;
	h->version = 0x020f;
	h->loadflags = LOADED_HIGH;
	h->code32_start = 0x100000;
	h->kernel_alignment = 0x200000;
	h->relocatable_kernel = 1;
	h->xloadflags = XLF_KERNEL_64 | XLF_CAN_BE_LOADED_ABOVE_4G;
	h->cmdline_size = 2047;
	h->pref_address = KLOAD;
	h->init_size = 0x400000;
	h->syssize = BZ_PAYLOAD / 16;
	memset(img + BZ_SETUP_SIZE, 0x33, BZ_PAYLOAD);
}

static int load_bz(struct guest_mem *gm, const struct setup_header *h, size_t len,
		   uint64_t *entry, uint64_t *end, struct setup_header *out)
{
	memcpy(img + 0x1f1, h, sizeof(*h));
	int fd = tmpfile_with(img, len);
	int ret = fd < 0 ? -999 : kernel_load_bzimage(gm, fd, entry, end, out);

	if (fd >= 0)
		close(fd);
	return ret;
}

static void test_bzimage_good(void)
{
	struct guest_mem gm;
	struct setup_header h, out;
	uint64_t entry = 0, end = 0;

	new_ram(&gm);
	make_bzimage(&h);
	CHECK_EQ(load_bz(&gm, &h, BZ_SETUP_SIZE + BZ_PAYLOAD, &entry, &end, &out), 0);
	CHECK_EQ(entry, KLOAD + 0x200);
	CHECK_EQ(end, KLOAD + 0x400000);
	CHECK_EQ(out.version, 0x020f);
	CHECK_EQ(out.cmdline_size, 2047);
	CHECK(all_bytes(gm_ptr(&gm, KLOAD, BZ_PAYLOAD), BZ_PAYLOAD, 0x33));
	CHECK_EQ(*(uint8_t *)gm_ptr(&gm, KLOAD + BZ_PAYLOAD, 1), POISON);

	int fd = tmpfile_with(img, BZ_SETUP_SIZE + BZ_PAYLOAD);
	CHECK_EQ(kernel_detect_format(fd), KERNEL_FORMAT_BZIMAGE);
	/* A bzImage is not an ELF and vice versa. */
	CHECK_EQ(kernel_load_elf(&gm, fd, &entry, &end), -ENOEXEC);
	close(fd);
	make_elf();
	fd = tmpfile_with(img, sizeof(img));
	CHECK_EQ(kernel_load_bzimage(&gm, fd, &entry, &end, &out), -ENOEXEC);
	close(fd);
	gm_destroy(&gm);
}

static void bz_refused(struct setup_header *h, size_t len, int expected, const char *what)
{
	struct guest_mem gm;
	struct setup_header out;
	uint64_t entry, end;
	int ret;

	new_ram(&gm);
	ret = load_bz(&gm, h, len, &entry, &end, &out);
	if (ret != expected)
		fprintf(stderr, "  case %s\n", what);
	CHECK_EQ(ret, expected);
	CHECK(all_bytes(gm_ptr(&gm, KLOAD, BZ_PAYLOAD), BZ_PAYLOAD, POISON));
	gm_destroy(&gm);
}

static void test_bzimage_refused(void)
{
	struct setup_header h;
	const size_t len = BZ_SETUP_SIZE + BZ_PAYLOAD;

	make_bzimage(&h);
	h.version = 0x020b;
	bz_refused(&h, len, -ENOEXEC, "old protocol");
	make_bzimage(&h);
	h.xloadflags = 0;
	bz_refused(&h, len, -ENOEXEC, "no 64-bit entry");
	make_bzimage(&h);
	h.header = 0x12345678;
	bz_refused(&h, len, -ENOEXEC, "no HdrS");
	make_bzimage(&h);
	h.boot_flag = 0;
	bz_refused(&h, len, -ENOEXEC, "no boot flag");
	make_bzimage(&h);
	bz_refused(&h, len - 1, -ENOEXEC, "truncated payload");
	make_bzimage(&h);
	bz_refused(&h, 0x200, -ENOEXEC, "truncated header");
	make_bzimage(&h);
	h.syssize = 0xffffffff;
	bz_refused(&h, len, -ENOEXEC, "huge syssize");
	make_bzimage(&h);
	h.syssize = 0x200 / 16;	/* ends where the 64-bit entry would start */
	bz_refused(&h, len, -ENOEXEC, "payload shorter than the entry offset");
	make_bzimage(&h);
	h.syssize = 1;
	h.init_size = 0;	/* the entry lay past everything checked */
	bz_refused(&h, len, -ENOEXEC, "entry past payload and init_size");
	make_bzimage(&h);
	h.setup_sects = 0xff;
	bz_refused(&h, len, -ENOEXEC, "setup past EOF");
	make_bzimage(&h);
	h.init_size = RAM;
	bz_refused(&h, len, -EFAULT, "init_size beyond RAM");
	make_bzimage(&h);
	h.pref_address = 0x7000;
	bz_refused(&h, len, -ENOEXEC, "low load address");
	make_bzimage(&h);
	h.pref_address = UINT64_MAX & ~0xfffULL;
	bz_refused(&h, len, -EFAULT, "load address overflow");
}

static void test_bzimage_default_setup_sects(void)
{
	struct guest_mem gm;
	struct setup_header h, out;
	uint64_t entry, end;

	new_ram(&gm);
	make_bzimage(&h);
	h.setup_sects = 0;	/* means 4: payload starts at 5 * 512 */
	memset(img + BZ_SETUP_SIZE, 0, BZ_PAYLOAD);
	memset(img + 5 * 512, 0x44, BZ_PAYLOAD);
	CHECK_EQ(load_bz(&gm, &h, 5 * 512 + BZ_PAYLOAD, &entry, &end, &out), 0);
	CHECK(all_bytes(gm_ptr(&gm, KLOAD, BZ_PAYLOAD), BZ_PAYLOAD, 0x44));
	gm_destroy(&gm);
}

/* Real kernels built by krunfw/, when present.  Absent means skipped. */
static bool real_kernel_path(const char *name, char *path, size_t len)
{
	const char *root = getenv("KRUN_TEST_BUILD_ROOT");

	if (!root)
		return false;
	snprintf(path, len, "%s/krunfw/%s", root, name);
	return access(path, R_OK) == 0;
}

static void load_real(const char *name, int format)
{
	struct guest_mem gm = {0};
	struct setup_header out;
	uint64_t entry = 0, end = 0;
	char path[4096];
	int fd;

	real_kernel_path(name, path, sizeof(path));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK_EQ(gm_alloc_region(&gm, 0, 512 * MIB), 0);
	CHECK_EQ(kernel_detect_format(fd), format);
	if (format == KERNEL_FORMAT_ELF) {
		CHECK_EQ(kernel_load_elf(&gm, fd, &entry, &end), 0);
		CHECK_EQ(entry, 0x1000000);
	} else {
		CHECK_EQ(kernel_load_bzimage(&gm, fd, &entry, &end, &out), 0);
		CHECK_EQ(entry, out.pref_address + 0x200);
	}
	CHECK(end > entry);
	close(fd);
	gm_destroy(&gm);
}

static void test_real_vmlinux(void)
{
	load_real("vmlinux", KERNEL_FORMAT_ELF);
}

static void test_real_bzimage(void)
{
	load_real("bzImage", KERNEL_FORMAT_BZIMAGE);
}

#define RUN_IF_PRESENT(fn, name)                                        \
	do {                                                            \
		char p_[4096];                                          \
		if (real_kernel_path(name, p_, sizeof(p_)))             \
			RUN_TEST(fn);                                   \
		else                                                    \
			printf("SKIP %s (no krunfw/%s in build)\n", #fn, name); \
	} while (0)

int main(void)
{
	RUN_TEST(test_elf_good);
	RUN_TEST(test_elf_virtual_entry);
	RUN_TEST(test_elf_refused);
	RUN_TEST(test_elf_corruption_never_crashes);
	RUN_TEST(test_detect);
	RUN_TEST(test_bzimage_good);
	RUN_TEST(test_bzimage_refused);
	RUN_TEST(test_bzimage_default_setup_sects);
	RUN_IF_PRESENT(test_real_vmlinux, "vmlinux");
	RUN_IF_PRESENT(test_real_bzimage, "bzImage");
	TEST_MAIN_END();
}
