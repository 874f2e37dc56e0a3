// SPDX-License-Identifier: Apache-2.0
#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"
#include "vmm/guest_mem.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define HDR_MAGIC		0x53726448u	/* "HdrS" */
#define BOOT_FLAG		0xaa55
#define LOADER_UNDEFINED	0xff
/* Oldest version whose fields (ext_* pointers, xloadflags) we rely on. */
#define BOOT_PROTO_VERSION	0x020c
#define KERNEL_ALIGN		0x1000000

#define PTE_PRESENT		(1ULL << 0)
#define PTE_WRITE		(1ULL << 1)
#define PTE_LARGE		(1ULL << 7)
#define PT_ENTRIES		512
#define LARGE_PAGE_SHIFT	21

#define GDT_ENTRY(flags, base, limit)                                   \
	((((uint64_t)(base) & 0xff000000ULL) << 32) |                   \
	 (((uint64_t)(flags) & 0xf0ffULL) << 40) |                      \
	 (((uint64_t)(limit) & 0xf0000ULL) << 32) |                     \
	 (((uint64_t)(base) & 0xffffffULL) << 16) |                     \
	 ((uint64_t)(limit) & 0xffffULL))

/* null, 64-bit code (L=1), data, busy TSS: what startup_64 expects. */
static const uint64_t boot_gdt[X86_GDT_ENTRIES] = {
	GDT_ENTRY(0, 0, 0),
	GDT_ENTRY(0xa09b, 0, 0xfffff),
	GDT_ENTRY(0xc093, 0, 0xfffff),
	GDT_ENTRY(0x808b, 0, 0xfffff),
};

enum { GDT_CODE = 1, GDT_DATA = 2, GDT_TSS = 3 };

uint64_t x86_gdt_entry(unsigned int index)
{
	return index < X86_GDT_ENTRIES ? boot_gdt[index] : 0;
}

static int fill_e820(struct boot_params *bp, const struct x86_mem_plan *plan)
{
	if (plan->nr_e820 == 0 || plan->nr_e820 > E820_MAX_ENTRIES_ZEROPAGE ||
	    plan->nr_e820 > X86_MAX_E820)
		return -EINVAL;
	for (unsigned int i = 0; i < plan->nr_e820; i++) {
		bp->e820_table[i].addr = plan->e820[i].addr;
		bp->e820_table[i].size = plan->e820[i].size;
		bp->e820_table[i].type = plan->e820[i].type;
	}
	bp->e820_entries = (uint8_t)plan->nr_e820;
	return 0;
}

static void fill_header(struct boot_params *bp, const struct setup_header *hdr)
{
	if (hdr) {
		bp->hdr = *hdr;
	} else {
		bp->hdr.version = BOOT_PROTO_VERSION;
		bp->hdr.kernel_alignment = KERNEL_ALIGN;
	}
	bp->hdr.type_of_loader = LOADER_UNDEFINED;
	bp->hdr.boot_flag = BOOT_FLAG;
	bp->hdr.header = HDR_MAGIC;
	/*
	 * No CAN_USE_HEAP: heap_end_ptr only matters to the real-mode setup
	 * code, which the 64-bit entry skips.
	 */
	bp->hdr.loadflags |= LOADED_HIGH;
}

static void fill_cmdline(struct boot_params *bp, uint64_t gpa, uint32_t size)
{
	if (!size)
		return;
	bp->hdr.cmd_line_ptr = (uint32_t)gpa;
	bp->ext_cmd_line_ptr = (uint32_t)(gpa >> 32);
	bp->hdr.cmdline_size = size;
}

static void fill_initrd(struct boot_params *bp, uint64_t gpa, uint32_t size)
{
	if (!size)
		return;
	bp->hdr.ramdisk_image = (uint32_t)gpa;
	bp->ext_ramdisk_image = (uint32_t)(gpa >> 32);
	bp->hdr.ramdisk_size = size;
}

static bool hdr_cmdline_too_long(const struct setup_header *hdr, uint32_t size)
{
	/* Before 2.06 the limit was a fixed 255 characters. */
	uint32_t max = hdr->version >= 0x0206 ? hdr->cmdline_size : 255;

	return size > 0 && size - 1 > max;
}

int x86_write_zero_page(const struct guest_mem *gm, const struct x86_mem_plan *plan,
			uint64_t cmdline_gpa, uint32_t cmdline_size,
			uint64_t initrd_gpa, uint32_t initrd_size,
			const struct setup_header *hdr)
{
	struct boot_params bp;
	int ret;

	if (hdr && hdr_cmdline_too_long(hdr, cmdline_size))
		return -E2BIG;
	if (cmdline_size && !gm_ptr(gm, cmdline_gpa, cmdline_size))
		return -EFAULT;
	if (initrd_size && !gm_ptr(gm, initrd_gpa, initrd_size))
		return -EFAULT;
	memset(&bp, 0, sizeof(bp));
	ret = fill_e820(&bp, plan);
	if (ret)
		return ret;
	fill_header(&bp, hdr);
	fill_cmdline(&bp, cmdline_gpa, cmdline_size);
	fill_initrd(&bp, initrd_gpa, initrd_size);
	return gm_write(gm, X86_ZERO_PAGE_ADDR, &bp, sizeof(bp));
}

int x86_write_gdt_idt(const struct guest_mem *gm)
{
	uint64_t idt = 0;
	int ret = gm_write(gm, X86_GDT_ADDR, boot_gdt, sizeof(boot_gdt));

	if (ret)
		return ret;
	return gm_write(gm, X86_IDT_ADDR, &idt, sizeof(idt));
}

/*
 * 4 GiB rather than upstream's 1 GiB: a bundle or ELF loaded high, or a
 * zero page/cmdline pointer anywhere below the gap, stays reachable before
 * the kernel installs its own tables.  2 MiB pages because 1 GiB pages are
 * an optional CPU feature.  Costs three more pages below 0x10000.
 */
int x86_write_page_tables(const struct guest_mem *gm)
{
	uint64_t table[PT_ENTRIES];
	int ret;

	memset(table, 0, sizeof(table));
	table[0] = X86_PDPT_ADDR | PTE_PRESENT | PTE_WRITE;
	ret = gm_write(gm, X86_PML4_ADDR, table, sizeof(table));
	if (ret)
		return ret;

	memset(table, 0, sizeof(table));
	for (unsigned int i = 0; i < X86_IDENTITY_MAP_GIB; i++)
		table[i] = (X86_PD_ADDR + i * X86_PAGE_SIZE) | PTE_PRESENT | PTE_WRITE;
	ret = gm_write(gm, X86_PDPT_ADDR, table, sizeof(table));
	if (ret)
		return ret;

	for (unsigned int pd = 0; pd < X86_IDENTITY_MAP_GIB; pd++) {
		for (uint64_t i = 0; i < PT_ENTRIES; i++) {
			uint64_t page = (uint64_t)pd * PT_ENTRIES + i;

			table[i] = (page << LARGE_PAGE_SHIFT) | PTE_PRESENT |
				   PTE_WRITE | PTE_LARGE;
		}
		ret = gm_write(gm, X86_PD_ADDR + pd * X86_PAGE_SIZE, table,
			       sizeof(table));
		if (ret)
			return ret;
	}
	return 0;
}

static void segment_from_gdt(struct x86_segment *s, unsigned int index)
{
	uint64_t e = boot_gdt[index];
	uint32_t limit = (uint32_t)((e & 0xffff) | ((e >> 32) & 0xf0000));

	s->base = ((e >> 16) & 0xffffff) | ((e >> 32) & 0xff000000);
	s->g = (e >> 55) & 1;
	/* Hypervisors take the byte-granular limit, already scaled by G. */
	s->limit = s->g ? (limit << 12) | 0xfff : limit;
	s->selector = (uint16_t)(index * 8);
	s->type = (e >> 40) & 0xf;
	s->s = (e >> 44) & 1;
	s->dpl = (e >> 45) & 3;
	s->present = (e >> 47) & 1;
	s->avl = (e >> 52) & 1;
	s->l = (e >> 53) & 1;
	s->db = (e >> 54) & 1;
	s->unusable = !s->present;
}

void x86_boot_sregs(struct x86_sregs *s)
{
	segment_from_gdt(&s->cs, GDT_CODE);
	segment_from_gdt(&s->ds, GDT_DATA);
	s->es = s->ds;
	s->fs = s->ds;
	s->gs = s->ds;
	s->ss = s->ds;
	segment_from_gdt(&s->tr, GDT_TSS);

	s->gdt = (struct x86_dtable){
		.base = X86_GDT_ADDR, .limit = sizeof(boot_gdt) - 1,
	};
	s->idt = (struct x86_dtable){ .base = X86_IDT_ADDR, .limit = 7 };

	s->cr0 |= X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	s->cr3 = X86_PML4_ADDR;
	s->cr4 |= X86_CR4_PAE;
	s->efer |= X86_EFER_LME | X86_EFER_LMA;
}

void x86_boot_regs(struct x86_regs *r, uint64_t entry)
{
	memset(r, 0, sizeof(*r));
	r->rflags = 0x2;	/* bit 1 is reserved and reads as one */
	r->rip = entry;
	r->rsp = X86_BOOT_STACK;
	r->rbp = X86_BOOT_STACK;
	r->rsi = X86_ZERO_PAGE_ADDR;
}

void x86_boot_fpu(struct x86_fpu *f)
{
	memset(f, 0, sizeof(*f));
	f->fcw = 0x37f;		/* FNINIT default: all exceptions masked */
	f->mxcsr = 0x1f80;	/* power-on default: all SSE exceptions masked */
}

/*
 * All of them must be written: a vCPU that inherits stale syscall MSRs or
 * a non-WB MTRR default runs the early kernel uncached or worse.
 */
static const struct x86_msr boot_msrs[X86_NR_BOOT_MSRS] = {
	{ X86_MSR_SYSENTER_CS, 0 },
	{ X86_MSR_SYSENTER_ESP, 0 },
	{ X86_MSR_SYSENTER_EIP, 0 },
	{ X86_MSR_STAR, 0 },
	{ X86_MSR_CSTAR, 0 },
	{ X86_MSR_KERNEL_GS_BASE, 0 },
	{ X86_MSR_SYSCALL_MASK, 0 },
	{ X86_MSR_LSTAR, 0 },
	{ X86_MSR_TSC, 0 },
	{ X86_MSR_MISC_ENABLE, 1 },		/* fast string operations */
	{ X86_MSR_MTRR_DEF_TYPE, 0x806 },	/* MTRRs enabled, default WB */
};

unsigned int x86_boot_msrs(struct x86_msr *out, unsigned int max)
{
	for (unsigned int i = 0; i < X86_NR_BOOT_MSRS && i < max; i++)
		out[i] = boot_msrs[i];
	return X86_NR_BOOT_MSRS;
}
