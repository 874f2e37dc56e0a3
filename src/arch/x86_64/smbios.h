/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SMBIOS 3.0 tables (DMTF DSP0134) for the guest: a 64-bit "_SM3_" entry
 * point at X86_SMBIOS_ADDR, where Linux looks on a boot without EFI (it
 * scans 0xf0000-0xfffff in 16-byte steps), followed by the structures:
 * BIOS (type 0), System (type 1), the caller's OEM strings (type 11, from
 * krun_set_smbios_oem_strings) and End-of-Table (type 127).  Upstream
 * libkrun writes SMBIOS only on aarch64; x86 guests get it here too.
 */
#ifndef KRUN_X86_SMBIOS_H
#define KRUN_X86_SMBIOS_H

#include <stddef.h>
#include <stdint.h>

struct guest_mem;

/* Bounds on what a caller may put in type 11: the count is a byte in the
 * structure, and the whole table fits the BIOS area after its entry point. */
#define X86_SMBIOS_MAX_OEM_STRINGS	255
#define X86_SMBIOS_MAX_STRING		1024
#define X86_SMBIOS_MAX_OEM_BYTES	(32 * 1024)

#define X86_SMBIOS_ENTRY_LEN		24
/* The structure table follows the entry point, 32 bytes in. */
#define X86_SMBIOS_TABLE_OFFSET		32

/*
 * 0, or -EINVAL (one log line naming the rule) when strings breaks a bound
 * above or holds an empty string (type 11 cannot refer to one).  NULL is no
 * strings.
 */
int x86_smbios_check_oem_strings(const char *const *strings);
/* Bytes from X86_SMBIOS_ADDR to the end of the table; 0 when refused. */
size_t x86_smbios_size(const char *const *strings);
/* Writes entry point and table; 0, -EINVAL (strings refused) or -EFAULT. */
int x86_write_smbios(const struct guest_mem *gm, const char *const *strings);

#endif
