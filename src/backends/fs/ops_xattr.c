// SPDX-License-Identifier: Apache-2.0
/*
 * Extended attributes, passed through unchanged.
 *
 * The f*xattr calls refuse O_PATH fds, so we use the path calls on the
 * /proc/self/fd magic link, which reaches exactly the inode we hold.  A
 * symlink cannot be addressed that way without following it, so symlinks
 * show no attributes and refuse new ones (as Linux does for user.*).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <linux/limits.h>

#include "fs_priv.h"

struct xattr_target {
	struct fs_inode *ino;
	char path[32];
};

/* 1: the inode has no host attributes (virtual inode or symlink). */
static int target_get(struct fs_req *r, struct xattr_target *t)
{
	int ret;

	t->ino = fs_inode_get(r->srv, r->h.nodeid);
	if (!t->ino)
		return -ESTALE;
	if (fs_inode_virtual(t->ino) || S_ISLNK(t->ino->type))
		return 1;
	ret = fs_proc_path(t->ino, t->path, sizeof(t->path));
	if (ret)
		fs_inode_put(r->srv, t->ino);
	return ret;
}

int fs_op_setxattr(struct fs_req *r)
{
	struct fuse_setxattr_in in;
	struct xattr_target t;
	const char *name;
	size_t next, value_off;
	void *value = NULL;
	int ret;

	/* FUSE_SETXATTR_EXT is never offered: the short struct is in use. */
	ret = fs_arg(r, &in, FUSE_COMPAT_SETXATTR_IN_SIZE);
	if (!ret)
		ret = fs_arg_str(r, FUSE_COMPAT_SETXATTR_IN_SIZE, &name, &next);
	if (ret)
		return ret;
	value_off = sizeof(struct fuse_in_header) + next;
	if (in.size > XATTR_SIZE_MAX)
		return -E2BIG;
	if (value_off > r->in_len || in.size > r->in_len - value_off)
		return -EINVAL;
	if (in.size) {
		value = malloc(in.size);
		if (!value)
			return -ENOMEM;
		iov_read(r->in, r->in_cnt, value_off, value, in.size);
	}
	ret = target_get(r, &t);
	if (ret >= 0) {
		if (ret == 1)
			ret = -EPERM;
		else if (setxattr(t.path, name, value, in.size, (int)in.flags) < 0)
			ret = -errno;
		fs_inode_put(r->srv, t.ino);
	}
	free(value);
	return ret ? ret : fs_reply(r, NULL, 0);
}

/* Shared by GETXATTR and LISTXATTR: size 0 asks for the length only. */
static int reply_sized(struct fs_req *r, uint32_t size, const struct xattr_target *t,
		       const char *name)
{
	struct fuse_getxattr_out out;
	size_t cap = size > XATTR_SIZE_MAX ? XATTR_SIZE_MAX : size;
	void *buf = NULL;
	ssize_t n;
	int ret;

	if (cap) {
		buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
	}
	if (name)
		n = getxattr(t->path, name, buf, cap);
	else
		n = listxattr(t->path, buf, cap);
	if (n < 0) {
		ret = -errno;
	} else if (size == 0) {
		memset(&out, 0, sizeof(out));
		out.size = (uint32_t)n;
		ret = fs_reply(r, &out, sizeof(out));
	} else {
		ret = fs_reply(r, buf, (size_t)n);
	}
	free(buf);
	return ret;
}

static int reply_empty(struct fs_req *r, uint32_t size, bool list)
{
	struct fuse_getxattr_out out;

	if (!list)
		return -ENODATA;
	if (size)
		return fs_reply(r, NULL, 0);
	memset(&out, 0, sizeof(out));
	return fs_reply(r, &out, sizeof(out));
}

static int get_or_list(struct fs_req *r, bool list)
{
	struct fuse_getxattr_in in;
	struct xattr_target t;
	const char *name = NULL;
	int ret = fs_arg(r, &in, sizeof(in));

	if (!ret && !list)
		ret = fs_arg_str(r, sizeof(in), &name, NULL);
	if (ret)
		return ret;
	ret = target_get(r, &t);
	if (ret < 0)
		return ret;
	if (ret == 1)
		ret = reply_empty(r, in.size, list);
	else
		ret = reply_sized(r, in.size, &t, name);
	fs_inode_put(r->srv, t.ino);
	return ret;
}

int fs_op_getxattr(struct fs_req *r)
{
	return get_or_list(r, false);
}

int fs_op_listxattr(struct fs_req *r)
{
	return get_or_list(r, true);
}

int fs_op_removexattr(struct fs_req *r)
{
	struct xattr_target t;
	const char *name;
	int ret = fs_arg_str(r, 0, &name, NULL);

	if (ret)
		return ret;
	ret = target_get(r, &t);
	if (ret < 0)
		return ret;
	if (ret == 1)
		ret = -EPERM;
	else if (removexattr(t.path, name) < 0)
		ret = -errno;
	fs_inode_put(r->srv, t.ino);
	return ret ? ret : fs_reply(r, NULL, 0);
}
