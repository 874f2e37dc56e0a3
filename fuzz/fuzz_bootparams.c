// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: what vm_create() writes for the guest kernel before the
 * first vCPU runs, from a caller's config (RAM size, vCPUs, virtio devices,
 * kernel command line, a libkrunfw bundle's placement) and the setup header
 * of a bzImage.  The steps are vm.c's and start.c's, in their order:
 *
 *   x86_plan_memory, then guest RAM for the plan's regions;
 *   the caller's line with start.c's TSI/DHCP params (cmdline_str_add_param)
 *   split into words for cmdline_append as vm.c does, then more builder
 *   calls from the input (append, append_kv, append_quoted,
 *   replace_console, add_virtio_mmio) and a virtio_mmio.device= per device;
 *   optionally x86_place_initrd;
 *   the line at X86_CMDLINE_ADDR, x86_write_zero_page, x86_write_gdt_idt,
 *   x86_write_page_tables, x86_write_mptable, x86_write_smbios (with the
 *   final line's words as OEM strings), the boot registers.
 *
 * Guest RAM is one PROT_NONE reservation of the largest plan (1 TiB of RAM
 * and the MMIO gap, guest-physical g at host base + g) with only the first
 * MiB readable and writable: the boot structures all live there, so any
 * write above it faults, and the low MiB is poisoned and compared after
 * each run: a byte that changed outside the structures is a finding.
 *
 * Input (missing bytes read as 0):
 *   u8 flags   bit 0: a libkrunfw bundle (else an external kernel), bit 1: a
 *              bzImage setup header, bit 2: the header raw (else its magic,
 *              version >= 2.12 and 64-bit entry are forced, as the loader
 *              checks), bit 3: a raw cmdline pointer and size for the zero
 *              page, bit 4: an initrd, bits 5-7: start.c's tsi_hijack,
 *              tsi_hijack_unix and KRUN_DHCP=1
 *   u8 flags2  bit 0: the builder's limit from the input (else 2047)
 *   a size     guest RAM bytes; (bundle) its load address and size
 *   u16        vCPUs % 260; u8 virtio devices % 12; u64 the entry point
 *   (flags2)   u16 limit - 1 (% 4095)
 *   (hdr)      struct setup_header's bytes
 *   (initrd)   a size, an address (the kernel's end)
 *   (raw)      u64 cmdline address, u32 cmdline size
 *   line       u16 length % 4096, then its bytes: the caller's command line
 *   ops        u8 op % 5: 0 append (str), 1 append_kv (str, str), 2
 *              append_quoted (str), 3 replace_console (str), 4
 *              add_virtio_mmio (u64 base, u32 size, u8 irq); a str is a u8
 *              length and its bytes
 * Sizes and addresses are a selector byte and its operand, near the edges
 * of the plan's rules (32 MiB, the MMIO gap, 1 TiB, page alignment).
 *
 * Checks (__builtin_trap):
 *   plan: refused (-EINVAL) exactly when its documented rules say so; else
 *     page-aligned, sorted, disjoint regions outside the MMIO gap adding up
 *     to the RAM asked for (page-rounded), the bundle one region of its own
 *     with >= 32 MiB after it, shm_start above all RAM;
 *   command line: after every builder call, a NUL-terminated line within
 *     the limit, no control characters, balanced quotes, no spaces at its
 *     ends; a refusal (-EINVAL for text the kernel would split or mangle,
 *     judged by the kernel's own isspace(), -E2BIG past the limit) leaves
 *     it as it was; an accepted word reads back through a copy of Linux's
 *     next_arg() as exactly the word given (key and value for append_kv,
 *     size/base/irq for virtio_mmio.device=), appended at the end, or for
 *     kernel parameters (virtio_mmio.device=, console=) before the first
 *     "--", after which the kernel hands words to init; start.c's params
 *     go before the first "--" word of the caller's line;
 *   initrd: page-aligned, above the kernel, as high as the highest ordinary
 *     RAM region below 4 GiB allows, or -ENOMEM when it does not fit there;
 *   zero page: its -errno exactly when the documented conditions hold (and
 *     nothing written then); else the e820 map sorted, disjoint, every
 *     entry backed by guest RAM and every RAM byte in an entry, nothing in
 *     the MMIO gap, the MP table in a reserved entry; the header the
 *     kernel's with the loader's fields set; cmd_line_ptr at a line that is
 *     NUL-terminated at cmdline_size - 1; no other byte of the page set;
 *   GDT, IDT, page tables (4 GiB identity map with 2 MiB pages), the MP
 *     table (checksums, one processor entry per vCPU with APIC id = index,
 *     vCPU 0 the BSP, an IOAPIC id no CPU has, ISA IRQs 0-15 routed once),
 *     refused for 0 or more than 254 vCPUs; boot registers pointing at them;
 *   SMBIOS: refused (-EINVAL, nothing written) exactly when the strings break
 *     smbios.h's bounds; else the _SM3_ entry point at X86_SMBIOS_ADDR
 *     (checksum, version 3.0, the table right after it and its exact
 *     length), types 0, 1, 11 (the strings, in order, and their count) and
 *     127 in that order with distinct handles and string sets as Linux's
 *     dmi_decode_table() walks them, all of it in a reserved e820 entry;
 *   the boot structures disjoint, and no byte of guest RAM changed
 *     anywhere else.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mem_plan.h"
#include "arch/x86_64/mptable.h"
#include "arch/x86_64/smbios.h"
#include "devices/virtio/virtio_mmio.h"
#include "kernel/cmdline.h"
#include "vmm/guest_mem.h"
#include "vmm/vm.h"
#include "fuzz_input.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define LOW_RW MIB		/* guest RAM the harness can read and write */
#define RESERVE (X86_MMIO_GAP_END + X86_MAX_RAM_BYTES)
#define POISON 0xa5
#define START_LINE_MAX 4096	/* start.c's st->cmdline */
#define LINE_MAX_FUZZ 4095	/* the builder's limit at most, here */
#define MAX_WORDS (LINE_MAX_FUZZ / 2 + 2)
#define MAX_OPS 64
#define HDR_MAGIC 0x53726448u
#define MP_FLOAT_LEN 16
#define MP_HDR_LEN 44

struct fuzz_state {
	uint8_t *base;	/* guest-physical 0 */
	uint8_t poison[LOW_RW];
};

static struct fuzz_state *state;

static struct fuzz_state *setup(void)
{
	static struct fuzz_state s;

	krun_log_configure(2, LOG_LVL_OFF);
	s.base = mmap(NULL, RESERVE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		      -1, 0);
	require(s.base != MAP_FAILED);
	require(mprotect(s.base, LOW_RW, PROT_READ | PROT_WRITE) == 0);
	memset(s.poison, POISON, sizeof(s.poison));
	memset(s.base, POISON, LOW_RW);
	return &s;
}

static uint64_t get64(struct reader *r)
{
	uint64_t lo = get32(r);

	return lo | (uint64_t)get32(r) << 32;
}

static uint64_t get_ram(struct reader *r)
{
	uint8_t sel = get8(r);
	uint64_t pages = get16(r) * X86_PAGE_SIZE;

	switch (sel % 7) {
	case 0: return X86_MIN_RAM_AFTER_KERNEL + pages;
	case 1: return X86_MIN_RAM_AFTER_KERNEL - pages;
	case 2: return X86_MMIO_GAP_START + pages;
	case 3: return X86_MMIO_GAP_START - pages;
	case 4: return X86_MAX_RAM_BYTES + X86_PAGE_SIZE - pages;
	case 5: return pages / X86_PAGE_SIZE << 20;	/* MiB, as krun_set_vm_config */
	default: return get64(r);
	}
}

static uint64_t get_addr(struct reader *r)
{
	uint8_t sel = get8(r);
	uint64_t pages = get16(r) * X86_PAGE_SIZE;

	switch (sel % 5) {
	case 0: return X86_HIMEM_START + pages;
	case 1: return X86_HIMEM_START + pages * 256;	/* 1 MiB steps */
	case 2: return X86_MMIO_GAP_START - X86_MIN_RAM_AFTER_KERNEL - pages;
	case 3: return pages + get8(r);			/* misaligned, low */
	default: return get64(r);
	}
}

static uint64_t get_len(struct reader *r)
{
	switch (get8(r) % 4) {
	case 0: return get16(r) * X86_PAGE_SIZE;
	case 1: return (uint64_t)get16(r) << 16;
	case 2: return get32(r);
	default: return get64(r);
	}
}

/* A u8 length and that many bytes, NUL-terminated (an inner NUL ends it). */
static const char *get_str(struct reader *r, char *buf, size_t cap)
{
	size_t n = get8(r);

	if (n > r->left)
		n = r->left;
	if (n > cap - 1)
		n = cap - 1;
	memcpy(buf, r->p, n);
	buf[n] = 0;
	r->p += n;
	r->left -= n;
	return buf;
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* ---- the plan ---- */

static bool plan_should_accept(uint64_t ram, const struct x86_kernel_placement *k)
{
	uint64_t min = X86_MIN_RAM_AFTER_KERNEL;

	ram &= ~(X86_PAGE_SIZE - 1);
	if (k) {
		if (k->load_gpa % X86_PAGE_SIZE || k->size % X86_PAGE_SIZE ||
		    k->load_gpa < X86_HIMEM_START || k->load_gpa > X86_MMIO_GAP_START ||
		    k->size > X86_MMIO_GAP_START - k->load_gpa ||
		    X86_MMIO_GAP_START - k->load_gpa - k->size < X86_MIN_RAM_AFTER_KERNEL)
			return false;
		min += k->load_gpa + k->size;
	}
	return ram >= min && ram <= X86_MAX_RAM_BYTES;
}

static void check_plan(const struct x86_mem_plan *p, uint64_t ram,
		       const struct x86_kernel_placement *k)
{
	uint64_t sum = 0, prev_end = 0, low_end = 0;
	unsigned int kernels = 0;

	check(p->nr_regions >= 1 && p->nr_regions <= X86_MAX_RAM_REGIONS);
	check(p->nr_e820 >= 1 && p->nr_e820 <= X86_MAX_E820);
	check(p->ram_bytes == (ram & ~(X86_PAGE_SIZE - 1)));
	for (unsigned int i = 0; i < p->nr_regions; i++) {
		const struct x86_mem_region *m = &p->regions[i];

		check(m->size > 0 && m->gpa % X86_PAGE_SIZE == 0 && m->size % X86_PAGE_SIZE == 0);
		check(m->gpa >= prev_end && m->gpa + m->size > m->gpa);
		check(!overlap(m->gpa, m->size, X86_MMIO_GAP_START,
			       X86_MMIO_GAP_END - X86_MMIO_GAP_START));
		prev_end = m->gpa + m->size;
		sum += m->size;
		if (prev_end <= X86_MMIO_GAP_START)
			low_end = prev_end;
		if (m->is_kernel) {
			kernels++;
			check(k && m->gpa == k->load_gpa && m->size == k->size);
			/* The kernel's BSS and the first allocations go here. */
			check(p->ram_bytes - (m->gpa + m->size) >= X86_MIN_RAM_AFTER_KERNEL);
		}
	}
	check(kernels == (k ? 1u : 0u));
	check(p->regions[0].gpa == 0 && p->regions[0].size >= X86_HIMEM_START);
	check(sum == p->ram_bytes);
	check(p->ram_end == prev_end && p->low_end == low_end);
	check(p->shm_start >= p->ram_end && p->shm_start >= X86_MMIO_GAP_END &&
	      p->shm_start % GIB == 0);
}

static void add_plan_regions(struct guest_mem *gm, const struct x86_mem_plan *p)
{
	memset(gm, 0, sizeof(*gm));
	for (unsigned int i = 0; i < p->nr_regions; i++)
		check(gm_add_region(gm, p->regions[i].gpa, state->base + p->regions[i].gpa,
				    p->regions[i].size, false) == 0);
}

static bool in_ram(const struct x86_mem_plan *p, uint64_t gpa, uint64_t len)
{
	for (unsigned int i = 0; i < p->nr_regions; i++) {
		const struct x86_mem_region *m = &p->regions[i];

		if (gpa >= m->gpa && gpa - m->gpa < m->size && len <= m->size - (gpa - m->gpa))
			return true;
	}
	return false;
}

/* ---- the command line as the guest kernel reads it ---- */

/* Linux's isspace(): lib/ctype.c marks 0xa0 (Latin-1 NBSP) as space too. */
static bool kspace(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') || c == 0xa0;
}

static bool ctrl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

struct kword {
	const char *param, *val;	/* val NULL: no '=' */
};

struct kwords {
	char buf[LINE_MAX_FUZZ + 1];
	struct kword w[MAX_WORDS];
	unsigned int n, dashes;		/* dashes: index of the first "--" */
};

static char *skip_kspaces(char *s)
{
	while (kspace((unsigned char)*s))
		s++;
	return s;
}

/* lib/cmdline.c next_arg() of Linux 6.1, verbatim in behaviour. */
static char *next_arg(char *args, char **param, char **val)
{
	unsigned int i, equals = 0;
	int in_quote = 0, quoted = 0;

	if (*args == '"') {
		args++;
		in_quote = 1;
		quoted = 1;
	}
	for (i = 0; args[i]; i++) {
		if (kspace((unsigned char)args[i]) && !in_quote)
			break;
		if (equals == 0 && args[i] == '=')
			equals = i;
		if (args[i] == '"')
			in_quote = !in_quote;
	}
	*param = args;
	if (!equals) {
		*val = NULL;
	} else {
		args[equals] = '\0';
		*val = args + equals + 1;
		if (**val == '"') {
			(*val)++;
			if (args[i - 1] == '"')
				args[i - 1] = '\0';
		}
	}
	if (quoted && i > 0 && args[i - 1] == '"')
		args[i - 1] = '\0';
	if (args[i]) {
		args[i] = '\0';
		args += i + 1;
	} else {
		args += i;
	}
	return skip_kspaces(args);
}

/* The words parse_args() sees, "--" included. */
static void kernel_words(const char *line, struct kwords *k)
{
	size_t n = strlen(line);

	require(n < sizeof(k->buf));
	memcpy(k->buf, line, n + 1);
	k->n = 0;
	k->dashes = UINT32_MAX;
	for (char *args = skip_kspaces(k->buf); *args;) {
		char *param, *val;

		args = next_arg(args, &param, &val);
		require(k->n < MAX_WORDS);
		if (!val && !strcmp(param, "--") && k->dashes == UINT32_MAX)
			k->dashes = k->n;
		k->w[k->n++] = (struct kword){ param, val };
	}
	if (k->dashes == UINT32_MAX)
		k->dashes = k->n;
}

static bool same_word(const struct kword *a, const struct kword *b)
{
	if (strcmp(a->param, b->param))
		return false;
	if (!a->val || !b->val)
		return a->val == b->val;
	return !strcmp(a->val, b->val);
}

/* The word as written: param, and "=val" when it had one. */
static bool word_is(const struct kword *w, const char *text)
{
	size_t pl = strlen(w->param);

	if (strncmp(text, w->param, pl))
		return false;
	if (!w->val)
		return text[pl] == 0;
	return text[pl] == '=' && !strcmp(text + pl + 1, w->val);
}

/* new == old with one word inserted at index at. */
static void check_inserted(const struct kwords *old, const struct kwords *new, unsigned int at)
{
	check(new->n == old->n + 1 && at <= old->n);
	for (unsigned int i = 0; i < old->n; i++)
		check(same_word(&old->w[i], &new->w[i < at ? i : i + 1]));
}

/* Text cmdline_append() may take as it is: the kernel keeps it one word. */
static bool bare_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (kspace((unsigned char)*s) || ctrl((unsigned char)*s) || *s == '"')
			return false;
	return true;
}

static bool quoted_ok(const char *s)
{
	for (; *s; s++)
		if (ctrl((unsigned char)*s) || *s == '"')
			return false;
	return true;
}

static void check_line(const struct cmdline *c)
{
	const char *s = cmdline_str(c);
	size_t len = cmdline_len(c), quotes = 0;

	check(len <= c->limit && strlen(s) == len);
	for (size_t i = 0; i < len; i++) {
		check(!ctrl((unsigned char)s[i]));
		quotes += s[i] == '"';
	}
	/* An open quote would swallow every word after it. */
	check(quotes % 2 == 0);
	check(len == 0 || (s[0] != ' ' && s[len - 1] != ' '));
}

enum op_kind { OP_APPEND, OP_KV, OP_QUOTED, OP_CONSOLE, OP_VIRTIO };

struct op {
	enum op_kind kind;
	const char *a, *b;
	uint64_t base;
	uint32_t size;
	unsigned int irq;
};

static int op_call(struct cmdline *c, const struct op *op)
{
	switch (op->kind) {
	case OP_APPEND: return cmdline_append(c, op->a);
	case OP_KV: return cmdline_append_kv(c, op->a, op->b);
	case OP_QUOTED: return cmdline_append_quoted(c, op->a);
	case OP_CONSOLE: return cmdline_replace_console(c, op->a);
	default: return cmdline_add_virtio_mmio(c, op->base, op->size, op->irq);
	}
}

/* -EINVAL when the documented rules refuse the text, else 0. */
static int op_einval(const struct op *op)
{
	switch (op->kind) {
	case OP_APPEND:
	case OP_CONSOLE:
		return bare_ok(op->a) ? 0 : -EINVAL;
	case OP_KV:
		return bare_ok(op->a) && !strchr(op->a, '=') &&
		       (bare_ok(op->b) || quoted_ok(op->b)) ? 0 : -EINVAL;
	case OP_QUOTED:
		return quoted_ok(op->a) ? 0 : -EINVAL;
	default:
		return op->size ? 0 : -EINVAL;
	}
}

/* Most characters the call can add: -E2BIG only when this does not fit. */
static size_t op_max_growth(const struct op *op)
{
	switch (op->kind) {
	case OP_APPEND: return 1 + strlen(op->a);
	case OP_KV: return 4 + strlen(op->a) + strlen(op->b);
	case OP_QUOTED: return 3 + strlen(op->a);
	case OP_CONSOLE: return 9 + strlen(op->a);
	default: return 1 + 60;	/* virtio_mmio.device=<u32>K@0x<u64>:<u32> */
	}
}

static bool op_min_growth_fits(const struct op *op, size_t len, size_t limit)
{
	size_t sep = len ? 1 : 0, min;

	switch (op->kind) {
	case OP_APPEND: min = sep + strlen(op->a); break;
	case OP_KV: min = sep + strlen(op->a) + 1 + strlen(op->b); break;
	case OP_QUOTED: min = sep + 2 + strlen(op->a); break;
	case OP_CONSOLE: return true;	/* a replacement may even shrink it */
	default: min = sep + 33; break;	/* the shortest such token */
	}
	return min <= limit - len;
}

static uint64_t parse_num(const char **p, int base)
{
	uint64_t v = 0;

	for (;; (*p)++) {
		unsigned int d;

		if (**p >= '0' && **p <= '9')
			d = (unsigned int)(**p - '0');
		else if (base == 16 && **p >= 'a' && **p <= 'f')
			d = (unsigned int)(**p - 'a' + 10);
		else
			return v;
		v = v * (uint64_t)base + d;
	}
}

/* virtio_mmio.device=<size>[K]@0x<base>:<irq>, as the driver parses it. */
static void check_virtio_word(const struct kword *w, const struct op *op)
{
	const char *p = w->val;

	check(!strcmp(w->param, "virtio_mmio.device") && p);
	uint64_t size = parse_num(&p, 10);

	if (*p == 'K') {
		size *= 1024;
		p++;
	}
	check(size == op->size && p[0] == '@' && p[1] == '0' && p[2] == 'x');
	p += 3;
	check(parse_num(&p, 16) == op->base && *p++ == ':');
	check(parse_num(&p, 10) == op->irq && *p == 0);
}

static struct kwords kw_old, kw_new, kw_text;
static char line_old[LINE_MAX_FUZZ + 1];

/* The kernel's words for what the call appended or inserted. */
static void check_added(const struct op *op)
{
	char text[2 * 256 + 8];
	const struct kword *w;

	switch (op->kind) {
	case OP_APPEND:
	case OP_QUOTED:
		check_inserted(&kw_old, &kw_new, kw_old.n);
		check(word_is(&kw_new.w[kw_old.n], op->a));
		return;
	case OP_KV:
		check_inserted(&kw_old, &kw_new, kw_old.n);
		w = &kw_new.w[kw_old.n];
		check(!strcmp(w->param, op->a) && w->val && !strcmp(w->val, op->b));
		return;
	case OP_VIRTIO:
		/* A kernel parameter: before "--", or init gets it as argv. */
		check_inserted(&kw_old, &kw_new, kw_old.dashes);
		check_virtio_word(&kw_new.w[kw_old.dashes], op);
		return;
	default:
		snprintf(text, sizeof(text), "console=%s", op->a);
		kernel_words(text, &kw_text);
		check(kw_text.n == 1);
		if (kw_new.n != kw_old.n) {
			check_inserted(&kw_old, &kw_new, kw_old.dashes);
			check(same_word(&kw_new.w[kw_old.dashes], &kw_text.w[0]));
			return;
		}
		/* Replaced: one console word before "--" now has the new value. */
		unsigned int changed = 0;

		for (unsigned int i = 0; i < kw_old.n; i++) {
			if (same_word(&kw_old.w[i], &kw_new.w[i]))
				continue;
			changed++;
			check(i < kw_old.dashes && !strcmp(kw_old.w[i].param, "console"));
			check(same_word(&kw_new.w[i], &kw_text.w[0]));
		}
		check(changed <= 1);
		return;
	}
}

static int run_op(struct cmdline *c, const struct op *op)
{
	size_t len = cmdline_len(c);

	memcpy(line_old, cmdline_str(c), len + 1);
	int ret = op_call(c, op);
	int einval = op_einval(op);

	check_line(c);
	if (ret) {
		check(ret == einval || (!einval && ret == -E2BIG &&
					op_max_growth(op) > c->limit - len));
		/* A refusal changes nothing. */
		check(cmdline_len(c) == len && !strcmp(cmdline_str(c), line_old));
		return ret;
	}
	check(!einval && op_min_growth_fits(op, len, c->limit));
	kernel_words(line_old, &kw_old);
	kernel_words(cmdline_str(c), &kw_new);
	check_added(op);
	return 0;
}

/* ---- start.c and vm.c: the caller's line to the builder ---- */

struct words {
	const char *s[START_LINE_MAX / 2 + 2];
	size_t len[START_LINE_MAX / 2 + 2];
	unsigned int n;
};

/* Words as vm.c's append_cmdline() splits them: on ' ' only. */
static void split_spaces(const char *s, struct words *w)
{
	w->n = 0;
	for (size_t i = 0; s[i];) {
		if (s[i] == ' ') {
			i++;
			continue;
		}
		size_t n = strcspn(s + i, " ");

		w->s[w->n] = s + i;
		w->len[w->n++] = n;
		i += n;
	}
}

static bool word_eq(const struct words *a, unsigned int i, const struct words *b, unsigned int j)
{
	return a->len[i] == b->len[j] && !memcmp(a->s[i], b->s[j], a->len[i]);
}

static struct words sw_old, sw_new;

static int add_start_param(char *buf, const char *param)
{
	static char old[START_LINE_MAX];
	size_t len = strlen(buf);

	memcpy(old, buf, len + 1);
	int ret = cmdline_str_add_param(buf, START_LINE_MAX, param);

	if (len + strlen(param) + 1 >= START_LINE_MAX) {
		check(ret == -E2BIG && !strcmp(buf, old));
		return ret;
	}
	check(ret == 0 && strlen(buf) < START_LINE_MAX);
	split_spaces(old, &sw_old);
	split_spaces(buf, &sw_new);
	unsigned int at = 0;

	while (at < sw_old.n && !(sw_old.len[at] == 2 && !memcmp(sw_old.s[at], "--", 2)))
		at++;
	check(sw_new.n == sw_old.n + 1);
	check(sw_new.len[at] == strlen(param) && !memcmp(sw_new.s[at], param, sw_new.len[at]));
	for (unsigned int i = 0; i < sw_old.n; i++)
		check(word_eq(&sw_old, i, &sw_new, i < at ? i : i + 1));
	return 0;
}

static char *line_from_caller(struct reader *r, uint8_t flags)
{
	static char buf[START_LINE_MAX];
	size_t n = get16(r) % START_LINE_MAX;

	if (n > r->left)
		n = r->left;
	memcpy(buf, r->p, n);
	buf[n] = 0;
	r->p += n;
	r->left -= n;
	static const char *const params[] = { "tsi_hijack", "tsi_hijack_unix", "KRUN_DHCP=1" };

	for (unsigned int i = 0; i < 3; i++)
		if ((flags & (0x20 << i)) && add_start_param(buf, params[i]))
			return NULL;
	return buf;
}

/* vm.c: each ' '-separated word through cmdline_append(). */
static int append_caller_line(struct cmdline *c, const char *line)
{
	static char tok[CMDLINE_GUEST_LIMIT + 1];
	struct words *w = &sw_old;

	split_spaces(line, w);
	for (unsigned int i = 0; i < w->n; i++) {
		if (w->len[i] >= sizeof(tok))
			return -E2BIG;
		memcpy(tok, w->s[i], w->len[i]);
		tok[w->len[i]] = 0;
		struct op op = { .kind = OP_APPEND, .a = tok };
		int ret = run_op(c, &op);

		if (ret)
			return ret;
	}
	return 0;
}

static void input_ops(struct cmdline *c, struct reader *r)
{
	static char a[256], b[256];

	for (unsigned int n = 0; n < MAX_OPS && r->left; n++) {
		struct op op = { .kind = (enum op_kind)(get8(r) % 5) };

		if (op.kind == OP_VIRTIO) {
			op.base = get64(r);
			op.size = get32(r);
			op.irq = get8(r);
		} else {
			op.a = get_str(r, a, sizeof(a));
			if (op.kind == OP_KV)
				op.b = get_str(r, b, sizeof(b));
		}
		run_op(c, &op);
	}
}

/* ---- what write_boot_data() writes ---- */

struct area {
	uint64_t gpa, len;
};

enum {
	A_GDT, A_IDT, A_ZERO, A_PML4, A_PDPT, A_PD, A_CMDLINE, A_MPTABLE, A_SMBIOS, A_STACK,
	NR_AREAS
};

static void check_initrd(const struct x86_mem_plan *p, uint64_t size, uint64_t kernel_end,
			 int ret, uint64_t gpa)
{
	const struct x86_mem_region *top = NULL;

	for (unsigned int i = 0; i < p->nr_regions; i++)
		if (!p->regions[i].is_kernel && p->regions[i].gpa < X86_MMIO_GAP_START)
			top = &p->regions[i];
	if (size == 0) {
		check(ret == -EINVAL);
		return;
	}
	uint64_t end = top ? top->gpa + top->size : 0;
	uint64_t floor = top && top->gpa > kernel_end ? top->gpa : kernel_end;
	bool fits = top && size <= end && ((end - size) & ~(X86_PAGE_SIZE - 1)) >= floor;

	if (!fits) {
		check(ret == -ENOMEM);
		return;
	}
	check(ret == 0 && gpa % X86_PAGE_SIZE == 0 && gpa >= floor);
	check(gpa + size <= end && end - (gpa + size) < X86_PAGE_SIZE && gpa + size <= GIB * 4);
}

static void check_e820(const struct boot_params *bp, const struct x86_mem_plan *p,
		       const struct area *mp)
{
	uint64_t prev_end = 0, sum = 0;
	bool mp_reserved = false, smbios_reserved = false;

	check(bp->e820_entries >= 1 && bp->e820_entries <= E820_MAX_ENTRIES_ZEROPAGE);
	for (unsigned int i = 0; i < bp->e820_entries; i++) {
		const struct boot_e820_entry *e = &bp->e820_table[i];
		uint64_t a = e->addr, sz = e->size;

		check(sz > 0 && a + sz > a && a >= prev_end);
		check(e->type == X86_E820_RAM || e->type == X86_E820_RESERVED);
		check(!overlap(a, sz, X86_MMIO_GAP_START, X86_MMIO_GAP_END - X86_MMIO_GAP_START));
		check(a + sz <= p->shm_start);
		/* Backed by guest RAM, region after region. */
		for (uint64_t at = a; at < a + sz;) {
			const struct x86_mem_region *m = NULL;

			for (unsigned int j = 0; j < p->nr_regions; j++)
				if (at >= p->regions[j].gpa &&
				    at - p->regions[j].gpa < p->regions[j].size)
					m = &p->regions[j];
			check(m != NULL);
			at = m->gpa + m->size;
		}
		if (e->type == X86_E820_RESERVED && mp->gpa >= a && mp->gpa + mp->len <= a + sz)
			mp_reserved = true;
		if (e->type == X86_E820_RESERVED && X86_SMBIOS_ADDR >= a && X86_SMBIOS_END <= a + sz)
			smbios_reserved = true;
		prev_end = a + sz;
		sum += sz;
	}
	/* Sorted and disjoint, so the sizes add up to all RAM only if all of
	 * it is described. */
	check(sum == p->ram_bytes);
	check(mp_reserved && smbios_reserved);
}

static void expected_hdr(struct setup_header *h, const struct setup_header *kernel,
			 uint64_t cl_gpa, uint32_t cl_size, uint64_t rd_gpa, uint32_t rd_size)
{
	memset(h, 0, sizeof(*h));
	if (kernel) {
		*h = *kernel;
	} else {
		h->version = 0x020c;
		h->kernel_alignment = 0x1000000;
	}
	h->type_of_loader = 0xff;
	h->boot_flag = 0xaa55;
	h->header = HDR_MAGIC;
	h->loadflags |= LOADED_HIGH;
	if (cl_size) {
		h->cmd_line_ptr = (uint32_t)cl_gpa;
		h->cmdline_size = cl_size;
	}
	if (rd_size) {
		h->ramdisk_image = (uint32_t)rd_gpa;
		h->ramdisk_size = rd_size;
	}
}

static void check_zero_page(const struct x86_mem_plan *p, const struct area *mp,
			    const struct setup_header *kernel, bool raw_cl, uint64_t cl_gpa,
			    uint32_t cl_size, uint64_t rd_gpa, uint32_t rd_size)
{
	struct boot_params bp, want;

	memcpy(&bp, state->base + X86_ZERO_PAGE_ADDR, sizeof(bp));
	check_e820(&bp, p, mp);
	memset(&want, 0, sizeof(want));
	expected_hdr(&want.hdr, kernel, cl_gpa, cl_size, rd_gpa, rd_size);
	if (cl_size)
		want.ext_cmd_line_ptr = (uint32_t)(cl_gpa >> 32);
	if (rd_size)
		want.ext_ramdisk_image = (uint32_t)(rd_gpa >> 32);
	want.e820_entries = bp.e820_entries;
	memcpy(want.e820_table, bp.e820_table, sizeof(want.e820_table));
	check(memcmp(&bp, &want, sizeof(bp)) == 0);
	if (!raw_cl) {
		/* The line vm.c wrote, whole and terminated where it says. */
		const char *s = (const char *)state->base + cl_gpa;

		check(s[cl_size - 1] == 0 && strlen(s) == cl_size - 1);
	}
}

static int zero_page_errno(const struct x86_mem_plan *p, const struct setup_header *kernel,
			   uint64_t cl_gpa, uint32_t cl_size, uint64_t rd_gpa, uint32_t rd_size)
{
	if (kernel && cl_size) {
		uint32_t max = kernel->version >= 0x0206 ? kernel->cmdline_size : 255;

		if (cl_size - 1 > max)
			return -E2BIG;
	}
	if ((cl_size && !in_ram(p, cl_gpa, cl_size)) || (rd_size && !in_ram(p, rd_gpa, rd_size)))
		return -EFAULT;
	return 0;
}

static uint32_t rd32(uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, state->base + gpa, 4);
	return v;
}

static uint8_t sum8(uint64_t gpa, uint64_t len)
{
	uint8_t s = 0;

	for (uint64_t i = 0; i < len; i++)
		s = (uint8_t)(s + state->base[gpa + i]);
	return s;
}

/* MP spec 1.4: floating pointer, then the configuration table. */
static void check_mptable(unsigned int nr_cpus)
{
	const uint8_t *f = state->base + X86_MPTABLE_ADDR;
	uint64_t t = X86_MPTABLE_ADDR + MP_FLOAT_LEN;
	uint8_t cpu_ids[32] = { 0 }, irqs_seen[X86_MPTABLE_ISA_IRQS] = { 0 };
	unsigned int cpus = 0, buses = 0, ioapics = 0, lints = 0, bsp = 0, ioapic_id = 0;

	check(X86_MPTABLE_ADDR % 16 == 0 && !memcmp(f, "_MP_", 4) && f[8] == 1 && f[9] == 4);
	check(rd32(X86_MPTABLE_ADDR + 4) == t && sum8(X86_MPTABLE_ADDR, MP_FLOAT_LEN) == 0);
	const uint8_t *h = state->base + t;
	uint16_t len, count;

	memcpy(&len, h + 4, 2);
	memcpy(&count, h + 34, 2);
	check(!memcmp(h, "PCMP", 4) && h[6] == 4 && sum8(t, len) == 0);
	check(len + MP_FLOAT_LEN == x86_mptable_size(nr_cpus));
	check(rd32(t + 36) == X86_LAPIC_ADDR);
	uint64_t at = t + MP_HDR_LEN, end = t + len;

	for (unsigned int i = 0; i < count; i++) {
		const uint8_t *e = state->base + at;
		unsigned int elen = e[0] == 0 ? 20 : 8;

		check(e[0] <= 4 && at + elen <= end);
		if (e[0] == 0) {
			check(e[1] == cpus && (e[3] & 1));	/* APIC id = vCPU index, enabled */
			check(!(cpu_ids[e[1] / 8] & (1 << e[1] % 8)));
			cpu_ids[e[1] / 8] |= (uint8_t)(1 << e[1] % 8);
			if (e[3] & 2) {
				bsp++;
				check(e[1] == 0);
			}
			cpus++;
		} else if (e[0] == 1) {
			check(e[1] == 0 && !memcmp(e + 2, "ISA   ", 6));
			buses++;
		} else if (e[0] == 2) {
			ioapic_id = e[1];
			ioapics++;
			check((e[3] & 1) && rd32(at + 4) == X86_IOAPIC_ADDR);
		} else if (e[0] == 3) {
			check(ioapics == 1 && e[6] == ioapic_id && e[4] == 0 &&
			      e[5] < X86_MPTABLE_ISA_IRQS);
			check(!irqs_seen[e[5]]++);
		} else if (e[0] == 4) {
			lints++;
		}
		at += elen;
	}
	check(at == end && cpus == nr_cpus && bsp == 1 && buses == 1 && ioapics == 1 &&
	      lints == 2);
	check(!(cpu_ids[ioapic_id / 8] & (1 << ioapic_id % 8)));
	for (unsigned int i = 0; i < X86_MPTABLE_ISA_IRQS; i++)
		check(irqs_seen[i] == 1);
}

static uint64_t rd64(uint64_t gpa)
{
	uint64_t v;

	memcpy(&v, state->base + gpa, 8);
	return v;
}

/* ---- SMBIOS ---- */

#define MAX_OEM (X86_SMBIOS_MAX_OEM_STRINGS + 45)

struct oem_set {
	char buf[START_LINE_MAX];
	const char *v[MAX_OEM + 1];
	unsigned int n;
};

/* The line's words as OEM strings: sometimes more or longer than allowed. */
static void oem_from_line(const char *line, struct oem_set *o)
{
	snprintf(o->buf, sizeof(o->buf), "%s", line);
	o->n = 0;
	for (char *w = strtok(o->buf, " "); w && o->n < MAX_OEM; w = strtok(NULL, " "))
		o->v[o->n++] = w;
	o->v[o->n] = NULL;
}

static bool oem_acceptable(const struct oem_set *o)
{
	size_t total = 0;

	if (o->n > X86_SMBIOS_MAX_OEM_STRINGS)
		return false;
	for (unsigned int i = 0; i < o->n; i++) {
		size_t len = strlen(o->v[i]);

		if (len == 0 || len > X86_SMBIOS_MAX_STRING)
			return false;
		total += len + 1;
	}
	return total <= X86_SMBIOS_MAX_OEM_BYTES;
}

/* One structure as dmi_decode_table() passes over it; returns its end. */
static uint64_t check_structure(uint64_t at, uint64_t end, uint8_t type, uint8_t len,
				uint16_t handle, const char *const *strings, unsigned int n)
{
	const uint8_t *p = state->base + at;

	check(at + len + 2 <= end && p[0] == type && p[1] == len);
	check(p[2] == (uint8_t)handle && p[3] == (uint8_t)(handle >> 8));
	uint64_t s = at + len;
	if (n == 0) {
		check(state->base[s] == 0 && state->base[s + 1] == 0);
		return s + 2;
	}
	for (unsigned int i = 0; i < n; i++) {
		size_t l = strlen(strings[i]);

		check(s + l + 1 < end && !memcmp(state->base + s, strings[i], l + 1));
		s += l + 1;
	}
	check(state->base[s] == 0);
	return s + 1;
}

static void check_smbios(const struct oem_set *o, int ret, struct area *a)
{
	static const char *const bios[] = {"libkrun", "0", "01/01/2023"};
	static const char *const sys[] = {"libkrun", "microVM"};
	const uint64_t ep = X86_SMBIOS_ADDR;

	if (!oem_acceptable(o)) {
		check(ret == -EINVAL && x86_smbios_size(o->v) == 0);
		a->len = 0;
		return;
	}
	check(ret == 0);
	a->len = x86_smbios_size(o->v);
	check(a->len > X86_SMBIOS_TABLE_OFFSET && ep + a->len <= X86_SMBIOS_END);
	check(!memcmp(state->base + ep, "_SM3_", 5) && state->base[ep + 6] == 24);
	check(sum8(ep, 24) == 0 && state->base[ep + 7] == 3 && state->base[ep + 8] == 0);
	check(state->base[ep + 10] == 1 && state->base[ep + 11] == 0);
	check(rd64(ep + 16) == ep + X86_SMBIOS_TABLE_OFFSET);
	check(rd32(ep + 12) == a->len - X86_SMBIOS_TABLE_OFFSET);
	for (uint64_t i = 24; i < X86_SMBIOS_TABLE_OFFSET; i++)
		check(state->base[ep + i] == 0);
	uint64_t end = ep + a->len, at = ep + X86_SMBIOS_TABLE_OFFSET;
	uint16_t h = 0;

	at = check_structure(at, end, 0, 0x18, h++, bios, 3);
	at = check_structure(at, end, 1, 0x1b, h++, sys, 2);
	if (o->n) {
		check(state->base[at + 4] == o->n);
		at = check_structure(at, end, 11, 5, h++, o->v, o->n);
	}
	at = check_structure(at, end, 127, 4, h++, NULL, 0);
	check(at == end);
}

static void check_page_tables(void)
{
	for (unsigned int i = 0; i < 512; i++) {
		check(rd64(X86_PML4_ADDR + i * 8) == (i ? 0 : X86_PDPT_ADDR | 3));
		check(rd64(X86_PDPT_ADDR + i * 8) ==
		      (i < X86_IDENTITY_MAP_GIB ? (X86_PD_ADDR + i * X86_PAGE_SIZE) | 3 : 0));
	}
	for (uint64_t page = 0; page < X86_IDENTITY_MAP_GIB * 512ULL; page++)
		check(rd64(X86_PD_ADDR + page * 8) == (page << 21 | 0x83));
}

static void check_gdt_regs(uint64_t entry)
{
	struct x86_sregs s;
	struct x86_regs regs;

	for (unsigned int i = 0; i < X86_GDT_ENTRIES; i++)
		check(rd64(X86_GDT_ADDR + i * 8) == x86_gdt_entry(i));
	check(rd64(X86_IDT_ADDR) == 0);
	memset(&s, 0, sizeof(s));
	x86_boot_sregs(&s);
	check(s.gdt.base == X86_GDT_ADDR && s.gdt.limit == X86_GDT_ENTRIES * 8 - 1);
	check(s.cs.l && s.cs.present && s.cs.selector / 8 < X86_GDT_ENTRIES);
	check(s.cr3 == X86_PML4_ADDR && (s.cr0 & X86_CR0_PG) && (s.efer & X86_EFER_LMA));
	x86_boot_regs(&regs, entry);
	check(regs.rip == entry && regs.rsi == X86_ZERO_PAGE_ADDR);
	check(regs.rsp == X86_BOOT_STACK && regs.rsp % 16 == 0 && (regs.rflags & 2));
}

/* The structures must not overlap, nor the kernel's RAM above 1 MiB. */
static void check_areas(const struct area *a)
{
	for (unsigned int i = 0; i < NR_AREAS; i++) {
		check(a[i].gpa + a[i].len <= X86_HIMEM_START);
		for (unsigned int j = 0; j < i; j++)
			check(!a[i].len || !a[j].len ||
			      !overlap(a[i].gpa, a[i].len, a[j].gpa, a[j].len));
	}
}

/* Nothing in the low MiB changed outside the areas; then re-poisoned. */
static void check_untouched(const struct area *a)
{
	uint64_t at = 0;

	while (at < LOW_RW) {
		uint64_t next = LOW_RW;
		bool inside = false;

		for (unsigned int i = 0; i < NR_AREAS; i++) {
			if (!a[i].len)
				continue;
			if (at >= a[i].gpa && at < a[i].gpa + a[i].len) {
				at = a[i].gpa + a[i].len;
				inside = true;
				break;
			}
			if (a[i].gpa > at && a[i].gpa < next)
				next = a[i].gpa;
		}
		if (inside)
			continue;
		check(!memcmp(state->base + at, state->poison, next - at));
		at = next;
	}
	for (unsigned int i = 0; i < NR_AREAS; i++)
		memset(state->base + a[i].gpa, POISON, a[i].len);
}

static void read_header(struct reader *r, struct setup_header *h, bool raw)
{
	uint8_t bytes[sizeof(*h)];

	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = get8(r);
	memcpy(h, bytes, sizeof(*h));
	if (raw)
		return;
	h->boot_flag = 0xaa55;
	h->header = HDR_MAGIC;
	if (h->version < 0x020c)
		h->version = (uint16_t)(0x020c | (h->version & 7));
	h->xloadflags |= XLF_KERNEL_64;
}

struct config {
	uint8_t flags, flags2;
	uint64_t ram, entry;
	struct x86_kernel_placement k;
	unsigned int nr_cpus, nr_virtio;
	size_t limit;
	struct setup_header hdr;
	uint64_t initrd_size, kernel_end;
	uint64_t cl_gpa;	/* flags bit 3 */
	uint32_t cl_size;
};

static void read_config(struct reader *r, struct config *c)
{
	c->flags = get8(r);
	c->flags2 = get8(r);
	c->ram = get_ram(r);
	if (c->flags & 1) {
		c->k.load_gpa = get_addr(r);
		c->k.size = get_len(r);
	}
	c->nr_cpus = get16(r) % 260;
	c->nr_virtio = get8(r) % (VM_MAX_VIRTIO_DEVICES + 1);
	c->entry = get64(r);
	c->limit = CMDLINE_GUEST_LIMIT;
	if (c->flags2 & 1)
		c->limit = 1 + get16(r) % LINE_MAX_FUZZ;
	if (c->flags & 2)
		read_header(r, &c->hdr, c->flags & 4);
	if (c->flags & 0x10) {
		c->initrd_size = get_len(r);
		c->kernel_end = get_addr(r);
	}
	if (c->flags & 8) {
		c->cl_gpa = get64(r);
		c->cl_size = get32(r);
	}
}

static void check_cmdline_init(struct cmdline *c)
{
	check(cmdline_init(c, 0) == -EINVAL);
	check(cmdline_init(c, CMDLINE_CAPACITY) == -EINVAL);
}

/* vm_create()'s command line: the caller's words, more calls, the devices. */
static bool build_cmdline(struct cmdline *cl, const struct config *cfg, struct reader *r)
{
	check_cmdline_init(cl);
	check(cmdline_init(cl, cfg->limit) == 0);
	check_line(cl);
	const char *line = line_from_caller(r, cfg->flags);

	return line && !append_caller_line(cl, line);
}

static bool add_devices(struct cmdline *cl, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct op op = {
			.kind = OP_VIRTIO, .size = VIRTIO_MMIO_WINDOW,
			.base = X86_VIRTIO_MMIO_BASE + (uint64_t)i * VIRTIO_MMIO_WINDOW,
			.irq = X86_VIRTIO_IRQ_FIRST + i,
		};

		/* The windows sit in the MMIO gap below the IOAPIC; ISA IRQs. */
		check(op.base + op.size <= X86_IOAPIC_ADDR && op.irq <= X86_VIRTIO_IRQ_LAST);
		if (run_op(cl, &op))
			return false;
	}
	return true;
}

static void write_boot(const struct config *cfg, const struct x86_mem_plan *plan,
		       const struct guest_mem *gm, const struct cmdline *cl)
{
	bool have_hdr = cfg->flags & 2, raw_cl = cfg->flags & 8;
	uint64_t rd_gpa = 0, rd_size = 0, cl_gpa = X86_CMDLINE_ADDR;
	uint32_t cl_size = (uint32_t)cmdline_len(cl) + 1;
	struct area a[NR_AREAS] = {
		[A_GDT] = { X86_GDT_ADDR, X86_GDT_ENTRIES * 8 },
		[A_IDT] = { X86_IDT_ADDR, 8 },
		[A_ZERO] = { X86_ZERO_PAGE_ADDR, sizeof(struct boot_params) },
		[A_PML4] = { X86_PML4_ADDR, X86_PAGE_SIZE },
		[A_PDPT] = { X86_PDPT_ADDR, X86_PAGE_SIZE },
		[A_PD] = { X86_PD_ADDR, X86_IDENTITY_MAP_GIB * X86_PAGE_SIZE },
		[A_CMDLINE] = { X86_CMDLINE_ADDR, X86_CMDLINE_MAX },
		[A_MPTABLE] = { X86_MPTABLE_ADDR, x86_mptable_size(X86_MPTABLE_MAX_CPUS) },
		[A_SMBIOS] = { X86_SMBIOS_ADDR, X86_SMBIOS_END - X86_SMBIOS_ADDR },
		/* The boot stack grows down from X86_BOOT_STACK to the zero page. */
		[A_STACK] = { X86_ZERO_PAGE_ADDR + X86_PAGE_SIZE,
			      X86_BOOT_STACK - X86_ZERO_PAGE_ADDR - X86_PAGE_SIZE },
	};

	check_areas(a);
	a[A_CMDLINE].len = cl_size;
	a[A_STACK].len = 0;
	if (cfg->flags & 0x10) {
		int ret = x86_place_initrd(plan, cfg->initrd_size, cfg->kernel_end, &rd_gpa);

		check_initrd(plan, cfg->initrd_size, cfg->kernel_end, ret, rd_gpa);
		rd_size = ret || cfg->initrd_size > UINT32_MAX ? 0 : cfg->initrd_size;
	}
	if (raw_cl) {
		cl_gpa = cfg->cl_gpa;
		cl_size = cfg->cl_size;
	}
	check(cmdline_len(cl) + 1 <= X86_CMDLINE_MAX);
	check(gm_write(gm, X86_CMDLINE_ADDR, cmdline_str(cl), cmdline_len(cl) + 1) == 0);

	const struct setup_header *kh = have_hdr ? &cfg->hdr : NULL;
	int want = zero_page_errno(plan, kh, cl_gpa, cl_size, rd_gpa, (uint32_t)rd_size);
	int ret = x86_write_zero_page(gm, plan, cl_gpa, cl_size, rd_gpa, (uint32_t)rd_size, kh);

	check(ret == want);
	if (ret)
		a[A_ZERO].len = 0;	/* refused: not one byte written */
	else
		check_zero_page(plan, &a[A_MPTABLE], kh, raw_cl, cl_gpa, cl_size, rd_gpa,
				(uint32_t)rd_size);
	check(x86_write_gdt_idt(gm) == 0);
	check(x86_write_page_tables(gm) == 0);
	check_page_tables();
	check_gdt_regs(cfg->entry);
	ret = x86_write_mptable(gm, cfg->nr_cpus);
	if (cfg->nr_cpus == 0 || cfg->nr_cpus > X86_MPTABLE_MAX_CPUS) {
		check(ret == -EINVAL);
		a[A_MPTABLE].len = 0;
	} else {
		check(ret == 0);
		a[A_MPTABLE].len = x86_mptable_size(cfg->nr_cpus);
		check_mptable(cfg->nr_cpus);
	}
	static struct oem_set oem;
	oem_from_line(cmdline_str(cl), &oem);
	check_smbios(&oem, x86_write_smbios(gm, oem.v), &a[A_SMBIOS]);
	check_untouched(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct cmdline cl;
	struct reader r = { data, size };
	struct config cfg = { 0 };
	struct x86_mem_plan plan;
	struct guest_mem gm;

	if (!state)
		state = setup();
	read_config(&r, &cfg);

	const struct x86_kernel_placement *k = cfg.flags & 1 ? &cfg.k : NULL;
	int ret = x86_plan_memory(cfg.ram, k, &plan);

	if (k && k->size == 0)
		k = NULL;	/* documented: an empty bundle is no bundle */
	check(ret == (plan_should_accept(cfg.ram, k) ? 0 : -EINVAL));
	if (!build_cmdline(&cl, &cfg, &r))
		return 0;
	input_ops(&cl, &r);
	if (ret || !add_devices(&cl, cfg.nr_virtio))
		return 0;
	check_plan(&plan, cfg.ram, k);
	add_plan_regions(&gm, &plan);
	write_boot(&cfg, &plan, &gm, &cl);
	return 0;
}
