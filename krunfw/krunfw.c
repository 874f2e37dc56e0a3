// SPDX-License-Identifier: Apache-2.0
#include <stdint.h>

#include "libkrunfw.h"

/* Emitted by mkbundle.py into the generated assembly file. */
#define BUNDLE_SYMBOL __attribute__((visibility("hidden")))
extern char krunfw_bundle_image[] BUNDLE_SYMBOL;
extern const uint64_t krunfw_bundle_load_addr BUNDLE_SYMBOL;
extern const uint64_t krunfw_bundle_entry_addr BUNDLE_SYMBOL;
extern const uint64_t krunfw_bundle_size BUNDLE_SYMBOL;

__attribute__((visibility("default")))
char *krunfw_get_kernel(size_t *load_addr, size_t *entry_addr, size_t *size)
{
	*load_addr = krunfw_bundle_load_addr;
	*entry_addr = krunfw_bundle_entry_addr;
	*size = krunfw_bundle_size;
	return krunfw_bundle_image;
}

__attribute__((visibility("default")))
int krunfw_get_version(void)
{
	return KRUNFW_ABI_VERSION;
}
