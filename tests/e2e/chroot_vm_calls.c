// SPDX-License-Identifier: Apache-2.0
/*
 * The calls upstream's examples/chroot_vm.c makes in its default (TSI)
 * mode, in its order and with its arguments, so the e2e test shows what
 * that client would see: krun_init_log at warn level, 4 vCPUs / 4096 MiB,
 * the root directory, GPU options (virgl flags), the port map 18000:8000,
 * RLIMIT_NPROC 4096:8192, workdir "/", the command with env TEST=works,
 * krun_split_irqchip(false), krun_start_enter.  The source of chroot_vm.c
 * itself cannot be fetched in CI and is not vendored here.
 * usage: chroot_vm_calls NEWROOT COMMAND [ARGS...]
 */
#include <errno.h>
#include <libkrun.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

static int fail(int err, const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(-err));
	return 1;
}

int main(int argc, char **argv)
{
	static const char *const envp[] = { "TEST=works", NULL };
	static const char *const port_map[] = { "18000:8000", NULL };
	static const char *const rlimits[] = { "6=4096:8192", NULL };
	const uint32_t virgl_flags = VIRGLRENDERER_USE_EGL | VIRGLRENDERER_DRM |
				     VIRGLRENDERER_THREAD_SYNC | VIRGLRENDERER_USE_ASYNC_FENCE_CB;
	struct rlimit rlim;
	int err;

	if (argc < 3) {
		fprintf(stderr, "usage: %s NEWROOT COMMAND [ARGS...]\n", argv[0]);
		return 2;
	}
	if ((err = krun_init_log(KRUN_LOG_TARGET_DEFAULT, KRUN_LOG_LEVEL_WARN,
				 KRUN_LOG_STYLE_AUTO, 0)))
		return fail(err, "krun_init_log");
	int ctx = krun_create_ctx();
	if (ctx < 0)
		return fail(ctx, "krun_create_ctx");
	if ((err = krun_set_vm_config((uint32_t)ctx, 4, 4096)))
		return fail(err, "krun_set_vm_config");
	getrlimit(RLIMIT_NOFILE, &rlim);
	rlim.rlim_cur = rlim.rlim_max;
	setrlimit(RLIMIT_NOFILE, &rlim);
	if ((err = krun_set_root((uint32_t)ctx, argv[1])))
		return fail(err, "krun_set_root");
	if ((err = krun_set_gpu_options((uint32_t)ctx, virgl_flags)))
		return fail(err, "krun_set_gpu_options");
	if ((err = krun_set_port_map((uint32_t)ctx, port_map)))
		return fail(err, "Error configuring port map");
	if ((err = krun_set_rlimits((uint32_t)ctx, rlimits)))
		return fail(err, "krun_set_rlimits");
	if ((err = krun_set_workdir((uint32_t)ctx, "/")))
		return fail(err, "krun_set_workdir");
	if ((err = krun_set_exec((uint32_t)ctx, argv[2], (const char *const *)argv + 3, envp)))
		return fail(err, "krun_set_exec");
	if ((err = krun_split_irqchip((uint32_t)ctx, false)))
		return fail(err, "krun_split_irqchip");
	err = krun_start_enter((uint32_t)ctx);
	return fail(err, "krun_start_enter");
}
