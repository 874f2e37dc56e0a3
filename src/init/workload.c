// SPDX-License-Identifier: Apache-2.0
/*
 * init/workload.c - encoder/decoder for the ".krun_workload" blob and the
 * rlimit string parser.  Linked into libkrun (host) and into the static
 * guest init, so it must stay libc-only: no logging, no library state.
 */
#include "workload.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- rlimit strings ---------------------------------------------------- */

static const struct {
	const char *name;
	int resource;
} rlimit_names[] = {
	{ "CPU", RLIMIT_CPU },
	{ "FSIZE", RLIMIT_FSIZE },
	{ "DATA", RLIMIT_DATA },
	{ "STACK", RLIMIT_STACK },
	{ "CORE", RLIMIT_CORE },
	{ "RSS", RLIMIT_RSS },
	{ "NPROC", RLIMIT_NPROC },
	{ "NOFILE", RLIMIT_NOFILE },
	{ "MEMLOCK", RLIMIT_MEMLOCK },
	{ "AS", RLIMIT_AS },
	{ "LOCKS", RLIMIT_LOCKS },
	{ "SIGPENDING", RLIMIT_SIGPENDING },
	{ "MSGQUEUE", RLIMIT_MSGQUEUE },
	{ "NICE", RLIMIT_NICE },
	{ "RTPRIO", RLIMIT_RTPRIO },
	{ "RTTIME", RLIMIT_RTTIME },
};

/* Digits only: strtoull alone would accept signs, spaces and "0x". */
static int parse_u64(const char *s, size_t n, unsigned long long *v)
{
	char tmp[24];
	char *end;

	if (n == 0 || n >= sizeof(tmp))
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	errno = 0;
	*v = strtoull(tmp, &end, 10);
	if (errno || *end)
		return -EINVAL;
	return 0;
}

static bool token_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

static int parse_rlim_value(const char *s, size_t n, rlim_t *out)
{
	unsigned long long v;

	if (token_is(s, n, "unlimited") || token_is(s, n, "infinity") ||
	    token_is(s, n, "-1")) {
		*out = RLIM_INFINITY;
		return 0;
	}
	if (parse_u64(s, n, &v))
		return -EINVAL;
	*out = (rlim_t)v;
	return 0;
}

static int parse_rlim_resource(const char *s, size_t n, int *resource)
{
	unsigned long long v;

	if (n > 0 && isdigit((unsigned char)s[0])) {
		if (parse_u64(s, n, &v) || v >= RLIM_NLIMITS)
			return -EINVAL;
		*resource = (int)v;
		return 0;
	}
	if (n > 7 && strncasecmp(s, "RLIMIT_", 7) == 0) {
		s += 7;
		n -= 7;
	}
	for (size_t i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++) {
		if (token_is(s, n, rlimit_names[i].name)) {
			*resource = rlimit_names[i].resource;
			return 0;
		}
	}
	return -EINVAL;
}

int parse_rlimit(const char *s, int *resource, struct rlimit *rl)
{
	const char *sep, *colon;
	struct rlimit tmp;
	int res;

	if (!s || !resource || !rl)
		return -EINVAL;
	sep = strchr(s, '=');
	if (!sep)
		sep = strchr(s, ':');
	if (!sep)
		return -EINVAL;
	colon = strchr(sep + 1, ':');
	if (!colon || strchr(colon + 1, ':'))
		return -EINVAL;
	if (parse_rlim_resource(s, (size_t)(sep - s), &res) ||
	    parse_rlim_value(sep + 1, (size_t)(colon - sep - 1), &tmp.rlim_cur) ||
	    parse_rlim_value(colon + 1, strlen(colon + 1), &tmp.rlim_max))
		return -EINVAL;
	/* The kernel would refuse it at setrlimit(); say so at the API instead. */
	if (tmp.rlim_cur > tmp.rlim_max)
		return -EINVAL;
	*resource = res;
	*rl = tmp;
	return 0;
}

/* ---- encoder ----------------------------------------------------------- */

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * Adds one record to the running size; checking against the cap at every
 * step means no addition can overflow size_t.
 */
static int size_add_str(size_t *total, const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n >= WORKLOAD_MAX_SIZE)
		return -E2BIG;
	*total += 4 + (s ? n + 1 : 0);
	return *total > WORKLOAD_MAX_SIZE ? -E2BIG : 0;
}

static int size_add_list(size_t *total, const char *const *v, size_t max,
			 size_t *count)
{
	size_t n = 0;
	int ret;

	*total += 4;
	for (; v && v[n]; n++) {
		if (n >= max)
			return -E2BIG;
		ret = size_add_str(total, v[n]);
		if (ret)
			return ret;
	}
	*count = n;
	return *total > WORKLOAD_MAX_SIZE ? -E2BIG : 0;
}

static int validate_spec(const struct workload_spec *spec)
{
	struct rlimit rl;
	int res;

	if (!spec->exec_path || !spec->exec_path[0])
		return -EINVAL;
	if (spec->flags & ~WORKLOAD_F_ALL)
		return -EINVAL;
	if (spec->hostname && strlen(spec->hostname) > WORKLOAD_MAX_HOSTNAME)
		return -EINVAL;
	if ((spec->flags & WORKLOAD_F_BLOCK_ROOT) && (!spec->root_device || !spec->root_device[0]))
		return -EINVAL;
	for (size_t i = 0; spec->rlimits && spec->rlimits[i]; i++) {
		if (i >= WORKLOAD_MAX_RLIMITS)
			return -E2BIG;
		if (parse_rlimit(spec->rlimits[i], &res, &rl))
			return -EINVAL;
	}
	return 0;
}

/* "" would reach the guest as chdir("") or an empty hostname: treat as unset. */
static const char *nonempty(const char *s)
{
	return s && s[0] ? s : NULL;
}

struct writer {
	uint8_t *p;
};

static void write_str(struct writer *w, const char *s)
{
	size_t n = s ? strlen(s) + 1 : 0;

	put_le32(w->p, (uint32_t)n);
	if (n)
		memcpy(w->p + 4, s, n);
	w->p += 4 + n;
}

static void write_list(struct writer *w, const char *const *v, size_t count)
{
	put_le32(w->p, (uint32_t)count);
	w->p += 4;
	for (size_t i = 0; i < count; i++)
		write_str(w, v[i]);
}

static void write_header(uint8_t *p, const struct workload_spec *spec, size_t total)
{
	memcpy(p, WORKLOAD_MAGIC, WORKLOAD_MAGIC_LEN);
	put_le32(p + 8, WORKLOAD_VERSION);
	put_le32(p + 12, (uint32_t)total);
	put_le32(p + 16, spec->flags);
	put_le32(p + 20, spec->flags & WORKLOAD_F_UID_SET ? spec->uid : 0);
	put_le32(p + 24, spec->flags & WORKLOAD_F_GID_SET ? spec->gid : 0);
	put_le32(p + 28, 0);
}

int workload_encode(const struct workload_spec *spec, uint8_t **buf, size_t *len)
{
	const char *const default_argv[] = { spec ? spec->exec_path : NULL, NULL };
	const char *const *argv;
	const char *workdir, *hostname, *root[3] = { NULL, NULL, NULL };
	size_t total = WORKLOAD_HEADER_LEN, argc, envc, nrl;
	struct writer w;
	int ret;

	if (!spec || !buf || !len)
		return -EINVAL;
	ret = validate_spec(spec);
	if (ret)
		return ret;
	argv = spec->argv && spec->argv[0] ? spec->argv : default_argv;

	workdir = nonempty(spec->workdir);
	hostname = nonempty(spec->hostname);
	if (spec->flags & WORKLOAD_F_BLOCK_ROOT) {
		root[0] = spec->root_device;
		root[1] = nonempty(spec->root_fstype);
		root[2] = nonempty(spec->root_options);
	}
	if ((ret = size_add_str(&total, spec->exec_path)) ||
	    (ret = size_add_list(&total, argv, WORKLOAD_MAX_STRINGS, &argc)) ||
	    (ret = size_add_list(&total, spec->envp, WORKLOAD_MAX_STRINGS, &envc)) ||
	    (ret = size_add_str(&total, workdir)) ||
	    (ret = size_add_list(&total, spec->rlimits, WORKLOAD_MAX_RLIMITS, &nrl)) ||
	    (ret = size_add_str(&total, hostname)))
		return ret;
	for (int i = 0; (spec->flags & WORKLOAD_F_BLOCK_ROOT) && i < 3; i++)
		if ((ret = size_add_str(&total, root[i])))
			return ret;

	*buf = malloc(total);
	if (!*buf)
		return -ENOMEM;
	write_header(*buf, spec, total);
	w.p = *buf + WORKLOAD_HEADER_LEN;
	write_str(&w, spec->exec_path);
	write_list(&w, argv, argc);
	write_list(&w, spec->envp, envc);
	write_str(&w, workdir);
	write_list(&w, spec->rlimits, nrl);
	write_str(&w, hostname);
	if (spec->flags & WORKLOAD_F_BLOCK_ROOT)
		for (int i = 0; i < 3; i++)
			write_str(&w, root[i]);
	*len = total;
	return 0;
}

/* ---- decoder ----------------------------------------------------------- */

struct reader {
	const uint8_t *buf;
	size_t len;
	size_t off;
};

static size_t reader_left(const struct reader *r)
{
	return r->len - r->off;
}

static int read_u32(struct reader *r, uint32_t *v)
{
	if (reader_left(r) < 4)
		return -EINVAL;
	*v = get_le32(r->buf + r->off);
	r->off += 4;
	return 0;
}

/* A present string is its bytes plus exactly one NUL, at the very end. */
static int read_str(struct reader *r, const char **s, bool optional)
{
	const char *p;
	uint32_t n;

	if (read_u32(r, &n))
		return -EINVAL;
	if (n == 0) {
		*s = NULL;
		return optional ? 0 : -EINVAL;
	}
	if (n > reader_left(r))
		return -EINVAL;
	p = (const char *)r->buf + r->off;
	if (p[n - 1] != '\0' || memchr(p, '\0', n - 1))
		return -EINVAL;
	r->off += n;
	*s = p;
	return 0;
}

static int read_list(struct reader *r, const char ***v, size_t *count, size_t max)
{
	const char **arr;
	uint32_t n;

	if (read_u32(r, &n))
		return -EINVAL;
	/* Every entry takes at least 5 bytes, so a count the remaining bytes
	 * cannot hold is corrupt; this also bounds the allocation below. */
	if (n > max || n > reader_left(r) / 5)
		return -EINVAL;
	arr = calloc((size_t)n + 1, sizeof(*arr));
	if (!arr)
		return -ENOMEM;
	*v = arr;
	*count = n;
	for (uint32_t i = 0; i < n; i++)
		if (read_str(r, &arr[i], false))
			return -EINVAL;
	return 0;
}

static int decode_header(struct reader *r, struct workload_view *out)
{
	uint32_t total, reserved;

	if (r->len < WORKLOAD_HEADER_LEN || r->len > WORKLOAD_MAX_SIZE)
		return -EINVAL;
	if (memcmp(r->buf, WORKLOAD_MAGIC, WORKLOAD_MAGIC_LEN))
		return -EINVAL;
	r->off = WORKLOAD_MAGIC_LEN;
	read_u32(r, &out->version);
	read_u32(r, &total);
	read_u32(r, &out->flags);
	read_u32(r, &out->uid);
	read_u32(r, &out->gid);
	read_u32(r, &reserved);
	if (out->version != WORKLOAD_VERSION || total != r->len || reserved ||
	    (out->flags & ~WORKLOAD_F_ALL))
		return -EINVAL;
	return 0;
}

static int validate_view(const struct workload_view *v)
{
	struct rlimit rl;
	int res;

	if (!v->exec_path[0] || v->argc < 1)
		return -EINVAL;
	if (v->hostname && strlen(v->hostname) > WORKLOAD_MAX_HOSTNAME)
		return -EINVAL;
	for (size_t i = 0; i < v->nrlimits; i++)
		if (parse_rlimit(v->rlimits[i], &res, &rl))
			return -EINVAL;
	return 0;
}

static int decode_body(struct reader *r, struct workload_view *out)
{
	int ret;

	if ((ret = read_str(r, &out->exec_path, false)) ||
	    (ret = read_list(r, &out->argv, &out->argc, WORKLOAD_MAX_STRINGS)) ||
	    (ret = read_list(r, &out->envp, &out->envc, WORKLOAD_MAX_STRINGS)) ||
	    (ret = read_str(r, &out->workdir, true)) ||
	    (ret = read_list(r, &out->rlimits, &out->nrlimits, WORKLOAD_MAX_RLIMITS)) ||
	    (ret = read_str(r, &out->hostname, true)))
		return ret;
	if ((out->flags & WORKLOAD_F_BLOCK_ROOT) &&
	    ((ret = read_str(r, &out->root_device, false)) ||
	     (ret = read_str(r, &out->root_fstype, true)) ||
	     (ret = read_str(r, &out->root_options, true))))
		return ret;
	if (reader_left(r))
		return -EINVAL;
	return validate_view(out);
}

int workload_decode(const uint8_t *buf, size_t len, struct workload_view *out)
{
	struct reader r = { .buf = buf, .len = len, .off = 0 };
	int ret;

	if (!out)
		return -EINVAL;
	memset(out, 0, sizeof(*out));
	if (!buf)
		return -EINVAL;
	ret = decode_header(&r, out);
	if (!ret)
		ret = decode_body(&r, out);
	if (ret)
		workload_view_free(out);
	return ret;
}

void workload_view_free(struct workload_view *view)
{
	if (!view)
		return;
	free(view->argv);
	free(view->envp);
	free(view->rlimits);
	memset(view, 0, sizeof(*view));
}
