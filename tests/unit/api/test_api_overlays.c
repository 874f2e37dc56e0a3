// SPDX-License-Identifier: Apache-2.0
/* krun_fs_add_overlay_file/_dir and shares without a host directory. */
#include "../test.h"

#include <errno.h>
#include <libkrun.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/ctx.h"
#include "api/overlays.h"
#include "backends/fs/fuse_server.h"

static const uint8_t blob[] = "overlay contents";

static void test_null_path_shares(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();

	CHECK_EQ(krun_set_root(c, NULL), 0);
	CHECK_EQ(krun_set_root(c, NULL), -EEXIST);
	CHECK_EQ(krun_add_virtiofs(c, "empty", NULL), 0);
	CHECK_EQ(krun_add_virtiofs3(c, "empty-ro", NULL, 0, true), 0);
	CHECK_EQ(krun_add_virtiofs(c, NULL, NULL), -EINVAL);
	CHECK_EQ(krun_set_root(999999, NULL), -ENOENT);
	krun_free_ctx(c);
}

static void test_overlay_args(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	char long_name[300];

	/* The share must exist first. */
	CHECK_EQ(krun_fs_add_overlay_dir(c, KRUN_FS_ROOT_TAG, "dev", 0755), -ENOENT);
	CHECK_EQ(krun_fs_add_overlay_file(999999, KRUN_FS_ROOT_TAG, "f", blob, 4, 0644, false),
		 -ENOENT);
	CHECK_EQ(krun_set_root(c, NULL), 0);
	CHECK_EQ(krun_fs_add_overlay_file(c, "no-such-tag", "f", blob, 4, 0644, false), -ENOENT);

	/* NULL arguments and bad paths or modes. */
	CHECK_EQ(krun_fs_add_overlay_file(c, NULL, "f", blob, 4, 0644, false), -EINVAL);
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, NULL, blob, 4, 0644, false), -EINVAL);
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, "f", NULL, 4, 0644, false), -EINVAL);
	CHECK_EQ(krun_fs_add_overlay_dir(c, NULL, "d", 0755), -EINVAL);
	CHECK_EQ(krun_fs_add_overlay_dir(c, KRUN_FS_ROOT_TAG, NULL, 0755), -EINVAL);
	static const char *const bad[] = { "", "/", "a//b", "a/", "..", "a/../b", ".", "./a" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, bad[i], blob, 4, 0644,
						  false), -EINVAL);
		CHECK_EQ(krun_fs_add_overlay_dir(c, KRUN_FS_ROOT_TAG, bad[i], 0755), -EINVAL);
	}
	memset(long_name, 'x', 256);
	long_name[256] = '\0';
	CHECK_EQ(krun_fs_add_overlay_dir(c, KRUN_FS_ROOT_TAG, long_name, 0755), -EINVAL);
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, "f", blob, 4, S_IFDIR | 0644, false),
		 -EINVAL);
	CHECK_EQ(krun_fs_add_overlay_dir(c, KRUN_FS_ROOT_TAG, "d", S_IFREG | 0755), -EINVAL);

	/* Nesting: parents must be overlay directories added before. */
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, "etc/hostname", blob, 4, 0644,
					  false), -ENOENT);
	CHECK_EQ(krun_fs_add_overlay_dir(c, KRUN_FS_ROOT_TAG, "etc", S_IFDIR | 0755), 0);
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, "etc/hostname", blob, 4,
					  S_IFREG | 0644, false), 0);
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, "etc/hostname/x", blob, 4, 0644,
					  false), -ENOTDIR);
	CHECK_EQ(krun_fs_add_overlay_dir(c, KRUN_FS_ROOT_TAG, "/etc/sub", 0755), 0);
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, "etc/sub/deep", NULL, 0, 0644, true),
		 0);

	/* Duplicates, also spelled with a leading '/', and reserved names. */
	CHECK_EQ(krun_fs_add_overlay_dir(c, KRUN_FS_ROOT_TAG, "etc", 0755), -EEXIST);
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, "/etc/hostname", blob, 4, 0644,
					  false), -EEXIST);
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, ".krun_workload", blob, 4, 0644,
					  false), -EEXIST);
	/* The implicit init owns init.krun. */
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, "init.krun", blob, 4, 0755, true),
		 -EEXIST);
	krun_free_ctx(c);

	c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_disable_implicit_init(c), 0);
	CHECK_EQ(krun_set_root(c, NULL), 0);
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, "init.krun", blob, 4, 0755, true), 0);
	/* Other shares have their own name space. */
	CHECK_EQ(krun_add_virtiofs(c, "data", NULL), 0);
	CHECK_EQ(krun_fs_add_overlay_file(c, "data", "init.krun", blob, 4, 0755, true), 0);
	CHECK_EQ(krun_fs_add_overlay_file(c, "data", "etc/x", blob, 4, 0755, true), -ENOENT);
	krun_free_ctx(c);
}

static void test_overlay_bound(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	char name[16];
	int ok = 0;

	CHECK_EQ(krun_add_virtiofs(c, "t", NULL), 0);
	for (int i = 0; i < CTX_MAX_OVERLAYS + 3; i++) {
		snprintf(name, sizeof(name), "d%d", i);
		int ret = krun_fs_add_overlay_dir(c, "t", name, 0755);
		if (ret == 0)
			ok++;
		else
			CHECK_EQ(ret, -ENOSPC);
	}
	CHECK_EQ(ok, CTX_MAX_OVERLAYS);
	krun_free_ctx(c);
}

/* What the context recorded reaches the server of its share, in order. */
static void test_overlays_reach_server(void)
{
	int id = krun_create_ctx();
	uint32_t c = (uint32_t)id;
	int err = 0;

	CHECK_EQ(krun_set_root(c, NULL), 0);
	CHECK_EQ(krun_add_virtiofs(c, "other", NULL), 0);
	CHECK_EQ(krun_fs_add_overlay_dir(c, KRUN_FS_ROOT_TAG, "dev", 0755), 0);
	CHECK_EQ(krun_fs_add_overlay_dir(c, "other", "x", 0755), 0);
	CHECK_EQ(krun_fs_add_overlay_dir(c, KRUN_FS_ROOT_TAG, "dev/sub", 0755), 0);
	CHECK_EQ(krun_fs_add_overlay_file(c, KRUN_FS_ROOT_TAG, "dev/sub/f", blob, 4, 0644, true),
		 0);

	struct fuse_server *srv = fuse_server_create(NULL, false, &err);
	CHECK(srv != NULL);
	struct krun_ctx *ctx = ctx_lock(c);
	CHECK(ctx != NULL);
	if (srv && ctx) {
		CHECK_EQ(overlays_apply(ctx, KRUN_FS_ROOT_TAG, srv), 0);
		/* They are there now: adding them again is refused. */
		CHECK_EQ(fuse_server_add_overlay_dir(srv, "dev", 0755), -EEXIST);
		CHECK_EQ(fuse_server_add_overlay_dir(srv, "dev/sub", 0755), -EEXIST);
		CHECK_EQ(fuse_server_add_overlay_file(srv, "dev/sub/f", blob, 1, 0644, false),
			 -EEXIST);
		/* The other share's entry is not. */
		CHECK_EQ(fuse_server_add_overlay_dir(srv, "x", 0755), 0);
		/* Applying twice collides, and says so. */
		CHECK_EQ(overlays_apply(ctx, KRUN_FS_ROOT_TAG, srv), -EEXIST);
	}
	if (ctx)
		ctx_unlock();
	fuse_server_destroy(srv);
	krun_free_ctx(c);
}

int main(void)
{
	krun_set_log_level(KRUN_LOG_LEVEL_OFF);
	RUN_TEST(test_null_path_shares);
	RUN_TEST(test_overlay_args);
	RUN_TEST(test_overlay_bound);
	RUN_TEST(test_overlays_reach_server);
	TEST_MAIN_END();
}
