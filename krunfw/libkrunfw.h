/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libkrunfw ABI 5: the guest kernel, pre-flattened into its guest-physical
 * layout so the VMM can map it into the guest without parsing anything.
 */
#ifndef LIBKRUNFW_H
#define LIBKRUNFW_H

#include <stddef.h>

#define KRUNFW_ABI_VERSION 5

/*
 * Returns the 64 KiB aligned image and stores its guest-physical load address,
 * the physical 64-bit entry point and the image size (a multiple of 64 KiB).
 * The memory is the library's private writable copy: the VMM may hand it to
 * the guest directly.
 */
char *krunfw_get_kernel(size_t *load_addr, size_t *entry_addr, size_t *size);

int krunfw_get_version(void);

#endif
