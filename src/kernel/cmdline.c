// SPDX-License-Identifier: Apache-2.0
#include "kernel/cmdline.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define CONSOLE_KEY	"console="

static bool is_ctrl(unsigned char ch)
{
	return ch < 0x20 || ch == 0x7f;
}

/*
 * The kernel splits on any isspace() and toggles quoting on '"'.  Its
 * isspace() (lib/ctype.c) is ' ', the controls \t-\r and 0xa0, Latin-1's
 * no-break space: the last byte of UTF-8 "\u00e0" and 1 in 64 characters.
 */
static bool valid_bare(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s == ' ' || (unsigned char)*s == 0xa0 || *s == '"' ||
		    is_ctrl((unsigned char)*s))
			return false;
	return true;
}

/* There is no escape for '"' inside a quoted value. */
static bool valid_quoted(const char *s)
{
	for (; *s; s++)
		if (*s == '"' || is_ctrl((unsigned char)*s))
			return false;
	return true;
}

int cmdline_init(struct cmdline *c, size_t limit)
{
	if (limit == 0 || limit >= CMDLINE_CAPACITY)
		return -EINVAL;
	c->buf[0] = '\0';
	c->len = 0;
	c->limit = limit;
	return 0;
}

/*
 * Puts one token made of n pieces at byte at: the end of the line (after a
 * space) or where a token starts (before a space).
 */
static int put_pieces(struct cmdline *c, size_t at, const char *const *pieces, unsigned int n)
{
	bool at_end = at == c->len;
	size_t add = c->len ? 1 : 0;

	for (unsigned int i = 0; i < n; i++)
		add += strlen(pieces[i]);
	if (add > c->limit - c->len)
		return -E2BIG;
	memmove(c->buf + at + add, c->buf + at, c->len - at + 1);
	if (at_end && c->len)
		c->buf[at++] = ' ';
	for (unsigned int i = 0; i < n; i++) {
		size_t l = strlen(pieces[i]);

		memcpy(c->buf + at, pieces[i], l);
		at += l;
	}
	if (!at_end)
		c->buf[at] = ' ';
	c->len += add;
	return 0;
}

static int append_pieces(struct cmdline *c, const char *const *pieces, unsigned int n)
{
	return put_pieces(c, c->len, pieces, n);
}

int cmdline_append(struct cmdline *c, const char *token)
{
	if (!token || !valid_bare(token))
		return -EINVAL;
	return append_pieces(c, &token, 1);
}

int cmdline_append_kv(struct cmdline *c, const char *key, const char *value)
{
	if (!key || !value || !valid_bare(key) || strchr(key, '='))
		return -EINVAL;
	if (valid_bare(value)) {
		const char *p[] = { key, "=", value };

		return append_pieces(c, p, 3);
	}
	if (!valid_quoted(value))
		return -EINVAL;
	const char *p[] = { key, "=\"", value, "\"" };

	return append_pieces(c, p, 4);
}

int cmdline_append_quoted(struct cmdline *c, const char *word)
{
	if (!word || !valid_quoted(word))
		return -EINVAL;
	const char *p[] = { "\"", word, "\"" };

	return append_pieces(c, p, 3);
}

/* Token boundaries as the kernel's next_arg() sees them. */
static size_t token_end(const char *s, size_t pos)
{
	bool quoted = false;

	for (; s[pos]; pos++) {
		if (s[pos] == '"')
			quoted = !quoted;
		else if (s[pos] == ' ' && !quoted)
			break;
	}
	return pos;
}

/* "--" or "\"--\"": next_arg() strips the quotes before parse_args() looks. */
static bool is_dashes(const char *tok, size_t len)
{
	return (len == 2 && !memcmp(tok, "--", 2)) || (len == 4 && !memcmp(tok, "\"--\"", 4));
}

/* Where the first "--" token starts (after it, tokens belong to init), or len. */
static size_t params_end_pos(const struct cmdline *c)
{
	size_t pos = 0;

	while (pos < c->len) {
		if (c->buf[pos] == ' ') {
			pos++;
			continue;
		}
		size_t end = token_end(c->buf, pos);

		if (is_dashes(c->buf + pos, end - pos))
			return pos;
		pos = end;
	}
	return c->len;
}

/*
 * Adds a kernel parameter made of n pieces before the first "--": after it
 * the kernel would hand the parameter to init as an argument.
 */
static int insert_param(struct cmdline *c, const char *const *pieces, unsigned int n)
{
	return put_pieces(c, params_end_pos(c), pieces, n);
}

/* Finds the first console= before "--". */
static bool find_console(const struct cmdline *c, size_t *vstart, size_t *vend)
{
	size_t pos = 0, klen = strlen(CONSOLE_KEY), stop = params_end_pos(c);

	while (pos < stop) {
		if (c->buf[pos] == ' ') {
			pos++;
			continue;
		}
		size_t end = token_end(c->buf, pos);

		if (end - pos >= klen && !memcmp(c->buf + pos, CONSOLE_KEY, klen)) {
			*vstart = pos + klen;
			*vend = end;
			return true;
		}
		pos = end;
	}
	return false;
}

int cmdline_replace_console(struct cmdline *c, const char *console_id)
{
	size_t vstart, vend, nlen;

	if (!console_id || !valid_bare(console_id))
		return -EINVAL;
	if (!find_console(c, &vstart, &vend)) {
		const char *p[] = { CONSOLE_KEY, console_id };

		return insert_param(c, p, 2);
	}
	nlen = strlen(console_id);
	if (c->len - (vend - vstart) + nlen > c->limit)
		return -E2BIG;
	memmove(c->buf + vstart + nlen, c->buf + vend, c->len - vend + 1);
	memcpy(c->buf + vstart, console_id, nlen);
	c->len = c->len - (vend - vstart) + nlen;
	return 0;
}

int cmdline_add_virtio_mmio(struct cmdline *c, uint64_t base, uint32_t size,
			    unsigned int irq)
{
	char tok[96];
	const char *p[] = { tok };

	if (size == 0)
		return -EINVAL;
	/* memparse() suffix; upstream always writes whole KiB. */
	if (size % 1024 == 0)
		snprintf(tok, sizeof(tok), "virtio_mmio.device=%" PRIu32 "K@0x%08" PRIx64 ":%u",
			 size / 1024, base, irq);
	else
		snprintf(tok, sizeof(tok), "virtio_mmio.device=%" PRIu32 "@0x%08" PRIx64 ":%u",
			 size, base, irq);
	return insert_param(c, p, 1);
}

/* Where "--" starts as a word of s, or the end of s. */
static size_t params_end(const char *s)
{
	for (size_t i = 0; s[i]; i++)
		if ((i == 0 || s[i - 1] == ' ') && strncmp(s + i, "--", 2) == 0 &&
		    (s[i + 2] == ' ' || s[i + 2] == 0))
			return i;
	return strlen(s);
}

int cmdline_str_add_param(char *buf, size_t size, const char *param)
{
	size_t len = strlen(buf), at = params_end(buf), plen = strlen(param);
	bool dashes = at < len;

	if (len + plen + 1 >= size)
		return -E2BIG;
	/* "a -- b" -> "a p -- b"; "a" -> "a p"; "" -> "p". */
	size_t gap = dashes || len == 0 ? 0 : 1;
	memmove(buf + at + gap + plen + (dashes ? 1 : 0), buf + at, len - at + 1);
	if (gap)
		buf[at] = ' ';
	memcpy(buf + at + gap, param, plen);
	if (dashes)
		buf[at + plen] = ' ';
	return 0;
}

const char *cmdline_str(const struct cmdline *c)
{
	return c->buf;
}

size_t cmdline_len(const struct cmdline *c)
{
	return c->len;
}
