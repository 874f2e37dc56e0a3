/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Kernel command-line builder.  Everything the guest init learns (env,
 * argv, devices) travels here, and the guest kernel silently truncates a
 * line longer than its COMMAND_LINE_SIZE, so the builder refuses to grow
 * past a caller-chosen limit instead.
 */
#ifndef KRUN_CMDLINE_H
#define KRUN_CMDLINE_H

#include <stddef.h>
#include <stdint.h>

/* Guest buffer at X86_CMDLINE_ADDR, NUL included. */
#define CMDLINE_CAPACITY	0x10000
/* x86 COMMAND_LINE_SIZE (2048, NUL included) of the libkrunfw kernel. */
#define CMDLINE_GUEST_LIMIT	2047

struct cmdline {
	char buf[CMDLINE_CAPACITY];
	size_t len;
	size_t limit;	/* max length, NUL excluded */
};

/* limit: 1..CMDLINE_CAPACITY-1 characters; -EINVAL otherwise. */
int cmdline_init(struct cmdline *c, size_t limit);

/*
 * The functions below return 0, -EINVAL for text the kernel would split
 * or mangle (whitespace, 0xa0 included, quotes, control characters,
 * empty), or -E2BIG when the result would exceed the limit; on error the
 * line is unchanged.  Kernel parameters (console=, virtio_mmio.device=)
 * go before the first "--" word, after which the kernel passes words to
 * init; the other functions append.
 */

/* One bare token, e.g. "quiet", "console=hvc0" or "--". */
int cmdline_append(struct cmdline *c, const char *token);
/* key=value; value is double-quoted when it holds spaces or is empty. */
int cmdline_append_kv(struct cmdline *c, const char *key, const char *value);
/* A word always double-quoted, for init's argv after "--". */
int cmdline_append_quoted(struct cmdline *c, const char *word);
/* Replaces the value of the first console= token, or adds one. */
int cmdline_replace_console(struct cmdline *c, const char *console_id);
/* virtio_mmio.device=<size>@0x<base>:<irq>, e.g. 4K@0xd0000000:5. */
int cmdline_add_virtio_mmio(struct cmdline *c, uint64_t base, uint32_t size,
			    unsigned int irq);

/* On a plain string of size bytes (a caller's command line): puts the
 * kernel parameter param before the first "--" word, after which the
 * kernel passes everything to init, or at the end.  0 or -E2BIG. */
int cmdline_str_add_param(char *buf, size_t size, const char *param);

const char *cmdline_str(const struct cmdline *c);
size_t cmdline_len(const struct cmdline *c);

#endif
