// SPDX-License-Identifier: Apache-2.0
#include "../test.h"
#include "arch/x86_64/cpuid.h"

#include <errno.h>

#define MAX 32

static struct x86_cpuid_entry leaf(uint32_t fn, uint32_t idx, uint32_t a, uint32_t b,
				   uint32_t c, uint32_t d)
{
	return (struct x86_cpuid_entry){
		.function = fn, .index = idx, .eax = a, .ebx = b, .ecx = c, .edx = d,
	};
}

static void vendor_leaf(struct x86_cpuid_entry *e, uint32_t max, const char *v)
{
	*e = leaf(0, 0, max, 0, 0, 0);
	memcpy(&e->ebx, v, 4);
	memcpy(&e->edx, v + 4, 4);
	memcpy(&e->ecx, v + 8, 4);
}

static const struct x86_cpuid_entry *get(const struct x86_cpuid_entry *e, unsigned int n,
					 uint32_t fn, uint32_t idx)
{
	for (unsigned int i = 0; i < n; i++)
		if (e[i].function == fn && e[i].index == idx)
			return &e[i];
	return NULL;
}

/* Host-like Intel set: VMX on, PMU present, host topology in 0xb/0x1f. */
static unsigned int intel_set(struct x86_cpuid_entry *e)
{
	unsigned int n = 0;

	vendor_leaf(&e[n++], 0x1f, "GenuineIntel");
	e[n++] = leaf(1, 0, 0x906ea, 0x07100800, 0x7ffafbbf | (1u << 5), 0xbfebfbff);
	e[n++] = leaf(4, 0, (0 << 26) | (1 << 14) | (1 << 5) | 1, 0, 0, 0);	/* L1d */
	e[n++] = leaf(4, 1, (7u << 26) | (1 << 14) | (2 << 5) | 3, 0, 0, 0);	/* L2 */
	e[n++] = leaf(4, 2, (7u << 26) | (15 << 14) | (3 << 5) | 3, 0, 0, 0);	/* L3 */
	e[n++] = leaf(4, 3, 0, 0, 0, 0);
	e[n++] = leaf(6, 0, 0x77, 0x2, 0x9, 0);
	e[n++] = leaf(7, 0, 0, 0, 0, 1u << 29);
	e[n++] = leaf(0xa, 0, 0x07300404, 0, 0, 0x603);
	e[n++] = leaf(0xb, 0, 1, 2, 0x100, 7);
	e[n++] = leaf(0xb, 1, 4, 16, 0x201, 7);
	e[n++] = leaf(0xb, 2, 0, 0, 2, 7);
	e[n++] = leaf(0x1f, 0, 1, 2, 0x100, 7);
	e[n++] = leaf(0x1f, 1, 4, 16, 0x201, 7);
	e[n++] = leaf(0x40000000, 0, 0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d);
	e[n++] = leaf(0x80000000, 0, 0x80000008, 0, 0, 0);
	e[n++] = leaf(0x80000001, 0, 0, 0, 0x121, 0x2c100800);
	return n;
}

static unsigned int amd_set(struct x86_cpuid_entry *e, bool with_1e)
{
	unsigned int n = 0;

	vendor_leaf(&e[n++], 0x10, "AuthenticAMD");
	e[n++] = leaf(1, 0, 0x830f10, 0x05100800, 0x7ed8320b, 0x178bfbff);
	e[n++] = leaf(7, 0, 0, 0x219c91a9, 0, 1u << 29);
	e[n++] = leaf(0xa, 0, 0x1234, 0, 0, 0);	/* left alone on AMD */
	e[n++] = leaf(0x80000000, 0, 0x8000001d, 0x68747541, 0x444d4163, 0x69746e65);
	e[n++] = leaf(0x80000001, 0, 0x830f10, 0, 0x35c233ff | (1u << 2), 0x2fd3fbff);
	e[n++] = leaf(0x80000008, 0, 0x3030, 0, 0x700f, 0);
	e[n++] = leaf(0x8000001d, 0, (1 << 14) | (1 << 5) | 1, 0, 0, 0);
	e[n++] = leaf(0x8000001d, 3, (15 << 14) | (3 << 5) | 3, 0, 0, 0);
	if (with_1e)
		e[n++] = leaf(0x8000001e, 0, 9, 0x104, 0x301, 0);
	return n;
}

static void test_vendor(void)
{
	struct x86_cpuid_entry e[MAX];

	CHECK_EQ(x86_cpuid_vendor(e, intel_set(e)), X86_VENDOR_INTEL);
	CHECK_EQ(x86_cpuid_vendor(e, amd_set(e, true)), X86_VENDOR_AMD);
	vendor_leaf(&e[0], 0xd, "HygonGenuine");
	CHECK_EQ(x86_cpuid_vendor(e, 1), X86_VENDOR_AMD);
	vendor_leaf(&e[0], 0xd, "CentaurHauls");
	CHECK_EQ(x86_cpuid_vendor(e, 1), X86_VENDOR_OTHER);
	CHECK_EQ(x86_cpuid_vendor(e, 0), X86_VENDOR_OTHER);
}

static void test_intel(void)
{
	struct x86_cpuid_entry e[MAX];
	unsigned int n = intel_set(e), n0 = n;
	const struct x86_cpuid_entry *l;

	CHECK_EQ(x86_filter_cpuid(e, &n, MAX, 2, 4, false), 0);
	CHECK_EQ(n, n0);

	l = get(e, n, 1, 0);
	CHECK(l->ecx & (1u << 31));
	CHECK(!(l->ecx & (1u << 5)));	/* VMX hidden */
	CHECK_EQ(l->ebx >> 24, 2);
	CHECK_EQ((l->ebx >> 16) & 0xff, 4);
	CHECK_EQ((l->ebx >> 8) & 0xff, 8);
	CHECK(l->edx & (1u << 28));

	l = get(e, n, 4, 0);
	CHECK_EQ(l->eax >> 26, 3);
	CHECK_EQ((l->eax >> 14) & 0xfff, 0);
	CHECK_EQ(l->eax & 0x3fff, (1 << 5) | 1);	/* type/level kept */
	l = get(e, n, 4, 1);
	CHECK_EQ((l->eax >> 14) & 0xfff, 0);
	l = get(e, n, 4, 2);
	CHECK_EQ((l->eax >> 14) & 0xfff, 3);
	CHECK_EQ(get(e, n, 4, 3)->eax, 0);

	l = get(e, n, 6, 0);
	CHECK_EQ(l->eax, 0x75);
	CHECK_EQ(l->ecx, 0x1);
	l = get(e, n, 0xa, 0);
	CHECK(!l->eax && !l->ebx && !l->ecx && !l->edx);
	CHECK_EQ(get(e, n, 7, 0)->edx, 1u << 29);	/* Intel keeps ARCH_CAPS */

	for (uint32_t fn = 0xb; fn <= 0x1f; fn += 0x14) {
		l = get(e, n, fn, 0);
		CHECK_EQ(l->edx, 2);
		CHECK_EQ(l->eax, 0);
		CHECK_EQ(l->ebx, 1);
		CHECK_EQ((l->ecx >> 8) & 0xff, 1);	/* SMT */
		l = get(e, n, fn, 1);
		CHECK_EQ(l->edx, 2);
		CHECK_EQ(l->eax, 6);
		CHECK_EQ(l->ebx, 4);
		CHECK_EQ(l->ecx, 0x201);
	}
	l = get(e, n, 0xb, 2);
	CHECK_EQ(l->ebx, 0);
	CHECK_EQ((l->ecx >> 8) & 0xff, 0);
	CHECK_EQ(l->edx, 2);

	l = get(e, n, 0x40000000, 0);
	CHECK_EQ(l->ebx, 0x4b4d564b);	/* KVM signature passes through */
	CHECK_EQ(l->eax, 0x40000001);
}

static void test_intel_single_and_nested(void)
{
	struct x86_cpuid_entry e[MAX];
	unsigned int n = intel_set(e);
	const struct x86_cpuid_entry *l;

	CHECK_EQ(x86_filter_cpuid(e, &n, MAX, 0, 1, true), 0);
	l = get(e, n, 1, 0);
	CHECK(l->ecx & (1u << 5));	/* VMX kept for nested */
	CHECK_EQ(l->ebx >> 24, 0);
	CHECK_EQ((l->ebx >> 16) & 0xff, 1);
	CHECK(!(l->edx & (1u << 28)));
	l = get(e, n, 0xb, 0);
	CHECK_EQ((l->ecx >> 8) & 0xff, 2);	/* CORE */
	l = get(e, n, 0xb, 1);
	CHECK_EQ((l->ecx >> 8) & 0xff, 0);	/* INVALID */
	CHECK_EQ(l->ebx, 0);
	CHECK_EQ(get(e, n, 4, 2)->eax >> 26, 0);
}

static void test_amd(void)
{
	struct x86_cpuid_entry e[MAX];
	unsigned int n = amd_set(e, true), n0 = n;
	const struct x86_cpuid_entry *l;

	CHECK_EQ(x86_filter_cpuid(e, &n, MAX, 3, 8, false), 0);
	CHECK_EQ(n, n0);
	l = get(e, n, 1, 0);
	CHECK(l->ecx & (1u << 31));
	CHECK(!(l->ecx & (1u << 24)));	/* TSC deadline only forced on Intel */
	CHECK_EQ(l->ebx >> 24, 3);
	CHECK_EQ((l->ebx >> 16) & 0xff, 8);
	CHECK_EQ(get(e, n, 7, 0)->edx, 0);
	CHECK_EQ(get(e, n, 0xa, 0)->eax, 0x1234);
	CHECK_EQ(get(e, n, 0x80000000, 0)->eax, 0x8000001e);
	l = get(e, n, 0x80000001, 0);
	CHECK(l->ecx & (1u << 22));
	CHECK(!(l->ecx & (1u << 2)));
	l = get(e, n, 0x80000008, 0);
	CHECK_EQ(l->ecx & 0xff, 7);
	CHECK_EQ((l->ecx >> 12) & 0xf, 6);
	l = get(e, n, 0x8000001d, 0);
	CHECK_EQ((l->eax >> 14) & 0xfff, 0);
	CHECK(l->flags & X86_CPUID_FLAG_SIGNIFICANT_INDEX);
	l = get(e, n, 0x8000001d, 3);
	CHECK_EQ((l->eax >> 14) & 0xfff, 7);
	l = get(e, n, 0x8000001e, 0);
	CHECK_EQ(l->eax, 3);
	CHECK_EQ(l->ebx, 3);
	CHECK_EQ(l->ecx, 0);
}

static void test_amd_inserts_ext_topology(void)
{
	struct x86_cpuid_entry e[MAX];
	unsigned int n = amd_set(e, false), n0 = n;
	const struct x86_cpuid_entry *l;

	CHECK_EQ(x86_filter_cpuid(e, &n, MAX, 1, 2, true), 0);
	CHECK_EQ(n, n0 + 1);
	l = get(e, n, 0x8000001e, 0);
	CHECK(l != NULL);
	if (l)
		CHECK_EQ(l->eax, 1);
	CHECK(get(e, n, 0x80000001, 0)->ecx & (1u << 2));	/* SVM for nested */

	n = amd_set(e, false);
	CHECK_EQ(x86_filter_cpuid(e, &n, n, 0, 1, false), -ENOSPC);
}

static void test_bad_args(void)
{
	struct x86_cpuid_entry e[MAX];
	unsigned int n = intel_set(e);

	CHECK_EQ(x86_filter_cpuid(e, &n, MAX, 0, 0, false), -EINVAL);
	CHECK_EQ(x86_filter_cpuid(e, &n, MAX, 4, 4, false), -EINVAL);
	CHECK_EQ(x86_filter_cpuid(e, &n, MAX, 0, 255, false), -EINVAL);
	CHECK_EQ(x86_filter_cpuid(e, &n, n - 1, 0, 1, false), -EINVAL);
}

static void test_other_vendor_untouched_but_hypervisor(void)
{
	struct x86_cpuid_entry e[4];
	unsigned int n = 0;

	vendor_leaf(&e[n++], 6, "CentaurHauls");
	e[n++] = leaf(1, 0, 0x6f0, 0, 0x20, 0);
	e[n++] = leaf(6, 0, 0x2, 0, 0x8, 0);
	CHECK_EQ(x86_filter_cpuid(e, &n, 4, 0, 1, false), 0);
	CHECK_EQ(n, 3);
	CHECK(e[1].ecx & (1u << 31));
	CHECK(!(e[1].ecx & 0x20));
	CHECK_EQ(e[2].eax, 0x2);
	CHECK_EQ(e[2].ecx, 0x8);
}

static void brand_of(const struct x86_cpuid_entry *e, unsigned int n, char out[49])
{
	memset(out, 0, 49);
	for (unsigned int l = 0; l < 3; l++) {
		const struct x86_cpuid_entry *b = get(e, n, 0x80000002 + l, 0);
		if (!b)
			return;
		memcpy(out + 16 * l, &b->eax, 4);
		memcpy(out + 16 * l + 4, &b->ebx, 4);
		memcpy(out + 16 * l + 8, &b->ecx, 4);
		memcpy(out + 16 * l + 12, &b->edx, 4);
	}
}

static void test_brand_filled_when_missing_or_empty(void)
{
	struct x86_cpuid_entry e[MAX];
	char want[48] = "Example CPU 9000 @ 3.00GHz", got[49];
	unsigned int n = amd_set(e, true), n0 = n;

	/* Missing leaves are appended... */
	CHECK_EQ(x86_cpuid_fill_brand(e, &n, MAX, want), 0);
	CHECK_EQ(n, n0 + 3);
	brand_of(e, n, got);
	CHECK_STR(got, want);

	/* ...empty ones are overwritten in place. */
	n = amd_set(e, true);
	e[n++] = leaf(0x80000002, 0, 0, 0, 0, 0);
	e[n++] = leaf(0x80000003, 0, 0, 0, 0, 0);
	e[n++] = leaf(0x80000004, 0, 0, 0, 0, 0);
	n0 = n;
	CHECK_EQ(x86_cpuid_fill_brand(e, &n, MAX, want), 0);
	CHECK_EQ(n, n0);
	brand_of(e, n, got);
	CHECK_STR(got, want);

	/* No room: an error, never a write past max. */
	n = amd_set(e, true);
	CHECK_EQ(x86_cpuid_fill_brand(e, &n, n + 1, want), -ENOSPC);
}

static void test_brand_kept_when_present_or_unsupported(void)
{
	struct x86_cpuid_entry e[MAX];
	char other[48] = "Other", got[49];
	unsigned int n = amd_set(e, true), n0;

	e[n++] = leaf(0x80000002, 0, 0x20444d41, 0, 0, 0);	/* "AMD " */
	n0 = n;
	CHECK_EQ(x86_cpuid_fill_brand(e, &n, MAX, other), 0);
	CHECK_EQ(n, n0);
	brand_of(e, n, got);
	CHECK_STR(got, "AMD ");	/* one leaf with content: left as is */
	CHECK_EQ(get(e, n, 0x80000002, 0)->eax, 0x20444d41);

	/* A CPU whose highest extended leaf is below 0x80000004 has no brand. */
	n = 0;
	vendor_leaf(&e[n++], 1, "GenuineIntel");
	e[n++] = leaf(0x80000000, 0, 0x80000001, 0, 0, 0);
	CHECK_EQ(x86_cpuid_fill_brand(e, &n, MAX, other), 0);
	CHECK_EQ(n, 2);
}

int main(void)
{
	RUN_TEST(test_vendor);
	RUN_TEST(test_intel);
	RUN_TEST(test_intel_single_and_nested);
	RUN_TEST(test_amd);
	RUN_TEST(test_amd_inserts_ext_topology);
	RUN_TEST(test_bad_args);
	RUN_TEST(test_other_vendor_untouched_but_hypervisor);
	RUN_TEST(test_brand_filled_when_missing_or_empty);
	RUN_TEST(test_brand_kept_when_present_or_unsupported);
	TEST_MAIN_END();
}
