// SPDX-License-Identifier: Apache-2.0
#include "krunfw.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdbool.h>
#include <stdio.h>
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

/*
 * What krunfw_map_kernel needs from the host filesystem, taken when
 * libkrun itself is loaded.  crun's krun handler loads libkrun on the host
 * and starts the VM inside the container's root, where neither library
 * exists; upstream gets the same effect from its link-time dependency on
 * libkrunfw.  Written once by the constructor, before any API call can
 * run, and only read afterwards.
 */
static struct krunfw_preload {
	bool loaded;
	const char *image;	/* the kernel inside the loaded library */
	size_t load, entry, size;
	int fd;			/* the library file, for copy-on-write mappings */
	uint64_t file_offset;
} preload = {.fd = -1};

/*
 * An installed pair outside the loader's search path (a private prefix, a
 * staging tree) still finds its kernel: libkrunfw is installed next to us.
 */
static void *open_beside_libkrun(void)
{
	Dl_info self;
	if (!dladdr((void *)open_beside_libkrun, &self) || !self.dli_fname)
		return NULL;
	const char *slash = strrchr(self.dli_fname, '/');
	if (!slash)
		return NULL;
	char path[4096];
	int n = snprintf(path, sizeof(path), "%.*s/%s", (int)(slash - self.dli_fname),
			 self.dli_fname, KRUNFW_SONAME);
	if (n < 0 || (size_t)n >= sizeof(path))
		return NULL;
	return dlopen(path, RTLD_NOW | RTLD_LOCAL);
}

static void *open_library(void)
{
	/* The build tree's copy first when the test suite asks for it. */
	const char *override = getenv("KRUN_KRUNFW_PATH");
	if (override && *override) {
		void *h = dlopen(override, RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
	}
	void *h = dlopen(KRUNFW_SONAME, RTLD_NOW | RTLD_LOCAL);
	return h ? h : open_beside_libkrun();
}

/* The library stays loaded: the image lives in it. */
static int load_bundle(struct krunfw_preload *p)
{
	void *lib = open_library();
	if (!lib)
		return -ENOENT;
	get_kernel_fn get = (get_kernel_fn)dlsym(lib, "krunfw_get_kernel");
	if (!get)
		return -ENOENT;
	p->image = get(&p->load, &p->entry, &p->size);
	p->loaded = true;
	struct seg_lookup l = {.addr = (uintptr_t)p->image};
	if (!p->image || !dl_iterate_phdr(find_file_offset, &l) || !l.path || !*l.path ||
	    (l.file_offset & PAGE_MASK_4K))
		return 0;
	p->fd = open(l.path, O_RDONLY | O_CLOEXEC);
	p->file_offset = l.file_offset;
	return 0;
}

__attribute__((constructor)) static void krunfw_preload(void)
{
	/* No libkrunfw is fine here: krun_set_kernel users need none, and
	 * krunfw_map_kernel tries again and reports it. */
	(void)load_bundle(&preload);
}

static bool image_is_sane(const struct krunfw_preload *p)
{
	return p->image && p->size && !((uintptr_t)p->image & PAGE_MASK_4K) &&
	       !(p->load & PAGE_MASK_4K) && !(p->size & PAGE_MASK_4K) && p->entry >= p->load &&
	       p->entry < p->load + p->size;
}

/* A private mapping of the library file; NULL when that is not possible. */
static void *map_from_file(const struct krunfw_preload *p)
{
	if (p->fd < 0)
		return NULL;
	void *m = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, p->fd,
		       (off_t)p->file_offset);
	if (m == MAP_FAILED)
		return NULL;
	/* Same bytes as the loaded image, or the caller closed our descriptor
	 * and it now names another file. */
	if (memcmp(m, p->image, p->size < 4096 ? p->size : 4096) != 0) {
		munmap(m, p->size);
		return NULL;
	}
	return m;
}

static void *copy_image(const struct krunfw_preload *p)
{
	void *m = mmap(NULL, p->size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	memcpy(m, p->image, p->size);
	return m;
}

int krunfw_map_kernel(struct krunfw_kernel *k)
{
	memset(k, 0, sizeof(*k));
	struct krunfw_preload late = {.fd = -1};
	const struct krunfw_preload *p = &preload;
	if (!p->loaded) {
		/* Not found at load time: the caller may have fixed its paths since. */
		if (load_bundle(&late)) {
			const char *why = dlerror();
			log_error("cannot load the guest kernel library %s: %s", KRUNFW_SONAME,
				  why ? why : "it has no krunfw_get_kernel");
			return -ENOENT;
		}
		p = &late;
	}
	if (!image_is_sane(p)) {
		log_error("the kernel bundle in %s is malformed", KRUNFW_SONAME);
		if (late.fd >= 0)
			close(late.fd);
		return -EINVAL;
	}
	void *host = map_from_file(p);
	if (!host)
		host = copy_image(p);
	if (late.fd >= 0)
		close(late.fd);
	if (!host)
		return -ENOMEM;
	k->host = host;
	k->map_base = host;
	k->map_len = p->size;
	k->size = p->size;
	k->load_gpa = p->load;
	k->entry = p->entry;
	return 0;
}

void krunfw_unmap_kernel(struct krunfw_kernel *k)
{
	if (k->map_base)
		munmap(k->map_base, k->map_len);
	memset(k, 0, sizeof(*k));
}
