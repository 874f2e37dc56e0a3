// SPDX-License-Identifier: Apache-2.0
#include "arch/x86_64/mem_plan.h"
#include "arch/x86_64/layout.h"

#include <errno.h>
#include <string.h>

#define GIB (1ULL << 30)

static uint64_t align_down(uint64_t v, uint64_t a)
{
	return v & ~(a - 1);
}

static uint64_t align_up(uint64_t v, uint64_t a)
{
	return align_down(v + a - 1, a);
}

static void add_region(struct x86_mem_plan *p, uint64_t gpa, uint64_t size,
		       bool is_kernel)
{
	if (size == 0)
		return;
	p->regions[p->nr_regions++] = (struct x86_mem_region){
		.gpa = gpa, .size = size, .is_kernel = is_kernel,
	};
}

static void add_e820(struct x86_mem_plan *p, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	p->e820[p->nr_e820++] = (struct x86_e820_entry){
		.addr = addr, .size = size, .type = type,
	};
}

static int check_kernel(const struct x86_kernel_placement *k)
{
	if (k->load_gpa % X86_PAGE_SIZE || k->size % X86_PAGE_SIZE)
		return -EINVAL;
	/* Below 1 MiB live the zero page, page tables, cmdline and MP table. */
	if (k->load_gpa < X86_HIMEM_START)
		return -EINVAL;
	if (k->load_gpa > X86_MMIO_GAP_START ||
	    k->size > X86_MMIO_GAP_START - k->load_gpa ||
	    X86_MMIO_GAP_START - k->load_gpa - k->size < X86_MIN_RAM_AFTER_KERNEL)
		return -EINVAL;
	return 0;
}

/*
 * The bundle is RAM from the guest's point of view (a private, writable
 * copy), so it only splits the memslots, never the e820 map.
 */
static void plan_regions(struct x86_mem_plan *p, const struct x86_kernel_placement *k)
{
	uint64_t low = p->low_end;

	if (k) {
		add_region(p, 0, k->load_gpa, false);
		add_region(p, k->load_gpa, k->size, true);
		add_region(p, k->load_gpa + k->size, low - k->load_gpa - k->size, false);
	} else {
		add_region(p, 0, low, false);
	}
	if (p->ram_end > X86_MMIO_GAP_END)
		add_region(p, X86_MMIO_GAP_END, p->ram_end - X86_MMIO_GAP_END, false);
}

static void plan_e820(struct x86_mem_plan *p)
{
	add_e820(p, 0, X86_MPTABLE_ADDR, X86_E820_RAM);
	/* EBDA and BIOS area: keeps the MP table safe from the allocator. */
	add_e820(p, X86_MPTABLE_ADDR, X86_HIMEM_START - X86_MPTABLE_ADDR,
		 X86_E820_RESERVED);
	add_e820(p, X86_HIMEM_START, p->low_end - X86_HIMEM_START, X86_E820_RAM);
	if (p->ram_end > X86_MMIO_GAP_END)
		add_e820(p, X86_MMIO_GAP_END, p->ram_end - X86_MMIO_GAP_END,
			 X86_E820_RAM);
}

int x86_plan_memory(uint64_t ram_bytes, const struct x86_kernel_placement *k,
		    struct x86_mem_plan *plan)
{
	uint64_t min_bytes = X86_MIN_RAM_AFTER_KERNEL;
	int ret;

	memset(plan, 0, sizeof(*plan));
	if (k && k->size == 0)
		k = NULL;
	if (k) {
		ret = check_kernel(k);
		if (ret)
			return ret;
		min_bytes += k->load_gpa + k->size;
	}
	ram_bytes = align_down(ram_bytes, X86_PAGE_SIZE);
	if (ram_bytes < min_bytes || ram_bytes > X86_MAX_RAM_BYTES)
		return -EINVAL;

	plan->ram_bytes = ram_bytes;
	if (ram_bytes <= X86_MMIO_GAP_START) {
		plan->low_end = ram_bytes;
		plan->ram_end = ram_bytes;
		plan->shm_start = X86_MMIO_GAP_END;
	} else {
		plan->low_end = X86_MMIO_GAP_START;
		plan->ram_end = X86_MMIO_GAP_END + (ram_bytes - X86_MMIO_GAP_START);
		plan->shm_start = align_up(plan->ram_end, GIB);
	}
	plan_regions(plan, k);
	plan_e820(plan);
	return 0;
}

int x86_place_initrd(const struct x86_mem_plan *plan, uint64_t size,
		     uint64_t kernel_end, uint64_t *gpa)
{
	if (size == 0)
		return -EINVAL;
	/* Highest ordinary region below the gap: guest_mem refuses straddles. */
	for (unsigned int i = plan->nr_regions; i-- > 0;) {
		const struct x86_mem_region *r = &plan->regions[i];
		uint64_t floor = r->gpa > kernel_end ? r->gpa : kernel_end;
		uint64_t end = r->gpa + r->size;

		if (r->is_kernel || r->gpa >= X86_MMIO_GAP_START)
			continue;
		if (size > end)
			return -ENOMEM;
		uint64_t start = align_down(end - size, X86_PAGE_SIZE);
		if (start < floor)
			return -ENOMEM;
		*gpa = start;
		return 0;
	}
	return -ENOMEM;
}
