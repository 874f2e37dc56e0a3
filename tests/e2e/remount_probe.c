// SPDX-License-Identifier: Apache-2.0
/*
 * Boots from a disk image as the root (krun_set_root_disk_remount), the way
 * upstream's root-disk-remount test does.
 * usage: remount_probe IMAGE FSTYPE [COMMAND]
 *   FSTYPE "-" passes NULL (probe); without COMMAND no krun_set_exec is made
 *   and the job comes from the disk's /.krun_config.json.
 * Only returns (exit 100 + errno) if something before the VM fails.
 */
#include <libkrun.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: %s IMAGE FSTYPE [COMMAND]\n", argv[0]);
		return 2;
	}
	const char *fstype = strcmp(argv[2], "-") ? argv[2] : NULL;
	const char *const args[] = {"-c", argc == 4 ? argv[3] : "", NULL};
	const char *const env[] = {"PATH=/bin:/sbin", NULL};
	krun_set_log_level(KRUN_LOG_LEVEL_ERROR);
	int ctx = krun_create_ctx();
	if (ctx < 0)
		return 100 - ctx;
	int ret = krun_set_vm_config((uint32_t)ctx, 1, 256);
	if (ret == 0)
		ret = krun_add_disk((uint32_t)ctx, "root", argv[1], false);
	if (ret == 0)
		ret = krun_set_root_disk_remount((uint32_t)ctx, "/dev/vda", fstype, NULL);
	if (ret == 0 && argc == 4)
		ret = krun_set_exec((uint32_t)ctx, "/bin/sh", args, env);
	if (ret == 0)
		ret = krun_start_enter((uint32_t)ctx);
	fprintf(stderr, "remount_probe: libkrun returned %d\n", ret);
	return 100 + (ret < 0 ? -ret : ret) % 100;
}
