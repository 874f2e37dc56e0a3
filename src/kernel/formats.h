/* SPDX-License-Identifier: Apache-2.0 */
/*
 * krun_set_kernel's formats (KRUN_KERNEL_FORMAT_*) on x86_64, as upstream
 * defines them:
 *   ELF         an ELF vmlinux (a bzImage is recognised too);
 *   RAW         a flat image copied to 2 GiB and entered there (upstream's
 *               libkrunfw-style bundle); an ELF or a bzImage passed as RAW
 *               is recognised and loaded as such;
 *   IMAGE_GZ/_BZ2/_ZSTD  a compressed ELF vmlinux: the first stream magic
 *               in the file starts it (so a bare `gzip vmlinux`, or the
 *               payload of a bzImage compressed that way);
 *   PE_GZ       a PE image carrying a gzip-compressed ELF vmlinux: located
 *               by Linux's zboot header ("zimg", payload offset and size)
 *               when there is one, else, as upstream, at the first gzip
 *               magic (1f 8b 08) in the file.
 */
#ifndef KRUN_KERNEL_FORMATS_H
#define KRUN_KERNEL_FORMATS_H

#include <stdbool.h>
#include <stdint.h>

#include <asm/bootparam.h>

struct guest_mem;

/* Where upstream puts a RAW kernel on x86_64, and its entry point. */
#define KERNEL_RAW_LOAD_GPA	0x80000000ULL

struct kernel_loaded {
	uint64_t entry;
	uint64_t end;		/* above everything the kernel needs at boot */
	bool have_hdr;		/* a bzImage: hdr is its setup header */
	struct setup_header hdr;
};

/*
 * krun_set_kernel's early check, cheap (no full decompression): the file
 * is of the format asked for; for compressed formats the payload is found
 * and begins with an x86_64 ELF header.  Returns 0, -ENOEXEC, -ENOTSUP,
 * -EFBIG (file above KERNEL_DECOMPRESS_MAX), -EINVAL (unknown format) or
 * -errno; logs why.
 */
int kernel_check_format(int fd, uint32_t krun_format);

/*
 * Loads the kernel into guest RAM.  max_decompressed: most bytes a
 * compressed image may decompress to.  Errors as kernel_check_format(),
 * plus -EFAULT (does not fit in guest RAM) and -ENOMEM.
 */
int kernel_load_format(const struct guest_mem *gm, int fd, uint32_t krun_format,
		       uint64_t max_decompressed, struct kernel_loaded *out);

#endif
