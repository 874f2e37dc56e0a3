// SPDX-License-Identifier: Apache-2.0
/*
 * Boots the bundled kernel through the public API with the kernel console
 * on the serial port, so the test can read what the kernel saw.
 * usage: boot_probe VCPUS RAM_MIB [KERNEL_PATH]
 * Only returns (exit 100 + errno) if krun_start_enter refuses to start.
 */
#include <libkrun.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: %s VCPUS RAM_MIB [KERNEL]\n", argv[0]);
		return 2;
	}
	/* Info level keeps the kernel's boot messages (no "quiet"). */
	krun_set_log_level(KRUN_LOG_LEVEL_INFO);
	int ctx = krun_create_ctx();
	if (ctx < 0)
		return 101;
	int ret = krun_set_vm_config((uint32_t)ctx, (uint8_t)atoi(argv[1]), (uint32_t)atoi(argv[2]));
	if (ret == 0)
		ret = krun_set_kernel_console((uint32_t)ctx, "ttyS0");
	if (ret == 0 && argc > 3)
		ret = krun_set_kernel((uint32_t)ctx, argv[3], KRUN_KERNEL_FORMAT_ELF, NULL, NULL);
	if (ret == 0)
		ret = krun_start_enter((uint32_t)ctx);
	fprintf(stderr, "boot_probe: libkrun returned %d\n", ret);
	return 100 + (ret < 0 ? -ret : ret) % 100;
}
