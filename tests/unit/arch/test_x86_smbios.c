// SPDX-License-Identifier: Apache-2.0
/* SMBIOS tables as Linux's dmi_scan.c finds and walks them: the entry point
 * by its 16-byte scan of 0xf0000-0xfffff, its checksum, the structures up to
 * End-of-Table, each one's string set; and the bounds on OEM strings. */
#include "../test.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mem_plan.h"
#include "arch/x86_64/mptable.h"
#include "arch/x86_64/smbios.h"
#include "util/log.h"
#include "vmm/guest_mem.h"

#include <errno.h>
#include <stdint.h>

#define MIB (1024 * 1024)

static uint64_t rd(const uint8_t *p, unsigned int n)
{
	uint64_t v = 0;
	for (unsigned int i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

struct structure {
	uint8_t type, len;
	uint16_t handle;
	const uint8_t *formatted;
	const char *strings[300];
	unsigned int nr_strings;
};

struct walk {
	uint64_t ep_addr, table_addr;
	uint32_t table_len;
	unsigned int version;
	struct structure s[8];
	unsigned int nr;
	bool ended;
};

/* The low MiB of guest memory, the way Linux reads it. */
static uint8_t low[MIB];

/* dmi_scan_machine's non-EFI path for the 64-bit entry point. */
static bool find_entry_point(struct walk *w)
{
	for (uint64_t a = 0xf0000; a + 24 <= 0x100000; a += 16) {
		const uint8_t *ep = low + a;
		if (memcmp(ep, "_SM3_", 5) || ep[6] < 24 || ep[6] > 32)
			continue;
		uint8_t sum = 0;
		for (unsigned int i = 0; i < ep[6]; i++)
			sum = (uint8_t)(sum + ep[i]);
		if (sum)
			continue;
		w->ep_addr = a;
		w->version = (unsigned int)(ep[7] << 16 | ep[8] << 8 | ep[9]);
		w->table_len = (uint32_t)rd(ep + 12, 4);
		w->table_addr = rd(ep + 16, 8);
		return true;
	}
	return false;
}

/* dmi_decode_table, keeping what it passes over. */
static bool walk_table(struct walk *w)
{
	if (w->table_addr + w->table_len > sizeof(low))
		return false;
	const uint8_t *buf = low + w->table_addr, *data = buf;
	uint32_t len = w->table_len;
	while ((size_t)(data - buf) + 4 <= len && w->nr < 8) {
		struct structure *s = &w->s[w->nr++];
		s->type = data[0];
		s->len = data[1];
		s->handle = (uint16_t)rd(data + 2, 2);
		s->formatted = data;
		if (s->len < 4)
			return false;
		data += s->len;
		/* Strings: NUL-terminated, the set ends with an extra NUL. */
		const uint8_t *str = data;
		while ((size_t)(data - buf) < len - 1 && (data[0] || data[1])) {
			data++;
		}
		if ((size_t)(data - buf) >= len - 1)
			return false;
		if (str[0]) {
			const char *p = (const char *)str;
			while (*p && s->nr_strings < 300) {
				s->strings[s->nr_strings++] = p;
				p += strlen(p) + 1;
			}
		}
		data += 2;
		if (s->type == 127) {
			w->ended = true;
			return (size_t)(data - buf) == len;
		}
	}
	return false;
}

static bool write_and_walk(const char *const *oem, struct walk *w)
{
	struct guest_mem gm = {0};
	memset(w, 0, sizeof(*w));
	if (gm_alloc_region(&gm, 0, MIB))
		return false;
	int ret = x86_write_smbios(&gm, oem);
	bool ok = ret == 0 && gm_read(&gm, 0, low, MIB) == 0;
	gm_destroy(&gm);
	return ok && find_entry_point(w) && walk_table(w);
}

static const struct structure *find_type(const struct walk *w, uint8_t type)
{
	for (unsigned int i = 0; i < w->nr; i++)
		if (w->s[i].type == type)
			return &w->s[i];
	return NULL;
}

static void test_entry_point_and_walk(void)
{
	const char *const oem[] = {"io.systemd.credential:foo=bar", "second", NULL};
	struct walk w;
	CHECK(write_and_walk(oem, &w));
	CHECK_EQ(w.ep_addr, X86_SMBIOS_ADDR);
	CHECK_EQ(w.version, 0x030000);
	CHECK_EQ(w.table_addr, X86_SMBIOS_ADDR + X86_SMBIOS_TABLE_OFFSET);
	CHECK_EQ(w.table_addr + w.table_len, X86_SMBIOS_ADDR + x86_smbios_size(oem));
	CHECK(w.table_addr + w.table_len <= X86_SMBIOS_END);
	CHECK(w.ended);
	CHECK_EQ(w.nr, 4);
	/* Handles are unique. */
	for (unsigned int i = 0; i < w.nr; i++)
		for (unsigned int j = i + 1; j < w.nr; j++)
			CHECK(w.s[i].handle != w.s[j].handle);

	const struct structure *bios = find_type(&w, 0);
	CHECK(bios && bios->len == 0x18 && bios->nr_strings == 3);
	if (bios) {
		CHECK_STR(bios->strings[bios->formatted[4] - 1], "libkrun");
		CHECK(bios->formatted[5] >= 1 && bios->formatted[5] <= 3);
		CHECK(bios->formatted[8] >= 1 && bios->formatted[8] <= 3);
		CHECK(bios->formatted[0x13] & 0x10); /* a virtual machine */
	}
	const struct structure *sys = find_type(&w, 1);
	CHECK(sys && sys->len == 0x1b && sys->nr_strings == 2);
	if (sys) {
		CHECK_STR(sys->strings[sys->formatted[4] - 1], "libkrun");
		CHECK_EQ(sys->formatted[6], 0); /* no version string */
	}
	const struct structure *o = find_type(&w, 11);
	CHECK(o && o->len == 5);
	if (o) {
		CHECK_EQ(o->formatted[4], 2);
		CHECK_EQ(o->nr_strings, 2);
		CHECK_STR(o->strings[0], oem[0]);
		CHECK_STR(o->strings[1], oem[1]);
	}
	const struct structure *e = find_type(&w, 127);
	CHECK(e && e->len == 4 && e->nr_strings == 0);
}

/* No strings (NULL or an empty list): no type 11 at all. */
static void test_no_oem_strings(void)
{
	const char *const none[] = {NULL};
	struct walk w;
	CHECK(write_and_walk(NULL, &w));
	CHECK_EQ(w.nr, 3);
	CHECK(find_type(&w, 11) == NULL);
	CHECK(w.ended);
	CHECK(write_and_walk(none, &w));
	CHECK_EQ(w.nr, 3);
	CHECK_EQ(x86_smbios_size(NULL), x86_smbios_size(none));
}

static char big[X86_SMBIOS_MAX_OEM_BYTES + 2];

/* The largest set accepted fits the BIOS area and reads back whole. */
static void test_largest_set(void)
{
	static char strs[X86_SMBIOS_MAX_OEM_STRINGS][X86_SMBIOS_MAX_OEM_BYTES /
						     X86_SMBIOS_MAX_OEM_STRINGS];
	const char *v[X86_SMBIOS_MAX_OEM_STRINGS + 1];
	size_t each = sizeof(strs[0]) - 1;
	for (unsigned int i = 0; i < X86_SMBIOS_MAX_OEM_STRINGS; i++) {
		memset(strs[i], 'a' + (char)(i % 26), each);
		strs[i][each] = 0;
		v[i] = strs[i];
	}
	v[X86_SMBIOS_MAX_OEM_STRINGS] = NULL;
	CHECK_EQ(x86_smbios_check_oem_strings(v), 0);
	struct walk w;
	CHECK(write_and_walk(v, &w));
	CHECK(w.table_addr + w.table_len <= X86_SMBIOS_END);
	const struct structure *o = find_type(&w, 11);
	CHECK(o != NULL);
	if (o) {
		CHECK_EQ(o->formatted[4], X86_SMBIOS_MAX_OEM_STRINGS);
		CHECK_EQ(o->nr_strings, X86_SMBIOS_MAX_OEM_STRINGS);
		for (unsigned int i = 0; i < o->nr_strings && i < X86_SMBIOS_MAX_OEM_STRINGS; i++)
			CHECK(strcmp(o->strings[i], v[i]) == 0);
	}
	/* One longest string also fits. */
	memset(big, 'x', X86_SMBIOS_MAX_STRING);
	big[X86_SMBIOS_MAX_STRING] = 0;
	const char *one[] = {big, NULL};
	CHECK(write_and_walk(one, &w));
}

static void test_limits(void)
{
	struct guest_mem gm = {0};
	CHECK_EQ(gm_alloc_region(&gm, 0, MIB), 0);
	uint8_t before[64], after[64];
	CHECK_EQ(gm_read(&gm, X86_SMBIOS_ADDR, before, sizeof(before)), 0);

	const char *empty[] = {"ok", "", NULL};
	CHECK_EQ(x86_smbios_check_oem_strings(empty), -EINVAL);
	CHECK_EQ(x86_write_smbios(&gm, empty), -EINVAL);
	CHECK_EQ(x86_smbios_size(empty), 0);

	memset(big, 'y', X86_SMBIOS_MAX_STRING + 1);
	big[X86_SMBIOS_MAX_STRING + 1] = 0;
	const char *too_long[] = {big, NULL};
	CHECK_EQ(x86_smbios_check_oem_strings(too_long), -EINVAL);

	const char *many[X86_SMBIOS_MAX_OEM_STRINGS + 2];
	for (unsigned int i = 0; i <= X86_SMBIOS_MAX_OEM_STRINGS; i++)
		many[i] = "s";
	many[X86_SMBIOS_MAX_OEM_STRINGS + 1] = NULL;
	CHECK_EQ(x86_smbios_check_oem_strings(many), -EINVAL);
	many[X86_SMBIOS_MAX_OEM_STRINGS] = NULL;
	CHECK_EQ(x86_smbios_check_oem_strings(many), 0);

	/* Every string within its bound, the sum over the total bound. */
	static char mid[X86_SMBIOS_MAX_STRING + 1];
	memset(mid, 'z', X86_SMBIOS_MAX_STRING);
	const char *total[X86_SMBIOS_MAX_OEM_BYTES / X86_SMBIOS_MAX_STRING + 2];
	unsigned int n = X86_SMBIOS_MAX_OEM_BYTES / X86_SMBIOS_MAX_STRING + 1;
	for (unsigned int i = 0; i < n; i++)
		total[i] = mid;
	total[n] = NULL;
	CHECK_EQ(x86_smbios_check_oem_strings(total), -EINVAL);
	CHECK_EQ(x86_write_smbios(&gm, total), -EINVAL);

	/* Refusals wrote nothing. */
	CHECK_EQ(gm_read(&gm, X86_SMBIOS_ADDR, after, sizeof(after)), 0);
	CHECK(memcmp(before, after, sizeof(after)) == 0);
	gm_destroy(&gm);

	/* Guest memory without the BIOS area. */
	memset(&gm, 0, sizeof(gm));
	CHECK_EQ(gm_alloc_region(&gm, 0, 0x9f000), 0);
	CHECK_EQ(x86_write_smbios(&gm, NULL), -EFAULT);
	gm_destroy(&gm);
}

/* The table's range is reserved in every e820 map the planner makes, and
 * the largest MP table ends well before it. */
static void test_layout(void)
{
	static const uint64_t sizes[] = {64ull * MIB, 128ull * MIB, 4096ull * MIB};
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct x86_mem_plan plan;
		CHECK_EQ(x86_plan_memory(sizes[i], NULL, &plan), 0);
		bool covered = false;
		for (unsigned int j = 0; j < plan.nr_e820; j++) {
			const struct x86_e820_entry *e = &plan.e820[j];
			bool overlaps = e->addr < X86_SMBIOS_END &&
					X86_SMBIOS_ADDR < e->addr + e->size;
			if (!overlaps)
				continue;
			CHECK(e->type != X86_E820_RAM);
			covered |= e->addr <= X86_SMBIOS_ADDR &&
				   e->addr + e->size >= X86_SMBIOS_END;
		}
		CHECK(covered);
	}
	CHECK(X86_MPTABLE_ADDR + x86_mptable_size(X86_MPTABLE_MAX_CPUS) <= X86_SMBIOS_ADDR);
}

int main(void)
{
	krun_log_configure(2, LOG_LVL_OFF);
	RUN_TEST(test_entry_point_and_walk);
	RUN_TEST(test_no_oem_strings);
	RUN_TEST(test_largest_set);
	RUN_TEST(test_limits);
	RUN_TEST(test_layout);
	TEST_MAIN_END();
}
