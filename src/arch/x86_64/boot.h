/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Linux 64-bit boot protocol: the structures written into guest memory
 * before the first vCPU runs, and the register state it starts with.
 * Hypervisor-neutral; the backend translates cpu_state.h structs.
 */
#ifndef KRUN_X86_BOOT_H
#define KRUN_X86_BOOT_H

#include <stdint.h>

#include <asm/bootparam.h>

#include "arch/x86_64/cpu_state.h"
#include "arch/x86_64/mem_plan.h"

struct guest_mem;

/* Identity-mapped with 2 MiB pages; see x86_write_page_tables(). */
#define X86_IDENTITY_MAP_GIB	4
#define X86_NR_BOOT_MSRS	11

/*
 * Zero page at X86_ZERO_PAGE_ADDR.  cmdline_size counts the NUL.  hdr is
 * the setup header read from a bzImage (its kernel-owned fields are kept),
 * or NULL for an ELF vmlinux.  Returns 0, -EINVAL or -EFAULT.
 */
int x86_write_zero_page(const struct guest_mem *gm, const struct x86_mem_plan *plan,
			uint64_t cmdline_gpa, uint32_t cmdline_size,
			uint64_t initrd_gpa, uint32_t initrd_size,
			const struct setup_header *hdr);
int x86_write_gdt_idt(const struct guest_mem *gm);
int x86_write_page_tables(const struct guest_mem *gm);

/* GDT descriptors as written by x86_write_gdt_idt(), for tests and sregs. */
uint64_t x86_gdt_entry(unsigned int index);

/*
 * Overlays the long-mode boot state on s, which normally holds the
 * hypervisor's reset state; control registers are OR-ed, segments and
 * descriptor tables replaced, everything else (apic_base, cr2, cr8) kept.
 */
void x86_boot_sregs(struct x86_sregs *s);
void x86_boot_regs(struct x86_regs *r, uint64_t entry);
void x86_boot_fpu(struct x86_fpu *f);
/*
 * Fills up to max entries; returns how many the boot state has
 * (X86_NR_BOOT_MSRS), so a return value above max means truncation.
 */
unsigned int x86_boot_msrs(struct x86_msr *out, unsigned int max);

/* MSR numbers (Intel SDM vol. 4) used by the boot state and the backend. */
#define X86_MSR_TSC		0x00000010u
#define X86_MSR_SYSENTER_CS	0x00000174u
#define X86_MSR_SYSENTER_ESP	0x00000175u
#define X86_MSR_SYSENTER_EIP	0x00000176u
#define X86_MSR_MISC_ENABLE	0x000001a0u
#define X86_MSR_MTRR_DEF_TYPE	0x000002ffu
#define X86_MSR_EFER		0xc0000080u
#define X86_MSR_STAR		0xc0000081u
#define X86_MSR_LSTAR		0xc0000082u
#define X86_MSR_CSTAR		0xc0000083u
#define X86_MSR_SYSCALL_MASK	0xc0000084u
#define X86_MSR_KERNEL_GS_BASE	0xc0000102u

#define X86_CR0_PE		(1ULL << 0)
#define X86_CR0_ET		(1ULL << 4)
#define X86_CR0_PG		(1ULL << 31)
#define X86_CR4_PAE		(1ULL << 5)
#define X86_EFER_LME		(1ULL << 8)
#define X86_EFER_LMA		(1ULL << 10)

#endif
