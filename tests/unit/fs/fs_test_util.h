/* SPDX-License-Identifier: Apache-2.0 */
/* Builds FUSE requests in memory and feeds them to fuse_server_handle(). */
#ifndef KRUN_FS_TEST_UTIL_H
#define KRUN_FS_TEST_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/fuse.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/fs/fuse_server.h"

#define OUT_CAP (2u << 20)

struct t {
	struct fuse_server *srv;
	char base[PATH_MAX];
	char share[PATH_MAX + 16];
	char outside[PATH_MAX + 16];
	unsigned char *out;
	bool small_out;		/* offer out_cap bytes for replies instead of OUT_CAP */
	size_t out_cap;
	int32_t error;
	size_t len;		/* payload length of the last reply */
	size_t reply_len;
	int ret;		/* fuse_server_handle() return */
	uint64_t unique;
};

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static inline char *tpath(const struct t *t, const char *rel)
{
	static char buf[2 * PATH_MAX];

	snprintf(buf, sizeof(buf), "%s/%s", t->share, rel);
	return buf;
}

static inline void write_host(const char *path, const char *data)
{
	int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);

	if (fd >= 0) {
		if (write(fd, data, strlen(data)) < 0)
			perror("write");
		close(fd);
	}
}

static inline int read_host(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = 0;
	return (int)n;
}

/* Sends opcode with the given argument parts (pointer, length pairs, NULL
 * terminated), all in one readable segment. Returns the reply error. */
static inline int32_t t_req(struct t *t, uint32_t opcode, uint64_t nodeid, ...)
{
	static unsigned char in[(1u << 20) + 8192];
	struct fuse_in_header h;
	struct fuse_out_header oh;
	struct iovec iv, ov;
	size_t off = sizeof(h);
	va_list ap;
	const void *p;

	va_start(ap, nodeid);
	while ((p = va_arg(ap, const void *)) != NULL) {
		size_t l = va_arg(ap, size_t);

		memcpy(in + off, p, l);
		off += l;
	}
	va_end(ap);
	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)off;
	h.opcode = opcode;
	h.unique = ++t->unique;
	h.nodeid = nodeid;
	h.uid = getuid();
	h.gid = getgid();
	h.pid = 1;
	memcpy(in, &h, sizeof(h));
	iv.iov_base = in;
	iv.iov_len = off;
	ov.iov_base = t->out;
	ov.iov_len = t->small_out ? t->out_cap : OUT_CAP;
	t->reply_len = 0;
	t->ret = fuse_server_handle(t->srv, &iv, 1, &ov, 1, &t->reply_len);
	t->len = 0;
	t->error = 0;
	if (t->reply_len >= sizeof(oh)) {
		memcpy(&oh, t->out, sizeof(oh));
		t->error = oh.error;
		t->len = t->reply_len - sizeof(oh);
		if (oh.unique != h.unique || oh.len != t->reply_len)
			t->error = -9999;
	}
	return t->error;
}

static inline const void *t_payload(const struct t *t)
{
	return t->out + sizeof(struct fuse_out_header);
}

#define END ((const void *)NULL)
#define ARG(x) &(x), sizeof(x)
#define STR(s) (s), strlen(s) + 1

static inline int32_t t_init(struct t *t, uint32_t major, uint32_t minor)
{
	struct fuse_init_in in;

	memset(&in, 0, sizeof(in));
	in.major = major;
	in.minor = minor;
	in.max_readahead = 128 * 1024;
	in.flags = 0xffffffffu;
	return t_req(t, FUSE_INIT, 0, ARG(in), END);
}

/* parent: the host directory the test tree goes in (its filesystem matters). */
static inline int t_setup_at(struct t *t, const char *parent, bool ro, bool init)
{
	int err = 0;

	memset(t, 0, sizeof(*t));
	snprintf(t->base, sizeof(t->base), "%s/krun-fs-test.XXXXXX", parent);
	if (!mkdtemp(t->base))
		return -errno;
	snprintf(t->share, sizeof(t->share), "%s/share", t->base);
	snprintf(t->outside, sizeof(t->outside), "%s/outside", t->base);
	mkdir(t->share, 0755);
	mkdir(t->outside, 0755);
	{
		char p[2 * PATH_MAX];

		snprintf(p, sizeof(p), "%s/secret", t->outside);
		write_host(p, "TOPSECRET");
	}
	t->out = malloc(OUT_CAP);
	t->srv = fuse_server_create(t->share, ro, &err);
	if (!t->srv)
		return err;
	if (init && t_init(t, 7, 38) != 0)
		return -EPROTO;
	return 0;
}

static inline int t_setup_opts(struct t *t, bool ro, bool init)
{
	return t_setup_at(t, "/tmp", ro, init);
}

static inline int t_setup(struct t *t)
{
	return t_setup_opts(t, false, true);
}

static inline void t_teardown(struct t *t)
{
	fuse_server_destroy(t->srv);
	free(t->out);
	nftw(t->base, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int32_t t_lookup(struct t *t, uint64_t parent, const char *name,
			       struct fuse_entry_out *e)
{
	int32_t err = t_req(t, FUSE_LOOKUP, parent, STR(name), END);

	if (!err && e)
		memcpy(e, t_payload(t), sizeof(*e));
	return err;
}

static inline int32_t t_getattr(struct t *t, uint64_t node, struct fuse_attr *a)
{
	struct fuse_getattr_in in;
	int32_t err;

	memset(&in, 0, sizeof(in));
	err = t_req(t, FUSE_GETATTR, node, ARG(in), END);
	if (!err && a)
		memcpy(a, &((const struct fuse_attr_out *)t_payload(t))->attr, sizeof(*a));
	return err;
}

static inline int32_t t_mkdir(struct t *t, uint64_t parent, const char *name, uint32_t mode,
			      struct fuse_entry_out *e)
{
	struct fuse_mkdir_in in = { .mode = mode, .umask = 0 };
	int32_t err = t_req(t, FUSE_MKDIR, parent, ARG(in), STR(name), END);

	if (!err && e)
		memcpy(e, t_payload(t), sizeof(*e));
	return err;
}

static inline int32_t t_create(struct t *t, uint64_t parent, const char *name, uint32_t flags,
			       uint32_t mode, struct fuse_entry_out *e, uint64_t *fh)
{
	struct fuse_create_in in = { .flags = flags, .mode = S_IFREG | mode };
	int32_t err = t_req(t, FUSE_CREATE, parent, ARG(in), STR(name), END);

	if (!err) {
		const struct fuse_entry_out *pe = t_payload(t);

		if (e)
			*e = *pe;
		if (fh)
			*fh = ((const struct fuse_open_out *)(pe + 1))->fh;
	}
	return err;
}

static inline int32_t t_open(struct t *t, uint64_t node, uint32_t flags, uint64_t *fh)
{
	struct fuse_open_in in = { .flags = flags };
	int32_t err = t_req(t, FUSE_OPEN, node, ARG(in), END);

	if (!err && fh)
		*fh = ((const struct fuse_open_out *)t_payload(t))->fh;
	return err;
}

static inline int32_t t_opendir(struct t *t, uint64_t node, uint64_t *fh)
{
	struct fuse_open_in in = { 0 };
	int32_t err = t_req(t, FUSE_OPENDIR, node, ARG(in), END);

	if (!err && fh)
		*fh = ((const struct fuse_open_out *)t_payload(t))->fh;
	return err;
}

static inline int32_t t_write(struct t *t, uint64_t node, uint64_t fh, uint64_t off,
			      const void *data, size_t len)
{
	struct fuse_write_in in;

	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.offset = off;
	in.size = (uint32_t)len;
	return t_req(t, FUSE_WRITE, node, ARG(in), data, len, END);
}

static inline int32_t t_read(struct t *t, uint64_t node, uint64_t fh, uint64_t off, uint32_t size)
{
	struct fuse_read_in in;

	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.offset = off;
	in.size = size;
	return t_req(t, FUSE_READ, node, ARG(in), END);
}

static inline int32_t t_release(struct t *t, uint64_t node, uint64_t fh, bool dir)
{
	struct fuse_release_in in;

	memset(&in, 0, sizeof(in));
	in.fh = fh;
	return t_req(t, dir ? FUSE_RELEASEDIR : FUSE_RELEASE, node, ARG(in), END);
}

static inline void t_forget(struct t *t, uint64_t node, uint64_t n)
{
	struct fuse_forget_in in = { .nlookup = n };

	t_req(t, FUSE_FORGET, node, ARG(in), END);
}

#endif
