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
 * would modify the host directory fails with EROFS.  On failure returns NULL
 * and stores -errno in *err (if err is non-NULL).
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
 * A read-only in-memory file that appears in the root directory via LOOKUP
 * only (never in READDIR) and shadows a host file of the same name.  data is
 * borrowed and must outlive the server.  A one_shot file can be looked up
 * once; it then vanishes from the name space (an open inode stays usable).
 * Must be called before the server is serving requests.
 */
int fuse_server_add_virtual_file(struct fuse_server *srv, const char *name_in_root,
				 const void *data, size_t len, uint32_t mode, bool one_shot);

/* cb runs on the serving thread when the guest reports its exit status. */
void fuse_server_set_exit_code_cb(struct fuse_server *srv, void (*cb)(void *opaque, int code),
				  void *opaque);

#endif
