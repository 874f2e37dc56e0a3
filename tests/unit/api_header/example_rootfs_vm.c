/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compile check: a typical libkrun client, written the way existing
 * programs use the 1.x API (run a command from a host directory used as the
 * guest's root).  The build only compiles it; it is never linked or run, so
 * it does not depend on the library being complete.
 *
 *   example_rootfs_vm ROOTDIR COMMAND [ARGS...]
 */
#include <libkrun.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, int32_t err)
{
	fprintf(stderr, "%s: %s\n", what, strerror(-err));
	return 1;
}

int main(int argc, char *argv[])
{
	static const char *const env[] = { "PATH=/usr/bin:/bin", "TERM=xterm", "HOME=/root", NULL };
	static const char *const limits[] = { "6=4096:8192", NULL }; /* RLIMIT_NPROC */
	static const char *const ports[] = { "18000:8000", NULL };
	uint8_t mac[6] = { 0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee };
	const uint8_t *init_data;
	size_t init_len;
	int32_t ctx, err;

	if (argc < 3) {
		fprintf(stderr, "usage: %s ROOTDIR COMMAND [ARGS...]\n", argv[0]);
		return 2;
	}

	err = krun_init_log(KRUN_LOG_TARGET_DEFAULT, KRUN_LOG_LEVEL_WARN, KRUN_LOG_STYLE_AUTO, 0);
	if (err)
		return fail("krun_init_log", err);

	ctx = krun_create_ctx();
	if (ctx < 0)
		return fail("krun_create_ctx", ctx);

	if (krun_has_feature(KRUN_FEATURE_NET) == 1 && getenv("EXAMPLE_PASST")) {
		err = krun_add_net_unixstream(ctx, getenv("EXAMPLE_PASST"), -1, mac,
					      COMPAT_NET_FEATURES, NET_FLAG_DHCP_CLIENT);
		if (err)
			return fail("krun_add_net_unixstream", err);
	} else {
		err = krun_set_port_map(ctx, ports);
		if (err)
			return fail("krun_set_port_map", err);
	}

	if ((err = krun_set_vm_config(ctx, 2, 1024)))
		return fail("krun_set_vm_config", err);
	if ((err = krun_add_virtiofs3(ctx, KRUN_FS_ROOT_TAG, argv[1], 0, false)))
		return fail("krun_add_virtiofs3", err);
	if (krun_get_default_init(&init_data, &init_len) == 0 && init_len == 0)
		return fail("krun_get_default_init", -EINVAL);
	if ((err = krun_fs_add_overlay_dir(ctx, KRUN_FS_ROOT_TAG, "krun-extra", 040755)))
		return fail("krun_fs_add_overlay_dir", err);
	if ((err = krun_set_rlimits(ctx, limits)))
		return fail("krun_set_rlimits", err);
	if ((err = krun_set_workdir(ctx, "/")))
		return fail("krun_set_workdir", err);
	/* Arguments exclude argv[0]: the guest uses the executable path for it. */
	if ((err = krun_set_exec(ctx, argv[2], (const char *const *)&argv[3], env)))
		return fail("krun_set_exec", err);
	if (getenv("EXAMPLE_DISK")) {
		err = krun_add_disk3(ctx, "data", getenv("EXAMPLE_DISK"), KRUN_DISK_FORMAT_RAW,
				     false, false, KRUN_SYNC_RELAXED);
		if (err)
			return fail("krun_add_disk3", err);
	}
	if (getenv("EXAMPLE_VHOST_RNG")) {
		err = krun_add_vhost_user_device(ctx, KRUN_VIRTIO_DEVICE_RNG,
						 getenv("EXAMPLE_VHOST_RNG"), "rng",
						 KRUN_VHOST_USER_RNG_NUM_QUEUES,
						 KRUN_VHOST_USER_RNG_QUEUE_SIZES);
		if (err)
			return fail("krun_add_vhost_user_device", err);
	}

	/* Only returns when the VM could not be started. */
	err = krun_start_enter(ctx);
	return fail("krun_start_enter", err);
}
