// SPDX-License-Identifier: Apache-2.0
/*
 * Extended attributes.
 *
 * The guest's trusted.X and security.X (file capabilities, SELinux labels,
 * overlayfs' trusted.overlay.*) are privilege on the host: they are stored
 * as user.krun.trusted.X / user.krun.security.X and shown under their own
 * names.  user.krun.* and the metadata record (meta.c) are the server's:
 * hidden from the guest, who can neither read nor write them.  Real host
 * trusted.* / security.* attributes (set by someone privileged on the host,
 * e.g. file capabilities of an image) stay readable and listed where the
 * guest has none of its own.  With privilege passthrough all names go
 * through unchanged, as upstream.
 *
 * The f*xattr calls refuse O_PATH fds, so we use the path calls on the
 * /proc/self/fd magic link, which reaches exactly the inode we hold.  A
 * symlink cannot be addressed that way without following it, so symlinks
 * show no attributes and refuse new ones (as Linux does for user.*).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <linux/limits.h>

#include "fs_priv.h"

struct xattr_target {
	struct fs_inode *ino;
	char path[32];
};

#define REMAP_LEN (sizeof(FS_XATTR_REMAP_PREFIX) - 1)

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool remapped_ns(const char *name)
{
	return has_prefix(name, "trusted.") || has_prefix(name, "security.");
}

/* Names the guest never sees. */
static bool reserved(const char *name)
{
	return has_prefix(name, FS_XATTR_REMAP_PREFIX) || strcmp(name, FS_META_XATTR) == 0;
}

/*
 * The host name of a guest attribute name, in buf when it differs: 0, 1 for
 * a reserved name, -ERANGE when the host name would be too long.
 */
static int host_name(const struct fuse_server *srv, const char *name, char *buf, size_t size,
		     const char **host)
{
	int n;

	*host = name;
	if (srv->passthrough)
		return 0;
	if (reserved(name))
		return 1;
	if (!remapped_ns(name))
		return 0;
	n = snprintf(buf, size, FS_XATTR_REMAP_PREFIX "%s", name);
	if (n < 0 || (size_t)n >= size)
		return -ERANGE;
	*host = buf;
	return 0;
}

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
	char hname[XATTR_NAME_MAX + 1];
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
	ret = host_name(r->srv, name, hname, sizeof(hname), &name);
	if (ret)
		ret = ret == 1 ? -EPERM : ret;
	else
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

/* A host attribute set with host privilege stands where the guest set none. */
static ssize_t get_value(const char *path, const char *hname, const char *gname, void *buf,
			 size_t cap)
{
	ssize_t n = getxattr(path, hname, buf, cap);

	if (n < 0 && errno == ENODATA && hname != gname)
		n = getxattr(path, gname, buf, cap);
	return n;
}

static bool listed(const char *list, size_t len, const char *name, size_t nlen)
{
	for (size_t pos = 0; pos < len; pos += strlen(list + pos) + 1) {
		if (strlen(list + pos) == nlen && memcmp(list + pos, name, nlen) == 0)
			return true;
	}
	return false;
}

/* The host's list as the guest sees it, compacted in place: its length. */
static size_t guest_list(char *list, size_t len)
{
	size_t out = 0, pos = 0;

	while (pos < len) {
		const char *name = list + pos;
		size_t nlen = strnlen(name, len - pos);

		pos += nlen + 1;
		if (has_prefix(name, FS_XATTR_REMAP_PREFIX) && remapped_ns(name + REMAP_LEN)) {
			name += REMAP_LEN;
			nlen -= REMAP_LEN;
		} else if (reserved(name)) {
			continue;
		}
		if (nlen == 0 || listed(list, out, name, nlen))
			continue;
		memmove(list + out, name, nlen);
		list[out + nlen] = '\0';
		out += nlen + 1;
	}
	return out;
}

static int reply_value(struct fs_req *r, uint32_t size, const void *buf, size_t n)
{
	struct fuse_getxattr_out out;

	if (size == 0) {
		memset(&out, 0, sizeof(out));
		out.size = (uint32_t)n;
		return fs_reply(r, &out, sizeof(out));
	}
	return n > size ? -ERANGE : fs_reply(r, buf, n);
}

/* Shared by GETXATTR and LISTXATTR: size 0 asks for the length only.  The
 * guest's list is shorter than the host's, so the whole host list is read. */
static int reply_sized(struct fs_req *r, uint32_t size, const struct xattr_target *t,
		       const char *hname, const char *gname)
{
	bool remap_list = !gname && !r->srv->passthrough;
	size_t cap = remap_list ? XATTR_LIST_MAX : size > XATTR_SIZE_MAX ? XATTR_SIZE_MAX : size;
	void *buf = NULL;
	ssize_t n;
	int ret;

	if (cap) {
		buf = malloc(cap);
		if (!buf)
			return -ENOMEM;
	}
	if (gname)
		n = get_value(t->path, hname, gname, buf, cap);
	else
		n = listxattr(t->path, buf, cap);
	if (n < 0)
		ret = -errno;
	else
		ret = reply_value(r, size, buf, remap_list ? guest_list(buf, (size_t)n) : (size_t)n);
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
	char hbuf[XATTR_NAME_MAX + 1];
	const char *name = NULL, *hname = NULL;
	int ret = fs_arg(r, &in, sizeof(in));

	if (!ret && !list)
		ret = fs_arg_str(r, sizeof(in), &name, NULL);
	if (!ret && !list)
		ret = host_name(r->srv, name, hbuf, sizeof(hbuf), &hname);
	if (ret)
		return ret == 1 ? -ENODATA : ret;
	ret = target_get(r, &t);
	if (ret < 0)
		return ret;
	if (ret == 1)
		ret = reply_empty(r, in.size, list);
	else
		ret = reply_sized(r, in.size, &t, hname, name);
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

/* Only the guest's own attribute goes; one set on the host stays. */
static int remove_name(const char *path, const char *hname, const char *gname)
{
	if (removexattr(path, hname) == 0)
		return 0;
	if (errno == ENODATA && hname != gname && getxattr(path, gname, NULL, 0) >= 0)
		return -EPERM;
	return -errno;
}

int fs_op_removexattr(struct fs_req *r)
{
	struct xattr_target t;
	char hbuf[XATTR_NAME_MAX + 1];
	const char *name, *hname;
	int ret = fs_arg_str(r, 0, &name, NULL);

	if (!ret)
		ret = host_name(r->srv, name, hbuf, sizeof(hbuf), &hname);
	if (ret)
		return ret == 1 ? -ENODATA : ret;
	ret = target_get(r, &t);
	if (ret < 0)
		return ret;
	if (ret == 1)
		ret = -EPERM;
	else
		ret = remove_name(t.path, hname, name);
	fs_inode_put(r->srv, t.ino);
	return ret ? ret : fs_reply(r, NULL, 0);
}
