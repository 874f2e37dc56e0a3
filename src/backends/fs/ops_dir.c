// SPDX-License-Identifier: Apache-2.0
/*
 * Directory streams.  READDIR offsets are the host's own d_off cookies.  A
 * listing that goes on from where the previous reply stopped reads on from
 * the same open stream, with the entries that did not fit kept for it,
 * instead of seeking: on filesystems whose cookies are positions (tmpfs
 * before Linux 6.6) a seek after unlinks lands past entries never sent, and
 * "rm -rf" then finds its directory not empty.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fs_priv.h"

int fs_op_opendir(struct fs_req *r)
{
	struct fuse_open_in in;
	struct fs_inode *ino;
	uint64_t fh;
	int fd, ret = fs_arg(r, &in, sizeof(in));

	if (ret)
		return ret;
	ino = fs_inode_get(r->srv, r->h.nodeid);
	if (!ino)
		return -ESTALE;
	if (!S_ISDIR(ino->type)) {
		ret = -ENOTDIR;
	} else if (fs_inode_virtual(ino)) {
		ret = fs_handle_new(r->srv, ino, -1, true, &fh);
	} else {
		/* "." relative to the O_PATH fd is the directory itself; no
		 * path walk and no magic link involved. */
		fd = openat(ino->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = fd < 0 ? -errno : fs_handle_new(r->srv, ino, fd, true, &fh);
	}
	if (!ret)
		ret = fs_reply_open(r, fh);
	fs_inode_put(r->srv, ino);
	return ret;
}

int fs_op_releasedir(struct fs_req *r)
{
	struct fuse_release_in in;
	int ret = fs_arg(r, &in, sizeof(in));

	if (!ret)
		ret = fs_handle_release(r->srv, in.fh);
	return ret ? ret : fs_reply(r, NULL, 0);
}

struct dent {
	uint64_t ino;
	uint64_t off;
	uint8_t type;
	const char *name;
	size_t namelen;
};

struct dir_emit {
	struct fs_req *r;
	struct fs_inode *dir;
	bool plus;
	size_t pos;		/* payload bytes written */
	size_t limit;		/* payload bytes allowed */
};

static void put_bytes(struct dir_emit *d, const void *p, size_t len)
{
	iov_write(d->r->out, d->r->out_cnt, sizeof(struct fuse_out_header) + d->pos, p, len);
	d->pos += len;
}

static void put_dirent(struct dir_emit *d, const struct dent *de)
{
	static const char zero[8];
	struct fuse_dirent fd;
	size_t len = FUSE_NAME_OFFSET + de->namelen;

	fd.ino = de->ino;
	fd.off = de->off;
	fd.namelen = (uint32_t)de->namelen;
	fd.type = de->type;
	put_bytes(d, &fd, FUSE_NAME_OFFSET);
	put_bytes(d, de->name, de->namelen);
	put_bytes(d, zero, FUSE_DIRENT_ALIGN(len) - len);
}

static bool is_dot_or_dotdot(const struct dent *de)
{
	return (de->namelen == 1 && de->name[0] == '.') ||
	       (de->namelen == 2 && de->name[0] == '.' && de->name[1] == '.');
}

/* false when the entry does not fit: the listing stops before it. */
static bool emit(struct dir_emit *d, const struct dent *de)
{
	size_t need = FUSE_DIRENT_ALIGN((d->plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET) +
					de->namelen);
	struct fuse_entry_out e;

	if (need > d->limit - d->pos)
		return false;
	if (d->plus) {
		memset(&e, 0, sizeof(e));
		/*
		 * The guest ignores the entry part of "." and ".." and of
		 * nodeid 0, so those take no lookup reference.  Names that a
		 * overlay entry shadows are left to a real LOOKUP.
		 */
		if (!is_dot_or_dotdot(de) && !fs_vent_shadows(d->r->srv, d->dir, de->name) &&
		    fs_lookup_host(d->r->srv, d->dir, de->name, &e) != 0)
			memset(&e, 0, sizeof(e));
		put_bytes(d, &e, sizeof(e));
	}
	/* The type the guest sees: a device of the guest's is a host file. */
	if (d->plus && e.nodeid) {
		struct dent typed = *de;

		typed.type = (uint8_t)IFTODT(e.attr.mode);
		put_dirent(d, &typed);
		return true;
	}
	put_dirent(d, de);
	return true;
}

struct fs_dir_stream {
	union {
		uint64_t align;
		char b[8192];	/* linux_dirent64 records from getdents64 */
	} buf;
	size_t len, pos;	/* bytes in buf, bytes already sent */
	uint64_t next_off;	/* cookie of the stream's position */
	bool positioned;
};

/* Returns 1 when the reply is full, 0 when the buffer is used up, -errno. */
static int emit_buffered(struct dir_emit *d, struct fs_dir_stream *s)
{
	/* linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, name. */
	while (s->pos + 19 < s->len) {
		const char *rec = s->buf.b + s->pos;
		uint16_t reclen;
		struct dent de;

		memcpy(&de.ino, rec, 8);
		memcpy(&de.off, rec + 8, 8);
		memcpy(&reclen, rec + 16, 2);
		de.type = (uint8_t)rec[18];
		if (reclen < 20 || reclen > s->len - s->pos)
			return -EIO;
		de.name = rec + 19;
		de.namelen = strnlen(de.name, reclen - 19);
		if (!emit(d, &de))
			return 1;
		s->pos += reclen;
		s->next_off = de.off;
	}
	s->pos = s->len = 0;
	return 0;
}

static int position_stream(struct fs_handle *h, uint64_t offset)
{
	struct fs_dir_stream *s = h->stream;

	if (s->positioned && s->next_off == offset)
		return 0;
	s->len = s->pos = 0;
	s->positioned = false;
	if (offset > INT64_MAX)
		return -EINVAL;
	if (lseek(h->fd, (off_t)offset, SEEK_SET) < 0)
		return -errno;
	s->next_off = offset;
	s->positioned = true;
	return 0;
}

static int fill_reply(struct fs_handle *h, struct dir_emit *d, uint64_t offset)
{
	struct fs_dir_stream *s;
	long n;
	int ret;

	if (!h->stream && !(h->stream = calloc(1, sizeof(*h->stream))))
		return -ENOMEM;
	s = h->stream;
	ret = position_stream(h, offset);
	while (!ret) {
		if (s->pos >= s->len) {
			n = syscall(SYS_getdents64, h->fd, s->buf.b, sizeof(s->buf.b));
			if (n <= 0) {
				if (n < 0)
					s->positioned = false;
				return n < 0 ? -errno : 0;
			}
			s->len = (size_t)n;
			s->pos = 0;
		}
		ret = emit_buffered(d, s);
	}
	if (ret < 0)
		s->positioned = false;
	return ret < 0 ? ret : 0;
}

/* A virtual directory lists only "." and ".." (upstream does not list
 * overlay entries either); offsets are positions. */
static void fill_virtual(struct dir_emit *d, uint64_t offset)
{
	static const char *const names[] = { ".", ".." };

	for (uint64_t i = offset; i < 2; i++) {
		struct dent de = {
			.ino = d->dir->ino,
			.off = i + 1,
			.type = DT_DIR,
			.name = names[i],
			.namelen = (size_t)i + 1,
		};

		if (!emit(d, &de))
			break;
	}
}

static int read_dir(struct fs_req *r, bool plus)
{
	struct fuse_read_in in;
	struct dir_emit d = { .r = r, .plus = plus };
	struct fs_handle *h;
	int ret = fs_arg(r, &in, sizeof(in));

	if (ret)
		return ret;
	h = fs_handle_get(r->srv, in.fh);
	if (!h)
		return -EBADF;
	if (!h->dir) {
		fs_handle_put(r->srv, h);
		return -ENOTDIR;
	}
	d.dir = h->ino;
	d.limit = r->out_cap > sizeof(struct fuse_out_header)
			  ? r->out_cap - sizeof(struct fuse_out_header)
			  : 0;
	if (d.limit > in.size)
		d.limit = in.size;

	ret = 0;
	if (h->fd < 0) {
		fill_virtual(&d, in.offset);
	} else {
		pthread_mutex_lock(&h->dir_lock);
		ret = fill_reply(h, &d, in.offset);
		pthread_mutex_unlock(&h->dir_lock);
	}
	fs_handle_put(r->srv, h);
	/* Entries already sent may hold lookup references: deliver them. */
	if (ret < 0 && d.pos == 0)
		return ret;
	return fs_reply_hdr(r, d.pos);
}

int fs_op_readdir(struct fs_req *r)
{
	return read_dir(r, false);
}

int fs_op_readdirplus(struct fs_req *r)
{
	return read_dir(r, true);
}
