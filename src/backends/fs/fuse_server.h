/* SPDX-License-Identifier: Apache-2.0 */
/*
 * FUSE passthrough server for virtio-fs, independent of the transport.
 *
 * The guest only ever reaches the shared directory: every name is resolved
 * as a single component relative to a directory fd that the server itself
 * opened, so "..", symlinks and renames cannot lead outside (see nodes.c).
 *
 * All entry points may be called concurrently from several threads.
 */
#ifndef KRUN_FUSE_SERVER_H
#define KRUN_FUSE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct fuse_server;

/* FUSE_IOCTL command through which the guest init reports its exit status. */
#define FUSE_SERVER_IOCTL_EXIT_CODE 0x7602u

/*
 * root_dir must be an existing directory.  With read_only every request that
 * would modify the host directory fails with EROFS.  A NULL root_dir makes a
 * filesystem with no host directory at all: only the root directory (0755,
 * owned by root) and the overlay entries added below exist, nothing can be
 * created (EROFS).  On failure returns NULL and stores -errno in *err (if err
 * is non-NULL).
 */
struct fuse_server *fuse_server_create(const char *root_dir, bool read_only, int *err);
void fuse_server_destroy(struct fuse_server *srv);

/*
 * Handles one request.  in[] holds the request (device-readable), out[] the
 * room for the reply (device-writable); both are host pointers that the
 * caller already checked.  On return *reply_len is the number of bytes
 * written to out[] (0 for requests that take no reply).
 * Returns 0 when the request was answered (possibly with a FUSE error reply)
 * or needs no answer, -errno when it was too malformed to answer at all.
 */
int fuse_server_handle(struct fuse_server *srv, const struct iovec *in, unsigned in_cnt,
		       const struct iovec *out, unsigned out_cnt, size_t *reply_len);

/*
 * Overlay entries: read-only in-memory files and empty directories that
 * exist only in the server, found by LOOKUP (never listed by READDIR), and
 * shadowing a host entry of the same name.  path is relative to the root
 * (a leading '/' is ignored); every component but the last must name an
 * overlay directory added before, so an overlay directory never leads to
 * host files.  data is borrowed and must outlive the server.  A one_shot file
 * can be looked up once; it then vanishes from the name space (an inode the
 * guest holds stays usable until it is forgotten).  mode holds the
 * permission bits, optionally with the matching S_IFREG/S_IFDIR type bits.
 * Must be called before the server is serving requests.
 * Returns 0, -EINVAL (bad path, mode or data), -ENOENT (a parent is missing),
 * -ENOTDIR (a parent is a file), -EEXIST or -ENOSPC (more than
 * FUSE_SERVER_MAX_OVERLAYS entries).
 */
#define FUSE_SERVER_MAX_OVERLAYS 96
#define FUSE_OVERLAY_PATH_MAX 4095
int fuse_server_add_overlay_file(struct fuse_server *srv, const char *path, const void *data,
				 size_t len, uint32_t mode, bool one_shot);
int fuse_server_add_overlay_dir(struct fuse_server *srv, const char *path, uint32_t mode);

/*
 * The path rules above: returns path without its leading '/' when it is
 * valid, else NULL.  For callers that record overlays before a server exists.
 */
const char *fuse_overlay_path(const char *path);

/*
 * Bounds on what the guest can make the server hold, so that one guest
 * cannot use up the VMM's descriptors: at most max_handles open file and
 * directory handles (OPEN, OPENDIR, CREATE; past it they fail with EMFILE)
 * and at most max_inodes inodes that hold a host descriptor (an O_PATH fd
 * each; past it LOOKUP and the creating requests fail with ENFILE).  On top
 * of that all servers of the process together hold at most the
 * RLIMIT_NOFILE soft limit (read when a descriptor is taken) less
 * FUSE_SERVER_FD_RESERVE descriptors (half the limit when it is below twice
 * the reserve), so the VMM's own descriptors stay available.
 * fuse_server_create() sets the defaults: FUSE_SERVER_MAX_HANDLES and
 * FUSE_SERVER_MAX_INODES, each no more than that descriptor budget.
 */
#define FUSE_SERVER_MAX_HANDLES 65536u
#define FUSE_SERVER_MAX_INODES (1u << 20)
#define FUSE_SERVER_FD_RESERVE 256u

struct fuse_server_limits {
	uint32_t max_handles;
	uint32_t max_inodes;
};

void fuse_server_get_limits(struct fuse_server *srv, struct fuse_server_limits *l);
/* Takes effect for what is taken from then on; -EINVAL for a zero limit. */
int fuse_server_set_limits(struct fuse_server *srv, const struct fuse_server_limits *l);

/* What the server holds now (for tests and the fuzzer). */
struct fuse_server_stats {
	uint32_t inodes;	/* live nodeids, the root's included */
	uint32_t inode_fds;	/* inodes holding a host descriptor (the root's not counted) */
	uint32_t handles;	/* open file and directory handles */
};
void fuse_server_get_stats(struct fuse_server *srv, struct fuse_server_stats *s);

/*
 * By default nothing the guest does gives privilege on the host: device
 * nodes become empty regular files and set-uid/set-gid bits of files stay
 * off on the host (both kept in the user.containers.override_stat xattr and
 * shown to the guest), trusted.* and security.* xattrs are stored as
 * user.krun.trusted.* / user.krun.security.*.  With passthrough the guest
 * gets all of these on the host, as upstream does.  Call before serving.
 */
void fuse_server_set_privilege_passthrough(struct fuse_server *srv, bool passthrough);

/* cb runs on the serving thread when the guest reports its exit status. */
void fuse_server_set_exit_code_cb(struct fuse_server *srv, void (*cb)(void *opaque, int code),
				  void *opaque);

#endif
