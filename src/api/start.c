// SPDX-License-Identifier: Apache-2.0
/* krun_start_enter: from a recorded context to a running VM. */
#include "start.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernel/krunfw.h"
#include "util/log.h"
#include "vmm/vm.h"

#define DEFAULT_CMDLINE "reboot=k panic=-1 panic_print=0 nomodule rw no-kvmapf"

struct start_state {
	struct krun_ctx *ctx;
	struct vm_config cfg;
	struct krunfw_kernel bundle;
	char cmdline[4096];
	int serial_fd;
};

int start_check_rlimits(const char *const *rlimits)
{
	for (size_t i = 0; rlimits[i]; i++) {
		const char *s = rlimits[i];
		const char *eq = strchr(s, '=');
		const char *colon = eq ? strchr(eq, ':') : NULL;
		if (!eq || eq == s || !colon || colon == eq + 1 || !colon[1]) {
			log_error("krun_set_rlimits: \"%s\" is not RESOURCE=CUR:MAX", s);
			return -EINVAL;
		}
	}
	return 0;
}

static int prepare_kernel(struct start_state *st)
{
	struct krun_ctx *c = st->ctx;
	if (c->kernel_path) {
		int fd = open(c->kernel_path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			int err = errno;
			log_error("cannot open kernel %s: %s", c->kernel_path, strerror(err));
			return -err;
		}
		st->cfg.kernel.kind = VM_KERNEL_FILE;
		st->cfg.kernel.fd = fd;
		return 0;
	}
	int ret = krunfw_map_kernel(&st->bundle);
	if (ret)
		return ret;
	st->cfg.kernel = (struct vm_kernel){
		.kind = VM_KERNEL_BUNDLE,
		.bundle_host = st->bundle.host,
		.bundle_gpa = st->bundle.load_gpa,
		.bundle_size = st->bundle.size,
		.entry = st->bundle.entry,
		.fd = -1,
	};
	return 0;
}

static bool has_root_share(const struct krun_ctx *c)
{
	for (unsigned int i = 0; i < c->nr_shares; i++)
		if (strcmp(c->shares[i].tag, "/dev/root") == 0)
			return true;
	return false;
}

static int build_cmdline(struct start_state *st)
{
	struct krun_ctx *c = st->ctx;
	const char *console = c->kernel_console ? c->kernel_console : "ttyS0";
	int n;
	if (c->kernel_cmdline) {
		/* A caller-supplied command line replaces our defaults, as upstream. */
		n = snprintf(st->cmdline, sizeof(st->cmdline), "%s", c->kernel_cmdline);
	} else {
		/* Kernel messages are noise for a workload, but exactly what one
		 * debugging the VM at info level or above wants to see. */
		bool quiet = krun_log_get_level() < LOG_LVL_INFO;
		n = snprintf(st->cmdline, sizeof(st->cmdline), "%s console=%s%s%s",
			     DEFAULT_CMDLINE, console, quiet ? " quiet" : "",
			     has_root_share(c) ? " rootfstype=virtiofs init=/init.krun" : "");
	}
	if (n < 0 || (size_t)n >= sizeof(st->cmdline)) {
		log_error("kernel command line too long");
		return -E2BIG;
	}
	st->cfg.cmdline = st->cmdline;
	return 0;
}

static int drop_privileges(const struct krun_ctx *c)
{
	if (c->gid_set && setgid(c->gid) < 0) {
		int err = errno;
		log_error("setgid(%u): %s", (unsigned int)c->gid, strerror(err));
		return -err;
	}
	if (c->uid_set && setuid(c->uid) < 0) {
		int err = errno;
		log_error("setuid(%u): %s", (unsigned int)c->uid, strerror(err));
		return -err;
	}
	return 0;
}

static void release(struct start_state *st)
{
	if (st->cfg.kernel.kind == VM_KERNEL_FILE && st->cfg.kernel.fd >= 0)
		close(st->cfg.kernel.fd);
	krunfw_unmap_kernel(&st->bundle);
	if (st->serial_fd >= 0)
		close(st->serial_fd);
	ctx_destroy(st->ctx);
}

int start_enter(struct krun_ctx *ctx)
{
	struct start_state st = {.ctx = ctx, .serial_fd = -1};
	st.cfg.nr_vcpus = ctx->nr_vcpus;
	st.cfg.ram_bytes = (uint64_t)ctx->ram_mib << 20;
	st.cfg.nested_virt = ctx->nested_virt;
	st.cfg.kernel.fd = -1;
	/* The serial console is the kernel's voice until virtio-console
	 * exists: it goes to our stdout. */
	st.serial_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	st.cfg.serial_out_fd = st.serial_fd;

	int ret = prepare_kernel(&st);
	if (!ret)
		ret = build_cmdline(&st);
	if (!ret)
		ret = drop_privileges(ctx);
	struct vm *vm = NULL;
	if (!ret)
		ret = vm_create(&st.cfg, &vm);
	if (ret) {
		release(&st);
		return ret;
	}
	int code = vm_run(vm);
	vm_destroy(vm);
	release(&st);
	if (code < 0)
		return code;
	/* Upstream's contract: the guest's end is the process's end. */
	fflush(NULL);
	_exit(code);
}
