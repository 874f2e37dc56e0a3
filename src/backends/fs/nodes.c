// SPDX-License-Identifier: Apache-2.0
/*
 * Inodes, file handles and safe name resolution.
 *
 * Confinement rests on three rules:
 *  - an inode is only ever created from a single, validated name component
 *    opened relative to the O_PATH fd of an inode we already hold, with
 *    O_NOFOLLOW and openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so
 *    neither "..", nor symlinks, nor /proc magic links in the share lead
 *    anywhere but to the entry itself;
 *  - every later operation works on that fd (or *at() relative to it), never
 *    on a path, so renames racing with us cannot redirect it;
 *  - ".." is only served after checking that the parent is the root or
 *    below it.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs_priv.h"

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* ---- id tables ---------------------------------------------------------- */

int fs_slots_init(struct fs_slot_table *t)
{
	memset(t, 0, sizeof(*t));
	t->free_head = UINT32_MAX;
	return 0;
}

void fs_slots_fini(struct fs_slot_table *t)
{
	free(t->slots);
	fs_slots_init(t);
}

static int slot_alloc(struct fs_slot_table *t, void *obj, uint64_t *id)
{
	uint32_t idx;

	if (t->free_head != UINT32_MAX) {
		idx = t->free_head;
		t->free_head = t->slots[idx].next_free;
	} else {
		if (t->top == t->cap) {
			uint32_t ncap = t->cap ? t->cap * 2 : 64;
			struct fs_slot *ns;

			if (ncap > FS_MAX_SLOTS)
				return -ENFILE;
			ns = realloc(t->slots, ncap * sizeof(*ns));
			if (!ns)
				return -ENOMEM;
			memset(ns + t->cap, 0, (ncap - t->cap) * sizeof(*ns));
			t->slots = ns;
			t->cap = ncap;
		}
		idx = t->top++;
	}
	t->slots[idx].obj = obj;
	t->used++;
	/* The first id handed out is 1: FUSE_ROOT_ID. */
	*id = ((uint64_t)t->slots[idx].gen << 32) | (idx + 1);
	return 0;
}

static void *slot_lookup(const struct fs_slot_table *t, uint64_t id)
{
	uint32_t low = (uint32_t)id;
	const struct fs_slot *s;

	if (low == 0 || low > t->top)
		return NULL;
	s = &t->slots[low - 1];
	if (!s->obj || s->gen != (uint32_t)(id >> 32))
		return NULL;
	return s->obj;
}

static void slot_free(struct fs_slot_table *t, uint64_t id)
{
	uint32_t idx = (uint32_t)id - 1;

	t->slots[idx].obj = NULL;
	t->slots[idx].gen++;
	t->slots[idx].next_free = t->free_head;
	t->free_head = idx;
	t->used--;
}

/* Called with srv->lock held: gives ino its nodeid. */
int fs_slot_new_inode(struct fuse_server *srv, struct fs_inode *ino)
{
	return slot_alloc(&srv->inodes, ino, &ino->nodeid);
}

/* ---- descriptor limits --------------------------------------------------- */

/* Host descriptors held for inodes and handles by all servers together. */
static atomic_uint fds_held;

/* How many of them the process can spare, from its current soft limit. */
static uint32_t fd_budget(void)
{
	struct rlimit rl;
	rlim_t soft;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024 - FUSE_SERVER_FD_RESERVE;
	soft = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > UINT32_MAX ? UINT32_MAX : rl.rlim_cur;
	return (uint32_t)(soft >= 2 * FUSE_SERVER_FD_RESERVE ? soft - FUSE_SERVER_FD_RESERVE
							      : soft / 2);
}

static void fd_untake(void)
{
	atomic_fetch_sub(&fds_held, 1);
}

/* Counts one more descriptor against the budget, if it has room. */
static bool fd_take(void)
{
	if (atomic_fetch_add(&fds_held, 1) < fd_budget())
		return true;
	fd_untake();
	return false;
}

static bool fd_room(void)
{
	return atomic_load(&fds_held) < fd_budget();
}

/* Closes a descriptor fd_take() counted. */
static void fd_give(int fd)
{
	close(fd);
	fd_untake();
}

void fs_default_limits(struct fuse_server_limits *l)
{
	uint32_t budget = fd_budget();

	l->max_handles = FUSE_SERVER_MAX_HANDLES < budget ? FUSE_SERVER_MAX_HANDLES : budget;
	l->max_inodes = FUSE_SERVER_MAX_INODES < budget ? FUSE_SERVER_MAX_INODES : budget;
	/* Never nothing at all: a server that can open no file is no use. */
	if (!l->max_handles)
		l->max_handles = 1;
	if (!l->max_inodes)
		l->max_inodes = 1;
}

/* Called with srv->lock held. */
static bool inode_fd_room(const struct fuse_server *srv)
{
	return srv->nr_inode_fds < srv->limits.max_inodes && fd_room();
}

/*
 * Whether a new host inode (and, with handle, a new handle with a host fd)
 * could be taken now: 0, -ENFILE or -EMFILE.  Lets the creating requests
 * refuse before they create anything.
 */
int fs_room(struct fuse_server *srv, bool handle)
{
	int ret = 0;

	pthread_mutex_lock(&srv->lock);
	if (handle && srv->handles.used >= srv->limits.max_handles)
		ret = -EMFILE;
	else if (!inode_fd_room(srv))
		ret = -ENFILE;
	else if (handle && atomic_load(&fds_held) + 1 >= fd_budget())
		ret = -EMFILE;
	pthread_mutex_unlock(&srv->lock);
	return ret;
}

void fuse_server_get_limits(struct fuse_server *srv, struct fuse_server_limits *l)
{
	pthread_mutex_lock(&srv->lock);
	*l = srv->limits;
	pthread_mutex_unlock(&srv->lock);
}

int fuse_server_set_limits(struct fuse_server *srv, const struct fuse_server_limits *l)
{
	if (!srv || !l || !l->max_handles || !l->max_inodes)
		return -EINVAL;
	pthread_mutex_lock(&srv->lock);
	srv->limits = *l;
	pthread_mutex_unlock(&srv->lock);
	return 0;
}

void fuse_server_get_stats(struct fuse_server *srv, struct fuse_server_stats *st)
{
	pthread_mutex_lock(&srv->lock);
	st->inodes = srv->inodes.used;
	st->inode_fds = srv->nr_inode_fds;
	st->handles = srv->handles.used;
	pthread_mutex_unlock(&srv->lock);
}

/* ---- (dev, ino) hash: hard links share one inode ------------------------- */

static uint32_t key_hash(dev_t dev, ino_t ino, uint32_t size)
{
	uint64_t k = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4full;

	return (uint32_t)(k >> 32) & (size - 1);
}

static struct fs_inode *hash_find(const struct fuse_server *srv, dev_t dev, ino_t ino)
{
	struct fs_inode *p = srv->hash[key_hash(dev, ino, srv->hash_size)];

	while (p && (p->dev != dev || p->ino != ino))
		p = p->hnext;
	return p;
}

static void hash_grow(struct fuse_server *srv)
{
	uint32_t nsize = srv->hash_size * 2;
	struct fs_inode **nh = calloc(nsize, sizeof(*nh));

	/* Without memory the chains just get longer. */
	if (!nh)
		return;
	for (uint32_t i = 0; i < srv->hash_size; i++) {
		struct fs_inode *p = srv->hash[i], *next;

		for (; p; p = next) {
			uint32_t b = key_hash(p->dev, p->ino, nsize);

			next = p->hnext;
			p->hnext = nh[b];
			nh[b] = p;
		}
	}
	free(srv->hash);
	srv->hash = nh;
	srv->hash_size = nsize;
}

static void hash_insert(struct fuse_server *srv, struct fs_inode *ino)
{
	uint32_t b;

	if (srv->nr_hashed >= srv->hash_size && srv->hash_size < FS_MAX_SLOTS)
		hash_grow(srv);
	b = key_hash(ino->dev, ino->ino, srv->hash_size);
	ino->hnext = srv->hash[b];
	srv->hash[b] = ino;
	srv->nr_hashed++;
}

static void hash_remove(struct fuse_server *srv, struct fs_inode *ino)
{
	struct fs_inode **pp = &srv->hash[key_hash(ino->dev, ino->ino, srv->hash_size)];

	while (*pp && *pp != ino)
		pp = &(*pp)->hnext;
	if (*pp) {
		*pp = ino->hnext;
		srv->nr_hashed--;
	}
}

/* ---- inode lifetime ------------------------------------------------------ */

int fs_inode_root_init(struct fuse_server *srv, int fd, const struct stat *st)
{
	struct fs_inode *root = calloc(1, sizeof(*root));
	int ret;

	srv->hash_size = 256;
	srv->hash = calloc(srv->hash_size, sizeof(*srv->hash));
	if (!root || !srv->hash) {
		free(root);
		return -ENOMEM;
	}
	ret = slot_alloc(&srv->inodes, root, &root->nodeid);
	if (ret) {
		free(root);
		return ret;
	}
	/* The root shares the server's fd; fs_tables_fini() skips closing it. */
	root->fd = fd;
	root->type = S_IFDIR;
	root->dev = st->st_dev;
	root->ino = st->st_ino;
	root->nlookup = 1;
	srv->root = root;
	hash_insert(srv, root);
	return 0;
}

/* Called with srv->lock held: detaches an inode nobody refers to. */
static bool inode_detach_if_unused(struct fuse_server *srv, struct fs_inode *ino)
{
	if (ino->refs || ino->nlookup || ino == srv->root)
		return false;
	slot_free(&srv->inodes, ino->nodeid);
	if (ino->vent)
		ino->vent->ino = NULL;
	else
		hash_remove(srv, ino);
	if (ino->fd >= 0)
		srv->nr_inode_fds--;
	return true;
}

/* Not for the root, whose fd is the server's. */
static void inode_free(struct fs_inode *ino)
{
	if (ino->fd >= 0)
		fd_give(ino->fd);
	free(ino);
}

struct fs_inode *fs_inode_get(struct fuse_server *srv, uint64_t nodeid)
{
	struct fs_inode *ino;

	pthread_mutex_lock(&srv->lock);
	ino = slot_lookup(&srv->inodes, nodeid);
	if (ino)
		ino->refs++;
	pthread_mutex_unlock(&srv->lock);
	return ino;
}

void fs_inode_put(struct fuse_server *srv, struct fs_inode *ino)
{
	bool dead;

	pthread_mutex_lock(&srv->lock);
	ino->refs--;
	dead = inode_detach_if_unused(srv, ino);
	pthread_mutex_unlock(&srv->lock);
	if (dead)
		inode_free(ino);
}

void fs_inode_forget(struct fuse_server *srv, uint64_t nodeid, uint64_t nlookup)
{
	struct fs_inode *ino;
	bool dead = false;

	pthread_mutex_lock(&srv->lock);
	ino = slot_lookup(&srv->inodes, nodeid);
	if (ino) {
		ino->nlookup = ino->nlookup > nlookup ? ino->nlookup - nlookup : 0;
		dead = inode_detach_if_unused(srv, ino);
	}
	pthread_mutex_unlock(&srv->lock);
	if (dead)
		inode_free(ino);
}

void fs_forget_all(struct fuse_server *srv)
{
	struct fs_inode *dead = NULL;

	pthread_mutex_lock(&srv->lock);
	for (uint32_t i = 0; i < srv->inodes.top; i++) {
		struct fs_inode *ino = srv->inodes.slots[i].obj;

		if (!ino || ino == srv->root)
			continue;
		ino->nlookup = 0;
		if (inode_detach_if_unused(srv, ino)) {
			ino->hnext = dead;
			dead = ino;
		}
	}
	pthread_mutex_unlock(&srv->lock);
	while (dead) {
		struct fs_inode *next = dead->hnext;

		inode_free(dead);
		dead = next;
	}
}

static void handle_free(struct fuse_server *srv, struct fs_handle *h);

/* Only at destruction, when no request can be running. */
void fs_tables_fini(struct fuse_server *srv)
{
	for (uint32_t i = 0; i < srv->handles.top; i++) {
		struct fs_handle *h = srv->handles.slots[i].obj;

		if (h)
			handle_free(srv, h);
	}
	for (uint32_t i = 0; i < srv->inodes.top; i++) {
		struct fs_inode *ino = srv->inodes.slots[i].obj;

		if (ino == srv->root)
			free(ino);
		else if (ino)
			inode_free(ino);
	}
	fs_slots_fini(&srv->handles);
	fs_slots_fini(&srv->inodes);
	free(srv->hash);
	srv->hash = NULL;
	srv->root = NULL;
}

/* ---- attributes ---------------------------------------------------------- */

static uint32_t encode_dev(dev_t dev)
{
	/* The kernel's new_encode_dev() layout used on the FUSE wire. */
	uint32_t ma = major(dev), mi = minor(dev);

	return (mi & 0xff) | (ma << 8) | ((mi & ~0xffu) << 12);
}

void fs_fill_attr(const struct stat *st, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = st->st_ino;
	a->size = (uint64_t)st->st_size;
	a->blocks = (uint64_t)st->st_blocks;
	a->atime = (uint64_t)st->st_atim.tv_sec;
	a->mtime = (uint64_t)st->st_mtim.tv_sec;
	a->ctime = (uint64_t)st->st_ctim.tv_sec;
	a->atimensec = (uint32_t)st->st_atim.tv_nsec;
	a->mtimensec = (uint32_t)st->st_mtim.tv_nsec;
	a->ctimensec = (uint32_t)st->st_ctim.tv_nsec;
	a->mode = st->st_mode;
	a->nlink = (uint32_t)st->st_nlink;
	a->uid = st->st_uid;
	a->gid = st->st_gid;
	a->rdev = encode_dev(st->st_rdev);
	a->blksize = (uint32_t)st->st_blksize;
}

int fs_stat_inode(const struct fuse_server *srv, const struct fs_inode *ino, struct stat *st)
{
	if (fs_inode_virtual(ino)) {
		fs_virtual_stat(srv, ino, st);
		return 0;
	}
	if (fstatat(ino->fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	fs_meta_view(srv, ino, st);
	return 0;
}

/* A one-shot file must not stay in the guest's dcache; other virtual
 * inodes can never change. */
uint64_t fs_inode_timeout(const struct fs_inode *ino)
{
	if (ino->vent && ino->vent->one_shot)
		return 0;
	return fs_inode_virtual(ino) ? FS_FOREVER_S : FS_TIMEOUT_S;
}

void fs_fill_entry(const struct fs_inode *ino, const struct stat *st, struct fuse_entry_out *e)
{
	uint64_t t = fs_inode_timeout(ino);

	memset(e, 0, sizeof(*e));
	e->nodeid = ino->nodeid;
	e->entry_valid = t;
	e->attr_valid = t;
	fs_fill_attr(st, &e->attr);
}

/* ---- name resolution ----------------------------------------------------- */

int fs_open_beneath(int dirfd, const char *name, int flags, mode_t mode)
{
	struct open_how how;
	int fd;

	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	fd = (int)syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
	/* Pre-5.6 kernels: a checked single component opened with O_NOFOLLOW
	 * cannot leave dirfd either; openat2 is defence in depth. */
	if (fd < 0 && errno == ENOSYS)
		fd = openat(dirfd, name, flags | O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

/*
 * Opens an inode for I/O.  There is no "open this O_PATH fd" syscall, so we
 * go through /proc/self/fd/N, which is a magic link: it jumps straight to
 * the very file the O_PATH fd refers to, without walking any path the guest
 * could influence.  The O_PATH fd was opened safely (fs_open_beneath), so the
 * reopened file is the same one.  Only regular files come here: symlinks
 * would be followed and device nodes would open host devices.
 */
int fs_reopen(const struct fuse_server *srv, const struct fs_inode *ino, int flags)
{
	char name[16];
	int fd;

	if (S_ISDIR(ino->type))
		return -EISDIR;
	if (S_ISLNK(ino->type))
		return -ELOOP;
	/* A device node of the guest's is an empty host file: never opened. */
	if (!S_ISREG(ino->type) || fs_meta_dev(srv, ino))
		return -ENXIO;
	snprintf(name, sizeof(name), "%d", ino->fd);
	fd = openat(srv->proc_fd, name, (flags & ~(O_CREAT | O_EXCL | O_NOFOLLOW)) | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int fs_proc_path(const struct fs_inode *ino, char *buf, size_t size)
{
	int n = snprintf(buf, size, "/proc/self/fd/%d", ino->fd);

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Takes ownership of fd (an O_PATH fd). Returns a referenced inode, with
 * its lookup count raised by one. */
int fs_intern_fd(struct fuse_server *srv, int fd, struct fs_inode **out, struct stat *st)
{
	struct fs_inode *ino, *fresh;
	int ret;

	if (fstatat(fd, "", st, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	fresh = calloc(1, sizeof(*fresh));
	if (!fresh) {
		close(fd);
		return -ENOMEM;
	}
	pthread_mutex_lock(&srv->lock);
	ino = hash_find(srv, st->st_dev, st->st_ino);
	if (ino) {
		ino->nlookup++;
		ino->refs++;
		pthread_mutex_unlock(&srv->lock);
		close(fd);
		free(fresh);
		*out = ino;
		return 0;
	}
	ret = inode_fd_room(srv) && fd_take() ? 0 : -ENFILE;
	if (!ret) {
		ret = slot_alloc(&srv->inodes, fresh, &fresh->nodeid);
		if (ret)
			fd_untake();
	}
	if (ret) {
		pthread_mutex_unlock(&srv->lock);
		close(fd);
		free(fresh);
		return ret;
	}
	fresh->fd = fd;
	fresh->type = st->st_mode & S_IFMT;
	fresh->dev = st->st_dev;
	fresh->ino = st->st_ino;
	fresh->nlookup = 1;
	fresh->refs = 1;
	srv->nr_inode_fds++;
	hash_insert(srv, fresh);
	pthread_mutex_unlock(&srv->lock);
	*out = fresh;
	return 0;
}

static int same_file(int a, int b, bool *same)
{
	struct stat sa, sb;

	if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
		return -errno;
	*same = sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
	return 0;
}

/*
 * A directory that someone on the host moved out of the share keeps its
 * nodeid; its ".." must not become a way out.  Walk up until we meet the
 * root (inside) or the top of the namespace (outside).
 */
static int check_below_root(const struct fuse_server *srv, int fd)
{
	int cur = dup(fd), ret = -EACCES;

	if (cur < 0)
		return -errno;
	for (int depth = 0; depth < 4096; depth++) {
		bool same;
		int up;

		ret = same_file(cur, srv->root_fd, &same);
		if (ret || same)
			break;
		up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (up < 0) {
			ret = -errno;
			break;
		}
		ret = same_file(cur, up, &same);
		close(cur);
		cur = up;
		if (ret)
			break;
		if (same) {
			ret = -EACCES;
			break;
		}
		ret = -EACCES;
	}
	close(cur);
	return ret;
}

static int lookup_self(struct fuse_server *srv, struct fs_inode *dir, struct fuse_entry_out *e)
{
	struct stat st;
	int ret = fs_stat_inode(srv, dir, &st);

	if (ret)
		return ret;
	pthread_mutex_lock(&srv->lock);
	dir->nlookup++;
	pthread_mutex_unlock(&srv->lock);
	fs_fill_entry(dir, &st, e);
	return 0;
}

static int lookup_parent(struct fuse_server *srv, struct fs_inode *dir, struct fuse_entry_out *e)
{
	struct fs_inode *ino;
	struct stat st;
	int fd, ret;

	if (dir == srv->root)
		return lookup_self(srv, dir, e);
	if (fs_inode_virtual(dir)) {
		ret = fs_vent_lookup_parent(srv, dir, e);
		return ret == 1 ? lookup_self(srv, srv->root, e) : ret;
	}
	fd = openat(dir->fd, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = check_below_root(srv, fd);
	if (ret) {
		close(fd);
		return ret;
	}
	ret = fs_intern_fd(srv, fd, &ino, &st);
	if (ret)
		return ret;
	fs_fill_entry(ino, &st, e);
	fs_inode_put(srv, ino);
	return 0;
}

int fs_lookup(struct fuse_server *srv, struct fs_inode *dir, const char *name,
	      struct fuse_entry_out *e)
{
	int ret;

	if (!S_ISDIR(dir->type))
		return -ENOTDIR;
	if (strcmp(name, ".") == 0)
		return lookup_self(srv, dir, e);
	if (strcmp(name, "..") == 0)
		return lookup_parent(srv, dir, e);
	ret = fs_check_name(name);
	if (ret)
		return ret;
	ret = fs_vent_lookup(srv, dir, name, e);
	return ret <= 0 ? ret : fs_lookup_host(srv, dir, name, e);
}

/* A checked component of host directory dir, ignoring overlay entries. */
int fs_lookup_host(struct fuse_server *srv, struct fs_inode *dir, const char *name,
		   struct fuse_entry_out *e)
{
	struct fs_inode *ino;
	struct stat st;
	int fd, ret;

	fd = fs_open_beneath(dir->fd, name, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0)
		return fd;
	ret = fs_intern_fd(srv, fd, &ino, &st);
	if (ret)
		return ret;
	fs_meta_view(srv, ino, &st);
	fs_fill_entry(ino, &st, e);
	fs_inode_put(srv, ino);
	return 0;
}

/* ---- file handles -------------------------------------------------------- */

static void handle_free(struct fuse_server *srv, struct fs_handle *h)
{
	if (h->fd >= 0)
		fd_give(h->fd);
	pthread_mutex_destroy(&h->dir_lock);
	free(h->stream);
	fs_inode_put(srv, h->ino);
	free(h);
}

/* Consumes fd; the handle takes its own reference on ino. */
int fs_handle_new(struct fuse_server *srv, struct fs_inode *ino, int fd, bool dir, uint64_t *fh)
{
	struct fs_handle *h = calloc(1, sizeof(*h));
	int ret;

	if (!h) {
		if (fd >= 0)
			close(fd);
		return -ENOMEM;
	}
	h->ino = ino;
	h->fd = fd;
	h->dir = dir;
	h->refs = 1;
	pthread_mutex_init(&h->dir_lock, NULL);
	pthread_mutex_lock(&srv->lock);
	ret = srv->handles.used < srv->limits.max_handles && (fd < 0 || fd_take()) ? 0 : -EMFILE;
	if (!ret) {
		ret = slot_alloc(&srv->handles, h, fh);
		if (ret && fd >= 0)
			fd_untake();
	}
	if (!ret)
		ino->refs++;
	pthread_mutex_unlock(&srv->lock);
	if (ret) {
		if (fd >= 0)
			close(fd);
		pthread_mutex_destroy(&h->dir_lock);
		free(h);
	}
	return ret;
}

struct fs_handle *fs_handle_get(struct fuse_server *srv, uint64_t fh)
{
	struct fs_handle *h;

	pthread_mutex_lock(&srv->lock);
	h = slot_lookup(&srv->handles, fh);
	if (h)
		h->refs++;
	pthread_mutex_unlock(&srv->lock);
	return h;
}

void fs_handle_put(struct fuse_server *srv, struct fs_handle *h)
{
	bool dead;

	pthread_mutex_lock(&srv->lock);
	dead = --h->refs == 0;
	pthread_mutex_unlock(&srv->lock);
	if (dead)
		handle_free(srv, h);
}

int fs_handle_release(struct fuse_server *srv, uint64_t fh)
{
	struct fs_handle *h;
	bool dead;

	pthread_mutex_lock(&srv->lock);
	h = slot_lookup(&srv->handles, fh);
	if (!h) {
		pthread_mutex_unlock(&srv->lock);
		return -EBADF;
	}
	slot_free(&srv->handles, fh);
	dead = --h->refs == 0;
	pthread_mutex_unlock(&srv->lock);
	if (dead)
		handle_free(srv, h);
	return 0;
}
