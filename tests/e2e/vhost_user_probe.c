// SPDX-License-Identifier: Apache-2.0
/*
 * Runs COMMAND in a microVM with ROOT as its root and one vhost-user
 * virtio-fs device (krun_add_vhost_user_device, type 26) served by the
 * backend listening on SOCKET, tagged TAG.
 * usage: vhost_user_probe ROOT SOCKET TAG COMMAND
 * Only returns (exit 100 + errno) if something before the VM fails.
 */
#include <libkrun.h>
#include <stdio.h>

#define VIRTIO_ID_FS 26

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: %s ROOT SOCKET TAG COMMAND\n", argv[0]);
		return 2;
	}
	const char *const args[] = {"-c", argv[4], NULL};
	const char *const env[] = {"PATH=/bin:/sbin", NULL};
	/* hiprio and one request queue, QEMU's vhost-user-fs layout. */
	const uint16_t sizes[] = {128, 1024};
	krun_set_log_level(KRUN_LOG_LEVEL_WARN);
	int ctx = krun_create_ctx();
	if (ctx < 0)
		return 100 - ctx;
	int ret = krun_set_vm_config((uint32_t)ctx, 1, 256);
	if (ret == 0)
		ret = krun_set_root((uint32_t)ctx, argv[1]);
	if (ret == 0)
		ret = krun_add_vhost_user_device((uint32_t)ctx, VIRTIO_ID_FS, argv[2], argv[3], 2,
						 sizes);
	if (ret == 0)
		ret = krun_set_exec((uint32_t)ctx, "/bin/sh", args, env);
	if (ret == 0)
		ret = krun_start_enter((uint32_t)ctx);
	fprintf(stderr, "vhost_user_probe: libkrun returned %d\n", ret);
	return 100 + (ret < 0 ? -ret : ret) % 100;
}
