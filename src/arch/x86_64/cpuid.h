/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-vCPU CPUID: the hypervisor's supported set, adjusted so the guest
 * sees a consistent topology (APIC ids, sibling counts, cache sharing) and
 * no features the VM cannot honour.
 */
#ifndef KRUN_X86_CPUID_H
#define KRUN_X86_CPUID_H

#include <stdbool.h>

#include "arch/x86_64/cpu_state.h"

enum x86_vendor {
	X86_VENDOR_OTHER = 0,
	X86_VENDOR_INTEL,
	X86_VENDOR_AMD,	/* Hygon included: same extended leaves */
};

enum x86_vendor x86_cpuid_vendor(const struct x86_cpuid_entry *e, unsigned int nr);

/*
 * Filters entries[0..*nr) in place for vCPU vcpu_index of nr_vcpus.  May
 * append leaves the topology needs (AMD 0x8000001e), never beyond max.
 * VMX/SVM stay visible only when nested is true.
 * Returns 0, -EINVAL for bad counts, or -ENOSPC when max is too small.
 */
int x86_filter_cpuid(struct x86_cpuid_entry *entries, unsigned int *nr,
		     unsigned int max, unsigned int vcpu_index,
		     unsigned int nr_vcpus, bool nested);

/*
 * Some hosts' KVM leaves the brand string (leaves 0x80000002-4) empty; the
 * guest then names its CPU "17/01".  Fills them from brand (48 bytes, NUL
 * padded) when none of the three carries anything.  Returns 0 or -ENOSPC.
 */
int x86_cpuid_fill_brand(struct x86_cpuid_entry *entries, unsigned int *nr,
			 unsigned int max, const char brand[48]);

/* The host CPU's own brand string; false when it has none. */
bool x86_host_brand(char brand[48]);

#endif
