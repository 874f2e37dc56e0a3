/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Configuration contexts.  A context only records what the caller asked
 * for; nothing is opened or started until krun_start_enter(), which takes
 * the context out of the table and owns it from then on.
 */
#ifndef KRUN_CTX_H
#define KRUN_CTX_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define CTX_MAX_SHARES 8
/* krun_fs_add_overlay_*, all shares together (the FUSE server takes a few
 * more for the init and the workload file). */
#define CTX_MAX_OVERLAYS 64
#define CTX_MAX_DISKS 8
/* Multiport consoles: with rng, a console and the root share they fill the
 * VM's virtio slots. */
#define CTX_MAX_CONSOLES 8
/* The device's CONSOLE_MAX_PORTS (consoles.c checks that they agree). */
#define CTX_MAX_CONSOLE_PORTS 7
/* krun_add_vsock_port2 mappings (the mux's VSOCK_MAX_PORTS). */
#define CTX_MAX_VSOCK_PORTS 64
/* krun_set_port_map entries (the mux's VSOCK_TSI_MAX_PORT_MAP). */
#define CTX_MAX_PORT_MAP 256
/* Network cards (eth0, eth1, ...); the VM's virtio slots bound them too. */
#define CTX_MAX_NETS 8
/* krun_add_vhost_user_device; each takes a virtio slot. */
#define CTX_MAX_VHOST_USER 8
#define CTX_MAX_VHOST_USER_QUEUES 16	/* VIRTIO_MMIO_MAX_QUEUES */
#define CTX_MAX_STRV 4096	/* upstream scans arrays up to this many entries */

struct ctx_share {
	char *tag;
	char *path;		/* NULL: empty filesystem */
	bool read_only;
};

/* krun_fs_add_overlay_file/_dir, in call order (parents before children). */
struct ctx_overlay {
	char *tag;
	char *path;		/* relative, checked by fuse_overlay_path() */
	const uint8_t *data;	/* the caller's; never copied, never freed */
	size_t len;
	uint32_t mode;
	bool dir;
	bool one_shot;
};

struct ctx_disk {
	char *block_id;
	char *path;
	bool read_only;
	bool direct_io;
	uint32_t sync_mode;	/* KRUN_SYNC_* */
	uint32_t format;	/* KRUN_DISK_FORMAT_* */
};

struct ctx_console {
	int in_fd, out_fd, err_fd;
};

/* A port of a multiport console.  The fds were handed over by the caller
 * (upstream's rule): the context closes them in ctx_destroy(). */
struct ctx_port {
	char *name;		/* "" for an unnamed port */
	int in_fd, out_fd;	/* -1: no such direction; may be the same fd */
	bool tty;		/* terminal port: in_fd == out_fd is the tty */
};

struct ctx_multiport {
	uint32_t console_id;	/* what krun_add_virtio_console_multiport returned */
	struct ctx_port ports[CTX_MAX_CONSOLE_PORTS];
	unsigned int nr_ports;
};

struct ctx_port_map {
	uint16_t host, guest;
};

struct ctx_vsock_port {
	uint32_t port;
	char *path;		/* AF_UNIX path, fits sun_path */
	bool listen;		/* the host connects, the guest listens */
};

enum ctx_net_kind { CTX_NET_UNIXSTREAM, CTX_NET_UNIXGRAM, CTX_NET_TAP };

/* A network card.  A socket fd was handed over by the caller: the context
 * closes it in ctx_destroy() unless krun_start_enter() took it. */
struct ctx_net {
	enum ctx_net_kind kind;
	char *path;		/* socket path or tap name; NULL with fd */
	int fd;
	uint8_t mac[6];
	uint32_t features;	/* NET_FEATURE_* */
	uint32_t flags;		/* NET_FLAG_* */
};

struct ctx_vhost_user {
	uint32_t type;
	char *path;
	char *name;		/* NULL: none given */
	uint16_t num_queues;	/* 0: ask the backend */
	uint16_t sizes[CTX_MAX_VHOST_USER_QUEUES];	/* 0: the default */
};

struct krun_ctx {
	uint32_t id;
	uint8_t nr_vcpus;
	uint32_t ram_mib;
	bool nested_virt;
	bool split_irqchip;

	char *kernel_path;
	uint32_t kernel_format;
	char *kernel_cmdline;
	char *initramfs_path;
	char *kernel_console;

	struct ctx_share shares[CTX_MAX_SHARES];
	unsigned int nr_shares;
	struct ctx_overlay overlays[CTX_MAX_OVERLAYS];
	unsigned int nr_overlays;

	/* krun_add_disk*, in guest order (vda, vdb, ...). */
	struct ctx_disk disks[CTX_MAX_DISKS];
	unsigned int nr_disks;
	/* Deprecated krun_set_root_disk/krun_set_data_disk: used only when
	 * no krun_add_disk* was called, as upstream. */
	char *root_disk;
	char *data_disk;
	/* krun_set_root_disk_remount: the guest's root comes from this disk. */
	char *remount_device;	/* NULL: not asked for */
	char *remount_fstype;	/* NULL: probe */
	char *remount_options;

	char *exec_path;
	char **argv;		/* without argv[0], as krun_set_exec takes it */
	char **envp;
	bool env_set;		/* false: the workload inherits our environment */
	char *workdir;
	char **rlimits;
	bool uid_set, gid_set;
	uid_t uid;
	gid_t gid;

	bool implicit_console;
	bool implicit_init;
	char *console_output;
	bool has_default_console;
	struct ctx_console default_console;
	/* krun_add_virtio_console_multiport, in API order. */
	struct ctx_multiport multiports[CTX_MAX_CONSOLES];
	unsigned int nr_multiports;
	/* krun_add_serial_console_default: COM1's fds, handed over. */
	bool has_serial_console;
	struct ctx_port serial_console;
	/* krun_set_smbios_oem_strings: SMBIOS type 11, checked at the call. */
	char **smbios_oem_strings;

	/* vsock: the device exists unless disabled (see api/vsock.c). */
	struct ctx_vsock_port vsock_ports[CTX_MAX_VSOCK_PORTS];
	unsigned int nr_vsock_ports;
	bool vsock_implicit_disabled;
	bool vsock_explicit;	/* krun_add_vsock */
	uint32_t tsi_features;
	/* krun_set_port_map with a map: only mapped ports are exposed. */
	bool has_port_map;
	struct ctx_port_map port_map[CTX_MAX_PORT_MAP];
	unsigned int nr_port_map;

	struct ctx_vhost_user vhost_users[CTX_MAX_VHOST_USER];
	unsigned int nr_vhost_users;

	/* krun_add_net_*, in guest order. */
	struct ctx_net nets[CTX_MAX_NETS];
	unsigned int nr_nets;
	/* krun_set_passt_fd / krun_set_gvproxy_path: one card after those. */
	bool has_legacy_net;
	struct ctx_net legacy_net;
	uint8_t legacy_mac[6];
};

/* Creates a context with upstream's defaults; returns its id or -errno. */
int ctx_create(void);
int ctx_free(uint32_t id);
/* Looks a context up and holds the table lock until ctx_unlock(); NULL
 * (lock not held) if the id is unknown. */
struct krun_ctx *ctx_lock(uint32_t id);
void ctx_unlock(void);
/* Removes the context from the table; the caller owns it afterwards. */
struct krun_ctx *ctx_take(uint32_t id);
void ctx_destroy(struct krun_ctx *ctx);
static inline bool ctx_has_net(const struct krun_ctx *c)
{
	return c->nr_nets > 0 || c->has_legacy_net;
}

/* Frees a card's path and closes its fd. */
void ctx_net_release(struct ctx_net *n);

/* NULL-terminated string array helpers. */
int strv_dup(const char *const *in, char ***out);
void strv_free(char **v);
size_t strv_len(char *const *v);

#endif
