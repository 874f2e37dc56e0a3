// SPDX-License-Identifier: Apache-2.0
/*
 * FUSE request decoding, INIT negotiation and dispatch.
 *
 * The request header and the fixed-size arguments are copied out of guest
 * memory before anything looks at them: the guest may rewrite its buffers
 * while we work, and a name checked for '/' must be the name we use.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs_priv.h"
#include "util/log.h"

int fs_reply_hdr(struct fs_req *r, size_t payload_len)
{
	struct fuse_out_header oh;

	if (payload_len > r->out_cap || sizeof(oh) > r->out_cap - payload_len)
		return -EIO;
	oh.len = (uint32_t)(sizeof(oh) + payload_len);
	oh.error = 0;
	oh.unique = r->h.unique;
	iov_write(r->out, r->out_cnt, 0, &oh, sizeof(oh));
	r->reply_len = sizeof(oh) + payload_len;
	return 0;
}

int fs_reply(struct fs_req *r, const void *payload, size_t len)
{
	int ret = fs_reply_hdr(r, len);

	if (ret)
		return ret;
	iov_write(r->out, r->out_cnt, sizeof(struct fuse_out_header), payload, len);
	return 0;
}

static void reply_err(struct fs_req *r, int err)
{
	struct fuse_out_header oh;

	if (r->out_cap < sizeof(oh)) {
		r->reply_len = 0;
		return;
	}
	oh.len = sizeof(oh);
	oh.error = err;
	oh.unique = r->h.unique;
	iov_write(r->out, r->out_cnt, 0, &oh, sizeof(oh));
	r->reply_len = sizeof(oh);
}

int fs_arg(const struct fs_req *r, void *dst, size_t size)
{
	if (r->args_len < size)
		return -EINVAL;
	memcpy(dst, r->args.b, size);
	return 0;
}

/* Older kernels send shorter versions of some argument structs; the
 * missing tail reads as zero. */
int fs_arg_compat(const struct fs_req *r, void *dst, size_t size, size_t min_size)
{
	size_t n = r->args_len < size ? r->args_len : size;

	if (n < min_size)
		return -EINVAL;
	memset(dst, 0, size);
	memcpy(dst, r->args.b, n);
	return 0;
}

/* A NUL-terminated string at args offset off; *next is the offset after it. */
int fs_arg_str(const struct fs_req *r, size_t off, const char **s, size_t *next)
{
	const char *p;
	const void *nul;

	if (off >= r->args_len)
		return -EINVAL;
	p = (const char *)r->args.b + off;
	nul = memchr(p, '\0', r->args_len - off);
	if (!nul)
		return -EINVAL;
	*s = p;
	if (next)
		*next = (size_t)((const char *)nul - (const char *)r->args.b) + 1;
	return 0;
}

int fs_check_name(const char *name)
{
	if (name[0] == '\0' || strchr(name, '/'))
		return -EINVAL;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return -EINVAL;
	if (strlen(name) > 255)
		return -ENAMETOOLONG;
	return 0;
}

/* A single path component that names a new or existing directory entry. */
int fs_arg_name(const struct fs_req *r, size_t off, const char **name, size_t *next)
{
	int ret = fs_arg_str(r, off, name, next);

	return ret ? ret : fs_check_name(*name);
}

#define FS_OFFERED_FLAGS                                                                  \
	(FUSE_ASYNC_READ | FUSE_POSIX_LOCKS | FUSE_ATOMIC_O_TRUNC | FUSE_BIG_WRITES |       \
	 FUSE_FLOCK_LOCKS | FUSE_AUTO_INVAL_DATA | FUSE_DO_READDIRPLUS |                   \
	 FUSE_READDIRPLUS_AUTO | FUSE_ASYNC_DIO | FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES)

static int op_init(struct fs_req *r)
{
	struct fuse_server *srv = r->srv;
	struct fuse_init_in in;
	struct fuse_init_out out;
	int ret;

	/* Before 7.36 the struct ended after flags. */
	ret = fs_arg_compat(r, &in, sizeof(in), offsetof(struct fuse_init_in, flags2));
	if (ret)
		return ret;
	memset(&out, 0, sizeof(out));
	out.major = FS_PROTO_MAJOR;
	out.minor = FS_PROTO_MINOR;
	if (in.major < FS_PROTO_MAJOR ||
	    (in.major == FS_PROTO_MAJOR && in.minor < FS_PROTO_MIN_MINOR)) {
		log_error("virtio-fs: guest FUSE %u.%u is too old", in.major, in.minor);
		return -EPROTO;
	}
	/* A newer major gets only our version; the kernel then retries with
	 * ours if it can (FUSE protocol negotiation rule). */
	if (in.major > FS_PROTO_MAJOR)
		return fs_reply(r, &out, FUSE_COMPAT_INIT_OUT_SIZE);

	if (in.minor < FS_PROTO_MINOR)
		out.minor = in.minor;
	out.max_readahead = in.max_readahead;
	out.flags = in.flags & FS_OFFERED_FLAGS;
	out.max_background = UINT16_MAX;
	out.congestion_threshold = UINT16_MAX * 3 / 4;
	out.max_write = FS_MAX_WRITE;
	out.time_gran = 1;
	out.max_pages = FS_MAX_PAGES;

	pthread_mutex_lock(&srv->lock);
	srv->minor = out.minor;
	srv->initialized = true;
	pthread_mutex_unlock(&srv->lock);
	return fs_reply(r, &out, sizeof(out));
}

static int op_destroy(struct fs_req *r)
{
	struct fuse_server *srv = r->srv;

	/* The guest unmounted: it no longer knows any nodeid but the root. */
	fs_forget_all(srv);
	pthread_mutex_lock(&srv->lock);
	srv->initialized = false;
	pthread_mutex_unlock(&srv->lock);
	return fs_reply(r, NULL, 0);
}

static int op_ok(struct fs_req *r)
{
	return fs_reply(r, NULL, 0);
}

static int op_noreply(struct fs_req *r)
{
	return FS_NO_REPLY;
}

enum {
	OPF_MUTATES = 1,	/* EROFS in read-only mode */
	OPF_BULK_IN = 2,	/* trailing data stays in guest memory */
	OPF_NO_REPLY = 4,	/* never answered */
};

struct fs_op {
	int (*fn)(struct fs_req *r);
	unsigned int flags;
	/* Payload size of a successful reply when it is fixed, else 0. */
	unsigned int reply;
};

#define ENTRY_OUT sizeof(struct fuse_entry_out)
#define OPEN_OUT sizeof(struct fuse_open_out)
#define ATTR_OUT sizeof(struct fuse_attr_out)
#define WRITE_OUT sizeof(struct fuse_write_out)

static const struct fs_op fs_ops[] = {
	[FUSE_LOOKUP] = { fs_op_lookup, 0, ENTRY_OUT },
	[FUSE_FORGET] = { fs_op_forget, OPF_NO_REPLY, 0 },
	[FUSE_GETATTR] = { fs_op_getattr, 0, ATTR_OUT },
	[FUSE_SETATTR] = { fs_op_setattr, OPF_MUTATES, ATTR_OUT },
	[FUSE_READLINK] = { fs_op_readlink, 0, 0 },
	[FUSE_SYMLINK] = { fs_op_symlink, OPF_MUTATES, ENTRY_OUT },
	[FUSE_MKNOD] = { fs_op_mknod, OPF_MUTATES, ENTRY_OUT },
	[FUSE_MKDIR] = { fs_op_mkdir, OPF_MUTATES, ENTRY_OUT },
	[FUSE_UNLINK] = { fs_op_unlink, OPF_MUTATES, 0 },
	[FUSE_RMDIR] = { fs_op_rmdir, OPF_MUTATES, 0 },
	[FUSE_RENAME] = { fs_op_rename, OPF_MUTATES, 0 },
	[FUSE_LINK] = { fs_op_link, OPF_MUTATES, ENTRY_OUT },
	[FUSE_OPEN] = { fs_op_open, 0, OPEN_OUT },
	[FUSE_READ] = { fs_op_read, 0, 0 },
	[FUSE_WRITE] = { fs_op_write, OPF_MUTATES | OPF_BULK_IN, WRITE_OUT },
	[FUSE_STATFS] = { fs_op_statfs, 0, sizeof(struct fuse_statfs_out) },
	[FUSE_RELEASE] = { fs_op_release, 0, 0 },
	[FUSE_FSYNC] = { fs_op_fsync, 0, 0 },
	[FUSE_SETXATTR] = { fs_op_setxattr, OPF_MUTATES, 0 },
	[FUSE_GETXATTR] = { fs_op_getxattr, 0, 0 },
	[FUSE_LISTXATTR] = { fs_op_listxattr, 0, 0 },
	[FUSE_REMOVEXATTR] = { fs_op_removexattr, OPF_MUTATES, 0 },
	[FUSE_FLUSH] = { fs_op_flush, 0, 0 },
	[FUSE_INIT] = { op_init, 0, 0 },
	[FUSE_OPENDIR] = { fs_op_opendir, 0, OPEN_OUT },
	[FUSE_READDIR] = { fs_op_readdir, 0, 0 },
	[FUSE_RELEASEDIR] = { fs_op_releasedir, 0, 0 },
	[FUSE_FSYNCDIR] = { fs_op_fsync, 0, 0 },
	[FUSE_GETLK] = { fs_op_getlk, 0, sizeof(struct fuse_lk_out) },
	[FUSE_SETLK] = { fs_op_setlk, 0, 0 },
	[FUSE_SETLKW] = { fs_op_setlk, 0, 0 },
	[FUSE_ACCESS] = { fs_op_access, 0, 0 },
	[FUSE_CREATE] = { fs_op_create, OPF_MUTATES, ENTRY_OUT + OPEN_OUT },
	[FUSE_INTERRUPT] = { op_noreply, OPF_NO_REPLY, 0 },
	[FUSE_DESTROY] = { op_destroy, 0, 0 },
	[FUSE_IOCTL] = { fs_op_ioctl, 0, sizeof(struct fuse_ioctl_out) },
	[FUSE_BATCH_FORGET] = { fs_op_batch_forget, OPF_BULK_IN | OPF_NO_REPLY, 0 },
	[FUSE_FALLOCATE] = { fs_op_fallocate, OPF_MUTATES, 0 },
	[FUSE_READDIRPLUS] = { fs_op_readdirplus, 0, 0 },
	[FUSE_RENAME2] = { fs_op_rename2, OPF_MUTATES, 0 },
	[FUSE_LSEEK] = { fs_op_lseek, 0, sizeof(struct fuse_lseek_out) },
	[FUSE_COPY_FILE_RANGE] = { fs_op_copy_file_range, OPF_MUTATES, WRITE_OUT },
	[FUSE_SYNCFS] = { op_ok, 0, 0 },
};

static int dispatch(struct fs_req *r)
{
	const struct fs_op *op;
	bool ready;

	if (r->h.opcode >= sizeof(fs_ops) / sizeof(fs_ops[0]) || !fs_ops[r->h.opcode].fn)
		return -ENOSYS;
	op = &fs_ops[r->h.opcode];

	pthread_mutex_lock(&r->srv->lock);
	ready = r->srv->initialized;
	pthread_mutex_unlock(&r->srv->lock);
	if (!ready && r->h.opcode != FUSE_INIT)
		return -EIO;
	if ((op->flags & OPF_MUTATES) && r->srv->read_only)
		return -EROFS;
	/* Nothing is done for a request whose answer cannot be delivered:
	 * the guest would never learn of the nodeid or handle it took, nor
	 * give it back (and a change it made would be reported as failed). */
	if (!(op->flags & OPF_NO_REPLY) && r->out_cap < sizeof(struct fuse_out_header) + op->reply)
		return -EIO;

	/* WRITE data and BATCH_FORGET entries stay in guest memory; their
	 * handlers fetch them piecewise. */
	if ((op->flags & OPF_BULK_IN) && r->args_len > 64)
		r->args_len = 64;
	iov_read(r->in, r->in_cnt, sizeof(r->h), r->args.b, r->args_len);
	return op->fn(r);
}

int fuse_server_handle(struct fuse_server *srv, const struct iovec *in, unsigned in_cnt,
		       const struct iovec *out, unsigned out_cnt, size_t *reply_len)
{
	/* Heap-free per-request state: the arguments live on this stack. */
	struct fs_req r;
	size_t in_total;
	int ret;

	*reply_len = 0;
	r.srv = srv;
	r.in = in;
	r.in_cnt = in_cnt;
	r.out = out;
	r.out_cnt = out_cnt;
	r.reply_len = 0;
	r.out_cap = iov_total(out, out_cnt);
	in_total = iov_total(in, in_cnt);
	if (iov_read(in, in_cnt, 0, &r.h, sizeof(r.h)) < sizeof(r.h))
		return -EINVAL;

	if (r.h.len < sizeof(r.h) || r.h.len > in_total ||
	    (size_t)r.h.total_extlen * 8 > r.h.len - sizeof(r.h)) {
		ret = -EINVAL;
	} else {
		/* Request extensions (security context, groups) are never
		 * negotiated; ignore any the guest appends anyway. */
		r.in_len = r.h.len - (size_t)r.h.total_extlen * 8;
		r.args_len = r.in_len - sizeof(r.h);
		if (r.args_len > FS_ARGS_MAX)
			r.args_len = FS_ARGS_MAX;
		ret = dispatch(&r);
	}
	if (krun_log_get_level() >= LOG_LVL_TRACE)
		log_trace("fs: op %u node %llu -> %d", r.h.opcode,
			  (unsigned long long)r.h.nodeid, ret < 0 ? ret : 0);

	if (ret == FS_NO_REPLY || r.h.opcode == FUSE_FORGET || r.h.opcode == FUSE_BATCH_FORGET)
		return 0;
	if (ret < 0)
		reply_err(&r, ret);
	if (r.reply_len == 0)
		return -ENOBUFS;
	*reply_len = r.reply_len;
	return 0;
}

static int open_root(struct fuse_server *srv, const char *root_dir)
{
	struct stat st;
	int fd = open(root_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		int err = -errno;

		log_error("virtio-fs: cannot open shared directory %s: %s", root_dir,
			  strerror(errno));
		return err;
	}
	if (fstat(fd, &st) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	srv->root_fd = fd;
	srv->root_dev = st.st_dev;
	srv->root_ino = st.st_ino;
	return fs_inode_root_init(srv, fd, &st);
}

/* No host directory: the root is a virtual directory, like an overlay one. */
static int null_root(struct fuse_server *srv)
{
	struct stat st;

	memset(&st, 0, sizeof(st));
	st.st_ino = FUSE_ROOT_ID;
	return fs_inode_root_init(srv, -1, &st);
}

struct fuse_server *fuse_server_create(const char *root_dir, bool read_only, int *err)
{
	struct fuse_server *srv;
	int ret;

	srv = calloc(1, sizeof(*srv));
	if (!srv) {
		if (err)
			*err = -ENOMEM;
		return NULL;
	}
	srv->root_fd = -1;
	srv->read_only = read_only;
	srv->privileged = geteuid() == 0;
	fs_default_limits(&srv->limits);
	clock_gettime(CLOCK_REALTIME, &srv->born);
	pthread_mutex_init(&srv->lock, NULL);

	/* Files are reopened for I/O through /proc/self/fd (see fs_reopen). */
	srv->proc_fd = open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (srv->proc_fd < 0) {
		ret = -errno;
		log_error("virtio-fs: /proc/self/fd is required: %s", strerror(errno));
		goto fail;
	}
	ret = fs_slots_init(&srv->inodes);
	if (!ret)
		ret = fs_slots_init(&srv->handles);
	if (!ret)
		ret = root_dir ? open_root(srv, root_dir) : null_root(srv);
	if (ret)
		goto fail;
	return srv;
fail:
	if (err)
		*err = ret;
	fuse_server_destroy(srv);
	return NULL;
}

void fuse_server_destroy(struct fuse_server *srv)
{
	if (!srv)
		return;
	fs_tables_fini(srv);
	fs_vents_fini(srv);
	if (srv->root_fd >= 0)
		close(srv->root_fd);
	if (srv->proc_fd >= 0)
		close(srv->proc_fd);
	pthread_mutex_destroy(&srv->lock);
	free(srv);
}

void fuse_server_set_privilege_passthrough(struct fuse_server *srv, bool passthrough)
{
	srv->passthrough = passthrough;
}

void fuse_server_set_exit_code_cb(struct fuse_server *srv, void (*cb)(void *opaque, int code),
				  void *opaque)
{
	pthread_mutex_lock(&srv->lock);
	srv->exit_cb = cb;
	srv->exit_opaque = opaque;
	pthread_mutex_unlock(&srv->lock);
}
