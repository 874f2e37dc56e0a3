// SPDX-License-Identifier: Apache-2.0
/*
 * Starts a VM the way crun's krun handler does: libkrun is loaded (and a
 * context created) on the host, then the process enters the container's
 * root, which holds neither libkrun nor libkrunfw, and only there
 * configures the root and starts the VM.
 * usage: chroot_probe ROOTDIR COMMAND   (COMMAND runs as /bin/sh -c COMMAND)
 * Only returns (exit 100 + errno) if something before the VM fails.
 */
#include <libkrun.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s ROOTDIR COMMAND\n", argv[0]);
		return 2;
	}
	krun_set_log_level(KRUN_LOG_LEVEL_ERROR);
	int ctx = krun_create_ctx();
	if (ctx < 0)
		return 100 - ctx;
	if (chroot(argv[1]) || chdir("/")) {
		perror("chroot_probe: chroot");
		return 99;
	}
	const char *const args[] = {"-c", argv[2], NULL};
	const char *const env[] = {"PATH=/bin:/sbin", NULL};
	int ret = krun_set_vm_config((uint32_t)ctx, 1, 128);
	if (ret == 0)
		ret = krun_set_root((uint32_t)ctx, "/");
	if (ret == 0)
		ret = krun_set_exec((uint32_t)ctx, "/bin/sh", args, env);
	if (ret == 0)
		ret = krun_start_enter((uint32_t)ctx);
	fprintf(stderr, "chroot_probe: libkrun returned %d\n", ret);
	return 100 + (ret < 0 ? -ret : ret) % 100;
}
