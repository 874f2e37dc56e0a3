// SPDX-License-Identifier: Apache-2.0
/* krun_start_enter: from a recorded context to a running VM. */
#include "start.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/fs/fuse_server.h"
#include "devices/virtio/fs.h"
#include "init/init_blob.h"
#include "init/workload.h"
#include "kernel/krunfw.h"
#include "util/log.h"
#include "vmm/vm.h"

extern char **environ;

#define DEFAULT_CMDLINE "reboot=k panic=-1 panic_print=0 nomodule rw no-kvmapf"

struct start_state {
	struct krun_ctx *ctx;
	struct vm_config cfg;
	struct krunfw_kernel bundle;
	char cmdline[4096];
	int serial_fd;
	struct virtio_fs *fs[CTX_MAX_SHARES];
	unsigned int nr_fs;
	struct fuse_server *root_server;
	uint8_t *workload;
	size_t workload_len;
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

/* argv[0] is the exec path: krun_set_exec's argv leaves it out. */
static char **workload_argv(const struct krun_ctx *c, const char *exec_path)
{
	size_t n = strv_len(c->argv);
	char **argv = calloc(n + 2, sizeof(*argv));
	if (!argv)
		return NULL;
	argv[0] = (char *)exec_path;
	for (size_t i = 0; i < n; i++)
		argv[i + 1] = c->argv[i];
	return argv;
}

static int encode_workload(struct start_state *st)
{
	const struct krun_ctx *c = st->ctx;
	const char *exec_path = c->exec_path ? c->exec_path : "/bin/sh";
	char **argv = workload_argv(c, exec_path);
	if (!argv)
		return -ENOMEM;
	struct workload_spec spec = {
		.exec_path = exec_path,
		.argv = (const char *const *)argv,
		/* Upstream passes the caller's environment when none was set. */
		.envp = (const char *const *)(c->env_set ? c->envp : environ),
		.workdir = c->workdir,
		.rlimits = (const char *const *)c->rlimits,
		.uid = c->uid,
		.gid = c->gid,
		.flags = (c->uid_set ? WORKLOAD_F_UID_SET : 0) |
			 (c->gid_set ? WORKLOAD_F_GID_SET : 0),
	};
	int ret = workload_encode(&spec, &st->workload, &st->workload_len);
	free(argv);
	if (ret)
		log_error("cannot encode the workload (arguments, environment): %s",
			  strerror(-ret));
	return ret;
}

/* The root share carries the init and the workload as virtual files, so
 * nothing is written into the caller's directory. */
static int provision_root(struct start_state *st, struct fuse_server *srv)
{
	int ret = encode_workload(st);
	if (ret)
		return ret;
	ret = fuse_server_add_virtual_file(srv, WORKLOAD_FILE_NAME, st->workload,
					   st->workload_len, 0400, false);
	if (ret || !st->ctx->implicit_init)
		return ret;
	size_t len;
	const uint8_t *init = krun_init_blob(&len);
	return fuse_server_add_virtual_file(srv, "init.krun", init, len, 0755, false);
}

static int add_virtio(struct start_state *st, const struct virtio_device_ops *ops, void *opaque)
{
	if (st->cfg.nr_virtio >= VM_MAX_VIRTIO_DEVICES) {
		log_error("too many virtio devices (at most %d)", VM_MAX_VIRTIO_DEVICES);
		return -ENOSPC;
	}
	st->cfg.virtio[st->cfg.nr_virtio++] = (struct vm_virtio_slot){ops, opaque};
	return 0;
}

static int create_shares(struct start_state *st)
{
	const struct krun_ctx *c = st->ctx;
	for (unsigned int i = 0; i < c->nr_shares; i++) {
		const struct ctx_share *sh = &c->shares[i];
		if (!sh->path) {
			log_error("virtio-fs %s: a share without a host directory is not "
				  "supported yet", sh->tag);
			return -ENOTSUP;
		}
		int err = 0;
		struct virtio_fs *fs = virtio_fs_create(sh->tag, sh->path, sh->read_only, &err);
		if (!fs) {
			log_error("virtio-fs %s (%s): %s", sh->tag, sh->path, strerror(-err));
			return err ? err : -EINVAL;
		}
		st->fs[st->nr_fs++] = fs;
		if (strcmp(sh->tag, "/dev/root") == 0) {
			st->root_server = virtio_fs_server(fs);
			err = provision_root(st, st->root_server);
			if (err)
				return err;
		}
		err = add_virtio(st, virtio_fs_ops(), fs);
		if (err)
			return err;
	}
	return 0;
}

static void record_exit_code(void *opaque, int code)
{
	vm_set_exit_code(opaque, code);
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
	for (unsigned int i = 0; i < st->nr_fs; i++)
		virtio_fs_destroy(st->fs[i]);
	free(st->workload);
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
		ret = create_shares(&st);
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
	if (st.root_server)
		fuse_server_set_exit_code_cb(st.root_server, record_exit_code, vm);
	int code = vm_run(vm);
	vm_destroy(vm);
	release(&st);
	if (code < 0)
		return code;
	/* Upstream's contract: the guest's end is the process's end. */
	fflush(NULL);
	_exit(code);
}
