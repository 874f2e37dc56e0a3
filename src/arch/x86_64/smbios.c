// SPDX-License-Identifier: Apache-2.0
#include "arch/x86_64/smbios.h"
#include "arch/x86_64/layout.h"
#include "util/log.h"
#include "vmm/guest_mem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum {
	TYPE_BIOS = 0,
	TYPE_SYSTEM = 1,
	TYPE_OEM_STRINGS = 11,
	TYPE_END = 127,
};

/* Formatted-area lengths of the SMBIOS 3.0 structures written here. */
#define BIOS_LEN	0x18
#define SYSTEM_LEN	0x1b
#define OEM_LEN		0x05
#define END_LEN		0x04

#define BIOS_CHAR_UNSUPPORTED	(1u << 3)	/* "characteristics not supported" */
#define BIOS_EXT2_VM		(1u << 4)	/* extension byte 2: a virtual machine */
#define WAKEUP_POWER_SWITCH	6

static const char *const bios_strings[] = {"libkrun", "0", "01/01/2023", NULL};
static const char *const system_strings[] = {"libkrun", "microVM", NULL};

/* Where the table goes; the whole of it stays below 1 MiB. */
_Static_assert(X86_SMBIOS_ADDR % 16 == 0, "Linux scans 16-byte steps");
_Static_assert(X86_SMBIOS_ADDR >= 0xf0000 && X86_SMBIOS_END <= 0x100000,
	       "in the BIOS area Linux scans");

struct writer {
	uint8_t *buf;
	size_t off;
	uint16_t handle;
};

static size_t strings_size(const char *const *s)
{
	size_t n = 0;
	for (size_t i = 0; s && s[i]; i++)
		n += strlen(s[i]) + 1;
	/* A structure without strings still ends in two NULs. */
	return n ? n + 1 : 2;
}

static size_t table_size(const char *const *oem)
{
	size_t n = BIOS_LEN + strings_size(bios_strings) + SYSTEM_LEN +
		   strings_size(system_strings) + END_LEN + strings_size(NULL);
	if (oem && oem[0])
		n += OEM_LEN + strings_size(oem);
	return n;
}

int x86_smbios_check_oem_strings(const char *const *strings)
{
	size_t total = 0, i = 0;
	for (; strings && strings[i]; i++) {
		size_t len = strlen(strings[i]);
		if (i >= X86_SMBIOS_MAX_OEM_STRINGS) {
			log_error("SMBIOS: more than %d OEM strings", X86_SMBIOS_MAX_OEM_STRINGS);
			return -EINVAL;
		}
		if (len == 0 || len > X86_SMBIOS_MAX_STRING) {
			log_error("SMBIOS: OEM string %zu is %s (1 to %d bytes)", i,
				  len ? "too long" : "empty", X86_SMBIOS_MAX_STRING);
			return -EINVAL;
		}
		total += len + 1;
	}
	if (total > X86_SMBIOS_MAX_OEM_BYTES) {
		log_error("SMBIOS: OEM strings take %zu bytes (at most %d)", total,
			  X86_SMBIOS_MAX_OEM_BYTES);
		return -EINVAL;
	}
	return 0;
}

_Static_assert(X86_SMBIOS_TABLE_OFFSET + BIOS_LEN + SYSTEM_LEN + OEM_LEN + END_LEN + 64 +
			       X86_SMBIOS_MAX_OEM_BYTES + 1 <=
		       X86_SMBIOS_END - X86_SMBIOS_ADDR,
	       "the largest table fits the BIOS area");

size_t x86_smbios_size(const char *const *strings)
{
	if (x86_smbios_check_oem_strings(strings))
		return 0;
	return X86_SMBIOS_TABLE_OFFSET + table_size(strings);
}

static void put_u16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
	put_u16(p, (uint16_t)v);
	put_u16(p + 2, (uint16_t)(v >> 16));
}

static void put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)v);
	put_u32(p + 4, (uint32_t)(v >> 32));
}

/* Starts a structure: its header, the formatted area left for the caller
 * to fill (zeroed already); returns the formatted area. */
static uint8_t *begin(struct writer *w, uint8_t type, uint8_t len)
{
	uint8_t *p = w->buf + w->off;
	p[0] = type;
	p[1] = len;
	put_u16(p + 2, w->handle++);
	w->off += len;
	return p;
}

/* The string set after the formatted area, referred to as 1, 2, ... */
static void end(struct writer *w, const char *const *strings)
{
	size_t start = w->off;
	for (size_t i = 0; strings && strings[i]; i++) {
		size_t n = strlen(strings[i]) + 1;
		memcpy(w->buf + w->off, strings[i], n);
		w->off += n;
	}
	w->off += w->off == start ? 2 : 1;
}

static void put_bios(struct writer *w)
{
	uint8_t *p = begin(w, TYPE_BIOS, BIOS_LEN);
	p[4] = 1;			/* vendor */
	p[5] = 2;			/* version */
	put_u16(p + 6, 0xe800);		/* starting segment: the area's usual value */
	p[8] = 3;			/* release date */
	p[9] = 0;			/* ROM size: 64 KiB */
	put_u64(p + 0x0a, BIOS_CHAR_UNSUPPORTED);
	p[0x13] = BIOS_EXT2_VM;
	p[0x14] = p[0x15] = 0xff;	/* no system BIOS release */
	p[0x16] = p[0x17] = 0xff;	/* no embedded controller */
	end(w, bios_strings);
}

static void put_system(struct writer *w)
{
	uint8_t *p = begin(w, TYPE_SYSTEM, SYSTEM_LEN);
	p[4] = 1;			/* manufacturer */
	p[5] = 2;			/* product name */
	/* Version, serial number, SKU, family: none.  UUID all zero:
	 * "not present, may be set". */
	p[0x18] = WAKEUP_POWER_SWITCH;
	end(w, system_strings);
}

static void put_oem_strings(struct writer *w, const char *const *strings)
{
	size_t n = 0;
	while (strings[n])
		n++;
	uint8_t *p = begin(w, TYPE_OEM_STRINGS, OEM_LEN);
	p[4] = (uint8_t)n;
	end(w, strings);
}

static void put_entry_point(uint8_t *ep, uint32_t table_len)
{
	memcpy(ep, "_SM3_", 5);
	ep[6] = X86_SMBIOS_ENTRY_LEN;
	ep[7] = 3;			/* SMBIOS 3.0.0 */
	ep[8] = 0;
	ep[9] = 0;
	ep[10] = 1;			/* entry point revision: 3.0 */
	put_u32(ep + 12, table_len);	/* maximum size of the structures */
	put_u64(ep + 16, X86_SMBIOS_ADDR + X86_SMBIOS_TABLE_OFFSET);
	uint8_t sum = 0;
	for (unsigned int i = 0; i < X86_SMBIOS_ENTRY_LEN; i++)
		sum = (uint8_t)(sum + ep[i]);
	ep[5] = (uint8_t)-sum;
}

int x86_write_smbios(const struct guest_mem *gm, const char *const *strings)
{
	size_t size = x86_smbios_size(strings);
	if (!size)
		return -EINVAL;
	uint8_t *buf = calloc(1, size);
	if (!buf)
		return -ENOMEM;
	struct writer w = {.buf = buf, .off = X86_SMBIOS_TABLE_OFFSET};
	put_bios(&w);
	put_system(&w);
	if (strings && strings[0])
		put_oem_strings(&w, strings);
	begin(&w, TYPE_END, END_LEN);
	end(&w, NULL);
	put_entry_point(buf, (uint32_t)(w.off - X86_SMBIOS_TABLE_OFFSET));
	int ret = w.off == size ? gm_write(gm, X86_SMBIOS_ADDR, buf, size) : -EINVAL;
	free(buf);
	return ret;
}
