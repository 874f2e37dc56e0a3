/* SPDX-License-Identifier: Apache-2.0 */
/* Internal state of the FUSE passthrough server, shared by its parts. */
#ifndef KRUN_FS_PRIV_H
#define KRUN_FS_PRIV_H

#include <linux/fuse.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>

#include "fuse_server.h"
#include "util/iov.h"

/* We speak 7.31 (what we need) up to 7.38 (what the structs below describe). */
#define FS_PROTO_MAJOR 7
#define FS_PROTO_MINOR 38
#define FS_PROTO_MIN_MINOR 31

#define FS_MAX_WRITE (1u << 20)
#define FS_MAX_PAGES 256u
#define FS_TIMEOUT_S 5
/* Overlay entries never change: the guest may cache them for good. */
#define FS_FOREVER_S (365ull * 86400)
/* Room for the fixed part of any request but WRITE data / SETXATTR values:
 * SYMLINK carries a name plus a target of at most one page. */
#define FS_ARGS_MAX (2 * 4096 + 256)
/* Upper bound of iovecs handed to preadv/pwritev in one go. */
#define FS_MAX_IOV 1024
/* Upper bound of live nodeids / file handles. */
#define FS_MAX_SLOTS (1u << 22)

/* An overlay entry (overlay.c).  Immutable once added but for gone/ino. */
struct fs_vent {
	struct fs_vent *parent;	/* NULL: the root directory */
	const void *data;	/* file contents, borrowed */
	size_t len;
	uint32_t mode;		/* permission bits */
	uint32_t index;		/* in srv->vents */
	bool dir;
	bool one_shot;
	bool gone;		/* one-shot entry already looked up; under srv->lock */
	struct fs_inode *ino;	/* current inode, under srv->lock */
	char name[];
};

struct fs_inode {
	uint64_t nodeid;
	/* O_PATH|O_NOFOLLOW; -1 for an inode with no host object behind it:
	 * an overlay entry or the root of a server without host directory. */
	int fd;
	mode_t type;		/* S_IFMT bits; they never change for an inode */
	dev_t dev;
	ino_t ino;
	struct fs_vent *vent;	/* overlay entry, or NULL */
	/* Under srv->lock. */
	uint64_t nlookup;
	uint32_t refs;
	struct fs_inode *hnext;
};

struct fs_dir_stream;

struct fs_handle {
	struct fs_inode *ino;	/* holds a reference */
	int fd;			/* -1 for a virtual inode */
	bool dir;
	pthread_mutex_t dir_lock; /* serialises the directory stream */
	struct fs_dir_stream *stream;	/* under dir_lock; NULL until READDIR */
	/* Under srv->lock. */
	uint32_t refs;
};

struct fs_slot {
	void *obj;
	uint32_t gen;
	uint32_t next_free;
};

/* Maps small ids (slot index + generation) to objects; ids stay unique
 * after reuse because the generation changes on every free. */
struct fs_slot_table {
	struct fs_slot *slots;
	uint32_t cap;
	uint32_t top;		/* slots below top were handed out before */
	uint32_t used;		/* slots holding an object */
	uint32_t free_head;	/* UINT32_MAX: none */
};

struct fuse_server {
	int root_fd;		/* -1: no host directory */
	int proc_fd;		/* /proc/self/fd */
	bool read_only;
	bool privileged;
	/* Upstream's behaviour: device nodes, set-id bits and trusted.* /
	 * security.* xattrs reach the host as the guest asks (meta.c). */
	bool passthrough;
	dev_t root_dev;
	ino_t root_ino;

	pthread_mutex_t lock;	/* inode/handle tables, overlay state, init state */
	bool initialized;
	uint32_t minor;
	struct fs_slot_table inodes;
	struct fs_slot_table handles;
	struct fs_inode **hash;
	uint32_t hash_size;	/* power of two */
	uint32_t nr_hashed;
	struct fs_inode *root;
	uint32_t nr_inode_fds;	/* inodes but the root holding a host fd */
	struct fuse_server_limits limits;

	struct fs_vent *vents[FUSE_SERVER_MAX_OVERLAYS];
	unsigned int nr_vents;
	struct timespec born;	/* times of the virtual inodes */

	void (*exit_cb)(void *opaque, int code);
	void *exit_opaque;
};

/* One request being served; everything the guest sent is copied in here
 * except bulk WRITE data and SETXATTR values. */
struct fs_req {
	struct fuse_server *srv;
	struct fuse_in_header h;
	const struct iovec *in;
	unsigned int in_cnt;
	const struct iovec *out;
	unsigned int out_cnt;
	size_t in_len;		/* bytes of the request proper (h.len) */
	size_t out_cap;
	size_t args_len;
	size_t reply_len;
	union {
		uint64_t align;
		unsigned char b[FS_ARGS_MAX];
	} args;
};

/* Handlers return 0 after replying, -errno to have an error sent, or: */
#define FS_NO_REPLY 1

/* server.c: request helpers */
int fs_reply(struct fs_req *r, const void *payload, size_t len);
int fs_reply_hdr(struct fs_req *r, size_t payload_len);
int fs_arg(const struct fs_req *r, void *dst, size_t size);
int fs_arg_compat(const struct fs_req *r, void *dst, size_t size, size_t min_size);
int fs_arg_str(const struct fs_req *r, size_t off, const char **s, size_t *next);
int fs_arg_name(const struct fs_req *r, size_t off, const char **name, size_t *next);
int fs_check_name(const char *name);

/* nodes.c */
int fs_slots_init(struct fs_slot_table *t);
void fs_slots_fini(struct fs_slot_table *t);
int fs_inode_root_init(struct fuse_server *srv, int fd, const struct stat *st);
int fs_slot_new_inode(struct fuse_server *srv, struct fs_inode *ino);
void fs_default_limits(struct fuse_server_limits *l);
int fs_room(struct fuse_server *srv, bool handle);
struct fs_inode *fs_inode_get(struct fuse_server *srv, uint64_t nodeid);
void fs_inode_put(struct fuse_server *srv, struct fs_inode *ino);
void fs_inode_forget(struct fuse_server *srv, uint64_t nodeid, uint64_t nlookup);
void fs_forget_all(struct fuse_server *srv);
void fs_tables_fini(struct fuse_server *srv);
int fs_lookup(struct fuse_server *srv, struct fs_inode *dir, const char *name,
	      struct fuse_entry_out *e);
int fs_lookup_host(struct fuse_server *srv, struct fs_inode *dir, const char *name,
		   struct fuse_entry_out *e);
int fs_intern_fd(struct fuse_server *srv, int fd, struct fs_inode **out, struct stat *st);
int fs_open_beneath(int dirfd, const char *name, int flags, mode_t mode);
int fs_reopen(const struct fuse_server *srv, const struct fs_inode *ino, int flags);
int fs_proc_path(const struct fs_inode *ino, char *buf, size_t size);
int fs_stat_inode(const struct fuse_server *srv, const struct fs_inode *ino, struct stat *st);
uint64_t fs_inode_timeout(const struct fs_inode *ino);
void fs_fill_attr(const struct stat *st, struct fuse_attr *a);
void fs_fill_entry(const struct fs_inode *ino, const struct stat *st, struct fuse_entry_out *e);
int fs_handle_new(struct fuse_server *srv, struct fs_inode *ino, int fd, bool dir, uint64_t *fh);
struct fs_handle *fs_handle_get(struct fuse_server *srv, uint64_t fh);
void fs_handle_put(struct fuse_server *srv, struct fs_handle *h);
int fs_handle_release(struct fuse_server *srv, uint64_t fh);

/* overlay.c */
static inline bool fs_inode_virtual(const struct fs_inode *ino)
{
	return ino->fd < 0;
}
int fs_vent_lookup(struct fuse_server *srv, struct fs_inode *dir, const char *name,
		   struct fuse_entry_out *e);
int fs_vent_lookup_parent(struct fuse_server *srv, struct fs_inode *dir, struct fuse_entry_out *e);
bool fs_vent_shadows(struct fuse_server *srv, const struct fs_inode *dir, const char *name);
void fs_virtual_stat(const struct fuse_server *srv, const struct fs_inode *ino, struct stat *st);
void fs_vents_fini(struct fuse_server *srv);

/* meta.c: what the guest asked for that must not reach the host */
#define FS_META_XATTR "user.containers.override_stat"
/* trusted.X and security.X of the guest live on the host as user.krun.X. */
#define FS_XATTR_REMAP_PREFIX "user.krun."
struct fs_meta {
	mode_t mode;		/* the guest's st_mode: type, set-id, permissions */
	dev_t rdev;
};
static inline bool fs_meta_is_dev(mode_t mode)
{
	return S_ISCHR(mode) || S_ISBLK(mode);
}
int fs_meta_parse(const char *s, struct fs_meta *m);
int fs_meta_format(const struct fs_meta *m, uid_t uid, gid_t gid, char *buf, size_t size);
bool fs_meta_on(const struct fuse_server *srv, const struct fs_inode *ino);
int fs_meta_read(const struct fs_inode *ino, struct fs_meta *m);
int fs_meta_write_fd(int fd, const struct fs_meta *m);
int fs_meta_write(const struct fs_inode *ino, const struct fs_meta *m);
int fs_meta_clear(const struct fs_inode *ino);
void fs_meta_view(const struct fuse_server *srv, const struct fs_inode *ino, struct stat *st);
bool fs_meta_dev(const struct fuse_server *srv, const struct fs_inode *ino);
int fs_meta_set_mode(const struct fs_inode *ino, mode_t guest_type, mode_t mode, dev_t rdev);

/* creds.c */
struct fs_creds {
	uid_t old_uid;
	gid_t old_gid;
	bool switched;
};
int fs_creds_enter(const struct fuse_server *srv, const struct fuse_in_header *h,
		   struct fs_creds *c);
void fs_creds_leave(struct fs_creds *c);

/* ops_entry.c: 0 when name may be created (or removed) in dir, else -errno. */
int fs_dir_may_change(struct fuse_server *srv, const struct fs_inode *dir, const char *name,
		      bool create);

/* op handlers */
int fs_op_lookup(struct fs_req *r);
int fs_op_forget(struct fs_req *r);
int fs_op_batch_forget(struct fs_req *r);
int fs_op_getattr(struct fs_req *r);
int fs_op_setattr(struct fs_req *r);
int fs_op_readlink(struct fs_req *r);
int fs_op_symlink(struct fs_req *r);
int fs_op_mknod(struct fs_req *r);
int fs_op_mkdir(struct fs_req *r);
int fs_op_unlink(struct fs_req *r);
int fs_op_rmdir(struct fs_req *r);
int fs_op_rename(struct fs_req *r);
int fs_op_rename2(struct fs_req *r);
int fs_op_link(struct fs_req *r);
int fs_op_statfs(struct fs_req *r);
int fs_op_access(struct fs_req *r);

int fs_reply_open(struct fs_req *r, uint64_t fh);
int fs_op_open(struct fs_req *r);
int fs_op_create(struct fs_req *r);
int fs_op_read(struct fs_req *r);
int fs_op_write(struct fs_req *r);
int fs_op_release(struct fs_req *r);
int fs_op_flush(struct fs_req *r);
int fs_op_fsync(struct fs_req *r);
int fs_op_fallocate(struct fs_req *r);
int fs_op_lseek(struct fs_req *r);
int fs_op_copy_file_range(struct fs_req *r);
int fs_op_getlk(struct fs_req *r);
int fs_op_setlk(struct fs_req *r);
int fs_op_ioctl(struct fs_req *r);

int fs_op_opendir(struct fs_req *r);
int fs_op_readdir(struct fs_req *r);
int fs_op_readdirplus(struct fs_req *r);
int fs_op_releasedir(struct fs_req *r);

int fs_op_setxattr(struct fs_req *r);
int fs_op_getxattr(struct fs_req *r);
int fs_op_listxattr(struct fs_req *r);
int fs_op_removexattr(struct fs_req *r);

#endif
