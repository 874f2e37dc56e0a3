// SPDX-License-Identifier: Apache-2.0
#include "guest_mem.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int gm_add_region(struct guest_mem *gm, uint64_t gpa, void *host, uint64_t size,
		  bool owned)
{
	if (!host || size == 0 || gpa + size < gpa)
		return -EINVAL;
	if (gm->nr_regions >= GM_MAX_REGIONS)
		return -ENOSPC;
	for (unsigned int i = 0; i < gm->nr_regions; i++)
		if (ranges_overlap(gpa, size, gm->regions[i].gpa, gm->regions[i].size))
			return -EEXIST;
	gm->regions[gm->nr_regions++] = (struct gm_region){
		.gpa = gpa, .size = size, .host = host, .owned = owned, .fd = -1,
	};
	return 0;
}

static int alloc_ram(struct guest_mem *gm, uint64_t gpa, uint64_t size, int fd)
{
	void *host = mmap(NULL, size, PROT_READ | PROT_WRITE,
			  (fd < 0 ? MAP_PRIVATE | MAP_ANONYMOUS : MAP_SHARED) | MAP_NORESERVE,
			  fd, 0);
	if (host == MAP_FAILED)
		return -errno;
	/* Guest RAM has no business in a core dump of the caller. */
	madvise(host, size, MADV_DONTDUMP);
	int ret = gm_add_region(gm, gpa, host, size, true);
	if (ret)
		munmap(host, size);
	else
		gm->regions[gm->nr_regions - 1].ram = true;
	return ret;
}

int gm_alloc_region(struct guest_mem *gm, uint64_t gpa, uint64_t size)
{
	return alloc_ram(gm, gpa, size, -1);
}

int gm_alloc_region_shared(struct guest_mem *gm, uint64_t gpa, uint64_t size)
{
	int fd = memfd_create("krun-guest-ram", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = ftruncate(fd, (off_t)size) ? -errno : alloc_ram(gm, gpa, size, fd);
	if (ret) {
		close(fd);
		return ret;
	}
	gm->regions[gm->nr_regions - 1].fd = fd;
	return 0;
}

void gm_destroy(struct guest_mem *gm)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		if (gm->regions[i].owned)
			munmap(gm->regions[i].host, gm->regions[i].size);
		if (gm->regions[i].fd >= 0)
			close(gm->regions[i].fd);
	}
	gm->nr_regions = 0;
}

const struct gm_region *gm_find(const struct guest_mem *gm, uint64_t gpa)
{
	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		if (gpa >= r->gpa && gpa - r->gpa < r->size)
			return r;
	}
	return NULL;
}

void *gm_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	const struct gm_region *r = gm_find(gm, gpa);
	if (!r)
		return NULL;
	uint64_t off = gpa - r->gpa;
	if (len > r->size - off)
		return NULL;
	return r->host + off;
}

int gm_read(const struct guest_mem *gm, uint64_t gpa, void *dst, size_t len)
{
	const void *src = gm_ptr(gm, gpa, len);
	if (!src)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}

int gm_write(const struct guest_mem *gm, uint64_t gpa, const void *src, size_t len)
{
	void *dst = gm_ptr(gm, gpa, len);
	if (!dst)
		return -EFAULT;
	memcpy(dst, src, len);
	return 0;
}
