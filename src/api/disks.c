// SPDX-License-Identifier: Apache-2.0
/*
 * Disk entry points: krun_add_disk{,2,3} and the deprecated
 * krun_set_root_disk/krun_set_data_disk.  Only the configuration is
 * recorded here; images are opened by krun_start_enter(), before privileges
 * are dropped.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "libkrun.h"

#include "api/api.h"

/* Exists, and is something a block device can be backed by. */
static int check_image(const char *fn, const char *path)
{
	struct stat st;

	if (!path || !*path)
		return api_refuse(fn, "disk path is NULL or empty");
	if (stat(path, &st) < 0) {
		int err = errno;
		log_error("%s: %s: %s", fn, path, strerror(err));
		return -err;
	}
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
		log_error("%s: %s is neither a regular file nor a block device", fn, path);
		return -EINVAL;
	}
	return 0;
}

static int check_format(const char *fn, uint32_t format)
{
	switch (format) {
	case KRUN_DISK_FORMAT_RAW:
	case KRUN_DISK_FORMAT_QCOW2:
	case KRUN_DISK_FORMAT_VMDK:
		return 0;
	default:
		log_error("%s: unknown disk format %u", fn, format);
		return -EINVAL;
	}
}

static int add_disk(uint32_t ctx_id, const char *fn, const char *block_id, const char *path,
		    const struct ctx_disk *opts)
{
	if (!block_id || !*block_id)
		return api_refuse(fn, "block_id is NULL or empty");
	int ret = check_image(fn, path);
	if (ret)
		return ret;
	LOCK_CTX(c, ctx_id);
	for (unsigned int i = 0; i < c->nr_disks && !ret; i++) {
		if (strcmp(c->disks[i].block_id, block_id) == 0) {
			log_error("%s: block id %s is already in use", fn, block_id);
			ret = -EEXIST;
		}
	}
	if (!ret && c->nr_disks >= CTX_MAX_DISKS) {
		log_error("%s: at most %d disks", fn, CTX_MAX_DISKS);
		ret = -ENOSPC;
	}
	if (!ret) {
		struct ctx_disk *d = &c->disks[c->nr_disks];
		*d = *opts;
		d->block_id = strdup(block_id);
		d->path = strdup(path);
		if (d->block_id && d->path) {
			c->nr_disks++;
		} else {
			free(d->block_id);
			free(d->path);
			ret = -ENOMEM;
		}
	}
	ctx_unlock();
	return ret;
}

KRUN_API int32_t krun_add_disk3(uint32_t ctx_id, const char *block_id, const char *disk_path,
				uint32_t disk_format, bool read_only, bool direct_io,
				uint32_t sync_mode)
{
	int ret = check_format(__func__, disk_format);
	if (ret)
		return ret;
	if (sync_mode > KRUN_SYNC_FULL) {
		log_error("%s: unknown sync mode %u", __func__, sync_mode);
		return -EINVAL;
	}
	const struct ctx_disk opts = {
		.read_only = read_only, .direct_io = direct_io, .sync_mode = sync_mode,
		.format = disk_format,
	};
	return add_disk(ctx_id, __func__, block_id, disk_path, &opts);
}

KRUN_API int32_t krun_add_disk2(uint32_t ctx_id, const char *block_id, const char *disk_path,
				uint32_t disk_format, bool read_only)
{
	return krun_add_disk3(ctx_id, block_id, disk_path, disk_format, read_only, false,
			      KRUN_SYNC_FULL);
}

KRUN_API int32_t krun_add_disk(uint32_t ctx_id, const char *block_id, const char *disk_path,
			       bool read_only)
{
	return krun_add_disk3(ctx_id, block_id, disk_path, KRUN_DISK_FORMAT_RAW, read_only,
			      false, KRUN_SYNC_FULL);
}

static int set_legacy_disk(uint32_t ctx_id, const char *fn, const char *path, bool data)
{
	int ret = check_image(fn, path);
	if (ret)
		return ret;
	LOCK_CTX(c, ctx_id);
	char *copy = strdup(path);
	char **slot = data ? &c->data_disk : &c->root_disk;
	if (copy) {
		free(*slot);
		*slot = copy;
	}
	ctx_unlock();
	return copy ? 0 : -ENOMEM;
}

KRUN_API int32_t krun_set_root_disk(uint32_t ctx_id, const char *disk_path)
{
	return set_legacy_disk(ctx_id, __func__, disk_path, false);
}

KRUN_API int32_t krun_set_data_disk(uint32_t ctx_id, const char *disk_path)
{
	return set_legacy_disk(ctx_id, __func__, disk_path, true);
}

static bool has_root_share(const struct krun_ctx *c)
{
	for (unsigned int i = 0; i < c->nr_shares; i++)
		if (strcmp(c->shares[i].tag, KRUN_FS_ROOT_TAG) == 0)
			return true;
	return false;
}

/* Owned copies of the three strings, or -ENOMEM with nothing kept. */
static int record_remount(struct krun_ctx *c, const char *device, const char *fstype,
			  const char *options)
{
	char *d = strdup(device);
	char *t = fstype ? strdup(fstype) : NULL;
	char *o = options ? strdup(options) : NULL;
	if (!d || (fstype && !t) || (options && !o)) {
		free(d), free(t), free(o);
		return -ENOMEM;
	}
	free(c->remount_device), free(c->remount_fstype), free(c->remount_options);
	c->remount_device = d;
	c->remount_fstype = t;
	c->remount_options = o;
	return 0;
}

/*
 * Upstream's layout: the root virtio-fs has no host directory, only the
 * init and the directories the init mounts on (start.c adds them); the
 * init mounts DEVICE on /newroot and switches to it.
 */
KRUN_API int32_t krun_set_root_disk_remount(uint32_t ctx_id, const char *device,
					    const char *fstype, const char *options)
{
	if (!device || !*device)
		return api_refuse(__func__, "device is NULL or empty");
	if (device[0] != '/' || strlen(device) > 255)
		return api_refuse(__func__, "device must be an absolute guest path such as /dev/vda");
	LOCK_CTX(c, ctx_id);
	int ret = 0;
	if (has_root_share(c))
		ret = api_refuse(__func__, "the context already has a root filesystem");
	else if (c->nr_disks == 0 && !c->root_disk && !c->data_disk)
		ret = api_refuse(__func__, "add the disk first (krun_add_disk*)");
	else
		ret = record_remount(c, device, fstype, options);
	ctx_unlock();
	if (ret)
		return ret;
	ret = krun_add_virtiofs3(ctx_id, KRUN_FS_ROOT_TAG, NULL, 0, true);
	if (ret) {
		LOCK_CTX(c2, ctx_id);
		free(c2->remount_device);
		c2->remount_device = NULL;
		ctx_unlock();
	}
	return ret;
}
