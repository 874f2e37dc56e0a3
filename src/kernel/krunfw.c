// SPDX-License-Identifier: Apache-2.0
#include "krunfw.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"

#define KRUNFW_SONAME "libkrunfw.so.5"
#define PAGE_MASK_4K 0xfffULL

typedef char *(*get_kernel_fn)(size_t *load_addr, size_t *entry_addr, size_t *size);

struct seg_lookup {
	uintptr_t addr;
	uint64_t file_offset;
	const char *path;
	bool found;
};

static int find_file_offset(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct seg_lookup *l = arg;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type != PT_LOAD || l->addr < start || l->addr >= start + ph->p_filesz)
			continue;
		l->file_offset = ph->p_offset + (l->addr - start);
		l->path = info->dlpi_name;
		l->found = true;
		return 1;
	}
	return 0;
}

/* Maps [file_offset, +size) of the library privately; NULL on failure. */
static void *map_from_file(const void *image, uint64_t size)
{
	struct seg_lookup l = {.addr = (uintptr_t)image};
	dl_iterate_phdr(find_file_offset, &l);
	if (!l.found || !l.path || !*l.path || (l.file_offset & PAGE_MASK_4K))
		return NULL;
	int fd = open(l.path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, (off_t)l.file_offset);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	/* Same bytes as the loaded image, or the layout guess was wrong. */
	if (memcmp(p, image, size < 4096 ? size : 4096) != 0) {
		munmap(p, size);
		return NULL;
	}
	return p;
}

static void *copy_image(const void *image, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	memcpy(p, image, size);
	return p;
}

static void *open_library(void)
{
	/* The build tree's copy first when the test suite asks for it. */
	const char *override = getenv("KRUN_KRUNFW_PATH");
	if (override && *override) {
		void *h = dlopen(override, RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
		log_error("cannot load %s: %s", override, dlerror());
	}
	return dlopen(KRUNFW_SONAME, RTLD_NOW | RTLD_LOCAL);
}

int krunfw_map_kernel(struct krunfw_kernel *k)
{
	memset(k, 0, sizeof(*k));
	void *lib = open_library();
	if (!lib) {
		log_error("cannot load the guest kernel library %s: %s", KRUNFW_SONAME, dlerror());
		return -ENOENT;
	}
	get_kernel_fn get = (get_kernel_fn)dlsym(lib, "krunfw_get_kernel");
	if (!get) {
		log_error("%s has no krunfw_get_kernel", KRUNFW_SONAME);
		return -ENOENT;
	}
	size_t load = 0, entry = 0, size = 0;
	char *image = get(&load, &entry, &size);
	if (!image || size == 0 || ((uintptr_t)image & PAGE_MASK_4K) || (load & PAGE_MASK_4K) ||
	    (size & PAGE_MASK_4K) || entry < load || entry >= load + size) {
		log_error("the kernel bundle in %s is malformed", KRUNFW_SONAME);
		return -EINVAL;
	}
	void *host = map_from_file(image, size);
	if (!host)
		host = copy_image(image, size);
	if (!host)
		return -ENOMEM;
	/* The library stays loaded: unloading it buys nothing and races
	 * with other contexts using it. */
	k->host = host;
	k->map_base = host;
	k->map_len = size;
	k->size = size;
	k->load_gpa = load;
	k->entry = entry;
	return 0;
}

void krunfw_unmap_kernel(struct krunfw_kernel *k)
{
	if (k->map_base)
		munmap(k->map_base, k->map_len);
	memset(k, 0, sizeof(*k));
}
