/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fixed guest-physical layout for booting a Linux kernel through the 64-bit
 * boot protocol.  Values match upstream libkrun so that anything that reads
 * them from inside the guest (MP table scan, cmdline address) sees the same
 * machine.
 */
#ifndef KRUN_X86_LAYOUT_H
#define KRUN_X86_LAYOUT_H

#define X86_PAGE_SIZE		0x1000ULL

#define X86_GDT_ADDR		0x500ULL
#define X86_GDT_ENTRIES		4
#define X86_IDT_ADDR		0x520ULL
#define X86_ZERO_PAGE_ADDR	0x7000ULL
#define X86_BOOT_STACK		0x8ff0ULL
#define X86_PML4_ADDR		0x9000ULL
#define X86_PDPT_ADDR		0xa000ULL
/* One page-directory page per identity-mapped GiB, back to back from here. */
#define X86_PD_ADDR		0xb000ULL
#define X86_CMDLINE_ADDR	0x20000ULL
#define X86_CMDLINE_MAX		0x10000ULL
/* Start of the EBDA: one of the places Linux scans for the MP table. */
#define X86_MPTABLE_ADDR	0x9fc00ULL
/* SMBIOS entry point and tables: the BIOS area Linux scans without EFI,
 * reserved in the e820 map with the EBDA. */
#define X86_SMBIOS_ADDR		0xf0000ULL
#define X86_SMBIOS_END		0x100000ULL
#define X86_HIMEM_START		0x100000ULL

#define X86_MMIO_GAP_START	0xd0000000ULL
#define X86_MMIO_GAP_END	0x100000000ULL
#define X86_VIRTIO_MMIO_BASE	X86_MMIO_GAP_START
#define X86_VIRTIO_MMIO_STRIDE	0x1000ULL
#define X86_IOAPIC_ADDR		0xfec00000ULL
#define X86_LAPIC_ADDR		0xfee00000ULL
/* KVM_SET_TSS_ADDR wants three pages the guest never uses. */
#define X86_TSS_ADDR		0xfffbd000ULL

/* ISA IRQs 0-4 belong to the timer, keyboard, cascade and serial ports. */
#define X86_VIRTIO_IRQ_FIRST	5
#define X86_VIRTIO_IRQ_LAST	15

#endif
