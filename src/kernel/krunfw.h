/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The guest kernel bundle from libkrunfw.so.5, loaded with dlopen() like
 * upstream so either library can pair with the other.
 */
#ifndef KRUN_KRUNFW_H
#define KRUN_KRUNFW_H

#include <stdint.h>

struct krunfw_kernel {
	void *host;		/* private, writable mapping of the image */
	uint64_t size;
	uint64_t load_gpa;
	uint64_t entry;
	void *map_base;		/* what to munmap */
	uint64_t map_len;
};

/*
 * Maps the bundled kernel for one VM.  The image is mapped privately from
 * the library file itself, so VMs share its pages through the page cache
 * until the guest writes them, and no VM sees another's writes.  Falls back
 * to a private copy when the file cannot be mapped.  -ENOENT when no
 * libkrunfw can be found.
 */
int krunfw_map_kernel(struct krunfw_kernel *k);
void krunfw_unmap_kernel(struct krunfw_kernel *k);

#endif
