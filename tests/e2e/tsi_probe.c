// SPDX-License-Identifier: Apache-2.0
/*
 * Host half of the TSI end-to-end test: boots ROOT with COMMAND as the
 * workload, TSI on and the port map set with krun_set_port_map, so the
 * guest's inet sockets go through the VMM.
 * usage: tsi_probe ROOT MAP COMMAND [ARGS...]
 *   MAP: comma-separated HOST:GUEST pairs, or "-" for krun_set_port_map(NULL)
 * TSI_PROBE_DEBUG=1: debug log and the kernel's messages on stdout.
 * TSI_PROBE_UNIX=1: an explicit vsock device with TSI for inet and unix
 * sockets (krun_add_vsock) instead of the implicit one.
 * The process ends with the workload's status (krun_start_enter).
 */
#include <libkrun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MAP 16

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: tsi_probe ROOT MAP COMMAND [ARGS...]\n");
		return 2;
	}
	char *map[MAX_MAP + 1] = { 0 };
	int n = 0;
	for (char *save = NULL, *tok = strtok_r(argv[2], ",", &save); tok && n < MAX_MAP;
	     tok = strtok_r(NULL, ",", &save))
		if (strcmp(tok, "-") != 0)
			map[n++] = tok;
	bool no_map = strcmp(argv[2], "-") == 0;

	if (getenv("TSI_PROBE_DEBUG"))
		krun_set_log_level(KRUN_LOG_LEVEL_DEBUG);
	int ctx = krun_create_ctx();
	const char *const env[] = { "PATH=/bin:/sbin", NULL };
	int ret = ctx < 0 ? ctx : krun_set_root((uint32_t)ctx, argv[1]);
	if (!ret)
		ret = krun_set_exec((uint32_t)ctx, argv[3], (const char *const *)argv + 4, env);
	if (!ret && getenv("TSI_PROBE_DEBUG"))
		ret = krun_set_kernel_console((uint32_t)ctx, "ttyS0");
	if (!ret && getenv("TSI_PROBE_UNIX"))
		ret = krun_disable_implicit_vsock((uint32_t)ctx) ?:
		      krun_add_vsock((uint32_t)ctx, KRUN_TSI_HIJACK_INET | KRUN_TSI_HIJACK_UNIX);
	if (!ret)
		ret = krun_set_port_map((uint32_t)ctx, no_map ? NULL : (const char *const *)map);
	if (!ret)
		ret = krun_start_enter((uint32_t)ctx);
	printf("probe: start returned %d\n", ret);
	return 100;
}
