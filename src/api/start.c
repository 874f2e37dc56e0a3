// SPDX-License-Identifier: Apache-2.0
/* krun_start_enter: from a recorded context to a running VM. */
#include "start.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <unistd.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "api/overlays.h"
#include "libkrun.h"
#include "api/vsock.h"
#include "backends/fs/fuse_server.h"
#include "devices/virtio/block.h"
#include "devices/virtio/console.h"
#include "devices/virtio/fs.h"
#include "devices/virtio/net.h"
#include "devices/virtio/balloon.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/vhost_user.h"
#include "init/init_blob.h"
#include "init/workload.h"
#include "kernel/cmdline.h"
#include "kernel/krunfw.h"
#include "util/log.h"
#include "vmm/landlock.h"
#include "vmm/vm.h"

extern char **environ;

#define DEFAULT_CMDLINE "reboot=k panic=-1 panic_print=0 nomodule rw no-kvmapf"

struct multiport {
	struct virtio_console *con;
	int size_fd;			/* its first terminal port, or -1 */
};

struct raw_tty {
	int fd;
	struct termios saved;
};

struct start_state {
	struct krun_ctx *ctx;
	struct vm_config cfg;
	struct krunfw_kernel bundle;
	char cmdline[4096];
	int serial_fd;
	struct virtio_fs *fs[CTX_MAX_SHARES];
	unsigned int nr_fs;
	struct virtio_blk *blk[CTX_MAX_DISKS];
	unsigned int nr_blk;
	struct fuse_server *root_server;
	uint8_t *workload;
	size_t workload_len;

	struct virtio_console *console;
	int size_fd;			/* terminal to take the window size from */
	struct multiport mp[CTX_MAX_CONSOLES];
	unsigned int nr_mp;
	int console_gate;		/* keeps hvc0 on st->console; -1: none */
	struct virtio_balloon *balloon;
	struct virtio_rng *rng;
	struct vhost_user_dev *vhost_user[CTX_MAX_VHOST_USER];
	unsigned int nr_vhost_user;
	struct virtio_vsock *vsock;
	struct virtio_net *net[CTX_MAX_NETS + 1];
	unsigned int nr_net;
	/* Terminals we put in raw mode, restored in reverse order. */
	struct raw_tty raw[1 + CTX_MAX_CONSOLES * CTX_MAX_CONSOLE_PORTS];
	unsigned int nr_raw;
	int signal_pipe[2];		/* host signals -> guest init, one byte each */
	int signal_port;		/* its console port; -1: none */
	int signal_fd;
	struct vm *vm;
	sigset_t saved_mask;
	bool mask_saved;
	struct krun_landlock_plan landlock;
};

/* Signals a local process would get that we pass on to the workload. */
static const int relayed_signals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};

int start_check_rlimits(const char *const *rlimits)
{
	for (size_t i = 0; rlimits[i]; i++) {
		int resource;
		struct rlimit rl;
		/* The init parses them with the same function. */
		if (parse_rlimit(rlimits[i], &resource, &rl)) {
			log_error("krun_set_rlimits: \"%s\" is not RESOURCE=CUR:MAX", rlimits[i]);
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
		st->cfg.kernel.format = c->kernel_format;
		if (!c->initramfs_path)
			return 0;
		st->cfg.kernel.initrd_fd = open(c->initramfs_path, O_RDONLY | O_CLOEXEC);
		if (st->cfg.kernel.initrd_fd < 0) {
			int err = errno;
			log_error("cannot open initramfs %s: %s", c->initramfs_path, strerror(err));
			return -err;
		}
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
		.initrd_fd = -1,
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

/* TSI's switches for the patched guest kernel (its parameters, so before
 * any "--" of a caller's command line). */
static int add_tsi_params(char *buf, size_t size, uint32_t tsi)
{
	if (tsi & KRUN_TSI_HIJACK_INET) {
		int ret = cmdline_str_add_param(buf, size, "tsi_hijack");
		if (ret)
			return ret;
	}
	return tsi & KRUN_TSI_HIJACK_UNIX ? cmdline_str_add_param(buf, size, "tsi_hijack_unix")
					  : 0;
}

/* Upstream's init runs DHCP on eth0 when any card asked for it. */
static bool wants_dhcp(const struct krun_ctx *c)
{
	for (unsigned int i = 0; i < c->nr_nets; i++)
		if (c->nets[i].flags & NET_FLAG_DHCP_CLIENT)
			return true;
	return false;
}

/* Kernel parameters the init reads (the kernel passes KEY=VALUE words it
 * does not know to init's environment). */
static int add_init_params(struct start_state *st)
{
	int ret = add_tsi_params(st->cmdline, sizeof(st->cmdline),
				 st->vsock ? vsock_tsi_flags(st->ctx) : 0);
	if (!ret && wants_dhcp(st->ctx))
		ret = cmdline_str_add_param(st->cmdline, sizeof(st->cmdline), "KRUN_DHCP=1");
	return ret;
}

static int build_cmdline(struct start_state *st)
{
	struct krun_ctx *c = st->ctx;
	const char *console = c->kernel_console ? c->kernel_console
				: st->console ? "hvc0" : "ttyS0";
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
	if (n < 0 || (size_t)n >= sizeof(st->cmdline) || add_init_params(st)) {
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
		/* Without krun_set_exec the guest's container config, if any,
		 * names the job (crun, krunvm and muvm rely on that). */
		.root_device = c->remount_device,
		.root_fstype = c->remount_fstype,
		.root_options = c->remount_options,
		.flags = (c->uid_set ? WORKLOAD_F_UID_SET : 0) |
			 (c->gid_set ? WORKLOAD_F_GID_SET : 0) |
			 (c->exec_path ? 0 : WORKLOAD_F_DEFAULT_EXEC) |
			 (c->remount_device ? WORKLOAD_F_BLOCK_ROOT : 0),
	};
	int ret = workload_encode(&spec, &st->workload, &st->workload_len);
	free(argv);
	if (ret)
		log_error("cannot encode the workload (arguments, environment): %s",
			  strerror(-ret));
	return ret;
}

/* What the init mounts on before it switches to the root disk. */
static int add_remount_dirs(struct fuse_server *srv)
{
	static const char *const dirs[] = {"dev", "proc", "sys", "newroot"};
	int ret = 0;
	for (size_t i = 0; !ret && i < sizeof(dirs) / sizeof(dirs[0]); i++)
		ret = fuse_server_add_overlay_dir(srv, dirs[i], 0755);
	return ret;
}

/* The root share carries the init and the workload as virtual files, so
 * nothing is written into the caller's directory. */
static int provision_root(struct start_state *st, struct fuse_server *srv)
{
	int ret = encode_workload(st);
	if (!ret && st->ctx->remount_device)
		ret = add_remount_dirs(srv);
	if (ret)
		return ret;
	ret = fuse_server_add_overlay_file(srv, WORKLOAD_FILE_NAME, st->workload,
					   st->workload_len, 0400, false);
	if (ret || !st->ctx->implicit_init)
		return ret;
	size_t len;
	const uint8_t *init = krun_init_blob(&len);
	return fuse_server_add_overlay_file(srv, "init.krun", init, len, 0755, false);
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

/*
 * Whether guest root may plant device nodes, set-id files and trusted.* /
 * security.* xattrs on the host through a share (upstream's behaviour) or
 * only in its own view of it (ours, by default): the caller's explicit
 * choice, KRUN_FS_PRIVILEGE=passthrough.
 */
static int read_fs_privilege(bool *passthrough)
{
	const char *v = getenv("KRUN_FS_PRIVILEGE");

	*passthrough = v && strcmp(v, "passthrough") == 0;
	if (!v || *passthrough || strcmp(v, "confined") == 0) {
		if (*passthrough)
			log_warn("KRUN_FS_PRIVILEGE=passthrough: the guest's device nodes, "
				 "set-id bits and trusted.*/security.* xattrs reach the host");
		return 0;
	}
	log_error("KRUN_FS_PRIVILEGE=%s: expected confined or passthrough", v);
	return -EINVAL;
}

static int create_shares(struct start_state *st)
{
	const struct krun_ctx *c = st->ctx;
	bool passthrough;
	int ret = read_fs_privilege(&passthrough);

	if (ret)
		return ret;
	for (unsigned int i = 0; i < c->nr_shares; i++) {
		const struct ctx_share *sh = &c->shares[i];
		int err = 0;
		struct virtio_fs *fs = virtio_fs_create(sh->tag, sh->path, sh->read_only, &err);
		if (!fs) {
			log_error("virtio-fs %s (%s): %s", sh->tag,
				  sh->path ? sh->path : "no host directory", strerror(-err));
			return err ? err : -EINVAL;
		}
		st->fs[st->nr_fs++] = fs;
		fuse_server_set_privilege_passthrough(virtio_fs_server(fs), passthrough);
		err = overlays_apply(c, sh->tag, virtio_fs_server(fs));
		if (err)
			return err;
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

static int attach_disk(struct start_state *st, const char *path, uint32_t format,
		       bool read_only, bool direct_io, enum virtio_blk_sync sync)
{
	int err = 0;
	struct virtio_blk *blk =
		virtio_blk_create_format(path, (int)format, read_only, direct_io, sync, &err);
	if (!blk) {
		log_error("disk %s: %s", path, strerror(-err));
		return err ? err : -EINVAL;
	}
	st->blk[st->nr_blk++] = blk;
	return add_virtio(st, virtio_blk_ops(blk), blk);
}

/* After the shares, in API order: the guest names them vda, vdb, ... */
static int create_disks(struct start_state *st)
{
	const struct krun_ctx *c = st->ctx;
	int ret = 0;

	for (unsigned int i = 0; i < c->nr_disks && !ret; i++) {
		const struct ctx_disk *d = &c->disks[i];
		ret = attach_disk(st, d->path, d->format, d->read_only, d->direct_io,
				  (enum virtio_blk_sync)d->sync_mode);
	}
	if (c->nr_disks) {
		if (c->root_disk || c->data_disk)
			log_warn("krun_set_root_disk/krun_set_data_disk are ignored when "
				 "krun_add_disk* is used");
		return ret;
	}
	/* Deprecated pair: read-write raw images, root first. */
	if (c->root_disk)
		ret = attach_disk(st, c->root_disk, KRUN_DISK_FORMAT_RAW, false, false, VIRTIO_BLK_SYNC_FULL);
	if (!ret && c->data_disk)
		ret = attach_disk(st, c->data_disk, KRUN_DISK_FORMAT_RAW, false, false, VIRTIO_BLK_SYNC_FULL);
	return ret;
}

static int first_tty(int a, int b, int c)
{
	if (a >= 0 && isatty(a))
		return a;
	if (b >= 0 && isatty(b))
		return b;
	if (c >= 0 && isatty(c))
		return c;
	return -1;
}

/*
 * Console ports as upstream lays them out: port 0 is the guest's console
 * (hvc0), on the terminal when there is one; every standard stream that is
 * not a terminal gets its own named port so pipes and files keep stdout and
 * stderr apart and stdin's EOF reaches the workload.  An extra input port
 * carries relayed signals to the init.
 */
static int add_console_ports(struct start_state *st, int in, int out, int err)
{
	struct virtio_console *con = st->console;
	int tty_in = in >= 0 && isatty(in) ? in : -1;
	int tty_out = out >= 0 && isatty(out) ? out : -1;
	int ret = virtio_console_add_port(con, NULL, tty_in, tty_out >= 0 ? tty_out : err, true);
	if (ret >= 0 && in >= 0 && tty_in < 0)
		ret = virtio_console_add_port(con, "krun-stdin", in, -1, false);
	if (ret >= 0 && out >= 0 && tty_out < 0)
		ret = virtio_console_add_port(con, "krun-stdout", -1, out, false);
	if (ret >= 0 && err >= 0 && !isatty(err))
		ret = virtio_console_add_port(con, "krun-stderr", -1, err, false);
	if (ret >= 0)
		ret = st->signal_port =
			virtio_console_add_port(con, "krun-signals", st->signal_pipe[0], -1, false);
	st->size_fd = first_tty(in, out, err);
	if (tty_in >= 0)
		st->raw[st->nr_raw++].fd = tty_in;
	return ret < 0 ? ret : 0;
}

static int add_output_file_console(struct start_state *st, const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		int err = errno;
		log_error("console output %s: %s", path, strerror(err));
		return -err;
	}
	int ret = virtio_console_add_port(st->console, NULL, -1, fd, true);
	if (ret >= 0)
		ret = st->signal_port = virtio_console_add_port(st->console, "krun-signals",
								st->signal_pipe[0], -1, false);
	close(fd);
	return ret < 0 ? ret : 0;
}

static void resize_from(struct virtio_console *con, int tty)
{
	struct winsize ws;
	if (con && tty >= 0 && ioctl(tty, TIOCGWINSZ, &ws) == 0)
		virtio_console_resize(con, ws.ws_col, ws.ws_row);
}

static void apply_window_size(struct start_state *st)
{
	resize_from(st->console, st->size_fd);
	for (unsigned int i = 0; i < st->nr_mp; i++)
		resize_from(st->mp[i].con, st->mp[i].size_fd);
}

static int create_console(struct start_state *st)
{
	const struct krun_ctx *c = st->ctx;
	if (!c->implicit_console && !c->has_default_console)
		return 0;
	if (pipe2(st->signal_pipe, O_CLOEXEC) < 0)
		return -errno;
	st->console = virtio_console_create();
	if (!st->console)
		return -ENOMEM;
	int ret;
	if (c->console_output && !c->has_default_console)
		ret = add_output_file_console(st, c->console_output);
	else if (c->has_default_console)
		ret = add_console_ports(st, c->default_console.in_fd, c->default_console.out_fd,
					c->default_console.err_fd);
	else
		ret = add_console_ports(st, STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO);
	if (ret) {
		log_error("cannot set up the console: %s", strerror(-ret));
		return ret;
	}
	resize_from(st->console, st->size_fd);
	return add_virtio(st, virtio_console_ops(st->console), st->console);
}

/*
 * krun_add_virtio_console_multiport consoles, after the console above, in
 * API order; ports in call order.  The device works on its own copies of
 * the fds; the context's are closed with it.
 */
static int create_multiports(struct start_state *st)
{
	const struct krun_ctx *c = st->ctx;
	if (c->nr_multiports && st->console) {
		st->console_gate = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (st->console_gate < 0)
			return -errno;
		virtio_console_order(st->console, st->console_gate, true);
	}
	for (unsigned int i = 0; i < c->nr_multiports; i++) {
		const struct ctx_multiport *m = &c->multiports[i];
		struct multiport *mp = &st->mp[st->nr_mp];
		mp->con = virtio_console_create();
		if (!mp->con)
			return -ENOMEM;
		mp->size_fd = -1;
		st->nr_mp++;
		virtio_console_order(mp->con, st->console_gate, false);
		for (unsigned int j = 0; j < m->nr_ports; j++) {
			const struct ctx_port *p = &m->ports[j];
			int ret = virtio_console_add_port(mp->con, p->name[0] ? p->name : NULL,
							  p->in_fd, p->out_fd, p->tty);
			if (ret < 0) {
				log_error("console %u, port %u (\"%s\"): %s", m->console_id, j,
					  p->name, strerror(-ret));
				return ret;
			}
			if (p->tty) {
				if (mp->size_fd < 0)
					mp->size_fd = p->in_fd;
				st->raw[st->nr_raw++].fd = p->in_fd;
			}
		}
		resize_from(mp->con, mp->size_fd);
		int ret = add_virtio(st, virtio_console_ops(mp->con), mp->con);
		if (ret)
			return ret;
	}
	return 0;
}

/* Upstream asserts; we refuse before anything is opened. */
static int check_multiports(const struct krun_ctx *c)
{
	for (unsigned int i = 0; i < c->nr_multiports; i++) {
		if (c->multiports[i].nr_ports == 0) {
			log_error("krun_start_enter: multiport console %u has no ports (add "
				  "some with krun_add_console_port_*)",
				  c->multiports[i].console_id);
			return -EINVAL;
		}
	}
	return 0;
}

/* Always there, first, as upstream attaches it: free page reporting gives
 * the guest's freed memory back to the host. */
static int create_balloon(struct start_state *st)
{
	st->balloon = virtio_balloon_create();
	if (!st->balloon)
		return -ENOMEM;
	return add_virtio(st, virtio_balloon_ops(), st->balloon);
}

/* After the balloon, in call order, as upstream attaches them; each
 * backend is connected and negotiated with here, so one that is not
 * there fails the start with its own message. */
static int create_vhost_users(struct start_state *st)
{
	const struct krun_ctx *c = st->ctx;
	for (unsigned int i = 0; i < c->nr_vhost_users; i++) {
		const struct ctx_vhost_user *d = &c->vhost_users[i];
		int ret = vhost_user_create(d->type, d->path, d->name, d->num_queues, d->sizes,
					    &st->vhost_user[st->nr_vhost_user]);
		if (ret)
			return ret;
		struct vhost_user_dev *vu = st->vhost_user[st->nr_vhost_user++];
		ret = add_virtio(st, vhost_user_ops(vu), vu);
		if (ret)
			return ret;
	}
	st->cfg.shared_ram = c->nr_vhost_users > 0;
	return 0;
}

/* Upstream leaves the built-in rng out when a backend serves one. */
static bool has_vhost_user_rng(const struct krun_ctx *c)
{
	for (unsigned int i = 0; i < c->nr_vhost_users; i++)
		if (c->vhost_users[i].type == KRUN_VIRTIO_DEVICE_RNG)
			return true;
	return false;
}

static int create_rng(struct start_state *st)
{
	if (has_vhost_user_rng(st->ctx))
		return 0;
	st->rng = virtio_rng_create();
	if (!st->rng)
		return -ENOMEM;
	return add_virtio(st, virtio_rng_ops(), st->rng);
}

static int create_vsock(struct start_state *st)
{
	int ret = vsock_device_for(st->ctx, &st->vsock);
	return ret || !st->vsock ? ret : add_virtio(st, virtio_vsock_ops(), st->vsock);
}

static const enum net_backend_kind backend_kinds[] = {
	[CTX_NET_UNIXSTREAM] = NET_BACKEND_UNIXSTREAM,
	[CTX_NET_UNIXGRAM] = NET_BACKEND_UNIXGRAM,
	[CTX_NET_TAP] = NET_BACKEND_TAP,
};

/* Connects the card's backend now, so that a peer that is not there fails
 * krun_start_enter() with a message instead of a guest without network. */
static int create_net(struct start_state *st, struct ctx_net *card, const uint8_t *mac)
{
	unsigned int index = st->nr_net;
	struct net_backend_config cfg = {
		.kind = backend_kinds[card->kind],
		.path = card->kind == CTX_NET_TAP ? NULL : card->path,
		.fd = card->fd,
		.tap_name = card->kind == CTX_NET_TAP ? card->path : NULL,
		.vfkit_magic = card->flags & NET_FLAG_VFKIT,
		.index = index,
	};
	struct net_backend *backend;
	int ret = net_backend_open(&cfg, &backend);
	if (ret) {
		log_error("network card eth%u: %s", index, strerror(-ret));
		return ret;
	}
	card->fd = -1;	/* the backend owns it now */
	st->net[st->nr_net] = virtio_net_create(backend, mac, card->features, index);
	if (!st->net[st->nr_net]) {
		net_backend_destroy(backend);
		return -ENOMEM;
	}
	return add_virtio(st, virtio_net_ops(st->net[st->nr_net++]), st->net[index]);
}

static int create_nets(struct start_state *st)
{
	struct krun_ctx *c = st->ctx;
	int ret = 0;

	if (ctx_has_net(c) && c->has_port_map && !c->vsock_explicit)
		log_warn("the port map is ignored: a network card turns TSI off");
	for (unsigned int i = 0; !ret && i < c->nr_nets; i++)
		ret = create_net(st, &c->nets[i], c->nets[i].mac);
	if (!ret && c->has_legacy_net)
		ret = create_net(st, &c->legacy_net, c->legacy_mac);
	return ret;
}

/* Raw mode: line editing, echo and ^C belong to the guest's terminal.  A
 * terminal listed twice is saved raw the second time; restoring in reverse
 * order still ends with its original modes. */
static void enter_raw_mode(struct start_state *st)
{
	for (unsigned int i = 0; i < st->nr_raw; i++) {
		struct raw_tty *t = &st->raw[i];
		if (tcgetattr(t->fd, &t->saved) < 0) {
			t->fd = -1;
			continue;
		}
		struct termios raw = t->saved;
		cfmakeraw(&raw);
		tcsetattr(t->fd, TCSANOW, &raw);
	}
}

static void leave_raw_mode(struct start_state *st)
{
	while (st->nr_raw > 0) {
		struct raw_tty *t = &st->raw[--st->nr_raw];
		if (t->fd >= 0)
			tcsetattr(t->fd, TCSADRAIN, &t->saved);
	}
}

static void on_host_signal(void *opaque)
{
	struct start_state *st = opaque;
	struct signalfd_siginfo si;
	while (read(st->signal_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == (uint32_t)SIGWINCH) {
			apply_window_size(st);
			continue;
		}
		uint8_t sig = (uint8_t)si.ssi_signo;
		/* Until the init reads its signal port (a kernel still booting, or
		 * one that never gets there) nothing in the guest would act on
		 * it: the signal ends the VM, as it would end a process. */
		if (st->signal_port < 0 ||
		    !virtio_console_port_guest_open(st->console, (unsigned int)st->signal_port)) {
			log_warn("signal %u before the guest init listens for signals: stopping the VM",
				 sig);
			vm_request_stop(st->vm, 128 + sig);
			continue;
		}
		log_debug("relaying signal %u to the workload", sig);
		if (st->signal_pipe[1] >= 0 && write(st->signal_pipe[1], &sig, 1) < 0)
			log_warn("cannot relay signal %u: %s", sig, strerror(errno));
	}
}

/* Blocks the relayed signals in this thread (threads created later inherit
 * the mask) and receives them through a signalfd on the VMM loop. */
static int watch_signals(struct start_state *st, struct vm *vm)
{
	bool resizable = false;
	for (unsigned int i = 0; i < st->nr_mp; i++)
		resizable |= st->mp[i].size_fd >= 0;
	if (!st->console && !resizable)
		return 0;
	sigset_t set;
	sigemptyset(&set);
	/* Without the console's signal port there is nowhere to relay to. */
	for (size_t i = 0; st->console && i < sizeof(relayed_signals) / sizeof(relayed_signals[0]);
	     i++)
		sigaddset(&set, relayed_signals[i]);
	sigaddset(&set, SIGWINCH);
	st->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (st->signal_fd < 0)
		return -errno;
	pthread_sigmask(SIG_BLOCK, &set, &st->saved_mask);
	st->mask_saved = true;
	st->vm = vm;
	return vm_watch_fd(vm, st->signal_fd, on_host_signal, st);
}

/*
 * The FUSE server holds a descriptor for every inode the guest kernel keeps
 * cached, which is easily more than the usual soft limit of 1024: a guest
 * creating a few thousand files would see EMFILE.  This process belongs to
 * the VM from here on, so it may use what its hard limit allows.
 */
static rlim_t max_open_files(void)
{
	char buf[32] = {0};
	int fd = open("/proc/sys/fs/nr_open", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	rlim_t v = n > 0 ? (rlim_t)strtoull(buf, NULL, 10) : 0;
	return v > 0 ? v : 1048576;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	/* With CAP_SYS_RESOURCE the hard limit may rise too, as virtiofsd does. */
	struct rlimit want = {max_open_files(), max_open_files()};
	if (want.rlim_max > rl.rlim_max && setrlimit(RLIMIT_NOFILE, &want) == 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the open-file limit: %s", strerror(errno));
	}
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
	leave_raw_mode(st);
	if (st->mask_saved)
		pthread_sigmask(SIG_SETMASK, &st->saved_mask, NULL);
	if (st->signal_fd >= 0)
		close(st->signal_fd);
	for (int i = 0; i < 2; i++)
		if (st->signal_pipe[i] >= 0)
			close(st->signal_pipe[i]);
	if (st->console)
		virtio_console_destroy(st->console);
	for (unsigned int i = 0; i < st->nr_mp; i++)
		virtio_console_destroy(st->mp[i].con);
	if (st->console_gate >= 0)
		close(st->console_gate);
	if (st->rng)
		virtio_rng_destroy(st->rng);
	virtio_balloon_destroy(st->balloon);
	for (unsigned int i = 0; i < st->nr_vhost_user; i++)
		vhost_user_destroy(st->vhost_user[i]);
	virtio_vsock_destroy(st->vsock);
	for (unsigned int i = 0; i < st->nr_net; i++)
		virtio_net_destroy(st->net[i]);
	if (st->cfg.kernel.kind == VM_KERNEL_FILE && st->cfg.kernel.fd >= 0)
		close(st->cfg.kernel.fd);
	if (st->cfg.kernel.initrd_fd >= 0)
		close(st->cfg.kernel.initrd_fd);
	krunfw_unmap_kernel(&st->bundle);
	if (st->serial_fd >= 0)
		close(st->serial_fd);
	for (unsigned int i = 0; i < st->nr_fs; i++)
		virtio_fs_destroy(st->fs[i]);
	for (unsigned int i = 0; i < st->nr_blk; i++)
		virtio_blk_destroy(st->blk[i]);
	free(st->workload);
	ctx_destroy(st->ctx);
}

/* Read once per start: the threads' filters are fixed from here on. */
static int read_seccomp_mode(enum krun_seccomp_mode *mode)
{
	const char *v = getenv("KRUN_SECCOMP");
	int ret = krun_seccomp_parse_mode(v, mode);
	if (ret)
		log_error("KRUN_SECCOMP=%s: expected on, off, log or trap", v);
	else if (v && *mode != KRUN_SECCOMP_KILL)
		log_warn("KRUN_SECCOMP=%s: VMM threads are %s", v,
			 *mode == KRUN_SECCOMP_OFF ? "not filtered" : "filtered without killing");
	return ret;
}

static int read_landlock_mode(bool *off)
{
	const char *v = getenv("KRUN_LANDLOCK");
	int ret = krun_landlock_parse_mode(v, off);
	if (ret)
		log_error("KRUN_LANDLOCK=%s: expected on or off", v);
	else if (*off && v)
		log_warn("KRUN_LANDLOCK=off: the VMM's filesystem access is not confined");
	return ret;
}

/* What the VMM still reaches by path once it runs: its shares, and the
 * directories of the sockets it bound and removes at the end. */
static int plan_landlock(struct start_state *st)
{
	const struct krun_ctx *c = st->ctx;
	struct krun_landlock_plan *p = &st->landlock;
	int ret = read_landlock_mode(&p->off);

	for (unsigned int i = 0; !ret && i < c->nr_shares; i++)
		if (c->shares[i].path)
			ret = krun_landlock_allow(p, c->shares[i].path,
						  c->shares[i].read_only ? KRUN_LL_READ
									 : KRUN_LL_WRITE);
	for (unsigned int i = 0; !ret && i < c->nr_vsock_ports; i++)
		if (c->vsock_ports[i].listen)
			ret = krun_landlock_allow_socket_dir(p, c->vsock_ports[i].path);
	const char *tmp = getenv("TMPDIR");
	for (unsigned int i = 0; !ret && i < c->nr_nets; i++)
		if (c->nets[i].kind == CTX_NET_UNIXGRAM && c->nets[i].path)
			ret = krun_landlock_allow(p, tmp && *tmp ? tmp : "/tmp", KRUN_LL_REMOVE);
	if (ret)
		log_error("landlock: cannot plan the VMM's confinement: %s", strerror(-ret));
	return ret;
}

int start_run(struct krun_ctx *ctx)
{
	int ret = check_multiports(ctx);
	if (ret) {
		ctx_destroy(ctx);
		return ret;
	}
	struct start_state st = {
		.ctx = ctx, .serial_fd = -1, .size_fd = -1,
		.signal_pipe = {-1, -1}, .signal_port = -1, .signal_fd = -1, .console_gate = -1,
	};
	st.cfg.nr_vcpus = ctx->nr_vcpus;
	st.cfg.ram_bytes = (uint64_t)ctx->ram_mib << 20;
	st.cfg.nested_virt = ctx->nested_virt;
	st.cfg.split_irqchip = ctx->split_irqchip;
	st.cfg.smbios_oem_strings = (const char *const *)ctx->smbios_oem_strings;
	st.cfg.kernel.fd = -1;
	st.cfg.kernel.initrd_fd = -1;
	ret = read_seccomp_mode(&st.cfg.seccomp);
	if (ret) {
		release(&st);
		return ret;
	}
	if (ctx->has_serial_console) {
		/* The context keeps them open until release(). */
		st.cfg.serial_out_fd = ctx->serial_console.out_fd;
		st.cfg.serial_in_fd = ctx->serial_console.in_fd;
	} else {
		/* The serial port is the kernel's voice until virtio-console
		 * exists: it goes to our stdout. */
		st.serial_fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
		st.cfg.serial_out_fd = st.serial_fd;
		st.cfg.serial_in_fd = -1;
	}

	raise_fd_limit();
	ret = prepare_kernel(&st);
	if (!ret)
		ret = create_balloon(&st);
	if (!ret)
		ret = create_vhost_users(&st);
	if (!ret)
		ret = create_console(&st);
	if (!ret)
		ret = create_multiports(&st);
	if (!ret)
		ret = create_shares(&st);
	if (!ret)
		ret = create_disks(&st);
	if (!ret)
		ret = create_rng(&st);
	if (!ret)
		ret = create_vsock(&st);
	if (!ret)
		ret = create_nets(&st);
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
	ret = watch_signals(&st, vm);
	for (unsigned int i = 0; !ret && i < st.nr_vhost_user; i++)
		ret = vm_watch_hangup(vm, vhost_user_fd(st.vhost_user[i]), vhost_user_hung_up,
				      st.vhost_user[i]);
	if (ret) {
		vm_destroy(vm);
		release(&st);
		return ret;
	}
	/* Last, on the thread that creates every VMM thread from here on. */
	ret = plan_landlock(&st);
	if (!ret)
		ret = krun_landlock_confine(&st.landlock);
	if (ret) {
		vm_destroy(vm);
		release(&st);
		return ret;
	}
	enter_raw_mode(&st);
	log_debug("starting the VM");
	int code = vm_run(vm);
	log_debug("guest stopped (status %d)", code);
	vm_destroy(vm);
	release(&st);
	log_debug("VM released");
	return code;
}

/*
 * _exit() skips the atexit handler LeakSanitizer runs from, so a sanitizer
 * build checks here, once the VM is released: what is still allocated and
 * unreachable now was leaked by the VMM or by the caller.
 */
static void check_leaks(void)
{
#if defined(__SANITIZE_ADDRESS__)
	__lsan_do_leak_check();
#endif
}

int start_enter(struct krun_ctx *ctx)
{
	int code = start_run(ctx);
	if (code < 0)
		return code;
	/* Upstream's contract: the guest's end is the process's end. */
	fflush(NULL);
	check_leaks();
	_exit(code);
}
