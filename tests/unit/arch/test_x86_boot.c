// SPDX-License-Identifier: Apache-2.0
#include "../test.h"
#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"
#include "vmm/guest_mem.h"

#include <errno.h>

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static int alloc_plan(struct guest_mem *gm, const struct x86_mem_plan *p)
{
	for (unsigned int i = 0; i < p->nr_regions; i++) {
		int ret = gm_alloc_region(gm, p->regions[i].gpa, p->regions[i].size);

		if (ret)
			return ret;
	}
	return 0;
}

static void read_zero_page(const struct guest_mem *gm, struct boot_params *bp)
{
	CHECK_EQ(gm_read(gm, X86_ZERO_PAGE_ADDR, bp, sizeof(*bp)), 0);
}

static void check_e820_matches(const struct boot_params *bp, const struct x86_mem_plan *p)
{
	CHECK_EQ(bp->e820_entries, p->nr_e820);
	for (unsigned int i = 0; i < p->nr_e820 && i < E820_MAX_ENTRIES_ZEROPAGE; i++) {
		CHECK_EQ(bp->e820_table[i].addr, p->e820[i].addr);
		CHECK_EQ(bp->e820_table[i].size, p->e820[i].size);
		CHECK_EQ(bp->e820_table[i].type, p->e820[i].type);
	}
}

static void zero_page_case(uint64_t ram, const struct x86_kernel_placement *k)
{
	struct guest_mem gm = {0};
	struct x86_mem_plan p;
	struct boot_params bp;

	CHECK_EQ(x86_plan_memory(ram, k, &p), 0);
	CHECK_EQ(alloc_plan(&gm, &p), 0);
	CHECK_EQ(x86_write_zero_page(&gm, &p, X86_CMDLINE_ADDR, 42, 0, 0, NULL), 0);
	read_zero_page(&gm, &bp);
	CHECK_EQ(bp.hdr.type_of_loader, 0xff);
	CHECK_EQ(bp.hdr.boot_flag, 0xaa55);
	CHECK_EQ(bp.hdr.header, 0x53726448);
	CHECK(bp.hdr.version >= 0x020c);
	CHECK_EQ(bp.hdr.cmd_line_ptr, X86_CMDLINE_ADDR);
	CHECK_EQ(bp.ext_cmd_line_ptr, 0);
	CHECK_EQ(bp.hdr.cmdline_size, 42);
	CHECK_EQ(bp.hdr.kernel_alignment, 0x1000000);
	CHECK(bp.hdr.loadflags & LOADED_HIGH);
	CHECK_EQ(bp.hdr.ramdisk_image, 0);
	CHECK_EQ(bp.hdr.ramdisk_size, 0);
	CHECK_EQ(bp.sentinel, 0);
	check_e820_matches(&bp, &p);
	gm_destroy(&gm);
}

static const struct x86_kernel_placement bundle = { 16 * MIB, 24 * MIB };

static void test_zero_page_small(void)
{
	zero_page_case(64 * MIB, NULL);
	zero_page_case(128 * MIB, &bundle);
}

static void test_zero_page_2g(void)
{
	zero_page_case(2 * GIB, NULL);
	zero_page_case(2 * GIB, &bundle);
}

static void test_zero_page_above_4g(void)
{
	zero_page_case(6 * GIB, NULL);
	zero_page_case(6 * GIB, &bundle);
}

static void test_zero_page_initrd_and_hdr(void)
{
	struct guest_mem gm = {0};
	struct x86_mem_plan p;
	struct boot_params bp;
	struct setup_header hdr = {0};

	CHECK_EQ(x86_plan_memory(256 * MIB, NULL, &p), 0);
	CHECK_EQ(alloc_plan(&gm, &p), 0);
	hdr.version = 0x020f;
	hdr.kernel_alignment = 0x200000;
	hdr.cmdline_size = 2047;
	hdr.init_size = 0x1234000;
	hdr.xloadflags = XLF_KERNEL_64;
	CHECK_EQ(x86_write_zero_page(&gm, &p, X86_CMDLINE_ADDR, 100,
				     200 * MIB, 5 * MIB, &hdr), 0);
	read_zero_page(&gm, &bp);
	/* Kernel-owned fields come from the image's header. */
	CHECK_EQ(bp.hdr.version, 0x020f);
	CHECK_EQ(bp.hdr.kernel_alignment, 0x200000);
	CHECK_EQ(bp.hdr.init_size, 0x1234000);
	CHECK_EQ(bp.hdr.xloadflags, XLF_KERNEL_64);
	CHECK_EQ(bp.hdr.type_of_loader, 0xff);
	CHECK_EQ(bp.hdr.ramdisk_image, 200 * MIB);
	CHECK_EQ(bp.hdr.ramdisk_size, 5 * MIB);
	CHECK_EQ(bp.ext_ramdisk_image, 0);

	/* Longer than the kernel accepts: refused, not truncated by the guest. */
	CHECK_EQ(x86_write_zero_page(&gm, &p, X86_CMDLINE_ADDR, 2049, 0, 0, &hdr), -E2BIG);
	CHECK_EQ(x86_write_zero_page(&gm, &p, X86_CMDLINE_ADDR, 2048, 0, 0, &hdr), 0);
	/* initrd or cmdline outside RAM */
	CHECK_EQ(x86_write_zero_page(&gm, &p, X86_CMDLINE_ADDR, 10, 255 * MIB, 2 * MIB, NULL),
		 -EFAULT);
	CHECK_EQ(x86_write_zero_page(&gm, &p, 256 * MIB, 10, 0, 0, NULL), -EFAULT);
	gm_destroy(&gm);
}

static void test_zero_page_bad_e820(void)
{
	struct guest_mem gm = {0};
	struct x86_mem_plan p;

	CHECK_EQ(x86_plan_memory(64 * MIB, NULL, &p), 0);
	CHECK_EQ(alloc_plan(&gm, &p), 0);
	p.nr_e820 = X86_MAX_E820 + 1;
	CHECK_EQ(x86_write_zero_page(&gm, &p, X86_CMDLINE_ADDR, 1, 0, 0, NULL), -EINVAL);
	p.nr_e820 = 0;
	CHECK_EQ(x86_write_zero_page(&gm, &p, X86_CMDLINE_ADDR, 1, 0, 0, NULL), -EINVAL);
	gm_destroy(&gm);
}

static void test_gdt_idt(void)
{
	struct guest_mem gm = {0};
	uint64_t gdt[4], idt = 1;

	CHECK_EQ(gm_alloc_region(&gm, 0, MIB), 0);
	CHECK_EQ(x86_write_gdt_idt(&gm), 0);
	CHECK_EQ(gm_read(&gm, X86_GDT_ADDR, gdt, sizeof(gdt)), 0);
	CHECK_EQ(gm_read(&gm, X86_IDT_ADDR, &idt, sizeof(idt)), 0);
	CHECK_EQ(gdt[0], 0);
	CHECK_EQ(gdt[1], 0x00af9b000000ffffULL);
	CHECK_EQ(gdt[2], 0x00cf93000000ffffULL);
	CHECK_EQ(gdt[3], 0x008f8b000000ffffULL);
	CHECK_EQ(idt, 0);
	CHECK_EQ(x86_gdt_entry(1), gdt[1]);
	CHECK_EQ(x86_gdt_entry(99), 0);
	gm_destroy(&gm);

	struct guest_mem empty = {0};
	CHECK_EQ(x86_write_gdt_idt(&empty), -EFAULT);
}

/* Walks PML4 -> PDPT -> PD (2 MiB) or PDPT (1 GiB) like the MMU would. */
static int walk(const struct guest_mem *gm, uint64_t cr3, uint64_t va, uint64_t *pa)
{
	uint64_t e;

	if (gm_read(gm, (cr3 & ~0xfffULL) + ((va >> 39) & 511) * 8, &e, 8) || !(e & 1))
		return -1;
	if (gm_read(gm, (e & 0xffffffffff000ULL) + ((va >> 30) & 511) * 8, &e, 8) || !(e & 1))
		return -1;
	if (e & 0x80) {
		*pa = (e & 0xfffffc0000000ULL) | (va & (GIB - 1));
		return 0;
	}
	if (gm_read(gm, (e & 0xffffffffff000ULL) + ((va >> 21) & 511) * 8, &e, 8) || !(e & 1))
		return -1;
	if (!(e & 0x80))
		return -1;	/* 4 KiB tables are never written */
	if (!(e & 2))
		return -1;
	*pa = (e & 0xfffffffe00000ULL) | (va & (2 * MIB - 1));
	return 0;
}

static void test_page_tables_identity(void)
{
	struct guest_mem gm = {0};
	static const uint64_t probes[] = {
		0, 0x7000, 0x1000000, 0x1234567, GIB - 1, GIB, 3 * GIB + 5,
		X86_MMIO_GAP_START - 1, 4 * GIB - 1,
	};
	uint64_t pa;

	CHECK_EQ(gm_alloc_region(&gm, 0, MIB), 0);
	memset(gm_ptr(&gm, 0, MIB), 0xa5, MIB);	/* no reliance on zeroed RAM */
	CHECK_EQ(x86_write_page_tables(&gm), 0);
	for (unsigned int i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		pa = ~0ULL;
		CHECK_EQ(walk(&gm, X86_PML4_ADDR, probes[i], &pa), 0);
		CHECK_EQ(pa, probes[i]);
	}
	CHECK_EQ(walk(&gm, X86_PML4_ADDR, 4 * GIB, &pa), -1);
	CHECK_EQ(walk(&gm, X86_PML4_ADDR, 1ULL << 39, &pa), -1);
	/* Tables stay clear of the zero page and the cmdline. */
	CHECK(X86_PD_ADDR + X86_IDENTITY_MAP_GIB * X86_PAGE_SIZE <= X86_CMDLINE_ADDR);
	CHECK(X86_ZERO_PAGE_ADDR + X86_PAGE_SIZE <= X86_PML4_ADDR);
	gm_destroy(&gm);
}

static void test_sregs(void)
{
	struct x86_sregs s;

	memset(&s, 0, sizeof(s));
	s.apic_base = 0xfee00900;
	s.cr0 = 0x60000010;	/* reset CD|NW|ET: kept, PE|PG added */
	x86_boot_sregs(&s);
	CHECK_EQ(s.cr0, 0x60000010 | X86_CR0_PE | X86_CR0_PG);
	CHECK_EQ(s.cr3, X86_PML4_ADDR);
	CHECK(s.cr4 & X86_CR4_PAE);
	CHECK_EQ(s.efer, X86_EFER_LME | X86_EFER_LMA);
	CHECK_EQ(s.apic_base, 0xfee00900);
	CHECK_EQ(s.gdt.base, X86_GDT_ADDR);
	CHECK_EQ(s.gdt.limit, 31);
	CHECK_EQ(s.idt.base, X86_IDT_ADDR);
	CHECK_EQ(s.idt.limit, 7);

	CHECK_EQ(s.cs.selector, 0x08);
	CHECK_EQ(s.cs.type, 0xb);
	CHECK_EQ(s.cs.l, 1);
	CHECK_EQ(s.cs.db, 0);
	CHECK_EQ(s.cs.s, 1);
	CHECK_EQ(s.cs.present, 1);
	CHECK_EQ(s.cs.g, 1);
	CHECK_EQ(s.cs.dpl, 0);
	CHECK_EQ(s.cs.base, 0);
	CHECK_EQ(s.cs.limit, 0xffffffff);
	CHECK_EQ(s.cs.unusable, 0);

	const struct x86_segment *data[] = { &s.ds, &s.es, &s.fs, &s.gs, &s.ss };
	for (unsigned int i = 0; i < 5; i++) {
		CHECK_EQ(data[i]->selector, 0x10);
		CHECK_EQ(data[i]->type, 0x3);
		CHECK_EQ(data[i]->db, 1);
		CHECK_EQ(data[i]->l, 0);
		CHECK_EQ(data[i]->limit, 0xffffffff);
	}
	CHECK_EQ(s.tr.selector, 0x18);
	CHECK_EQ(s.tr.type, 0xb);
	CHECK_EQ(s.tr.s, 0);
	CHECK_EQ(s.tr.present, 1);
}

static void test_regs_fpu(void)
{
	struct x86_regs r;
	struct x86_fpu f;

	memset(&r, 0xff, sizeof(r));
	x86_boot_regs(&r, 0x1000000);
	CHECK_EQ(r.rip, 0x1000000);
	CHECK_EQ(r.rflags, 2);
	CHECK_EQ(r.rsp, 0x8ff0);
	CHECK_EQ(r.rbp, 0x8ff0);
	CHECK_EQ(r.rsi, 0x7000);
	CHECK_EQ(r.rax, 0);
	CHECK_EQ(r.rbx, 0);
	CHECK_EQ(r.r15, 0);

	memset(&f, 0xff, sizeof(f));
	x86_boot_fpu(&f);
	CHECK_EQ(f.fcw, 0x37f);
	CHECK_EQ(f.mxcsr, 0x1f80);
}

static const struct x86_msr *find_msr(const struct x86_msr *m, unsigned int n, uint32_t idx)
{
	for (unsigned int i = 0; i < n; i++)
		if (m[i].index == idx)
			return &m[i];
	return NULL;
}

static void test_msrs(void)
{
	struct x86_msr m[16];
	static const uint32_t zeroed[] = {
		0x174, 0x175, 0x176, 0xc0000081, 0xc0000082, 0xc0000083,
		0xc0000084, 0xc0000102, 0x10,
	};

	CHECK_EQ(x86_boot_msrs(m, 16), 11);
	for (unsigned int i = 0; i < sizeof(zeroed) / sizeof(zeroed[0]); i++) {
		const struct x86_msr *e = find_msr(m, 11, zeroed[i]);

		CHECK(e != NULL);
		if (e)
			CHECK_EQ(e->data, 0);
	}
	CHECK(find_msr(m, 11, 0x1a0) && find_msr(m, 11, 0x1a0)->data == 1);
	CHECK(find_msr(m, 11, 0x2ff) && find_msr(m, 11, 0x2ff)->data == 0x806);

	struct x86_msr few[3] = {0};
	CHECK_EQ(x86_boot_msrs(few, 2), 11);
	CHECK_EQ(few[2].index, 0);	/* never written past max */
}

int main(void)
{
	RUN_TEST(test_zero_page_small);
	RUN_TEST(test_zero_page_2g);
	RUN_TEST(test_zero_page_above_4g);
	RUN_TEST(test_zero_page_initrd_and_hdr);
	RUN_TEST(test_zero_page_bad_e820);
	RUN_TEST(test_gdt_idt);
	RUN_TEST(test_page_tables_identity);
	RUN_TEST(test_sregs);
	RUN_TEST(test_regs_fpu);
	RUN_TEST(test_msrs);
	TEST_MAIN_END();
}
