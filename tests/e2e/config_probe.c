// SPDX-License-Identifier: Apache-2.0
/*
 * A client that behaves like crun's krun handler, krunvm or muvm: it names
 * only a root directory, so the guest init must find the job in the root's
 * container config (/.krun_config.json or $KRUN_CONFIG).  Without
 * krun_set_env the guest gets this process's environment.
 * usage: config_probe ROOTDIR
 * Only returns (exit 100 + errno) if krun_start_enter refuses to start.
 */
#include <libkrun.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s ROOTDIR\n", argv[0]);
		return 2;
	}
	int ctx = krun_create_ctx();
	if (ctx < 0)
		return 101;
	int ret = krun_set_vm_config((uint32_t)ctx, 1, 256);
	if (ret == 0)
		ret = krun_set_root((uint32_t)ctx, argv[1]);
	if (ret == 0)
		ret = krun_start_enter((uint32_t)ctx);
	fprintf(stderr, "config_probe: libkrun returned %d\n", ret);
	return 100 + (ret < 0 ? -ret : ret) % 100;
}
