// SPDX-License-Identifier: Apache-2.0
#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/mptable.h"

#include <cpuid.h>
#include <errno.h>
#include <string.h>

#define BIT(n)			(1u << (n))

#define L1_ECX_VMX		BIT(5)
#define L1_ECX_HYPERVISOR	BIT(31)
#define L1_EDX_HTT		BIT(28)
#define L6_EAX_TURBO		BIT(1)
#define L6_ECX_EPB		BIT(3)
#define L7_EDX_ARCH_CAPS	BIT(29)
#define E1_ECX_SVM		BIT(2)
#define E1_ECX_TOPOEXT		BIT(22)

#define TOPO_TYPE_INVALID	0
#define TOPO_TYPE_SMT		1
#define TOPO_TYPE_CORE		2
/* Upstream's core-level shift; widened only when the ids need more bits. */
#define TOPO_MIN_CORE_SHIFT	6

#define EXT_TOPO_LEAF		0x8000001eu

struct topo {
	unsigned int index;
	unsigned int count;
	bool nested;
};

static uint32_t set_field(uint32_t reg, unsigned int lo, unsigned int bits,
			  uint32_t val)
{
	uint32_t mask = (bits >= 32 ? ~0u : (BIT(bits) - 1)) << lo;
	uint32_t max = bits >= 32 ? ~0u : BIT(bits) - 1;

	if (val > max)
		val = max;
	return (reg & ~mask) | ((val << lo) & mask);
}

static unsigned int ceil_log2(unsigned int n)
{
	unsigned int s = 0;

	while ((1u << s) < n)
		s++;
	return s;
}

enum x86_vendor x86_cpuid_vendor(const struct x86_cpuid_entry *e, unsigned int nr)
{
	for (unsigned int i = 0; i < nr; i++) {
		char id[12];

		if (e[i].function != 0)
			continue;
		memcpy(id, &e[i].ebx, 4);
		memcpy(id + 4, &e[i].edx, 4);
		memcpy(id + 8, &e[i].ecx, 4);
		if (!memcmp(id, "GenuineIntel", 12))
			return X86_VENDOR_INTEL;
		if (!memcmp(id, "AuthenticAMD", 12) || !memcmp(id, "HygonGenuine", 12))
			return X86_VENDOR_AMD;
		return X86_VENDOR_OTHER;
	}
	return X86_VENDOR_OTHER;
}

static void leaf1(struct x86_cpuid_entry *e, const struct topo *t)
{
	e->ecx |= L1_ECX_HYPERVISOR;
	if (!t->nested)
		e->ecx &= ~L1_ECX_VMX;
	e->ebx = set_field(e->ebx, 24, 8, t->index);
	e->ebx = set_field(e->ebx, 16, 8, 1u << ceil_log2(t->count));
	e->ebx = set_field(e->ebx, 8, 8, 8);	/* CLFLUSH line: 8 * 8 bytes */
	if (t->count > 1)
		e->edx |= L1_EDX_HTT;
	else
		e->edx &= ~L1_EDX_HTT;
}

/* Every vCPU is a core of one package; only L3 is shared between them. */
static void intel_leaf4(struct x86_cpuid_entry *e, const struct topo *t)
{
	unsigned int type = e->eax & 0x1f, level = (e->eax >> 5) & 0x7;

	if (type == 0)
		return;
	e->eax = set_field(e->eax, 26, 6, t->count - 1);
	e->eax = set_field(e->eax, 14, 12, level == 3 ? t->count - 1 : 0);
}

/* Leaf 0xb and its v2 twin 0x1f, which Linux prefers when present. */
static void intel_ext_topology(struct x86_cpuid_entry *e, const struct topo *t)
{
	unsigned int shift = ceil_log2(t->count);

	if (shift < TOPO_MIN_CORE_SHIFT)
		shift = TOPO_MIN_CORE_SHIFT;
	e->edx = t->index;
	e->flags |= X86_CPUID_FLAG_SIGNIFICANT_INDEX;
	switch (e->index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = (t->count > 1 ? TOPO_TYPE_SMT : TOPO_TYPE_CORE) << 8;
		break;
	case 1:
		e->eax = t->count > 1 ? shift : 0;
		e->ebx = t->count > 1 ? t->count : 0;
		e->ecx = (t->count > 1 ? TOPO_TYPE_CORE : TOPO_TYPE_INVALID) << 8 | 1;
		break;
	default:
		e->eax = 0;
		e->ebx = 0;
		e->ecx = TOPO_TYPE_INVALID << 8 | (e->index & 0xff);
		break;
	}
}

static void filter_intel(struct x86_cpuid_entry *e, const struct topo *t)
{
	switch (e->function) {
	case 4:
		intel_leaf4(e, t);
		break;
	case 6:
		/* Neither can be honoured from inside a VM. */
		e->eax &= ~L6_EAX_TURBO;
		e->ecx &= ~L6_ECX_EPB;
		break;
	case 0xa:
		/* No vPMU is configured; a half-visible one confuses perf. */
		e->eax = e->ebx = e->ecx = e->edx = 0;
		break;
	case 0xb:
	case 0x1f:
		intel_ext_topology(e, t);
		break;
	}
}

static void amd_cache_topology(struct x86_cpuid_entry *e, const struct topo *t)
{
	unsigned int type = e->eax & 0x1f, level = (e->eax >> 5) & 0x7;

	e->flags |= X86_CPUID_FLAG_SIGNIFICANT_INDEX;
	if (type == 0)
		return;
	e->eax = set_field(e->eax, 14, 12, level == 3 ? t->count - 1 : 0);
}

static void amd_ext_topology(struct x86_cpuid_entry *e, const struct topo *t)
{
	e->eax = t->index;
	e->ebx = t->index & 0xff;	/* core id; one thread per core */
	e->ecx = 0;			/* node 0, one node per package */
	e->edx = 0;
}

static void filter_amd(struct x86_cpuid_entry *e, const struct topo *t)
{
	switch (e->function) {
	case 7:
		/* The MSR is not emulated for AMD guests. */
		if (e->index == 0)
			e->edx &= ~L7_EDX_ARCH_CAPS;
		break;
	case 0x80000000:
		if (e->eax < EXT_TOPO_LEAF)
			e->eax = EXT_TOPO_LEAF;
		break;
	case 0x80000001:
		e->ecx |= E1_ECX_TOPOEXT;
		if (!t->nested)
			e->ecx &= ~E1_ECX_SVM;
		break;
	case 0x80000008:
		e->ecx = set_field(e->ecx, 12, 4, TOPO_MIN_CORE_SHIFT);
		e->ecx = set_field(e->ecx, 0, 8, t->count - 1);
		break;
	case 0x8000001d:
		amd_cache_topology(e, t);
		break;
	case EXT_TOPO_LEAF:
		amd_ext_topology(e, t);
		break;
	}
}

static struct x86_cpuid_entry *find_leaf(struct x86_cpuid_entry *e,
					 unsigned int nr, uint32_t function)
{
	for (unsigned int i = 0; i < nr; i++)
		if (e[i].function == function)
			return &e[i];
	return NULL;
}

/* TOPOEXT promises leaf 0x8000001e, so it must exist even if the host lacks it. */
static int amd_ensure_ext_topology(struct x86_cpuid_entry *e, unsigned int *nr,
				   unsigned int max)
{
	if (find_leaf(e, *nr, EXT_TOPO_LEAF))
		return 0;
	if (*nr >= max)
		return -ENOSPC;
	e[(*nr)++] = (struct x86_cpuid_entry){ .function = EXT_TOPO_LEAF };
	return 0;
}

int x86_filter_cpuid(struct x86_cpuid_entry *entries, unsigned int *nr,
		     unsigned int max, unsigned int vcpu_index,
		     unsigned int nr_vcpus, bool nested)
{
	struct topo t = { .index = vcpu_index, .count = nr_vcpus, .nested = nested };
	enum x86_vendor v;
	int ret;

	if (*nr > max || nr_vcpus == 0 || nr_vcpus > X86_MPTABLE_MAX_CPUS ||
	    vcpu_index >= nr_vcpus)
		return -EINVAL;
	v = x86_cpuid_vendor(entries, *nr);
	if (v == X86_VENDOR_AMD) {
		ret = amd_ensure_ext_topology(entries, nr, max);
		if (ret)
			return ret;
	}
	for (unsigned int i = 0; i < *nr; i++) {
		struct x86_cpuid_entry *e = &entries[i];

		if (e->function == 1)
			leaf1(e, &t);
		else if (e->function == 0x80000001 && !nested)
			e->ecx &= ~E1_ECX_SVM;
		if (v == X86_VENDOR_INTEL)
			filter_intel(e, &t);
		else if (v == X86_VENDOR_AMD)
			filter_amd(e, &t);
	}
	return 0;
}

#define BRAND_FIRST_LEAF	0x80000002u
#define BRAND_LEAVES		3

static bool brand_present(const struct x86_cpuid_entry *e, unsigned int nr)
{
	for (unsigned int i = 0; i < nr; i++)
		if (e[i].function >= BRAND_FIRST_LEAF &&
		    e[i].function < BRAND_FIRST_LEAF + BRAND_LEAVES &&
		    (e[i].eax | e[i].ebx | e[i].ecx | e[i].edx))
			return true;
	return false;
}

int x86_cpuid_fill_brand(struct x86_cpuid_entry *entries, unsigned int *nr,
			 unsigned int max, const char brand[48])
{
	struct x86_cpuid_entry *max_ext = find_leaf(entries, *nr, 0x80000000);

	if (!max_ext || max_ext->eax < BRAND_FIRST_LEAF + BRAND_LEAVES - 1 ||
	    brand_present(entries, *nr))
		return 0;
	for (unsigned int l = 0; l < BRAND_LEAVES; l++) {
		uint32_t fn = BRAND_FIRST_LEAF + l;
		struct x86_cpuid_entry *e = find_leaf(entries, *nr, fn);

		if (!e) {
			if (*nr >= max)
				return -ENOSPC;
			e = &entries[(*nr)++];
		}
		*e = (struct x86_cpuid_entry){ .function = fn };
		memcpy(&e->eax, brand + 16 * l, 4);
		memcpy(&e->ebx, brand + 16 * l + 4, 4);
		memcpy(&e->ecx, brand + 16 * l + 8, 4);
		memcpy(&e->edx, brand + 16 * l + 12, 4);
	}
	return 0;
}

bool x86_host_brand(char brand[48])
{
	unsigned int a, b, c, d;

	memset(brand, 0, 48);
	/* gcc's cpuid.h returns unsigned int, clang's int. */
	if ((unsigned int)__get_cpuid_max(0x80000000, NULL) < BRAND_FIRST_LEAF + BRAND_LEAVES - 1)
		return false;
	for (unsigned int l = 0; l < BRAND_LEAVES; l++) {
		__cpuid(BRAND_FIRST_LEAF + l, a, b, c, d);
		memcpy(brand + 16 * l, &a, 4);
		memcpy(brand + 16 * l + 4, &b, 4);
		memcpy(brand + 16 * l + 8, &c, 4);
		memcpy(brand + 16 * l + 12, &d, 4);
	}
	return brand[0] != 0;
}
