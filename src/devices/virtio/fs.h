/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-fs device (virtio 1.2, 5.11): one hiprio and one request queue,
 * both served by one worker thread that hands each request to the FUSE
 * passthrough server.  Pass the struct virtio_fs * as the opaque pointer of
 * virtio_mmio_init() together with virtio_fs_ops().
 */
#ifndef KRUN_VIRTIO_FS_H
#define KRUN_VIRTIO_FS_H

#include <stdbool.h>

#include "virtio_mmio.h"

#define VIRTIO_ID_FS_DEVICE 26
#define VIRTIO_FS_TAG_MAX 36

struct virtio_fs;
struct fuse_server;

/* tag: 1..36 bytes (the guest's mount source, e.g. "/dev/root").  On error
 * returns NULL with -errno in *err: -EINVAL for a bad tag, or the server's
 * error for root_dir.  A NULL root_dir: a filesystem with no host directory
 * (see fuse_server_create). */
struct virtio_fs *virtio_fs_create(const char *tag, const char *root_dir, bool read_only,
				   int *err);
/* For overlay entries and the exit-code callback; owned by the device. */
struct fuse_server *virtio_fs_server(struct virtio_fs *fs);
const struct virtio_device_ops *virtio_fs_ops(void);
/* The transport must have been reset (or never activated) first. */
void virtio_fs_destroy(struct virtio_fs *fs);

#endif
