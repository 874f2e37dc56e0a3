// SPDX-License-Identifier: Apache-2.0
#include "../test.h"
#include "vmm/guest_mem.h"

#include <errno.h>

static void test_bounds(void)
{
	struct guest_mem gm = {0};
	CHECK_EQ(gm_alloc_region(&gm, 0x1000, 0x2000), 0);
	CHECK_EQ(gm_alloc_region(&gm, 0x2000, 0x1000), -EEXIST);
	CHECK(gm_ptr(&gm, 0x1000, 0x2000) != NULL);
	CHECK(gm_ptr(&gm, 0x1000, 0x2001) == NULL);
	CHECK(gm_ptr(&gm, 0xfff, 1) == NULL);
	CHECK(gm_ptr(&gm, 0x2fff, 1) != NULL);
	CHECK(gm_ptr(&gm, 0x2fff, UINT64_MAX) == NULL);
	CHECK(gm_ptr(&gm, UINT64_MAX, 2) == NULL);
	uint32_t v = 0x12345678, r = 0;
	CHECK_EQ(gm_write(&gm, 0x1ffe, &v, 4), 0);
	CHECK_EQ(gm_read(&gm, 0x1ffe, &r, 4), 0);
	CHECK_EQ(r, 0x12345678);
	CHECK_EQ(gm_read(&gm, 0x2ffe, &r, 4), -EFAULT);
	gm_destroy(&gm);
}

static void test_straddle_refused(void)
{
	struct guest_mem gm = {0};
	CHECK_EQ(gm_alloc_region(&gm, 0x0, 0x1000), 0);
	CHECK_EQ(gm_alloc_region(&gm, 0x1000, 0x1000), 0);
	CHECK(gm_ptr(&gm, 0xff0, 0x20) == NULL);
	CHECK(gm_ptr(&gm, 0x1000, 0x20) != NULL);
	gm_destroy(&gm);
}

int main(void)
{
	RUN_TEST(test_bounds);
	RUN_TEST(test_straddle_refused);
	TEST_MAIN_END();
}
