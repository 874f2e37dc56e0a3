/* SPDX-License-Identifier: Apache-2.0 */
/*
 * init/json.h - a small strict JSON (RFC 8259) parser for the guest init's
 * container config.  It runs in PID 1 on bytes from the guest's root, so
 * everything is bounded: input size, nesting depth and the number of values
 * (which caps the one allocation, the node table).
 *
 * Strings are decoded in place: an escape is never shorter than the UTF-8
 * it stands for, so the decoded text fits where the quoted text was and
 * gets a NUL where its closing quote (or earlier) was.  The caller's buffer
 * must therefore be writable and outlive the document.
 */
#ifndef KRUN_INIT_JSON_H
#define KRUN_INIT_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_INPUT (16u << 20)
#define JSON_MAX_DEPTH 64
#define JSON_MAX_NODES (1u << 16)

enum json_type {
	JSON_NULL,
	JSON_FALSE,
	JSON_TRUE,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

/* Node 0 is the top-level value; member links use 0 for "none". */
struct json_node {
	const char *str;	/* string: decoded, NUL-terminated; number: its text */
	const char *key;	/* member of an object: its decoded name, else NULL */
	uint32_t len;		/* bytes of str; array/object: number of members */
	uint32_t key_len;
	uint32_t child;		/* array/object: first member */
	uint32_t next;		/* next member of the same array/object */
	uint8_t type;
};

struct json_doc {
	struct json_node *nodes;
	uint32_t count;
	const char *error;	/* on failure: why, for a message */
	size_t error_offset;	/* on failure: byte of the input where it stopped */
};

/*
 * Parses buf[0..len) (modified in place).  Returns 0, -EINVAL (not JSON,
 * or nested deeper than JSON_MAX_DEPTH), -E2BIG (over JSON_MAX_INPUT or
 * JSON_MAX_NODES) or -ENOMEM.  On error doc holds no allocation but
 * error/error_offset are set.
 */
int json_parse(char *buf, size_t len, struct json_doc *doc);
void json_free(struct json_doc *doc);

/* The member of object obj named name, compared case-insensitively. */
const struct json_node *json_get(const struct json_doc *doc, const struct json_node *obj,
				 const char *name);

/* Iteration over an array's or object's members: NULL at the end. */
const struct json_node *json_first(const struct json_doc *doc, const struct json_node *n);
const struct json_node *json_next(const struct json_doc *doc, const struct json_node *n);

#endif
