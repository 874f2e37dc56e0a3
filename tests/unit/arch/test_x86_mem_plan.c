// SPDX-License-Identifier: Apache-2.0
#include "../test.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mem_plan.h"

#include <errno.h>

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static const struct x86_kernel_placement bundle = {
	.load_gpa = 16 * MIB, .size = 24 * MIB,
};

static uint64_t total_regions(const struct x86_mem_plan *p)
{
	uint64_t sum = 0;

	for (unsigned int i = 0; i < p->nr_regions; i++)
		sum += p->regions[i].size;
	return sum;
}

/* Regions must be sorted, disjoint and outside the MMIO gap. */
static void check_regions_sane(const struct x86_mem_plan *p)
{
	for (unsigned int i = 0; i < p->nr_regions; i++) {
		const struct x86_mem_region *r = &p->regions[i];

		CHECK(r->size > 0);
		CHECK(r->gpa % X86_PAGE_SIZE == 0 && r->size % X86_PAGE_SIZE == 0);
		CHECK(r->gpa + r->size <= X86_MMIO_GAP_START || r->gpa >= X86_MMIO_GAP_END);
		if (i > 0)
			CHECK(p->regions[i - 1].gpa + p->regions[i - 1].size <= r->gpa);
	}
}

static void test_small_no_bundle(void)
{
	struct x86_mem_plan p;

	CHECK_EQ(x86_plan_memory(512 * MIB, NULL, &p), 0);
	CHECK_EQ(p.nr_regions, 1);
	CHECK_EQ(p.regions[0].gpa, 0);
	CHECK_EQ(p.regions[0].size, 512 * MIB);
	CHECK_EQ(p.ram_end, 512 * MIB);
	CHECK_EQ(p.shm_start, 4 * GIB);
	CHECK_EQ(p.nr_e820, 3);
	CHECK_EQ(p.e820[0].addr, 0);
	CHECK_EQ(p.e820[0].size, 0x9fc00);
	CHECK_EQ(p.e820[0].type, X86_E820_RAM);
	CHECK_EQ(p.e820[1].addr, 0x9fc00);
	CHECK_EQ(p.e820[1].size, 0x100000 - 0x9fc00);
	CHECK_EQ(p.e820[1].type, X86_E820_RESERVED);
	CHECK_EQ(p.e820[2].addr, 0x100000);
	CHECK_EQ(p.e820[2].size, 512 * MIB - 0x100000);
	CHECK_EQ(p.e820[2].type, X86_E820_RAM);
	check_regions_sane(&p);
}

/* The guest must see ram_bytes in total, not 16 MiB + kernel + ram_bytes. */
static void test_bundle_total_is_requested(void)
{
	struct x86_mem_plan p;

	CHECK_EQ(x86_plan_memory(1 * GIB, &bundle, &p), 0);
	CHECK_EQ(p.nr_regions, 3);
	CHECK_EQ(p.regions[0].gpa, 0);
	CHECK_EQ(p.regions[0].size, 16 * MIB);
	CHECK(!p.regions[0].is_kernel);
	CHECK_EQ(p.regions[1].gpa, 16 * MIB);
	CHECK_EQ(p.regions[1].size, 24 * MIB);
	CHECK(p.regions[1].is_kernel);
	CHECK_EQ(p.regions[2].gpa, 40 * MIB);
	CHECK_EQ(p.regions[2].size, 1 * GIB - 40 * MIB);
	CHECK_EQ(total_regions(&p), 1 * GIB);
	CHECK_EQ(p.ram_bytes, 1 * GIB);
	/* The bundle is ordinary RAM to the guest: one e820 range. */
	CHECK_EQ(p.nr_e820, 3);
	CHECK_EQ(p.e820[2].addr + p.e820[2].size, 1 * GIB);
	check_regions_sane(&p);
}

static void test_2g(void)
{
	struct x86_mem_plan p;

	CHECK_EQ(x86_plan_memory(2 * GIB, &bundle, &p), 0);
	CHECK_EQ(total_regions(&p), 2 * GIB);
	CHECK_EQ(p.low_end, 2 * GIB);
	CHECK_EQ(p.ram_end, 2 * GIB);
	CHECK_EQ(p.shm_start, 4 * GIB);
	check_regions_sane(&p);
}

static void test_exactly_gap(void)
{
	struct x86_mem_plan p;

	CHECK_EQ(x86_plan_memory(X86_MMIO_GAP_START, NULL, &p), 0);
	CHECK_EQ(p.nr_regions, 1);
	CHECK_EQ(p.ram_end, X86_MMIO_GAP_START);
	CHECK_EQ(p.nr_e820, 3);
	CHECK_EQ(p.shm_start, 4 * GIB);
}

static void test_straddles_gap(void)
{
	struct x86_mem_plan p;

	CHECK_EQ(x86_plan_memory(4 * GIB, &bundle, &p), 0);
	CHECK_EQ(p.nr_regions, 4);
	CHECK_EQ(p.regions[2].gpa + p.regions[2].size, X86_MMIO_GAP_START);
	CHECK_EQ(p.regions[3].gpa, 4 * GIB);
	CHECK_EQ(p.regions[3].size, 4 * GIB - X86_MMIO_GAP_START);
	CHECK_EQ(total_regions(&p), 4 * GIB);
	CHECK_EQ(p.low_end, X86_MMIO_GAP_START);
	CHECK_EQ(p.ram_end, 4 * GIB + 768 * MIB);
	CHECK_EQ(p.shm_start, 5 * GIB);
	CHECK_EQ(p.nr_e820, 4);
	CHECK_EQ(p.e820[2].addr + p.e820[2].size, X86_MMIO_GAP_START);
	CHECK_EQ(p.e820[3].addr, 4 * GIB);
	CHECK_EQ(p.e820[3].size, 768 * MIB);
	check_regions_sane(&p);

	CHECK_EQ(x86_plan_memory(8 * GIB, NULL, &p), 0);
	CHECK_EQ(p.nr_regions, 2);
	CHECK_EQ(total_regions(&p), 8 * GIB);
	CHECK_EQ(p.shm_start, 9 * GIB);
	check_regions_sane(&p);
}

static void test_too_small(void)
{
	struct x86_mem_plan p;

	CHECK_EQ(x86_plan_memory(0, NULL, &p), -EINVAL);
	CHECK_EQ(x86_plan_memory(31 * MIB, NULL, &p), -EINVAL);
	CHECK_EQ(x86_plan_memory(32 * MIB, NULL, &p), 0);
	/* bundle ends at 40 MiB; 32 MiB must follow it */
	CHECK_EQ(x86_plan_memory(72 * MIB - X86_PAGE_SIZE, &bundle, &p), -EINVAL);
	CHECK_EQ(x86_plan_memory(72 * MIB, &bundle, &p), 0);
	CHECK_EQ(p.regions[2].size, 32 * MIB);
}

static void test_too_large_or_overflow(void)
{
	struct x86_mem_plan p;

	CHECK_EQ(x86_plan_memory(X86_MAX_RAM_BYTES, NULL, &p), 0);
	CHECK_EQ(x86_plan_memory(X86_MAX_RAM_BYTES + X86_PAGE_SIZE, NULL, &p), -EINVAL);
	CHECK_EQ(x86_plan_memory(UINT64_MAX, NULL, &p), -EINVAL);
	CHECK_EQ(x86_plan_memory(UINT64_MAX, &bundle, &p), -EINVAL);
}

static void test_bad_bundle(void)
{
	struct x86_mem_plan p;
	struct x86_kernel_placement k;

	k = (struct x86_kernel_placement){ .load_gpa = 16 * MIB + 1, .size = MIB };
	CHECK_EQ(x86_plan_memory(GIB, &k, &p), -EINVAL);
	k = (struct x86_kernel_placement){ .load_gpa = 16 * MIB, .size = MIB + 1 };
	CHECK_EQ(x86_plan_memory(GIB, &k, &p), -EINVAL);
	k = (struct x86_kernel_placement){ .load_gpa = 0x7000, .size = MIB };
	CHECK_EQ(x86_plan_memory(GIB, &k, &p), -EINVAL);
	/* would leave no RAM between bundle and gap */
	k = (struct x86_kernel_placement){ .load_gpa = X86_MMIO_GAP_START - 16 * MIB,
					   .size = 8 * MIB };
	CHECK_EQ(x86_plan_memory(8 * GIB, &k, &p), -EINVAL);
	k = (struct x86_kernel_placement){ .load_gpa = 16 * MIB, .size = UINT64_MAX - 0xfff };
	CHECK_EQ(x86_plan_memory(8 * GIB, &k, &p), -EINVAL);
	/* size 0 means "no bundle" */
	k = (struct x86_kernel_placement){ .load_gpa = 16 * MIB, .size = 0 };
	CHECK_EQ(x86_plan_memory(GIB, &k, &p), 0);
	CHECK_EQ(p.nr_regions, 1);
}

static void test_unaligned_rounds_down(void)
{
	struct x86_mem_plan p;

	CHECK_EQ(x86_plan_memory(64 * MIB + 123, NULL, &p), 0);
	CHECK_EQ(p.ram_bytes, 64 * MIB);
}

static void test_initrd(void)
{
	struct x86_mem_plan p;
	uint64_t gpa = 0;

	CHECK_EQ(x86_plan_memory(GIB, &bundle, &p), 0);
	CHECK_EQ(x86_place_initrd(&p, 10 * MIB + 5, 48 * MIB, &gpa), 0);
	CHECK_EQ(gpa % X86_PAGE_SIZE, 0);
	CHECK(gpa >= 48 * MIB);
	CHECK(gpa + 10 * MIB + 5 <= GIB);
	CHECK_EQ(x86_place_initrd(&p, GIB, 48 * MIB, &gpa), -ENOMEM);
	CHECK_EQ(x86_place_initrd(&p, 0, 48 * MIB, &gpa), -EINVAL);
	/* Above the gap the initrd still lands below 4 GiB. */
	CHECK_EQ(x86_plan_memory(8 * GIB, &bundle, &p), 0);
	CHECK_EQ(x86_place_initrd(&p, 64 * MIB, 48 * MIB, &gpa), 0);
	CHECK_EQ(gpa, X86_MMIO_GAP_START - 64 * MIB);
}

int main(void)
{
	RUN_TEST(test_small_no_bundle);
	RUN_TEST(test_bundle_total_is_requested);
	RUN_TEST(test_2g);
	RUN_TEST(test_exactly_gap);
	RUN_TEST(test_straddles_gap);
	RUN_TEST(test_too_small);
	RUN_TEST(test_too_large_or_overflow);
	RUN_TEST(test_bad_bundle);
	RUN_TEST(test_unaligned_rounds_down);
	RUN_TEST(test_initrd);
	TEST_MAIN_END();
}
