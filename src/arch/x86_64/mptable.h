/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Intel MultiProcessor Specification 1.4 table: how a kernel without ACPI
 * finds the CPUs, the IOAPIC and the ISA interrupt routing.
 */
#ifndef KRUN_X86_MPTABLE_H
#define KRUN_X86_MPTABLE_H

#include <stdint.h>

struct guest_mem;

/* The IOAPIC takes APIC id nr_cpus + 1, which must fit the 8-bit id. */
#define X86_MPTABLE_MAX_CPUS	254
#define X86_MPTABLE_ISA_IRQS	16

uint8_t x86_mptable_ioapic_id(unsigned int nr_cpus);
/* Bytes written at X86_MPTABLE_ADDR for nr_cpus processors. */
uint64_t x86_mptable_size(unsigned int nr_cpus);
/* Returns 0, -EINVAL for 0 or too many CPUs, or -EFAULT. */
int x86_write_mptable(const struct guest_mem *gm, unsigned int nr_cpus);

#endif
