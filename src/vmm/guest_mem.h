/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest physical memory: the only path by which VMM code touches guest RAM.
 *
 * Every access is checked against the region table and must fall entirely
 * inside one region; a range that straddles two regions or runs past the end
 * is refused.  Device code that needs a pointer (zero-copy I/O) asks for one
 * with gm_ptr(), which applies the same check.
 */
#ifndef KRUN_GUEST_MEM_H
#define KRUN_GUEST_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GM_MAX_REGIONS 8

struct gm_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *host;
	bool owned;	/* munmap on gm_destroy (false for the kernel bundle) */
	/* Anonymous RAM from gm_alloc_region: the only memory a device may
	 * give back to the host (free page reporting). */
	bool ram;
	/* memfd behind a shared mapping (gm_alloc_region_shared), else -1:
	 * what a vhost-user backend maps to reach guest RAM. */
	int fd;
};

struct guest_mem {
	struct gm_region regions[GM_MAX_REGIONS];
	unsigned int nr_regions;
};

/* Adds an already-mapped host range; fails with -EEXIST on overlap. */
int gm_add_region(struct guest_mem *gm, uint64_t gpa, void *host, uint64_t size,
		  bool owned);
/* Allocates anonymous private memory (MAP_NORESERVE) for [gpa, gpa+size). */
int gm_alloc_region(struct guest_mem *gm, uint64_t gpa, uint64_t size);
/* The same backed by a memfd (MFD_CLOEXEC) mapped shared, so another
 * process (a vhost-user backend) can map it too. */
int gm_alloc_region_shared(struct guest_mem *gm, uint64_t gpa, uint64_t size);
void gm_destroy(struct guest_mem *gm);

/* Host pointer for [gpa, gpa+len), or NULL if not wholly inside one region. */
void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);
/* Region containing gpa, or NULL. */
const struct gm_region *gm_find(const struct guest_mem *gm, uint64_t gpa);

/* Copy helpers: 0 or -EFAULT. */
int gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len);
int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, size_t len);

#endif
