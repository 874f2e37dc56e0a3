/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loaders for external x86_64 kernels (krun_set_kernel): an ELF vmlinux or
 * a bzImage, copied into guest RAM.  Files are untrusted input: every
 * offset and size is checked before use, and a bad file is refused, never
 * partially trusted.
 */
#ifndef KRUN_KERNEL_LOADER_H
#define KRUN_KERNEL_LOADER_H

#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>

struct guest_mem;

enum kernel_format {
	KERNEL_FORMAT_ELF = 1,
	KERNEL_FORMAT_BZIMAGE = 2,
};

/* More PT_LOAD headers than any real kernel has; bounds the work. */
#define KERNEL_ELF_MAX_PHDRS	64

/* pread() all of len at off; -ENOEXEC if the file ends first. */
int kernel_read_exact(int fd, void *buf, size_t len, uint64_t off);
/* Size of a regular file; -EINVAL for anything else. */
int kernel_file_size(int fd, uint64_t *size);

/*
 * Returns a kernel_format, -ENOTSUP for a compressed image (gzip, bzip2,
 * xz, zstd, lz4) that would need decompressing first, -ENOEXEC for
 * anything else, or -errno from reading.
 */
int kernel_detect_format(int fd);

/*
 * Loads every PT_LOAD at its p_paddr (>= 1 MiB) and zeroes its BSS.
 * entry: physical address of e_entry; highest_end: end of the highest
 * segment.  Returns 0, -ENOEXEC for a malformed or non-x86_64 file,
 * -EFAULT if a segment is not inside guest RAM, or -errno from reading.
 */
int kernel_load_elf(const struct guest_mem *gm, int fd, uint64_t *entry,
		    uint64_t *highest_end);

/* The same for an image already in memory (a decompressed kernel). */
int kernel_load_elf_mem(const struct guest_mem *gm, const uint8_t *buf, size_t len,
			uint64_t *entry, uint64_t *highest_end);

/*
 * Loads the protected-mode part of a bzImage (boot protocol >= 2.12 with
 * a 64-bit entry) at its preferred address.  entry: the 64-bit entry point
 * (load + 0x200); highest_end: load + the kernel's init_size, the memory it
 * needs to decompress itself; hdr_out: the setup header for the zero page.
 * Errors as for kernel_load_elf().
 */
int kernel_load_bzimage(const struct guest_mem *gm, int fd, uint64_t *entry,
			uint64_t *highest_end, struct setup_header *hdr_out);

#endif
