// SPDX-License-Identifier: Apache-2.0
/*
 * Open files: open/create, the zero-copy data path, sync, allocation,
 * locks and the exit-code ioctl.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fs_priv.h"

/* Open flags the guest may pass through; O_CREAT/O_EXCL/O_NOFOLLOW and
 * anything exotic (O_PATH, O_TMPFILE, O_DIRECTORY) are ours to decide. */
#define FS_OPEN_FLAGS                                                                     \
	(O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECT | O_NOATIME |      \
	 O_TRUNC | O_LARGEFILE)

static bool wants_write(uint32_t flags)
{
	return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
}

/* A handle the guest cannot be told about is given back at once. */
int fs_reply_open(struct fs_req *r, uint64_t fh)
{
	struct fuse_open_out out;
	int ret;

	memset(&out, 0, sizeof(out));
	out.fh = fh;
	ret = fs_reply(r, &out, sizeof(out));
	if (ret)
		fs_handle_release(r->srv, fh);
	return ret;
}

int fs_op_open(struct fs_req *r)
{
	struct fuse_open_in in;
	struct fs_inode *ino;
	uint64_t fh;
	int fd = -1, ret = fs_arg(r, &in, sizeof(in));

	if (ret)
		return ret;
	ino = fs_inode_get(r->srv, r->h.nodeid);
	if (!ino)
		return -ESTALE;
	in.flags &= FS_OPEN_FLAGS;
	if (fs_inode_virtual(ino))
		ret = S_ISDIR(ino->type) ? -EISDIR : wants_write(in.flags) ? -EACCES : 0;
	else if (r->srv->read_only && wants_write(in.flags))
		ret = -EROFS;
	else if ((fd = fs_reopen(r->srv, ino, (int)in.flags)) < 0)
		ret = fd;
	if (!ret)
		ret = fs_handle_new(r->srv, ino, fd, false, &fh);
	if (!ret)
		ret = fs_reply_open(r, fh);
	fs_inode_put(r->srv, ino);
	return ret;
}

/*
 * Creates name exclusively, or opens what is already there.  An existing
 * entry is opened only through fs_reopen(), which refuses anything but a
 * regular file: opening a FIFO could block the worker and opening a device
 * node would reach a host device.
 */
static int create_open(struct fs_req *r, struct fs_inode *dir, const char *name,
		       const struct fuse_create_in *in, struct fs_inode **ino, struct stat *st)
{
	int flags = (int)(in->flags & FS_OPEN_FLAGS);
	mode_t host_mode = r->srv->passthrough ? 07777 : 01777;
	char fdname[16];
	struct fs_creds c;
	int fd, pfd, ret;

	ret = fs_creds_enter(r->srv, &r->h, &c);
	if (ret)
		return ret;
	fd = fs_open_beneath(dir->fd, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW,
			     in->mode & host_mode);
	/* Set-id bits the host file must not have: the record keeps them, or
	 * they are dropped where the host cannot hold one. */
	if (fd >= 0 && (in->mode & 07777 & ~host_mode))
		fs_meta_write_fd(fd, &(struct fs_meta){ .mode = S_IFREG | (in->mode & 07777) });
	fs_creds_leave(&c);

	if (fd >= 0) {
		/* The magic link gives us the O_PATH fd of exactly what we
		 * created, whatever happens to the name meanwhile. */
		snprintf(fdname, sizeof(fdname), "%d", fd);
		pfd = openat(r->srv->proc_fd, fdname, O_PATH | O_CLOEXEC);
		if (pfd < 0) {
			ret = -errno;
			close(fd);
			return ret;
		}
		ret = fs_intern_fd(r->srv, pfd, ino, st);
		if (ret) {
			close(fd);
			return ret;
		}
		if ((st->st_mode & 0777) != (in->mode & 0777) && fchmod(fd, in->mode & host_mode) == 0)
			st->st_mode = (st->st_mode & S_IFMT) | (in->mode & host_mode);
		return fd;
	}
	if (fd != -EEXIST || (in->flags & O_EXCL))
		return fd;
	pfd = fs_open_beneath(dir->fd, name, O_PATH | O_NOFOLLOW, 0);
	if (pfd < 0)
		return pfd;
	ret = fs_intern_fd(r->srv, pfd, ino, st);
	if (ret)
		return ret;
	fd = fs_reopen(r->srv, *ino, flags);
	if (fd >= 0 && (flags & O_TRUNC) && fstat(fd, st) < 0)
		fd = -errno;
	if (fd < 0) {
		fs_inode_forget(r->srv, (*ino)->nodeid, 1);
		fs_inode_put(r->srv, *ino);
	}
	return fd;
}

int fs_op_create(struct fs_req *r)
{
	struct {
		struct fuse_entry_out e;
		struct fuse_open_out o;
	} out;
	struct fuse_create_in in;
	struct fs_inode *dir, *ino;
	struct stat st;
	const char *name;
	int fd, ret = fs_arg(r, &in, sizeof(in));

	if (!ret)
		ret = fs_arg_name(r, sizeof(in), &name, NULL);
	if (ret)
		return ret;
	dir = fs_inode_get(r->srv, r->h.nodeid);
	if (!dir)
		return -ESTALE;
	ret = fs_dir_may_change(r->srv, dir, name, true);
	if (!ret)
		ret = fs_room(r->srv, true);
	if (ret) {
		fs_inode_put(r->srv, dir);
		return ret;
	}
	fd = create_open(r, dir, name, &in, &ino, &st);
	fs_inode_put(r->srv, dir);
	if (fd < 0)
		return fd;
	fs_meta_view(r->srv, ino, &st);

	memset(&out, 0, sizeof(out));
	fs_fill_entry(ino, &st, &out.e);
	ret = fs_handle_new(r->srv, ino, fd, false, &out.o.fh);
	if (!ret)
		ret = fs_reply(r, &out, sizeof(out));
	if (ret) {
		/* The guest never learns about this lookup or handle. */
		if (out.o.fh)
			fs_handle_release(r->srv, out.o.fh);
		fs_inode_forget(r->srv, ino->nodeid, 1);
	}
	fs_inode_put(r->srv, ino);
	return ret;
}

static int get_handle(struct fs_req *r, uint64_t fh, struct fs_handle **h)
{
	*h = fs_handle_get(r->srv, fh);
	return *h ? 0 : -EBADF;
}

static int read_virtual(struct fs_req *r, const struct fs_vent *v, uint64_t off, size_t size)
{
	size_t n = 0;

	if (off < v->len) {
		n = v->len - off < size ? v->len - off : size;
		iov_write(r->out, r->out_cnt, sizeof(struct fuse_out_header),
			  (const char *)v->data + off, n);
	}
	return fs_reply_hdr(r, n);
}

int fs_op_read(struct fs_req *r)
{
	struct iovec iov[FS_MAX_IOV];
	const size_t hdr = sizeof(struct fuse_out_header);
	struct fuse_read_in in;
	struct fs_handle *h;
	unsigned int cnt;
	size_t size, got;
	ssize_t n;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret || (ret = get_handle(r, in.fh, &h)))
		return ret;
	size = in.size;
	if (r->out_cap < hdr)
		size = 0;
	else if (size > r->out_cap - hdr)
		size = r->out_cap - hdr;
	if (in.offset > INT64_MAX) {
		ret = -EINVAL;
	} else if (h->dir) {
		ret = -EISDIR;
	} else if (h->ino->vent) {
		ret = read_virtual(r, h->ino->vent, in.offset, size);
	} else {
		/* Zero copy: the host kernel fills guest memory directly. */
		cnt = iov_slice(r->out, r->out_cnt, hdr, size, iov, FS_MAX_IOV, &got);
		n = cnt ? preadv(h->fd, iov, (int)cnt, (off_t)in.offset) : 0;
		ret = n < 0 ? -errno : fs_reply_hdr(r, (size_t)n);
	}
	fs_handle_put(r->srv, h);
	return ret;
}

int fs_op_write(struct fs_req *r)
{
	struct iovec iov[FS_MAX_IOV];
	const size_t data_off = sizeof(struct fuse_in_header) + sizeof(struct fuse_write_in);
	struct fuse_write_in in;
	struct fuse_write_out out;
	struct fs_handle *h;
	unsigned int cnt;
	size_t got;
	ssize_t n;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret)
		return ret;
	if (r->in_len < data_off || in.size > r->in_len - data_off || in.offset > INT64_MAX)
		return -EINVAL;
	ret = get_handle(r, in.fh, &h);
	if (ret)
		return ret;
	if (h->dir) {
		ret = -EISDIR;
	} else if (h->fd < 0) {
		ret = -EPERM;
	} else {
		/* Zero copy: the host kernel reads guest memory directly. */
		cnt = iov_slice(r->in, r->in_cnt, data_off, in.size, iov, FS_MAX_IOV, &got);
		if (got != in.size)
			ret = -EINVAL;
		else if ((n = cnt ? pwritev(h->fd, iov, (int)cnt, (off_t)in.offset) : 0) < 0)
			ret = -errno;
		else {
			memset(&out, 0, sizeof(out));
			out.size = (uint32_t)n;
			ret = fs_reply(r, &out, sizeof(out));
		}
	}
	fs_handle_put(r->srv, h);
	return ret;
}

int fs_op_release(struct fs_req *r)
{
	struct fuse_release_in in;
	int ret = fs_arg(r, &in, sizeof(in));

	if (!ret)
		ret = fs_handle_release(r->srv, in.fh);
	return ret ? ret : fs_reply(r, NULL, 0);
}

int fs_op_flush(struct fs_req *r)
{
	struct fuse_flush_in in;
	struct fs_handle *h;
	int ret = fs_arg(r, &in, sizeof(in));

	/* Data goes straight to the host file; nothing is buffered here. */
	if (ret || (ret = get_handle(r, in.fh, &h)))
		return ret;
	fs_handle_put(r->srv, h);
	return fs_reply(r, NULL, 0);
}

/* FSYNC and FSYNCDIR share the argument layout. */
int fs_op_fsync(struct fs_req *r)
{
	struct fuse_fsync_in in;
	struct fs_handle *h;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret || (ret = get_handle(r, in.fh, &h)))
		return ret;
	if (h->fd >= 0) {
		if (in.fsync_flags & FUSE_FSYNC_FDATASYNC)
			ret = fdatasync(h->fd) < 0 ? -errno : 0;
		else
			ret = fsync(h->fd) < 0 ? -errno : 0;
	}
	fs_handle_put(r->srv, h);
	return ret ? ret : fs_reply(r, NULL, 0);
}

int fs_op_fallocate(struct fs_req *r)
{
	struct fuse_fallocate_in in;
	struct fs_handle *h;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret || (ret = get_handle(r, in.fh, &h)))
		return ret;
	if (h->fd < 0)
		ret = -EPERM;
	else if (in.offset > INT64_MAX || in.length > INT64_MAX)
		ret = -EINVAL;
	else if (fallocate(h->fd, (int)in.mode, (off_t)in.offset, (off_t)in.length) < 0)
		ret = -errno;
	fs_handle_put(r->srv, h);
	return ret ? ret : fs_reply(r, NULL, 0);
}

/*
 * lseek(2) on a file of len bytes that keeps no position of its own (so
 * SEEK_CUR counts from 0), with Linux's answers: the largest position is
 * INT64_MAX (MAX_LFS_FILESIZE), anything that would end up negative or past
 * it is EINVAL, SEEK_DATA/SEEK_HOLE at or past the end (or before the start)
 * are ENXIO, and an unknown whence is EINVAL.  off is the guest's raw value.
 */
static int64_t lseek_virtual(uint64_t len, uint64_t off, uint32_t whence)
{
	uint64_t pos;

	switch (whence) {
	case SEEK_SET:
	case SEEK_CUR:
		pos = off;
		break;
	case SEEK_END:
		/* In unsigned arithmetic: a negative off (above INT64_MAX)
		 * that does not wrap around lands before the start. */
		pos = len + off;
		if (off > INT64_MAX && pos > len)
			return -EINVAL;
		break;
	case SEEK_DATA:
	case SEEK_HOLE:
		if (off >= len)
			return -ENXIO;
		return whence == SEEK_DATA ? (int64_t)off : (int64_t)len;
	default:
		return -EINVAL;
	}
	return pos > INT64_MAX ? -EINVAL : (int64_t)pos;
}

int fs_op_lseek(struct fs_req *r)
{
	struct fuse_lseek_in in;
	struct fuse_lseek_out out;
	struct fs_handle *h;
	int64_t pos;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret || (ret = get_handle(r, in.fh, &h)))
		return ret;
	if (h->fd < 0)
		pos = lseek_virtual(h->ino->vent && !h->dir ? h->ino->vent->len : 0, in.offset,
				    in.whence);
	else if ((pos = lseek(h->fd, (off_t)in.offset, (int)in.whence)) < 0)
		pos = -errno;
	fs_handle_put(r->srv, h);
	if (pos < 0)
		return (int)pos;
	out.offset = (uint64_t)pos;
	return fs_reply(r, &out, sizeof(out));
}

int fs_op_copy_file_range(struct fs_req *r)
{
	struct fuse_copy_file_range_in in;
	struct fuse_write_out out;
	struct fs_handle *hi, *ho;
	loff_t oi, oo;
	ssize_t n;
	int ret = fs_arg(r, &in, sizeof(in));

	memset(&out, 0, sizeof(out));
	if (ret || (ret = get_handle(r, in.fh_in, &hi)))
		return ret;
	ret = get_handle(r, in.fh_out, &ho);
	if (ret) {
		fs_handle_put(r->srv, hi);
		return ret;
	}
	oi = (loff_t)in.off_in;
	oo = (loff_t)in.off_out;
	/* The reply can only carry 32 bits of length. */
	if (in.len > UINT32_MAX - 4095)
		in.len = UINT32_MAX - 4095;
	if (ho->fd < 0)
		ret = -EPERM;
	else if (hi->fd < 0)
		ret = -EOPNOTSUPP;	/* the guest kernel then copies by itself */
	else if (in.flags || oi < 0 || oo < 0)
		ret = -EINVAL;
	else if ((n = copy_file_range(hi->fd, &oi, ho->fd, &oo, in.len, 0)) < 0)
		ret = -errno;
	else
		out.size = (uint32_t)n;
	fs_handle_put(r->srv, ho);
	fs_handle_put(r->srv, hi);
	return ret ? ret : fs_reply(r, &out, sizeof(out));
}

/* FUSE ranges are [start, end] with end = OFFSET_MAX for "to EOF". */
static int lk_to_flock(const struct fuse_file_lock *lk, struct flock *fl)
{
	memset(fl, 0, sizeof(*fl));
	if (lk->start > INT64_MAX || lk->end < lk->start)
		return -EINVAL;
	fl->l_type = (short)lk->type;
	fl->l_whence = SEEK_SET;
	fl->l_start = (off_t)lk->start;
	fl->l_len = lk->end >= INT64_MAX ? 0 : (off_t)(lk->end - lk->start + 1);
	return 0;
}

int fs_op_getlk(struct fs_req *r)
{
	struct fuse_lk_in in;
	struct fuse_lk_out out;
	struct fs_handle *h;
	struct flock fl;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret || (ret = get_handle(r, in.fh, &h)))
		return ret;
	ret = lk_to_flock(&in.lk, &fl);
	if (!ret && h->fd < 0)
		fl.l_type = F_UNLCK;
	else if (!ret && fcntl(h->fd, F_OFD_GETLK, &fl) < 0)
		ret = -errno;
	fs_handle_put(r->srv, h);
	if (ret)
		return ret;
	memset(&out, 0, sizeof(out));
	out.lk.type = (uint32_t)fl.l_type;
	if (fl.l_type != F_UNLCK) {
		out.lk.start = (uint64_t)fl.l_start;
		out.lk.end = fl.l_len == 0 ? (uint64_t)INT64_MAX
					   : (uint64_t)(fl.l_start + fl.l_len - 1);
	}
	return fs_reply(r, &out, sizeof(out));
}

static int do_flock(int fd, uint32_t type)
{
	int op = type == F_RDLCK ? LOCK_SH : type == F_WRLCK ? LOCK_EX : LOCK_UN;

	return flock(fd, op | LOCK_NB) < 0 ? -errno : 0;
}

/*
 * POSIX locks become OFD locks on the handle's own open file description,
 * so they follow the guest's open file rather than the VMM process.
 * SETLKW is answered without waiting: a waiting lock would park the only
 * worker of the device and deadlock against the holder's unlock, so a
 * conflict returns EAGAIN instead.
 */
int fs_op_setlk(struct fs_req *r)
{
	struct fuse_lk_in in;
	struct fs_handle *h;
	struct flock fl;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret || (ret = get_handle(r, in.fh, &h)))
		return ret;
	if (h->fd < 0)
		ret = in.lk.type == F_WRLCK ? -EBADF : 0;
	else if (in.lk_flags & FUSE_LK_FLOCK)
		ret = do_flock(h->fd, in.lk.type);
	else if (!(ret = lk_to_flock(&in.lk, &fl)) && fcntl(h->fd, F_OFD_SETLK, &fl) < 0)
		ret = -errno;
	fs_handle_put(r->srv, h);
	if (ret == -EWOULDBLOCK)
		ret = -EAGAIN;
	return ret ? ret : fs_reply(r, NULL, 0);
}

int fs_op_ioctl(struct fs_req *r)
{
	struct fuse_ioctl_in in;
	struct fuse_ioctl_out out;
	void (*cb)(void *opaque, int code);
	void *opaque;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret)
		return ret;
	if (in.cmd != FUSE_SERVER_IOCTL_EXIT_CODE)
		return -ENOTTY;
	pthread_mutex_lock(&r->srv->lock);
	cb = r->srv->exit_cb;
	opaque = r->srv->exit_opaque;
	pthread_mutex_unlock(&r->srv->lock);
	if (cb)
		cb(opaque, (int)in.arg);
	memset(&out, 0, sizeof(out));
	return fs_reply(r, &out, sizeof(out));
}
