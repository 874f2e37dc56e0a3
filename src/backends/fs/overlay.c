// SPDX-License-Identifier: Apache-2.0
/*
 * Overlay entries: in-memory read-only files and empty directories that
 * the server adds on top of the host directory (or of nothing at all, for a
 * server without one).
 *
 * They form a tree of their own hanging off the root: an overlay directory
 * holds only overlay entries and has no host fd, so nothing below it can
 * reach a host file, and its ".." is its overlay parent or the root.  Only
 * the root can mix host and overlay entries; there the overlay wins.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs_priv.h"

const char *fuse_overlay_path(const char *path)
{
	const char *p, *c;

	if (!path)
		return NULL;
	while (*path == '/')
		path++;
	if (*path == '\0' || strnlen(path, FUSE_OVERLAY_PATH_MAX + 1) > FUSE_OVERLAY_PATH_MAX)
		return NULL;
	for (c = path; *c; c = *p ? p + 1 : p) {
		size_t n;

		p = strchrnul(c, '/');
		n = (size_t)(p - c);
		if (n == 0 || n > 255 || (c[0] == '.' && (n == 1 || (n == 2 && c[1] == '.'))))
			return NULL;
		if (*p && p[1] == '\0')
			return NULL;	/* trailing '/' */
	}
	return path;
}

/* Called with srv->lock held (or before serving).  name is n bytes long. */
static struct fs_vent *child_of(const struct fuse_server *srv, const struct fs_vent *parent,
				const char *name, size_t n, bool live_only)
{
	for (unsigned int i = 0; i < srv->nr_vents; i++) {
		struct fs_vent *v = srv->vents[i];

		if (v->parent == parent && strncmp(v->name, name, n) == 0 && v->name[n] == '\0' &&
		    !(live_only && v->gone))
			return v;
	}
	return NULL;
}

/* Resolves all but the last component of path; *last points at that one. */
static int find_parent(const struct fuse_server *srv, const char *path, struct fs_vent **parent,
		       const char **last)
{
	struct fs_vent *dir = NULL;
	const char *c = path, *p;

	while (*(p = strchrnul(c, '/'))) {
		struct fs_vent *v = child_of(srv, dir, c, (size_t)(p - c), false);

		if (!v)
			return -ENOENT;
		if (!v->dir)
			return -ENOTDIR;
		dir = v;
		c = p + 1;
	}
	*parent = dir;
	*last = c;
	return 0;
}

static int add_vent(struct fuse_server *srv, const char *path, bool dir, const void *data,
		    size_t len, uint32_t mode, bool one_shot)
{
	uint32_t type = mode & S_IFMT;
	struct fs_vent *parent, *v;
	const char *name;
	int ret;

	path = fuse_overlay_path(path);
	if (!srv || !path || (!data && len) || len > INT64_MAX || (mode & ~(S_IFMT | 07777)) ||
	    (type && type != (dir ? S_IFDIR : S_IFREG)))
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	ret = find_parent(srv, path, &parent, &name);
	if (!ret && child_of(srv, parent, name, strlen(name), false))
		ret = -EEXIST;
	if (!ret && srv->nr_vents == FUSE_SERVER_MAX_OVERLAYS)
		ret = -ENOSPC;
	if (!ret && !(v = calloc(1, sizeof(*v) + strlen(name) + 1)))
		ret = -ENOMEM;
	if (!ret) {
		strcpy(v->name, name);
		v->parent = parent;
		v->data = data;
		v->len = len;
		v->mode = mode & 07777;
		v->dir = dir;
		v->one_shot = one_shot;
		v->index = srv->nr_vents;
		srv->vents[srv->nr_vents++] = v;
	}
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

int fuse_server_add_overlay_file(struct fuse_server *srv, const char *path, const void *data,
				 size_t len, uint32_t mode, bool one_shot)
{
	return add_vent(srv, path, false, data, len, mode, one_shot);
}

int fuse_server_add_overlay_dir(struct fuse_server *srv, const char *path, uint32_t mode)
{
	return add_vent(srv, path, true, NULL, 0, mode, false);
}

void fs_vents_fini(struct fuse_server *srv)
{
	for (unsigned int i = 0; i < srv->nr_vents; i++)
		free(srv->vents[i]);
	srv->nr_vents = 0;
}

/*
 * The overlay directory an inode stands for: *dir is NULL for the root.
 * false for host directories below the root, which hold no overlay entries.
 */
static bool vent_dir_of(const struct fuse_server *srv, const struct fs_inode *ino,
			struct fs_vent **dir)
{
	if (ino == srv->root) {
		*dir = NULL;
		return true;
	}
	*dir = ino->vent;
	return ino->vent && ino->vent->dir;
}

bool fs_vent_shadows(struct fuse_server *srv, const struct fs_inode *dir, const char *name)
{
	struct fs_vent *d;
	bool found;

	/* Host directories below the root never need the lock. */
	if (!vent_dir_of(srv, dir, &d))
		return false;
	pthread_mutex_lock(&srv->lock);
	found = child_of(srv, d, name, strlen(name), true) != NULL;
	pthread_mutex_unlock(&srv->lock);
	return found;
}

void fs_virtual_stat(const struct fuse_server *srv, const struct fs_inode *ino, struct stat *st)
{
	const struct fs_vent *v = ino->vent;
	bool dir = S_ISDIR(ino->type);

	memset(st, 0, sizeof(*st));
	st->st_ino = ino->ino;
	st->st_mode = (dir ? S_IFDIR : S_IFREG) | (v ? v->mode : 0755);
	st->st_nlink = dir ? 2 : 1;
	st->st_size = v && !dir ? (off_t)v->len : 0;
	st->st_blksize = 4096;
	st->st_blocks = (blkcnt_t)((st->st_size + 511) / 512);
	st->st_atim = st->st_mtim = st->st_ctim = srv->born;
}

/* Called with srv->lock held; fresh is a zeroed inode we may use.  Returns
 * the inode with a reference and one more lookup, or NULL (-errno in *err). */
static struct fs_inode *vent_inode(struct fuse_server *srv, struct fs_vent *v,
				   struct fs_inode **fresh, int *err)
{
	struct fs_inode *ino = v->ino;

	if (ino) {
		ino->nlookup++;
		ino->refs++;
		return ino;
	}
	if (!*fresh) {
		*err = -ENOMEM;
		return NULL;
	}
	*err = fs_slot_new_inode(srv, *fresh);
	if (*err)
		return NULL;
	ino = *fresh;
	*fresh = NULL;
	ino->fd = -1;
	ino->type = v->dir ? S_IFDIR : S_IFREG;
	ino->vent = v;
	/* Stable and far from any inode number a host share can have. */
	ino->ino = (ino_t)((1ull << 63) | ((uint64_t)v->index + 2));
	ino->nlookup = 1;
	ino->refs = 1;
	v->ino = ino;
	return ino;
}

static int reply_vent(struct fuse_server *srv, struct fs_vent *v, struct fuse_entry_out *e)
{
	struct fs_inode *ino, *fresh = v->ino ? NULL : calloc(1, sizeof(*fresh));
	struct stat st;
	int ret = 0;

	ino = vent_inode(srv, v, &fresh, &ret);
	if (ino && v->one_shot)
		v->gone = true;
	pthread_mutex_unlock(&srv->lock);
	free(fresh);
	if (!ino)
		return ret;
	fs_virtual_stat(srv, ino, &st);
	fs_fill_entry(ino, &st, e);
	fs_inode_put(srv, ino);
	return 0;
}

/*
 * 1 when dir is a host directory without an overlay entry of that name (the
 * host decides); otherwise the answer: 0 with *e filled, or -errno.
 */
int fs_vent_lookup(struct fuse_server *srv, struct fs_inode *dir, const char *name,
		   struct fuse_entry_out *e)
{
	struct fs_vent *d, *v;

	if (!vent_dir_of(srv, dir, &d))
		return 1;
	pthread_mutex_lock(&srv->lock);
	v = child_of(srv, d, name, strlen(name), true);
	if (!v) {
		pthread_mutex_unlock(&srv->lock);
		return fs_inode_virtual(dir) ? -ENOENT : 1;
	}
	return reply_vent(srv, v, e);	/* unlocks */
}

/* ".." of an overlay directory: 1 when that is the root (the caller's
 * job), else its overlay parent. */
int fs_vent_lookup_parent(struct fuse_server *srv, struct fs_inode *dir, struct fuse_entry_out *e)
{
	struct fs_vent *parent = dir->vent ? dir->vent->parent : NULL;

	if (!parent)
		return 1;
	pthread_mutex_lock(&srv->lock);
	return reply_vent(srv, parent, e);	/* unlocks */
}
