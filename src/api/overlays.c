// SPDX-License-Identifier: Apache-2.0
/*
 * krun_fs_add_overlay_file / krun_fs_add_overlay_dir: checked and recorded
 * here, so that every mistake is reported by the call that made it; the
 * FUSE server gets them at start (overlays_apply).
 */
#include "api/overlays.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "libkrun.h"

#include "api/api.h"
#include "backends/fs/fuse_server.h"
#include "init/workload.h"

/* The root share also carries the init and the workload file. */
_Static_assert(CTX_MAX_OVERLAYS + 2 <= FUSE_SERVER_MAX_OVERLAYS, "overlay bounds disagree");

struct overlay_req {
	const char *fn;
	const char *tag;
	const char *path;	/* relative */
	bool dir;
	const uint8_t *data;
	size_t len;
	uint32_t mode;
	bool one_shot;
};

static const struct ctx_overlay *find_overlay(const struct krun_ctx *c, const char *tag,
					      const char *path, size_t path_len)
{
	for (unsigned int i = 0; i < c->nr_overlays; i++) {
		const struct ctx_overlay *o = &c->overlays[i];

		if (strcmp(o->tag, tag) == 0 && strncmp(o->path, path, path_len) == 0 &&
		    o->path[path_len] == '\0')
			return o;
	}
	return NULL;
}

static bool has_share(const struct krun_ctx *c, const char *tag)
{
	for (unsigned int i = 0; i < c->nr_shares; i++)
		if (strcmp(c->shares[i].tag, tag) == 0)
			return true;
	return false;
}

/* Names the library itself puts in the root share. */
static bool reserved(const struct krun_ctx *c, const struct overlay_req *r)
{
	if (strcmp(r->tag, KRUN_FS_ROOT_TAG) != 0)
		return false;
	return strcmp(r->path, WORKLOAD_FILE_NAME) == 0 ||
	       (c->implicit_init && strcmp(r->path, "init.krun") == 0);
}

/* Every parent must be an overlay directory of the same share. */
static int check_parents(const struct krun_ctx *c, const struct overlay_req *r)
{
	for (const char *p = strchr(r->path, '/'); p; p = strchr(p + 1, '/')) {
		const struct ctx_overlay *o = find_overlay(c, r->tag, r->path,
							   (size_t)(p - r->path));

		if (!o) {
			log_error("%s: %.*s is not an overlay directory of %s", r->fn,
				  (int)(p - r->path), r->path, r->tag);
			return -ENOENT;
		}
		if (!o->dir) {
			log_error("%s: %s is an overlay file, not a directory", r->fn, o->path);
			return -ENOTDIR;
		}
	}
	return 0;
}

static int check_locked(const struct krun_ctx *c, const struct overlay_req *r)
{
	int ret;

	if (!has_share(c, r->tag)) {
		log_error("%s: no virtio-fs share with tag %s (add it first)", r->fn, r->tag);
		return -ENOENT;
	}
	ret = check_parents(c, r);
	if (ret)
		return ret;
	if (reserved(c, r) || find_overlay(c, r->tag, r->path, strlen(r->path))) {
		log_error("%s: %s already exists in %s", r->fn, r->path, r->tag);
		return -EEXIST;
	}
	if (c->nr_overlays >= CTX_MAX_OVERLAYS) {
		log_error("%s: at most %d overlay entries", r->fn, CTX_MAX_OVERLAYS);
		return -ENOSPC;
	}
	return 0;
}

static int record(struct krun_ctx *c, const struct overlay_req *r)
{
	struct ctx_overlay *o = &c->overlays[c->nr_overlays];

	o->tag = strdup(r->tag);
	o->path = strdup(r->path);
	if (!o->tag || !o->path) {
		free(o->tag);
		free(o->path);
		o->tag = o->path = NULL;
		return -ENOMEM;
	}
	o->data = r->data;
	o->len = r->len;
	o->mode = r->mode;
	o->dir = r->dir;
	o->one_shot = r->one_shot;
	c->nr_overlays++;
	return 0;
}

static int add_overlay(uint32_t ctx_id, struct overlay_req *r)
{
	const char *rel = fuse_overlay_path(r->path);
	uint32_t type = r->mode & S_IFMT;
	int ret;

	if (!r->tag || !r->path)
		return api_refuse(r->fn, "NULL tag or path");
	if (!rel)
		return api_refuse(r->fn, "path is empty or has an empty, \".\", \"..\" or "
					 "over-long component");
	if (!r->data && r->len)
		return api_refuse(r->fn, "NULL data");
	if ((r->mode & ~(uint32_t)(S_IFMT | 07777)) ||
	    (type && type != (r->dir ? S_IFDIR : S_IFREG)))
		return api_refuse(r->fn, "mode is not a file (dir) mode");
	r->path = rel;
	LOCK_CTX(c, ctx_id);
	ret = check_locked(c, r);
	if (!ret)
		ret = record(c, r);
	ctx_unlock();
	return ret;
}

KRUN_API int32_t krun_fs_add_overlay_file(uint32_t ctx_id, const char *fs_tag, const char *path,
					  const uint8_t *data, size_t data_len, uint32_t mode,
					  bool one_shot)
{
	struct overlay_req r = {
		.fn = __func__, .tag = fs_tag, .path = path, .data = data, .len = data_len,
		.mode = mode, .one_shot = one_shot,
	};

	return add_overlay(ctx_id, &r);
}

KRUN_API int32_t krun_fs_add_overlay_dir(uint32_t ctx_id, const char *fs_tag, const char *path,
					 uint32_t mode)
{
	struct overlay_req r = { .fn = __func__, .tag = fs_tag, .path = path, .dir = true,
				 .mode = mode };

	return add_overlay(ctx_id, &r);
}

int overlays_apply(const struct krun_ctx *c, const char *tag, struct fuse_server *srv)
{
	for (unsigned int i = 0; i < c->nr_overlays; i++) {
		const struct ctx_overlay *o = &c->overlays[i];
		int ret;

		if (strcmp(o->tag, tag) != 0)
			continue;
		if (o->dir)
			ret = fuse_server_add_overlay_dir(srv, o->path, o->mode);
		else
			ret = fuse_server_add_overlay_file(srv, o->path, o->data, o->len, o->mode,
							   o->one_shot);
		if (ret) {
			log_error("virtio-fs %s: overlay %s: %s", tag, o->path, strerror(-ret));
			return ret;
		}
	}
	return 0;
}
