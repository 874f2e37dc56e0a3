// SPDX-License-Identifier: Apache-2.0
/*
 * The calls upstream's examples/chroot_vm.c makes, in its order and with its
 * arguments, so the e2e tests show what that client would see:
 * krun_init_log at warn level, 4 vCPUs / 4096 MiB, the root directory, GPU
 * options (virgl flags), then the network of its mode, RLIMIT_NPROC
 * 4096:8192, workdir "/", the command with env TEST=works,
 * krun_split_irqchip(false), krun_start_enter.  The source of chroot_vm.c
 * itself cannot be fetched in CI and is not vendored here.
 *
 * Network modes, as the example's --net_mode:
 *   TSI (default): the port map 18000:8000;
 *   PASST: passt started as the example starts it (a socket pair, then
 *     `passt -f --fd N` in a child) and its fd given to krun_set_passt_fd()
 *     as v1.19.0 does; with
 *     --net-call=add_net_unixstream the later example's
 *     krun_add_net_unixstream(NULL, fd, 5a:94:ef:e4:0c:ee,
 *     COMPAT_NET_FEATURES, 0) instead.  No DHCP flag in either, as upstream:
 *     the command configures eth0 itself.
 * The example's --passt-socket=PATH (connect to a running passt) is not
 * replayed.
 * usage: chroot_vm_calls [--net_mode=TSI|PASST]
 *                        [--net-call=set_passt_fd|add_net_unixstream]
 *                        NEWROOT COMMAND [ARGS...]
 */
#include <errno.h>
#include <libkrun.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct options {
	bool passt;
	bool add_net_unixstream;
	char **guest_argv; /* NEWROOT, COMMAND, ARGS... */
};

static int fail(int err, const char *what)
{
	fprintf(stderr, "%s: %s\n", what, strerror(-err));
	return 1;
}

static const char *option_value(const char *arg, const char *name)
{
	size_t len = strlen(name);
	return strncmp(arg, name, len) == 0 && arg[len] == '=' ? arg + len + 1 : NULL;
}

static bool parse_options(int argc, char **argv, struct options *opt)
{
	int i = 1;
	const char *v;

	*opt = (struct options){ 0 };
	for (; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
		if ((v = option_value(argv[i], "--net_mode")))
			opt->passt = strcasecmp(v, "PASST") == 0;
		else if ((v = option_value(argv[i], "--net-call")))
			opt->add_net_unixstream = strcmp(v, "add_net_unixstream") == 0;
		else
			return false;
	}
	if (argc - i < 2)
		return false;
	opt->guest_argv = argv + i;
	return true;
}

/* The example's start_passt(): passt keeps the child's end of the pair. */
static int start_passt(void)
{
	int fds[2];
	char fd_arg[16];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) < 0) {
		perror("Failed to create passt socket fd");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		perror("fork");
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		snprintf(fd_arg, sizeof(fd_arg), "%d", fds[1]);
		execlp("passt", "passt", "-f", "--fd", fd_arg, (char *)NULL);
		perror("execlp");
		_exit(127);
	}
	close(fds[1]);
	return fds[0];
}

static int configure_net(uint32_t ctx, const struct options *opt)
{
	static const char *const port_map[] = { "18000:8000", NULL };
	uint8_t mac[] = { 0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee };
	int err, fd;

	if (!opt->passt) {
		if ((err = krun_set_port_map(ctx, port_map)))
			return fail(err, "Error configuring port map");
		return 0;
	}
	fd = start_passt();
	if (fd < 0)
		return 1;
	if (opt->add_net_unixstream)
		err = krun_add_net_unixstream(ctx, NULL, fd, mac, COMPAT_NET_FEATURES, 0);
	else
		err = krun_set_passt_fd(ctx, fd);
	return err ? fail(err, "Error configuring net mode") : 0;
}

int main(int argc, char **argv)
{
	static const char *const envp[] = { "TEST=works", NULL };
	static const char *const rlimits[] = { "6=4096:8192", NULL };
	const uint32_t virgl_flags = VIRGLRENDERER_USE_EGL | VIRGLRENDERER_DRM |
				     VIRGLRENDERER_THREAD_SYNC | VIRGLRENDERER_USE_ASYNC_FENCE_CB;
	struct options opt;
	struct rlimit rlim;
	int err;

	if (!parse_options(argc, argv, &opt)) {
		fprintf(stderr, "usage: %s [--net_mode=TSI|PASST] "
				"[--net-call=set_passt_fd|add_net_unixstream] NEWROOT COMMAND [ARGS...]\n",
			argv[0]);
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
	if ((err = krun_set_root((uint32_t)ctx, opt.guest_argv[0])))
		return fail(err, "krun_set_root");
	if ((err = krun_set_gpu_options((uint32_t)ctx, virgl_flags)))
		return fail(err, "krun_set_gpu_options");
	if (configure_net((uint32_t)ctx, &opt))
		return 1;
	if ((err = krun_set_rlimits((uint32_t)ctx, rlimits)))
		return fail(err, "krun_set_rlimits");
	if ((err = krun_set_workdir((uint32_t)ctx, "/")))
		return fail(err, "krun_set_workdir");
	if ((err = krun_set_exec((uint32_t)ctx, opt.guest_argv[1],
				 (const char *const *)opt.guest_argv + 2, envp)))
		return fail(err, "krun_set_exec");
	if ((err = krun_split_irqchip((uint32_t)ctx, false)))
		return fail(err, "krun_split_irqchip");
	err = krun_start_enter((uint32_t)ctx);
	return fail(err, "krun_start_enter");
}
