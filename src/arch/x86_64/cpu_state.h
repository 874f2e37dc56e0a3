/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hypervisor-neutral x86_64 vCPU state.  arch/x86_64 fills these for the
 * Linux boot protocol; each hypervisor backend (hv/kvm.c today; WHPX or
 * another later) translates them into its own structures.
 */
#ifndef KRUN_X86_CPU_STATE_H
#define KRUN_X86_CPU_STATE_H

#include <stdint.h>

struct x86_segment {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type;
	uint8_t present, dpl, db, s, l, g, avl;
	uint8_t unusable;
};

struct x86_dtable {
	uint64_t base;
	uint16_t limit;
};

struct x86_sregs {
	struct x86_segment cs, ds, es, fs, gs, ss, tr, ldt;
	struct x86_dtable gdt, idt;
	uint64_t cr0, cr2, cr3, cr4, cr8;
	uint64_t efer;
	uint64_t apic_base;
};

struct x86_regs {
	uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
	uint64_t rip, rflags;
};

struct x86_fpu {
	uint16_t fcw;
	uint32_t mxcsr;
};

struct x86_msr {
	uint32_t index;
	uint64_t data;
};

/* Same fields as KVM's kvm_cpuid_entry2 minus padding. */
struct x86_cpuid_entry {
	uint32_t function;
	uint32_t index;
	uint32_t flags;	/* X86_CPUID_FLAG_SIGNIFICANT_INDEX */
	uint32_t eax, ebx, ecx, edx;
};
#define X86_CPUID_FLAG_SIGNIFICANT_INDEX 1u

#endif
