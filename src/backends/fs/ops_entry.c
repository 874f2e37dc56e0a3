// SPDX-License-Identifier: Apache-2.0
/* Name-space operations: lookup, attributes, creation, removal, rename. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "fs_priv.h"

/* The lookup of an entry the guest cannot be told about is given back. */
static int reply_entry(struct fs_req *r, const struct fuse_entry_out *e)
{
	int ret = fs_reply(r, e, sizeof(*e));

	if (ret)
		fs_inode_forget(r->srv, e->nodeid, 1);
	return ret;
}

static int reply_attr(struct fs_req *r, const struct fs_inode *ino, const struct stat *st)
{
	struct fuse_attr_out out;

	memset(&out, 0, sizeof(out));
	out.attr_valid = fs_inode_timeout(ino);
	fs_fill_attr(st, &out.attr);
	return fs_reply(r, &out, sizeof(out));
}

static int get_node(struct fs_req *r, uint64_t nodeid, struct fs_inode **ino)
{
	*ino = fs_inode_get(r->srv, nodeid);
	return *ino ? 0 : -ESTALE;
}

/*
 * Whether name may be created (create) or unlinked/renamed in dir.
 * Overlay directories and a root without host directory have no room for
 * anything new.  A live overlay entry of that name is in the way of a new
 * entry, and neither it nor the host entry it hides may go in its name.
 */
int fs_dir_may_change(struct fuse_server *srv, const struct fs_inode *dir, const char *name,
		      bool create)
{
	if (!S_ISDIR(dir->type))
		return -ENOTDIR;
	if (fs_vent_shadows(srv, dir, name))
		return create ? -EEXIST : -EPERM;
	return fs_inode_virtual(dir) ? -EROFS : 0;
}

int fs_op_lookup(struct fs_req *r)
{
	struct fuse_entry_out e;
	struct fs_inode *dir;
	const char *name;
	int ret = fs_arg_str(r, 0, &name, NULL);

	if (ret || (ret = get_node(r, r->h.nodeid, &dir)))
		return ret;
	ret = fs_lookup(r->srv, dir, name, &e);
	fs_inode_put(r->srv, dir);
	return ret ? ret : reply_entry(r, &e);
}

int fs_op_forget(struct fs_req *r)
{
	struct fuse_forget_in in;

	if (fs_arg(r, &in, sizeof(in)) == 0)
		fs_inode_forget(r->srv, r->h.nodeid, in.nlookup);
	return FS_NO_REPLY;
}

int fs_op_batch_forget(struct fs_req *r)
{
	struct fuse_batch_forget_in in;
	size_t off = sizeof(r->h) + sizeof(in);

	if (fs_arg(r, &in, sizeof(in)))
		return FS_NO_REPLY;
	for (uint32_t i = 0; i < in.count; i++, off += sizeof(struct fuse_forget_one)) {
		struct fuse_forget_one one;

		if (off + sizeof(one) > r->in_len)
			break;
		iov_read(r->in, r->in_cnt, off, &one, sizeof(one));
		fs_inode_forget(r->srv, one.nodeid, one.nlookup);
	}
	return FS_NO_REPLY;
}

int fs_op_getattr(struct fs_req *r)
{
	struct fuse_getattr_in in;
	struct fs_handle *h = NULL;
	struct fs_inode *ino;
	struct stat st;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret || (ret = get_node(r, r->h.nodeid, &ino)))
		return ret;
	if (in.getattr_flags & FUSE_GETATTR_FH)
		h = fs_handle_get(r->srv, in.fh);
	if (h && h->fd >= 0 && h->ino == ino) {
		ret = fstat(h->fd, &st) < 0 ? -errno : 0;
		if (!ret)
			fs_meta_view(r->srv, ino, &st);
	} else
		ret = fs_stat_inode(r->srv, ino, &st);
	if (h)
		fs_handle_put(r->srv, h);
	if (!ret)
		ret = reply_attr(r, ino, &st);
	fs_inode_put(r->srv, ino);
	return ret;
}

static int set_mode(const struct fuse_server *srv, const struct fs_inode *ino, int fd, mode_t mode)
{
	char name[16];

	if (fd >= 0)
		return fchmod(fd, mode) < 0 ? -errno : 0;
	/* Linux has no modes on symlinks (fchmodat(AT_SYMLINK_NOFOLLOW) says the same). */
	if (S_ISLNK(ino->type))
		return -EOPNOTSUPP;
	/* fchmodat does not take AT_EMPTY_PATH; the magic link reaches exactly
	 * this inode (see fs_reopen). */
	snprintf(name, sizeof(name), "%d", ino->fd);
	return fchmodat(srv->proc_fd, name, mode, 0) < 0 ? -errno : 0;
}

#define SETID ((mode_t)(S_ISUID | S_ISGID))

/*
 * chmod as the guest sees it.  Set-id bits of a non-directory stay off on the
 * host (meta.c); the record is written before the host mode changes so that
 * a failure leaves the file as it was.  A guest device only has a record.
 */
static int set_guest_mode(const struct fuse_server *srv, const struct fs_inode *ino, int fd,
			  mode_t mode)
{
	struct stat st;
	int ret;

	if (srv->passthrough || S_ISDIR(ino->type))
		return set_mode(srv, ino, fd, mode);
	if (fs_meta_on(srv, ino)) {
		ret = fs_stat_inode(srv, ino, &st);
		if (!ret)
			ret = fs_meta_set_mode(ino, st.st_mode & S_IFMT, mode, st.st_rdev);
		if (ret || fs_meta_is_dev(st.st_mode))
			return ret;
	}
	return set_mode(srv, ino, fd, mode & ~SETID);
}

/*
 * A chown clears set-uid, and set-gid with group execute, of non-directories
 * (Linux's rule, which the host applies itself only to bits it has).
 */
static int kill_setid(const struct fuse_server *srv, const struct fs_inode *ino)
{
	struct stat st;
	mode_t mode;
	int ret;

	if (!fs_meta_on(srv, ino))
		return 0;
	ret = fs_stat_inode(srv, ino, &st);
	if (ret || !(st.st_mode & SETID))
		return ret;
	mode = st.st_mode & ~(mode_t)S_ISUID;
	if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		mode &= ~(mode_t)S_ISGID;
	if (mode == st.st_mode)
		return 0;
	return fs_meta_set_mode(ino, st.st_mode & S_IFMT, mode, st.st_rdev);
}

static int set_size(const struct fs_inode *ino, int fd, uint64_t size)
{
	char path[32];
	int ret;

	if (size > INT64_MAX)
		return -EFBIG;
	if (fd >= 0)
		return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
	if (!S_ISREG(ino->type))
		return S_ISDIR(ino->type) ? -EISDIR : -EINVAL;
	ret = fs_proc_path(ino, path, sizeof(path));
	if (ret)
		return ret;
	return truncate(path, (off_t)size) < 0 ? -errno : 0;
}

static void attr_time(uint32_t valid, uint32_t set, uint32_t now, uint64_t sec, uint32_t nsec,
		      struct timespec *ts)
{
	if (!(valid & set)) {
		ts->tv_sec = 0;
		ts->tv_nsec = UTIME_OMIT;
	} else if (valid & now) {
		ts->tv_sec = 0;
		ts->tv_nsec = UTIME_NOW;
	} else {
		ts->tv_sec = (time_t)sec;
		ts->tv_nsec = nsec;
	}
}

static int set_times(const struct fuse_server *srv, const struct fs_inode *ino, int fd,
		     const struct fuse_setattr_in *in)
{
	struct timespec ts[2];
	char name[16];

	attr_time(in->valid, FATTR_ATIME, FATTR_ATIME_NOW, in->atime, in->atimensec, &ts[0]);
	attr_time(in->valid, FATTR_MTIME, FATTR_MTIME_NOW, in->mtime, in->mtimensec, &ts[1]);
	if (fd >= 0)
		return futimens(fd, ts) < 0 ? -errno : 0;
	if (utimensat(ino->fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == 0)
		return 0;
	/* Kernels without AT_EMPTY_PATH support here: go through the magic link. */
	if (errno != EINVAL && errno != ENOENT)
		return -errno;
	if (S_ISLNK(ino->type))
		return -EOPNOTSUPP;
	snprintf(name, sizeof(name), "%d", ino->fd);
	return utimensat(srv->proc_fd, name, ts, 0) < 0 ? -errno : 0;
}

static int do_setattr(struct fuse_server *srv, struct fs_inode *ino, int fd,
		      const struct fuse_setattr_in *in)
{
	int ret = 0;

	if (in->valid & FATTR_MODE)
		ret = set_guest_mode(srv, ino, fd, in->mode & 07777);
	if (!ret && (in->valid & (FATTR_UID | FATTR_GID))) {
		uid_t uid = (in->valid & FATTR_UID) ? in->uid : (uid_t)-1;
		gid_t gid = (in->valid & FATTR_GID) ? in->gid : (gid_t)-1;

		if (fchownat(ino->fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
			ret = -errno;
		/* With the mode in the same request the guest decided itself. */
		else if (!(in->valid & FATTR_MODE))
			ret = kill_setid(srv, ino);
	}
	if (!ret && (in->valid & FATTR_SIZE))
		ret = set_size(ino, fd, in->size);
	if (!ret && (in->valid & (FATTR_ATIME | FATTR_MTIME)))
		ret = set_times(srv, ino, fd, in);
	return ret;
}

int fs_op_setattr(struct fs_req *r)
{
	struct fuse_setattr_in in;
	struct fs_handle *h = NULL;
	struct fs_inode *ino;
	struct stat st;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret || (ret = get_node(r, r->h.nodeid, &ino)))
		return ret;
	if (fs_inode_virtual(ino)) {
		/* Overlay entries are read-only; a root without host directory
		 * is a read-only filesystem. */
		ret = ino->vent ? -EPERM : -EROFS;
		goto out;
	}
	if (in.valid & FATTR_FH) {
		h = fs_handle_get(r->srv, in.fh);
		if (!h || h->ino != ino) {
			ret = -EBADF;
			goto out;
		}
	}
	ret = do_setattr(r->srv, ino, h ? h->fd : -1, &in);
	if (!ret)
		ret = fs_stat_inode(r->srv, ino, &st);
	if (!ret)
		ret = reply_attr(r, ino, &st);
out:
	if (h)
		fs_handle_put(r->srv, h);
	fs_inode_put(r->srv, ino);
	return ret;
}

int fs_op_readlink(struct fs_req *r)
{
	char buf[4096];
	struct fs_inode *ino;
	ssize_t n;
	int ret = get_node(r, r->h.nodeid, &ino);

	if (ret)
		return ret;
	if (!S_ISLNK(ino->type))
		ret = -EINVAL;
	else if ((n = readlinkat(ino->fd, "", buf, sizeof(buf))) < 0)
		ret = -errno;
	else
		ret = fs_reply(r, buf, (size_t)n);
	fs_inode_put(r->srv, ino);
	return ret;
}

/*
 * The host umask must not change what the guest asked for (the guest kernel
 * already applied the guest's umask), yet the server must not touch the
 * process-wide umask either; so restore permission bits it removed.
 */
static void fix_mode(struct fuse_server *srv, struct fuse_entry_out *e, mode_t wanted)
{
	struct fs_inode *ino;
	mode_t have = e->attr.mode & 07777;
	mode_t want = (have & ~0777u) | (wanted & 0777);

	if (!(wanted & 0777 & ~have) || S_ISLNK(e->attr.mode))
		return;
	ino = fs_inode_get(srv, e->nodeid);
	if (!ino)
		return;
	if (set_guest_mode(srv, ino, -1, want) == 0)
		e->attr.mode = (e->attr.mode & S_IFMT) | want;
	fs_inode_put(srv, ino);
}

enum mk_kind { MK_DIR, MK_NOD, MK_SYMLINK };

struct mk_args {
	enum mk_kind kind;
	const char *name;
	const char *target;
	mode_t mode;
	dev_t rdev;
};

/*
 * A guest device node: an empty host file only the record makes a device,
 * 0600 because nothing on the host has business with it.  It is not there
 * at all unless the record is.
 */
static int mk_dev(int dirfd, const struct mk_args *a)
{
	struct fs_meta m = { .mode = a->mode, .rdev = a->rdev };
	int fd = fs_open_beneath(dirfd, a->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600);
	int ret;

	if (fd < 0)
		return fd;
	ret = fs_meta_write_fd(fd, &m);
	close(fd);
	if (ret)
		unlinkat(dirfd, a->name, 0);
	return ret;
}

/*
 * The set-id bits of a new file: kept in the record, or dropped where the
 * host cannot hold one (then the guest sees the file without them).
 */
static void mk_setid_record(int dirfd, const struct mk_args *a)
{
	struct fs_meta m = { .mode = S_IFREG | (a->mode & 07777) };
	int fd;

	if (!(a->mode & SETID))
		return;
	fd = fs_open_beneath(dirfd, a->name, O_PATH | O_NOFOLLOW, 0);
	if (fd < 0)
		return;
	fs_meta_write_fd(fd, &m);
	close(fd);
}

/* MKNOD with privilege virtualised; fifos and sockets give none: real. */
static int mk_nod(const struct fuse_server *srv, int dirfd, const struct mk_args *a)
{
	mode_t type = a->mode & S_IFMT;

	if (srv->passthrough)
		return mknodat(dirfd, a->name, a->mode, a->rdev) < 0 ? -errno : 0;
	if (fs_meta_is_dev(type))
		return mk_dev(dirfd, a);
	if (mknodat(dirfd, a->name, a->mode & ~SETID, a->rdev) < 0)
		return -errno;
	/* Linux has no user.* xattrs on fifos and sockets: their (meaningless)
	 * set-id bits are dropped. */
	if (type == S_IFREG || type == 0)
		mk_setid_record(dirfd, a);
	return 0;
}

static int mk_at(const struct fuse_server *srv, int dirfd, const struct mk_args *a)
{
	int ret;

	switch (a->kind) {
	case MK_DIR:
		ret = mkdirat(dirfd, a->name, a->mode);
		break;
	case MK_NOD:
		return mk_nod(srv, dirfd, a);
	default:
		ret = symlinkat(a->target, dirfd, a->name);
		break;
	}
	return ret < 0 ? -errno : 0;
}

static int make_node(struct fs_req *r, const struct mk_args *a)
{
	struct fuse_entry_out e;
	struct fs_creds c;
	struct fs_inode *dir;
	int ret = get_node(r, r->h.nodeid, &dir);

	if (ret)
		return ret;
	ret = fs_dir_may_change(r->srv, dir, a->name, true);
	if (!ret)
		ret = fs_room(r->srv, false);
	if (ret)
		goto out;
	ret = fs_creds_enter(r->srv, &r->h, &c);
	if (ret)
		goto out;
	ret = mk_at(r->srv, dir->fd, a);
	fs_creds_leave(&c);
	if (!ret)
		ret = fs_lookup(r->srv, dir, a->name, &e);
	if (!ret) {
		if (a->kind != MK_SYMLINK)
			fix_mode(r->srv, &e, a->mode);
		ret = reply_entry(r, &e);
	}
out:
	fs_inode_put(r->srv, dir);
	return ret;
}

int fs_op_symlink(struct fs_req *r)
{
	struct mk_args a = { .kind = MK_SYMLINK };
	size_t next;
	int ret = fs_arg_name(r, 0, &a.name, &next);

	if (!ret)
		ret = fs_arg_str(r, next, &a.target, NULL);
	if (!ret && a.target[0] == '\0')
		ret = -ENOENT;
	return ret ? ret : make_node(r, &a);
}

int fs_op_mknod(struct fs_req *r)
{
	struct fuse_mknod_in in;
	struct mk_args a = { .kind = MK_NOD };
	int ret = fs_arg(r, &in, sizeof(in));

	if (!ret)
		ret = fs_arg_name(r, sizeof(in), &a.name, NULL);
	if (ret)
		return ret;
	a.mode = in.mode;
	/* Wire format is the kernel's new_encode_dev(). */
	a.rdev = makedev((in.rdev >> 8) & 0xfff, (in.rdev & 0xff) | ((in.rdev >> 12) & 0xfff00));
	return make_node(r, &a);
}

int fs_op_mkdir(struct fs_req *r)
{
	struct fuse_mkdir_in in;
	struct mk_args a = { .kind = MK_DIR };
	int ret = fs_arg(r, &in, sizeof(in));

	if (!ret)
		ret = fs_arg_name(r, sizeof(in), &a.name, NULL);
	if (ret)
		return ret;
	a.mode = in.mode & 07777;
	return make_node(r, &a);
}

static int remove_entry(struct fs_req *r, int flags)
{
	struct fs_inode *dir;
	const char *name;
	int ret = fs_arg_name(r, 0, &name, NULL);

	if (ret || (ret = get_node(r, r->h.nodeid, &dir)))
		return ret;
	ret = fs_dir_may_change(r->srv, dir, name, false);
	if (!ret)
		ret = unlinkat(dir->fd, name, flags) < 0 ? -errno : fs_reply(r, NULL, 0);
	fs_inode_put(r->srv, dir);
	return ret;
}

int fs_op_unlink(struct fs_req *r)
{
	return remove_entry(r, 0);
}

int fs_op_rmdir(struct fs_req *r)
{
	return remove_entry(r, AT_REMOVEDIR);
}

static int do_rename(struct fs_req *r, uint64_t newdir_id, size_t names_off, unsigned int flags)
{
	struct fs_inode *olddir, *newdir;
	const char *oldname, *newname;
	size_t next;
	int ret = fs_arg_name(r, names_off, &oldname, &next);

	if (!ret)
		ret = fs_arg_name(r, next, &newname, NULL);
	if (ret || (ret = get_node(r, r->h.nodeid, &olddir)))
		return ret;
	ret = get_node(r, newdir_id, &newdir);
	if (ret) {
		fs_inode_put(r->srv, olddir);
		return ret;
	}
	ret = fs_dir_may_change(r->srv, olddir, oldname, false);
	if (!ret)
		ret = fs_dir_may_change(r->srv, newdir, newname, false);
	if (!ret)
		ret = renameat2(olddir->fd, oldname, newdir->fd, newname, flags) < 0
			      ? -errno
			      : fs_reply(r, NULL, 0);
	fs_inode_put(r->srv, newdir);
	fs_inode_put(r->srv, olddir);
	return ret;
}

int fs_op_rename(struct fs_req *r)
{
	struct fuse_rename_in in;
	int ret = fs_arg(r, &in, sizeof(in));

	return ret ? ret : do_rename(r, in.newdir, sizeof(in), 0);
}

int fs_op_rename2(struct fs_req *r)
{
	struct fuse_rename2_in in;
	int ret = fs_arg(r, &in, sizeof(in));

	return ret ? ret : do_rename(r, in.newdir, sizeof(in), in.flags);
}

static int link_at(const struct fuse_server *srv, const struct fs_inode *ino, int dirfd,
		   const char *name)
{
	char src[16];

	if (linkat(ino->fd, "", dirfd, name, AT_EMPTY_PATH) == 0)
		return 0;
	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH on older kernels; following
	 * the magic link names the same inode. */
	if ((errno != ENOENT && errno != EPERM) || S_ISLNK(ino->type))
		return -errno;
	snprintf(src, sizeof(src), "%d", ino->fd);
	return linkat(srv->proc_fd, src, dirfd, name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
}

int fs_op_link(struct fs_req *r)
{
	struct fuse_link_in in;
	struct fuse_entry_out e;
	struct fs_inode *ino, *dir;
	const char *name;
	int ret = fs_arg(r, &in, sizeof(in));

	if (!ret)
		ret = fs_arg_name(r, sizeof(in), &name, NULL);
	if (ret || (ret = get_node(r, in.oldnodeid, &ino)))
		return ret;
	ret = get_node(r, r->h.nodeid, &dir);
	if (ret) {
		fs_inode_put(r->srv, ino);
		return ret;
	}
	if (fs_inode_virtual(ino))
		ret = -EPERM;
	else if (!(ret = fs_dir_may_change(r->srv, dir, name, true)))
		ret = link_at(r->srv, ino, dir->fd, name);
	if (!ret)
		ret = fs_lookup(r->srv, dir, name, &e);
	if (!ret)
		ret = reply_entry(r, &e);
	fs_inode_put(r->srv, dir);
	fs_inode_put(r->srv, ino);
	return ret;
}

int fs_op_statfs(struct fs_req *r)
{
	struct fuse_statfs_out out;
	struct fs_inode *ino;
	struct statfs sf;
	int ret = get_node(r, r->h.nodeid, &ino);

	if (ret)
		return ret;
	if (r->srv->root_fd < 0) {
		/* No host directory: an empty, full filesystem. */
		memset(&sf, 0, sizeof(sf));
		sf.f_bsize = sf.f_frsize = 4096;
		sf.f_namelen = 255;
	} else if (fstatfs(fs_inode_virtual(ino) ? r->srv->root_fd : ino->fd, &sf) < 0) {
		ret = -errno;
	}
	if (!ret) {
		memset(&out, 0, sizeof(out));
		out.st.blocks = sf.f_blocks;
		out.st.bfree = sf.f_bfree;
		out.st.bavail = sf.f_bavail;
		out.st.files = sf.f_files;
		out.st.ffree = sf.f_ffree;
		out.st.bsize = (uint32_t)sf.f_bsize;
		out.st.namelen = (uint32_t)sf.f_namelen;
		out.st.frsize = (uint32_t)sf.f_frsize;
		ret = fs_reply(r, &out, sizeof(out));
	}
	fs_inode_put(r->srv, ino);
	return ret;
}

static int virtual_access(const struct fs_inode *ino, uint32_t mask)
{
	uint32_t mode = ino->vent ? ino->vent->mode : 0755;

	if (mask & W_OK)
		return ino->vent ? -EACCES : -EROFS;
	if (((mask & X_OK) && !(mode & 0111)) || ((mask & R_OK) && !(mode & 0444)))
		return -EACCES;
	return 0;
}

static int host_access(const struct fuse_server *srv, const struct fs_inode *ino, uint32_t mask)
{
	char name[16];

	/* AT_EACCESS: check with the fs ids we switched to, not the real ids. */
	if (faccessat(ino->fd, "", (int)mask, AT_EMPTY_PATH | AT_EACCESS) == 0)
		return 0;
	if (errno != EINVAL || S_ISLNK(ino->type))
		return -errno;
	snprintf(name, sizeof(name), "%d", ino->fd);
	return faccessat(srv->proc_fd, name, (int)mask, AT_EACCESS) < 0 ? -errno : 0;
}

int fs_op_access(struct fs_req *r)
{
	struct fuse_access_in in;
	struct fs_inode *ino;
	struct fs_creds c;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret || (ret = get_node(r, r->h.nodeid, &ino)))
		return ret;
	if (fs_inode_virtual(ino)) {
		ret = virtual_access(ino, in.mask);
	} else if ((in.mask & W_OK) && r->srv->read_only) {
		ret = -EROFS;
	} else if (!(ret = fs_creds_enter(r->srv, &r->h, &c))) {
		ret = host_access(r->srv, ino, in.mask);
		fs_creds_leave(&c);
	}
	if (!ret)
		ret = fs_reply(r, NULL, 0);
	fs_inode_put(r->srv, ino);
	return ret;
}
