// SPDX-License-Identifier: Apache-2.0
/*
 * init/json.c - strict RFC 8259 parser into a flat node table (see json.h).
 * Linked into the static guest init and the unit tests; libc only.
 */
#include "json.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct parser {
	char *buf;
	size_t pos;
	size_t len;
	struct json_doc *doc;
	uint32_t cap;
};

static int fail(struct parser *p, int err, const char *why)
{
	p->doc->error = why;
	p->doc->error_offset = p->pos;
	return err;
}

static int invalid(struct parser *p)
{
	return fail(p, -EINVAL, "not valid JSON");
}

/* The byte at the cursor, or -1 at the end (so it matches no character). */
static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->buf[p->pos] : -1;
}

static void skip_ws(struct parser *p)
{
	int c;

	while ((c = peek(p)) == ' ' || c == '\t' || c == '\n' || c == '\r')
		p->pos++;
}

/* Returns the new node's index or -errno; the table moves on growth. */
static int new_node(struct parser *p, uint8_t type)
{
	struct json_doc *d = p->doc;
	struct json_node *n;

	if (d->count == p->cap) {
		uint32_t cap = p->cap ? p->cap * 2 : 64;

		if (p->cap >= JSON_MAX_NODES)
			return fail(p, -E2BIG, "too many values");
		if (cap > JSON_MAX_NODES)
			cap = JSON_MAX_NODES;
		n = realloc(d->nodes, cap * sizeof(*n));
		if (!n)
			return fail(p, -ENOMEM, "out of memory");
		d->nodes = n;
		p->cap = cap;
	}
	n = &d->nodes[d->count];
	memset(n, 0, sizeof(*n));
	n->type = type;
	return (int)d->count++;
}

/* ---- strings ----------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (no overlongs, surrogates or
 * code points past U+10FFFF), or 0. */
static size_t utf8_len(const unsigned char *s, size_t left)
{
	static const uint32_t min[] = { 0, 0, 0x80, 0x800, 0x10000 };
	size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
	uint32_t cp;

	if (!n || s[0] > 0xF4 || n > left)
		return 0;
	cp = s[0] & (0x7Fu >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

static char *put_utf8(char *w, uint32_t cp)
{
	if (cp < 0x80) {
		*w++ = (char)cp;
	} else if (cp < 0x800) {
		*w++ = (char)(0xC0 | cp >> 6);
		*w++ = (char)(0x80 | (cp & 0x3F));
	} else if (cp < 0x10000) {
		*w++ = (char)(0xE0 | cp >> 12);
		*w++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*w++ = (char)(0x80 | (cp & 0x3F));
	} else {
		*w++ = (char)(0xF0 | cp >> 18);
		*w++ = (char)(0x80 | (cp >> 12 & 0x3F));
		*w++ = (char)(0x80 | (cp >> 6 & 0x3F));
		*w++ = (char)(0x80 | (cp & 0x3F));
	}
	return w;
}

/* Reads "XXXX" after a "\u" at the cursor; -1 when not four hex digits. */
static long read_hex4(struct parser *p)
{
	long v = 0;

	if (p->len - p->pos < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int c = p->buf[p->pos++], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* The code point of a \u escape (cursor after the 'u'), pairs joined. */
static long read_unicode_escape(struct parser *p)
{
	long hi = read_hex4(p), lo;

	if (hi < 0xD800 || hi > 0xDFFF)
		return hi;
	if (hi > 0xDBFF || p->len - p->pos < 2 || p->buf[p->pos] != '\\' ||
	    p->buf[p->pos + 1] != 'u')
		return -1;
	p->pos += 2;
	lo = read_hex4(p);
	if (lo < 0xDC00 || lo > 0xDFFF)
		return -1;
	return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
}

static int read_escape(struct parser *p, char **w)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	long cp;
	int c = peek(p);

	if (c < 0)
		return -1;
	p->pos++;
	if (c == 'u') {
		cp = read_unicode_escape(p);
		if (cp < 0)
			return -1;
		*w = put_utf8(*w, (uint32_t)cp);
		return 0;
	}
	e = c ? strchr(from, c) : NULL;
	if (!e)
		return -1;
	*(*w)++ = to[e - from];
	return 0;
}

/* Cursor on the opening quote; leaves it after the closing one. */
static int parse_string(struct parser *p, const char **out, uint32_t *out_len)
{
	char *start, *w;
	int c;

	p->pos++;
	start = w = p->buf + p->pos;
	while ((c = peek(p)) != '"') {
		if (c < 0x20)	/* the end (-1) or an unescaped control character */
			return invalid(p);
		if (c == '\\') {
			p->pos++;
			if (read_escape(p, &w))
				return invalid(p);
		} else if (c < 0x80) {
			*w++ = (char)c;
			p->pos++;
		} else {
			size_t n = utf8_len((unsigned char *)p->buf + p->pos, p->len - p->pos);

			if (!n)
				return invalid(p);
			memmove(w, p->buf + p->pos, n);
			w += n;
			p->pos += n;
		}
	}
	*w = '\0';	/* at most where the closing quote was */
	p->pos++;
	*out = start;
	*out_len = (uint32_t)(w - start);
	return 0;
}

/* ---- scalars ----------------------------------------------------------- */

static size_t skip_digits(struct parser *p)
{
	size_t n = 0;

	while (peek(p) >= '0' && peek(p) <= '9') {
		p->pos++;
		n++;
	}
	return n;
}

/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static int parse_number(struct parser *p, struct json_node *n)
{
	size_t start = p->pos;

	if (peek(p) == '-')
		p->pos++;
	if (peek(p) == '0')
		p->pos++;
	else if (!skip_digits(p))
		return invalid(p);
	if (peek(p) == '.') {
		p->pos++;
		if (!skip_digits(p))
			return invalid(p);
	}
	if (peek(p) == 'e' || peek(p) == 'E') {
		p->pos++;
		if (peek(p) == '+' || peek(p) == '-')
			p->pos++;
		if (!skip_digits(p))
			return invalid(p);
	}
	n->str = p->buf + start;
	n->len = (uint32_t)(p->pos - start);
	return 0;
}

static int parse_literal(struct parser *p, const char *word)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->buf + p->pos, word, n))
		return invalid(p);
	p->pos += n;
	return 0;
}

/* ---- values ------------------------------------------------------------ */

static int parse_value(struct parser *p, int depth);

/* Members of the array or object at node self; cursor on its bracket. */
static int parse_members(struct parser *p, int self, int depth)
{
	bool obj = p->doc->nodes[self].type == JSON_OBJECT;
	int end = obj ? '}' : ']', prev = -1, v, ret;
	const char *key = NULL;
	uint32_t key_len = 0, count = 0;

	p->pos++;
	skip_ws(p);
	if (peek(p) == end) {
		p->pos++;
		return 0;
	}
	for (;;) {
		if (obj) {
			skip_ws(p);
			if (peek(p) != '"')
				return invalid(p);
			ret = parse_string(p, &key, &key_len);
			if (ret)
				return ret;
			skip_ws(p);
			if (peek(p) != ':')
				return invalid(p);
			p->pos++;
		}
		v = parse_value(p, depth + 1);
		if (v < 0)
			return v;
		p->doc->nodes[v].key = key;
		p->doc->nodes[v].key_len = key_len;
		if (prev < 0)
			p->doc->nodes[self].child = (uint32_t)v;
		else
			p->doc->nodes[prev].next = (uint32_t)v;
		prev = v;
		p->doc->nodes[self].len = ++count;
		skip_ws(p);
		if (peek(p) == end)
			break;
		if (peek(p) != ',')
			return invalid(p);
		p->pos++;
	}
	p->pos++;
	return 0;
}

/* Returns the value's node index or -errno. */
static int parse_value(struct parser *p, int depth)
{
	int c, self, ret;
	uint8_t type;

	skip_ws(p);
	c = peek(p);
	type = c == '{' ? JSON_OBJECT : c == '[' ? JSON_ARRAY : c == '"' ? JSON_STRING
	     : c == 't' ? JSON_TRUE : c == 'f' ? JSON_FALSE : c == 'n' ? JSON_NULL
	     : JSON_NUMBER;
	if ((type == JSON_OBJECT || type == JSON_ARRAY) && depth >= JSON_MAX_DEPTH)
		return fail(p, -EINVAL, "nested too deeply");
	self = new_node(p, type);
	if (self < 0)
		return self;
	switch (type) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		ret = parse_members(p, self, depth);
		break;
	case JSON_STRING:
		ret = parse_string(p, &p->doc->nodes[self].str, &p->doc->nodes[self].len);
		break;
	case JSON_TRUE:
		ret = parse_literal(p, "true");
		break;
	case JSON_FALSE:
		ret = parse_literal(p, "false");
		break;
	case JSON_NULL:
		ret = parse_literal(p, "null");
		break;
	default:
		ret = parse_number(p, &p->doc->nodes[self]);
	}
	return ret ? ret : self;
}

int json_parse(char *buf, size_t len, struct json_doc *doc)
{
	struct parser p = { .buf = buf, .len = len, .doc = doc };
	int ret;

	memset(doc, 0, sizeof(*doc));
	if (len > JSON_MAX_INPUT)
		return fail(&p, -E2BIG, "too big");
	if (!buf)
		return invalid(&p);
	ret = parse_value(&p, 0);
	if (ret >= 0) {
		skip_ws(&p);
		ret = p.pos == len ? 0 : invalid(&p);
	}
	if (ret) {
		free(doc->nodes);
		doc->nodes = NULL;
		doc->count = 0;
	}
	return ret;
}

void json_free(struct json_doc *doc)
{
	free(doc->nodes);
	memset(doc, 0, sizeof(*doc));
}

const struct json_node *json_first(const struct json_doc *doc, const struct json_node *n)
{
	if (!n || (n->type != JSON_ARRAY && n->type != JSON_OBJECT) || !n->len)
		return NULL;
	return &doc->nodes[n->child];
}

const struct json_node *json_next(const struct json_doc *doc, const struct json_node *n)
{
	return n->next ? &doc->nodes[n->next] : NULL;
}

const struct json_node *json_get(const struct json_doc *doc, const struct json_node *obj,
				 const char *name)
{
	size_t n = strlen(name);

	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json_node *m = json_first(doc, obj); m; m = json_next(doc, m))
		if (m->key_len == n && !strncasecmp(m->key, name, n))
			return m;
	return NULL;
}
