/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest RAM plan: which guest-physical ranges get memory, and the e820 map
 * the guest kernel is told about.  Pure arithmetic, no allocation, so the
 * builder can size memslots before touching the hypervisor.
 */
#ifndef KRUN_X86_MEM_PLAN_H
#define KRUN_X86_MEM_PLAN_H

#include <stdbool.h>
#include <stdint.h>

/* At most: low RAM, bundle, RAM after the bundle, RAM above 4 GiB. */
#define X86_MAX_RAM_REGIONS	4
#define X86_MAX_E820		8

/* RAM left for the kernel's BSS, page tables and userspace after the bundle. */
#define X86_MIN_RAM_AFTER_KERNEL	(32ULL << 20)
/* Above this we assume a caller bug (MiB/bytes mix-up) rather than a wish. */
#define X86_MAX_RAM_BYTES	(1ULL << 40)

#define X86_E820_RAM		1
#define X86_E820_RESERVED	2

/* Kernel image mapped into the guest as its own region (libkrunfw bundle). */
struct x86_kernel_placement {
	uint64_t load_gpa;
	uint64_t size;
};

struct x86_mem_region {
	uint64_t gpa;
	uint64_t size;
	bool is_kernel;	/* map the bundle here instead of allocating */
};

struct x86_e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

struct x86_mem_plan {
	struct x86_mem_region regions[X86_MAX_RAM_REGIONS];
	unsigned int nr_regions;
	struct x86_e820_entry e820[X86_MAX_E820];
	unsigned int nr_e820;
	uint64_t ram_bytes;	/* total RAM the guest sees, bundle included */
	uint64_t low_end;	/* end of RAM below the MMIO gap */
	uint64_t ram_end;	/* end of the highest RAM range */
	uint64_t shm_start;	/* first GPA free for shared-memory windows */
};

/*
 * Plans guest RAM so the guest sees ram_bytes (rounded down to a page) in
 * total, the bundle included, instead of upstream's 16 MiB + kernel +
 * ram_bytes.  k may be NULL (kernel copied into ordinary RAM).
 * Returns 0, or -EINVAL for sizes too small to boot, too large, or a
 * bundle that is misaligned or does not fit below the MMIO gap.
 */
int x86_plan_memory(uint64_t ram_bytes, const struct x86_kernel_placement *k,
		    struct x86_mem_plan *plan);

/*
 * Picks a page-aligned GPA for an initrd of size bytes: as high as possible
 * in RAM below 4 GiB (so 32-bit ramdisk_image suffices) but above
 * kernel_end.  Returns 0, -EINVAL for size 0, or -ENOMEM if it does not fit.
 */
int x86_place_initrd(const struct x86_mem_plan *plan, uint64_t size,
		     uint64_t kernel_end, uint64_t *gpa);

#endif
