/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libkrun public C API (version 1.x).
 *
 * This header is source- and ABI-compatible with upstream libkrun 1.x: every
 * function name, parameter type and constant value below is the same, so
 * programs written against upstream build and run unmodified.
 *
 * How to use it
 * -------------
 * 1. Create a configuration context with krun_create_ctx().  The returned
 *    value is a small non-negative integer (the "ctx_id").
 * 2. Describe the microVM with the krun_set_* / krun_add_* calls.  All of them
 *    must happen before krun_start_enter(); most simply replace a previously
 *    stored value.
 * 3. Call krun_start_enter().  It boots the VM on the calling thread and, once
 *    the guest has started, never returns: the whole process exits with the
 *    workload's exit status when the guest shuts down.
 *
 * Conventions shared by every function
 * ------------------------------------
 * - Return value: 0 (or a documented non-negative value such as an id) on
 *   success, a negative errno value on failure.
 * - An unknown ctx_id yields -ENOENT.
 * - Strings are NUL-terminated and must be valid UTF-8; otherwise -EINVAL.
 * - String arrays ("argv", "envp", ...) are terminated by a NULL pointer.
 * - Pointers are borrowed for the duration of the call only and are copied,
 *   unless a function says otherwise (krun_fs_add_overlay_file keeps "data").
 * - File descriptors passed in are owned by the VM from then on.
 *
 * Differences from upstream
 * -------------------------
 * - A NULL pointer where a string or array is required returns -EINVAL;
 *   upstream dereferences it and crashes.
 * - Conditions that make upstream panic (abort the process) from an API call
 *   return a negative errno instead.
 * - Macros that expand to bit expressions are fully parenthesised; their
 *   values are unchanged.
 * - Only the Linux/x86_64 KVM backend exists.  Every symbol is always
 *   exported, even for features that are not available; such functions fail
 *   with a negative errno (-ENOTSUP, or -ENOSYS for a device this library
 *   does not implement yet) rather than being left out of the build as
 *   upstream does.  The errors listed below describe the complete feature.
 */
#ifndef _LIBKRUN_H
#define _LIBKRUN_H

#ifdef __cplusplus
extern "C" {
#endif

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

/* Log destination meaning "the library's default" (standard error). */
#define KRUN_LOG_TARGET_DEFAULT (-1)

/* Verbosity levels, from silent to most verbose. */
#define KRUN_LOG_LEVEL_OFF 0
#define KRUN_LOG_LEVEL_ERROR 1
#define KRUN_LOG_LEVEL_WARN 2
#define KRUN_LOG_LEVEL_INFO 3
#define KRUN_LOG_LEVEL_DEBUG 4
#define KRUN_LOG_LEVEL_TRACE 5

/* Whether log lines carry terminal colour escapes. */
#define KRUN_LOG_STYLE_AUTO 0
#define KRUN_LOG_STYLE_ALWAYS 1
#define KRUN_LOG_STYLE_NEVER 2

/* krun_init_log() option bit: ignore environment overrides (RUST_LOG). */
#define KRUN_LOG_OPTION_NO_ENV 1

/*
 * krun_set_log_level - set the library's log verbosity.
 *
 * @level: one of KRUN_LOG_LEVEL_*; values above KRUN_LOG_LEVEL_TRACE are
 *         treated as TRACE.
 *
 * Logs go to standard error.  Unless krun_init_log() was given
 * KRUN_LOG_OPTION_NO_ENV, the RUST_LOG environment variable (a level name)
 * takes precedence.
 *
 * Returns 0.  Upstream aborts when logging is initialised twice; this
 * implementation just applies the new level.
 */
int32_t krun_set_log_level(uint32_t level);

/*
 * krun_init_log - configure logging in full.
 *
 * @target_fd: where to write log lines: KRUN_LOG_TARGET_DEFAULT (-1) for
 *             standard error, 1 or 2 for stdout/stderr, or any descriptor
 *             >= 3, which the library takes ownership of.  Logging to a
 *             regular file can slow the VM down.
 * @level:     one of KRUN_LOG_LEVEL_*.
 * @style:     one of KRUN_LOG_STYLE_*.
 * @options:   0 or KRUN_LOG_OPTION_NO_ENV.
 *
 * Returns 0, or -EINVAL for target_fd 0 or below -1, an unknown style or an
 * unknown option bit.
 */
int32_t krun_init_log(int target_fd, uint32_t level, uint32_t style, uint32_t options);

/* ------------------------------------------------------------------------ */
/* Contexts and basic VM shape                                              */
/* ------------------------------------------------------------------------ */

/*
 * krun_create_ctx - allocate a new configuration context.
 *
 * The context starts with 1 vCPU and 128 MiB of RAM, the implicit console,
 * the implicit vsock device (TSI networking) and the bundled init.
 *
 * Returns the new ctx_id (>= 0) or a negative errno (-ENOMEM when out of
 * memory or context ids; upstream would abort instead).
 */
int32_t krun_create_ctx(void);

/*
 * krun_free_ctx - release a context that will not be started.
 *
 * Returns 0, or -ENOENT if @ctx_id does not exist.
 */
int32_t krun_free_ctx(uint32_t ctx_id);

/*
 * krun_set_vm_config - set the number of vCPUs and the guest RAM size.
 *
 * @num_vcpus: number of virtual CPUs, 1 to what KVM and the guest kernel
 *             take (254 with the bundled kernel).
 * @ram_mib:   guest memory in MiB, 64 to 1048576.  More than the host has
 *             is allowed: the host gives memory as the guest touches it.
 *
 * Returns 0, -EINVAL for a value outside those ranges, or -ENOENT.
 */
int32_t krun_set_vm_config(uint32_t ctx_id, uint8_t num_vcpus, uint32_t ram_mib);

/* ------------------------------------------------------------------------ */
/* Root filesystem and virtio-fs shares                                     */
/* ------------------------------------------------------------------------ */

/*
 * Tag of the virtio-fs share that the guest mounts as "/".  Passing it to
 * krun_add_virtiofs*() gives finer control (read-only, DAX window) than
 * krun_set_root().
 */
#define KRUN_FS_ROOT_TAG "/dev/root"

/*
 * krun_set_root - use a host directory as the guest's root filesystem.
 *
 * @root_path: host directory exported with virtio-fs under KRUN_FS_ROOT_TAG,
 *             or NULL for a root with no host directory: an empty read-only
 *             directory that only overlay entries (krun_fs_add_overlay_*)
 *             fill.  The init mounts /dev, /proc and /sys on directories that
 *             must exist, so such a root wants overlay directories "dev",
 *             "proc" and "sys".
 *
 * Unless krun_disable_implicit_init() was called first, the bundled init is
 * made visible in it as /init.krun (without touching the host directory).
 *
 * Returns 0, -EINVAL for an invalid path, -EEXIST (a root was already set),
 * or -ENOENT.
 */
int32_t krun_set_root(uint32_t ctx_id, const char *root_path);

/*
 * krun_set_root_disk - DEPRECATED, use krun_add_disk().
 *
 * Attaches a read-write raw disk image.  It is ignored if any krun_add_disk*
 * call was made on the same context.
 *
 * Returns 0, -EINVAL or -ENOENT.
 */
int32_t krun_set_root_disk(uint32_t ctx_id, const char *disk_path);

/*
 * krun_set_data_disk - DEPRECATED, use krun_add_disk().
 *
 * Attaches a second read-write raw disk image; same rules as
 * krun_set_root_disk().
 *
 * Returns 0, -EINVAL or -ENOENT.
 */
int32_t krun_set_data_disk(uint32_t ctx_id, const char *disk_path);

/*
 * krun_add_disk - attach a raw disk image as a virtio-block device.
 *
 * @block_id:  name identifying the disk.
 * @disk_path: host path of the image.
 * @read_only: expose the disk read-only (needed when the caller cannot
 *             write the file).
 *
 * The image is always treated as raw: guessing formats from the data is
 * unsafe (see krun_add_disk2()).  Devices appear in the guest in the order
 * they are added (vda, vdb, ...).  Must not be mixed with the deprecated
 * krun_set_root_disk()/krun_set_data_disk().
 *
 * Returns 0, -EINVAL, -ENOENT (no such file or context), -EEXIST (block_id
 * already used) or -ENOSPC (more than 8 disks).  A file that cannot be
 * opened is reported by krun_start_enter() with its -errno.
 */
int32_t krun_add_disk(uint32_t ctx_id, const char *block_id, const char *disk_path, bool read_only);

/* Disk image formats accepted by krun_add_disk2()/krun_add_disk3(). */
#define KRUN_DISK_FORMAT_RAW 0
/* qcow2 versions 2 and 3, read-write; backing files (raw or qcow2, at most
 * 16 deep) are opened read-only, relative names from the image's directory.
 * Encrypted images are refused; compressed clusters fail the request. */
#define KRUN_DISK_FORMAT_QCOW2 1
/* VMDK, read-only: monolithicSparse, or monolithicFlat (FLAT/ZERO extents);
 * no delta links. */
#define KRUN_DISK_FORMAT_VMDK 2

/*
 * krun_add_disk2 - attach a disk image of an explicit format.
 *
 * @disk_format: one of KRUN_DISK_FORMAT_*.
 *
 * Security: formats other than raw may name further files that will be
 * opened and exposed to the guest.  Only use them with images that come from
 * a trusted source, and never decide the format by inspecting an image that
 * a guest has been able to write: the guest could have turned a raw image
 * into something that references arbitrary host files.
 *
 * Returns what krun_add_disk() returns or -EINVAL for an unknown format.
 * The image is read by krun_start_enter(), which then fails with -EINVAL
 * (not of that format, a bad header), -EIO (corrupt tables), -ENOTSUP (a feature not implemented:
 * encryption, external data file, extended L2, other VMDK kinds), -ELOOP
 * (backing chain too deep or looping) or -EROFS (a VMDK disk not added
 * read-only, a qcow2 image with internal snapshots added read-write).
 */
int32_t krun_add_disk2(uint32_t ctx_id,
		       const char *block_id,
		       const char *disk_path,
		       uint32_t disk_format,
		       bool read_only);

/* How guest flush requests (VIRTIO_BLK_F_FLUSH) are honoured. */
/* Flush requests are ignored: data may be lost if the host crashes. */
#define KRUN_SYNC_NONE 0
/* Flushes are honoured; on Linux identical to KRUN_SYNC_FULL. */
#define KRUN_SYNC_RELAXED 1
/* Flushes are honoured and forced all the way to stable storage. */
#define KRUN_SYNC_FULL 2

/*
 * krun_add_disk3 - attach a disk image with caching and flush control.
 *
 * @disk_format: one of KRUN_DISK_FORMAT_* (see the note on krun_add_disk2()).
 * @direct_io:   open the image with O_DIRECT, bypassing the host page cache.
 * @sync_mode:   one of KRUN_SYNC_*.
 *
 * Returns what krun_add_disk2() returns, or -EINVAL for an unknown sync mode.
 */
int32_t krun_add_disk3(uint32_t ctx_id,
		       const char *block_id,
		       const char *disk_path,
		       uint32_t disk_format,
		       bool read_only,
		       bool direct_io,
		       uint32_t sync_mode);

/*
 * krun_set_mapped_volumes - NOT SUPPORTED; kept for ABI compatibility.
 *
 * Always returns -EINVAL.  Use krun_add_virtiofs*() instead.
 */
int32_t krun_set_mapped_volumes(uint32_t ctx_id, const char *const mapped_volumes[]);

/*
 * krun_add_virtiofs - share a host directory with the guest via virtio-fs.
 *
 * @c_tag:  tag the guest uses to mount the share (at most 36 bytes).
 * @c_path: host directory to export, or NULL for a filesystem with no host
 *          directory (an empty read-only root that overlay entries fill).
 *
 * Equivalent to krun_add_virtiofs3(ctx_id, c_tag, c_path, 0, false).
 *
 * Returns 0, -EINVAL (NULL or over-long tag), -EEXIST (tag in use) or
 * -ENOENT.
 * Upstream accepts an over-long tag and aborts later at start.
 */
int32_t krun_add_virtiofs(uint32_t ctx_id,
			  const char *c_tag,
			  const char *c_path);

/*
 * krun_add_virtiofs2 - like krun_add_virtiofs() with a DAX window.
 *
 * @shm_size: size in bytes of the DAX shared-memory window; 0 disables DAX.
 *
 * Returns 0, -EINVAL or -ENOENT.
 */
int32_t krun_add_virtiofs2(uint32_t ctx_id,
			   const char *c_tag,
			   const char *c_path,
			   uint64_t shm_size);

/*
 * krun_add_virtiofs3 - like krun_add_virtiofs2() with a read-only switch.
 *
 * @read_only: reject every modifying request from the guest.
 *
 * Using KRUN_FS_ROOT_TAG as the tag configures the root filesystem (and
 * injects the bundled init unless disabled).
 *
 * Returns 0, -EINVAL or -ENOENT.
 */
int32_t krun_add_virtiofs3(uint32_t ctx_id,
			   const char *c_tag,
			   const char *c_path,
			   uint64_t shm_size,
			   bool read_only);

/* ------------------------------------------------------------------------ */
/* Networking                                                               */
/* ------------------------------------------------------------------------ */

/* Per-interface flags for krun_add_net_*(). */
/* Send the vfkit handshake after connecting (gvproxy in vfkit mode). */
#define NET_FLAG_VFKIT (1 << 0)
/* Have the guest init configure the interface with DHCP. */
#define NET_FLAG_DHCP_CLIENT (1 << 1)

/* Socket families the vsock TSI layer intercepts (krun_add_vsock()). */
#define KRUN_TSI_HIJACK_INET (1 << 0)
#define KRUN_TSI_HIJACK_UNIX (1 << 1)

/* virtio-net feature bits (same numbering as the virtio specification). */
#define NET_FEATURE_CSUM (1 << 0)
#define NET_FEATURE_GUEST_CSUM (1 << 1)
#define NET_FEATURE_GUEST_TSO4 (1 << 7)
#define NET_FEATURE_GUEST_TSO6 (1 << 8)
#define NET_FEATURE_GUEST_UFO (1 << 10)
#define NET_FEATURE_HOST_TSO4 (1 << 11)
#define NET_FEATURE_HOST_TSO6 (1 << 12)
#define NET_FEATURE_HOST_UFO (1 << 14)

/* Feature set used by the legacy krun_set_passt_fd()/krun_set_gvproxy_path(). */
#define COMPAT_NET_FEATURES (NET_FEATURE_CSUM | NET_FEATURE_GUEST_CSUM | \
			     NET_FEATURE_GUEST_TSO4 | NET_FEATURE_GUEST_UFO | \
			     NET_FEATURE_HOST_TSO4 | NET_FEATURE_HOST_UFO)

/*
 * krun_add_net_unixstream - add a virtio-net interface backed by a
 * SOCK_STREAM unix socket (passt, socket_vmnet, ...).
 *
 * @c_path:   socket path to connect to, or NULL when @fd is used.
 * @fd:       already connected socket, or -1 when @c_path is used; the
 *            library takes it over (closes it, also if the VM never starts).
 * @c_mac:    6-byte MAC address.
 * @features: NET_FEATURE_* bits offered to the guest.
 * @flags:    0 or NET_FLAG_DHCP_CLIENT (the guest init configures eth0 by
 *            DHCP; only eth0, as upstream).
 *
 * Interfaces appear in the guest in the order they are added (eth0, eth1,
 * ...), at most 8.  Adding any interface turns off the implicit TSI
 * networking, and krun_set_port_map() then returns -EINVAL.  The socket is
 * connected by krun_start_enter(), which fails with the connect's -errno
 * when nobody listens.
 *
 * Returns 0, -EINVAL (both or neither of path/fd, NULL MAC, unknown feature
 * or flag bits, a path that does not fit sockaddr_un, an fd not open),
 * -ENOSPC or -ENOENT.
 */
int32_t krun_add_net_unixstream(uint32_t ctx_id,
				const char *c_path,
				int fd,
				uint8_t *const c_mac,
				uint32_t features,
				uint32_t flags);

/*
 * krun_add_net_unixgram - add a virtio-net interface backed by a SOCK_DGRAM
 * unix socket (gvproxy, vmnet-helper, ...).
 *
 * Same arguments and rules as krun_add_net_unixstream(); @flags may also
 * contain NET_FLAG_VFKIT, which only makes sense together with @c_path.
 * With @c_path the VMM binds its own end at
 * $TMPDIR/krun-net-<pid>-<index>.sock (removed when the VM ends).
 *
 * Returns 0, -EINVAL, -ENOSPC or -ENOENT.
 */
int32_t krun_add_net_unixgram(uint32_t ctx_id,
			      const char *c_path,
			      int fd,
			      uint8_t *const c_mac,
			      uint32_t features,
			      uint32_t flags);

/*
 * krun_add_net_tap - add a virtio-net interface backed by a host TAP device.
 *
 * @c_tap_name: name of the TAP interface to attach to.
 * @c_mac:      6-byte MAC address.
 * @features:   NET_FEATURE_* bits; GUEST_TSO4/6 and GUEST_UFO require
 *              GUEST_CSUM.
 * @flags:      0 or NET_FLAG_DHCP_CLIENT (upstream accepts only 0).
 *
 * Disables implicit TSI networking.  The tap is attached by
 * krun_start_enter(), with offloads set from the features the guest acks.
 *
 * Returns 0, -EINVAL (NULL or over-long name, NULL MAC, unknown bits,
 * GUEST_TSO4/TSO6/UFO without GUEST_CSUM), -ENOSPC or -ENOENT.
 */
int32_t krun_add_net_tap(uint32_t ctx_id,
			 char *c_tap_name,
			 uint8_t *const c_mac,
			 uint32_t features,
			 uint32_t flags);

/*
 * krun_set_passt_fd - DEPRECATED, use krun_add_net_unixstream().
 *
 * Configures the single legacy interface on an open passt socket @fd, with
 * COMPAT_NET_FEATURES and no DHCP (as upstream).  Disables TSI.  A second
 * call replaces the interface (the first fd is closed); the fd is the
 * library's from this call on.
 *
 * Returns 0, -EINVAL (negative fd, or a krun_add_net_* interface already
 * exists) or -ENOENT.
 */
int32_t krun_set_passt_fd(uint32_t ctx_id, int fd);

/*
 * krun_set_gvproxy_path - DEPRECATED, use krun_add_net_unixgram().
 *
 * Configures the single legacy interface on gvproxy's vfkit datagram socket
 * at @c_path, with COMPAT_NET_FEATURES.  Disables TSI.
 *
 * Returns 0, -EINVAL or -ENOENT.
 */
int32_t krun_set_gvproxy_path(uint32_t ctx_id, char *c_path);

/*
 * krun_set_net_mac - set the MAC address of the legacy interface
 * (krun_set_passt_fd()/krun_set_gvproxy_path()).
 *
 * @c_mac: 6-byte MAC address.
 *
 * Returns 0, -EINVAL (NULL MAC, or a krun_add_net_* interface exists) or
 * -ENOENT.
 */
int32_t krun_set_net_mac(uint32_t ctx_id, uint8_t *const c_mac);

/*
 * krun_set_port_map - choose which guest TCP ports TSI exposes on the host.
 *
 * @port_map: NULL-terminated array of "HOST_PORT:GUEST_PORT" strings
 *            (decimal 0..65535 each), or NULL for no map.
 *
 * With TSI on for the guest's inet sockets (the implicit vsock device, or
 * krun_add_vsock with KRUN_TSI_HIJACK_INET), a guest listener on a TCP port
 * is exposed on the host: without a
 * map (or with NULL) under its own number; with a map only the mapped
 * guest ports, under their host numbers, and an empty array exposes none.
 * Upstream's code exposes unmapped ports too, under their own numbers.
 * Outgoing connections are not translated.
 *
 * Returns 0; -EINVAL for a malformed entry or a duplicate host or guest
 * port (the previous map stays), or after a network card was added (TSI
 * is then off, as upstream); -ENOSPC past 256 entries; -ENODEV when the
 * vsock device is disabled; -ENOENT.
 */
int32_t krun_set_port_map(uint32_t ctx_id, const char *const port_map[]);

/* ------------------------------------------------------------------------ */
/* GPU, displays, input                                                     */
/* ------------------------------------------------------------------------ */

/* virglrenderer initialisation flags for krun_set_gpu_options*(). */
#define VIRGLRENDERER_USE_EGL (1 << 0)
#define VIRGLRENDERER_THREAD_SYNC (1 << 1)
#define VIRGLRENDERER_USE_GLX (1 << 2)
#define VIRGLRENDERER_USE_SURFACELESS (1 << 3)
#define VIRGLRENDERER_USE_GLES (1 << 4)
#define VIRGLRENDERER_USE_EXTERNAL_BLOB (1 << 5)
#define VIRGLRENDERER_VENUS (1 << 6)
#define VIRGLRENDERER_NO_VIRGL (1 << 7)
#define VIRGLRENDERER_USE_ASYNC_FENCE_CB (1 << 8)
#define VIRGLRENDERER_RENDER_SERVER (1 << 9)
#define VIRGLRENDERER_DRM (1 << 10)

/*
 * krun_set_gpu_options - request a virtio-gpu device.
 *
 * @virgl_flags: VIRGLRENDERER_* bits.
 *
 * Returns 0 or -ENOENT.  Upstream returns 0 and ignores the request when GPU
 * support is not built; this library returns -ENOSYS while virtio-gpu is not
 * implemented.
 */
int32_t krun_set_gpu_options(uint32_t ctx_id, uint32_t virgl_flags);

/*
 * krun_set_gpu_options2 - like krun_set_gpu_options() with the size in bytes
 * of the host-visible memory window (the guest's vRAM).
 *
 * Returns 0 or -ENOENT (-ENOSYS as for krun_set_gpu_options()).
 */
int32_t krun_set_gpu_options2(uint32_t ctx_id,
			      uint32_t virgl_flags,
			      uint64_t shm_size);

/* Maximum number of displays (virtio-gpu scanouts). */
#define KRUN_MAX_DISPLAYS 16

/*
 * krun_add_display - add a display output of @width x @height pixels.
 *
 * Output only appears once a backend is set with krun_set_display_backend().
 *
 * Returns the display id (0 .. KRUN_MAX_DISPLAYS-1), -ENOMEM when all
 * displays are in use, -ENOTSUP without GPU support, or -ENOENT.
 */
int32_t krun_add_display(uint32_t ctx_id, uint32_t width, uint32_t height);

/*
 * krun_display_set_edid - give display @display_id a custom EDID blob.
 *
 * The blob replaces the generated EDID; afterwards the other
 * krun_display_set_* settings no longer apply.  It is not checked against
 * the size given to krun_add_display().
 *
 * Returns 0, -EINVAL (bad id), -ENOTSUP or -ENOENT.
 */
int32_t krun_display_set_edid(uint32_t ctx_id, uint32_t display_id, const uint8_t *edid_blob,
			      size_t blob_size);

/*
 * krun_display_set_dpi - set the pixel density reported for a display.
 *
 * Overrides a physical size set with krun_display_set_physical_size().
 *
 * Returns 0, -EINVAL (bad id, or a custom EDID is set), -ENOTSUP or -ENOENT.
 */
int32_t krun_display_set_dpi(uint32_t ctx_id, uint32_t display_id, uint32_t dpi);

/*
 * krun_display_set_physical_size - set the physical size, in millimetres,
 * reported for a display.  Overrides a DPI set with krun_display_set_dpi().
 *
 * Returns 0, -EINVAL (bad id), -EALREADY (custom EDID set), -ENOTSUP or
 * -ENOENT.
 */
int32_t krun_display_set_physical_size(uint32_t ctx_id, uint32_t display_id, uint16_t width_mm,
				       uint16_t height_mm);

/*
 * krun_display_set_refresh_rate - set the refresh rate (Hz) of a display.
 *
 * Returns 0, -EINVAL (bad id), -EALREADY (custom EDID set), -ENOTSUP or
 * -ENOENT.
 */
int32_t krun_display_set_refresh_rate(uint32_t ctx_id, uint32_t display_id, uint32_t refresh_rate);

/*
 * krun_set_display_backend - install the callbacks that receive display
 * output.
 *
 * @display_backend: pointer to a struct krun_display_backend as defined by
 *                   upstream's libkrun_display.h; treated as opaque here.
 * @backend_size:    sizeof that structure, used for versioning.
 *
 * Returns 0, -EINVAL (size too small or invalid table), -ENOTSUP or -ENOENT.
 */
int32_t krun_set_display_backend(uint32_t ctx_id, const void *display_backend, size_t backend_size);

/*
 * krun_add_input_device - add a virtio-input device driven by callbacks.
 *
 * @config_backend / @config_backend_size: a struct krun_input_config and
 *     its sizeof (upstream's libkrun_input.h; opaque here).
 * @events_backend / @events_backend_size: a struct
 *     krun_input_event_provider and its sizeof.
 *
 * Returns 0 or a negative errno (-ENOTSUP without input support).
 */
int krun_add_input_device(uint32_t ctx_id, const void *config_backend, size_t config_backend_size,
			  const void *events_backend, size_t events_backend_size);

/*
 * krun_add_input_device_fd - pass a host /dev/input/event* device through.
 *
 * @input_fd: open evdev descriptor; the device description is read from it
 *            with ioctls.
 *
 * Returns 0 or a negative errno (-ENOTSUP without input support).
 */
int krun_add_input_device_fd(uint32_t ctx_id, int input_fd);

/*
 * krun_set_snd_device - ask for (or drop) a virtio-snd device (libkrun
 * 1.19's ABI; later upstream releases serve sound through
 * krun_add_vhost_user_device with KRUN_VIRTIO_DEVICE_SND instead).
 *
 * Returns 0 for enable == false, -ENOTSUP for enable == true (this library
 * has no sound device), -ENOENT for an unknown context.
 */
int32_t krun_set_snd_device(uint32_t ctx_id, bool enable);

/* ------------------------------------------------------------------------ */
/* vhost-user devices                                                       */
/* ------------------------------------------------------------------------ */

/* Device types for krun_add_vhost_user_device() (virtio device ids). */
#define KRUN_VIRTIO_DEVICE_CONSOLE 3
#define KRUN_VIRTIO_DEVICE_RNG 4
#define KRUN_VIRTIO_DEVICE_GPU 16
#define KRUN_VIRTIO_DEVICE_RTC 17
#define KRUN_VIRTIO_DEVICE_INPUT 18
#define KRUN_VIRTIO_DEVICE_VSOCK 19
#define KRUN_VIRTIO_DEVICE_SND 25
#define KRUN_VIRTIO_DEVICE_CAN 36

/*
 * Default queue layouts per device type.  The *_QUEUE_SIZES macros expand to
 * C99 compound literals (uint16_t arrays), so they are usable from C only.
 */
/* console: receiveq, transmitq, control receiveq, control transmitq */
#define KRUN_VHOST_USER_CONSOLE_NUM_QUEUES 4
#define KRUN_VHOST_USER_CONSOLE_QUEUE_SIZES ((uint16_t[]){ 128, 128, 64, 64 })
/* rng: requestq */
#define KRUN_VHOST_USER_RNG_NUM_QUEUES 1
#define KRUN_VHOST_USER_RNG_QUEUE_SIZES ((uint16_t[]){ 256 })
/* rtc: requestq, alarmq */
#define KRUN_VHOST_USER_RTC_NUM_QUEUES 2
#define KRUN_VHOST_USER_RTC_QUEUE_SIZES ((uint16_t[]){ 1024, 1024 })
/* input: eventq, statusq */
#define KRUN_VHOST_USER_INPUT_NUM_QUEUES 2
#define KRUN_VHOST_USER_INPUT_QUEUE_SIZES ((uint16_t[]){ 1024, 1024 })
/* sound: control, event, tx (playback), rx (capture) */
#define KRUN_VHOST_USER_SND_NUM_QUEUES 4
#define KRUN_VHOST_USER_SND_QUEUE_SIZES ((uint16_t[]){ 64, 64, 64, 64 })
/* vsock: rx, tx, event */
#define KRUN_VHOST_USER_VSOCK_NUM_QUEUES 3
#define KRUN_VHOST_USER_VSOCK_QUEUE_SIZES ((uint16_t[]){ 128, 128, 128 })
/* can: tx, rx, control */
#define KRUN_VHOST_USER_CAN_NUM_QUEUES 3
#define KRUN_VHOST_USER_CAN_QUEUE_SIZES ((uint16_t[]){ 64, 64, 64 })
/* gpu: control, cursor */
#define KRUN_VHOST_USER_GPU_NUM_QUEUES 2
#define KRUN_VHOST_USER_GPU_QUEUE_SIZES ((uint16_t[]){ 1024, 1024 })

/*
 * krun_add_vhost_user_device - add a device implemented by an external
 * vhost-user backend process.
 *
 * @device_type: one of KRUN_VIRTIO_DEVICE_* (not validated).
 * @socket_path: unix socket the backend listens on; it must be listening by
 *               the time krun_start_enter() runs.
 * @name:        label used in logs; NULL derives one from the type.
 * @num_queues:  number of virtqueues, or 0 to ask the backend (needs its
 *               multi-queue support).
 * @queue_sizes: NULL for 256 entries per queue; otherwise exactly
 *               @num_queues sizes, or, when @num_queues is 0, a list ended by
 *               a 0 entry.
 *
 * Returns 0, -EINVAL (NULL/empty socket path), -ENOTSUP (vhost-user not
 * built) or -ENOENT.
 */
int32_t krun_add_vhost_user_device(uint32_t ctx_id,
				   uint32_t device_type,
				   const char *socket_path,
				   const char *name,
				   uint16_t num_queues,
				   const uint16_t *queue_sizes);

/* ------------------------------------------------------------------------ */
/* Workload                                                                 */
/* ------------------------------------------------------------------------ */

/*
 * krun_set_rlimits - resource limits the guest init applies before running
 * the workload.
 *
 * @rlimits: NULL-terminated array of "RESOURCE=CUR:MAX" strings, RESOURCE
 *           being the numeric RLIMIT_* id.
 *
 * Returns 0, -EINVAL (NULL array or malformed entry) or -ENOENT.
 */
int32_t krun_set_rlimits(uint32_t ctx_id, const char *const rlimits[]);

/*
 * krun_set_smbios_oem_strings - SMBIOS type 11 OEM strings for the guest.
 *
 * @oem_strings: NULL-terminated string array: at most 255 strings of 1 to
 * 1024 bytes, 32 KiB in all.  A later call replaces the strings.
 *
 * The guest finds them in an SMBIOS 3.0 table (/sys/firmware/dmi in Linux),
 * also on x86_64, where upstream builds no SMBIOS table.
 *
 * Returns 0, -EINVAL (NULL array, or a bound above broken) or -ENOENT.
 */
int32_t krun_set_smbios_oem_strings(uint32_t ctx_id, const char *const oem_strings[]);

/*
 * krun_set_workdir - working directory of the workload, as a path inside
 * the guest's root filesystem.
 *
 * Returns 0, -EINVAL or -ENOENT.
 */
int32_t krun_set_workdir(uint32_t ctx_id,
			 const char *workdir_path);

/*
 * krun_set_exec - program the guest init runs, its arguments and its
 * environment.
 *
 * @exec_path: executable, as a path inside the guest (also becomes argv[0]).
 * @argv:      NULL-terminated arguments *without* argv[0]; may be NULL for
 *             none.
 * @envp:      NULL-terminated "KEY=VALUE" list; NULL copies the calling
 *             process's environment.
 *
 * Returns 0, -EINVAL or -ENOENT.
 */
int32_t krun_set_exec(uint32_t ctx_id,
		      const char *exec_path,
		      const char *const argv[],
		      const char *const envp[]);

/*
 * krun_set_firmware - boot a firmware image instead of a kernel.
 *
 * @firmware_path: host path; the file is read by krun_start_enter().
 *
 * Returns 0, -EINVAL or -ENOENT.
 */
int32_t krun_set_firmware(uint32_t ctx_id, const char *firmware_path);

/* Kernel image formats for krun_set_kernel(). */
#define KRUN_KERNEL_FORMAT_RAW 0
#define KRUN_KERNEL_FORMAT_ELF 1
#define KRUN_KERNEL_FORMAT_PE_GZ 2
#define KRUN_KERNEL_FORMAT_IMAGE_BZ2 3
#define KRUN_KERNEL_FORMAT_IMAGE_GZ 4
#define KRUN_KERNEL_FORMAT_IMAGE_ZSTD 5

/*
 * krun_set_kernel - boot an external kernel instead of the bundled one.
 *
 * @kernel_path:   host path of the kernel image.
 * @kernel_format: one of KRUN_KERNEL_FORMAT_*.  On x86_64: ELF (a
 *                 vmlinux), RAW (a flat image loaded and entered at 2 GiB;
 *                 an ELF or bzImage is recognised), IMAGE_GZ/BZ2/ZSTD (a
 *                 compressed ELF vmlinux) and PE_GZ (one in a PE file).
 *                 A compressed image decompresses to at most the guest's
 *                 RAM (and 1 GiB).
 * @initramfs:     host path of an initramfs, or NULL.
 * @cmdline:       kernel command line, or NULL for the default one.
 *
 * The file is checked now (cheaply: a compressed one only as far as its
 * ELF header); it is loaded, and an initramfs read, by krun_start_enter().
 * Returns 0, -EINVAL (unknown format, unreadable initramfs or kernel),
 * -ENOENT, -ENOEXEC (not of that format, or no such stream in it),
 * -ENOTSUP (a zboot PE image not compressed with gzip) or -EFBIG (a
 * compressed image over 1 GiB).
 */
int32_t krun_set_kernel(uint32_t ctx_id,
			const char *kernel_path,
			uint32_t kernel_format,
			const char *initramfs,
			const char *cmdline);

/*
 * krun_set_env - replace the workload's environment.
 *
 * @envp: NULL-terminated "KEY=VALUE" list; NULL copies the calling process's
 *        environment.
 *
 * Returns 0, -EINVAL or -ENOENT.
 */
int32_t krun_set_env(uint32_t ctx_id, const char *const envp[]);

/*
 * krun_set_tee_config_file - path of the TEE (SEV/TDX) configuration file.
 *
 * Only meaningful in confidential-computing builds (absent from upstream's
 * plain build); this library has no TEE support and returns a negative errno.
 */
int32_t krun_set_tee_config_file(uint32_t ctx_id, const char *filepath);

/* ------------------------------------------------------------------------ */
/* vsock                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * krun_add_vsock_port - connect guest vsock port @port to the host unix
 * socket @c_filepath (the guest connects, the host listens).
 *
 * Same as krun_add_vsock_port2(ctx_id, port, c_filepath, false).
 */
int32_t krun_add_vsock_port(uint32_t ctx_id,
			    uint32_t port,
			    const char *c_filepath);

/*
 * krun_add_vsock_port2 - map guest vsock port @port to a host AF_UNIX
 * stream socket.
 *
 * @listen: false: a guest connect() to vsock (2, @port) makes libkrun
 *          connect to the socket at @c_filepath (someone on the host must
 *          listen there) and relay bytes both ways; if nobody listens the
 *          guest's connect fails (ECONNRESET).
 *          true: libkrun creates and listens on @c_filepath when the VM
 *          starts; each host client that connects becomes a connection to
 *          vsock port @port in the guest (the guest must listen there;
 *          until it does, clients are closed).  The socket file is removed
 *          when the VM ends.  A guest connect to such a port is refused.
 *
 * Shutdown and close travel both ways (OP_SHUTDOWN/OP_RST and
 * shutdown()/close()).  A mapped port adds the vsock device (guest CID 3,
 * host CID 2) unless krun_disable_implicit_vsock() was called without
 * krun_add_vsock().
 *
 * Returns 0, -EINVAL (NULL or empty path, path too long for sun_path),
 * -EEXIST (@port already mapped, or listen=true and the path exists),
 * -ENOSPC (more than 64 ports), -ENODEV (vsock disabled) or -ENOENT.
 */
int32_t krun_add_vsock_port2(uint32_t ctx_id,
			     uint32_t port,
			     const char *c_filepath,
			     bool listen);

/*
 * krun_add_vsock - add the vsock device explicitly.
 *
 * @tsi_features: KRUN_TSI_HIJACK_* bits selecting which socket families the
 *                guest kernel forwards through TSI; 0 for none.
 *
 * Requires krun_disable_implicit_vsock() first.  Only one vsock device is
 * supported.  With KRUN_TSI_HIJACK_INET the guest's TCP and UDP sockets
 * reach the host's network through the VMM's own sockets (TSI; the kernel
 * command line gets tsi_hijack and the guest init configures dummy0 with
 * 203.0.113.1/24); KRUN_TSI_HIJACK_UNIX does the same for unix sockets
 * (tsi_hijack_unix: the host connects to and binds the guest's paths on
 * its own filesystem), only when the guest's root is the host's "/" (else
 * a warning, and guest unix sockets stay local).
 *
 * Returns 0, -EEXIST (implicit device not disabled, or already added),
 * -EINVAL (unknown bits) or -ENOENT.
 */
int32_t krun_add_vsock(uint32_t ctx_id, uint32_t tsi_features);

/*
 * krun_get_shutdown_eventfd - descriptor that requests an orderly guest
 * shutdown when written to.
 *
 * Not available on Linux: always fails (upstream returns -EINVAL; this
 * library may return -ENOSYS).
 */
int32_t krun_get_shutdown_eventfd(uint32_t ctx_id);

/*
 * krun_set_console_output - send the implicit console's output to the file
 * @c_filepath and stop reading stdin.
 *
 * No effect on consoles added with krun_add_*_console*(), nor when the
 * implicit console is disabled.
 *
 * Returns 0, -EINVAL (NULL path or already set) or -ENOENT.
 */
int32_t krun_set_console_output(uint32_t ctx_id, const char *c_filepath);

/*
 * krun_setuid - user id the process switches to in krun_start_enter(),
 * after disk images are opened and before /dev/kvm is.
 *
 * Returns 0 or -ENOENT; a failing setuid() makes krun_start_enter() return
 * its negative errno.
 */
int32_t krun_setuid(uint32_t ctx_id, uid_t uid);

/*
 * krun_setgid - group id, applied like krun_setuid() (group first).
 *
 * Returns 0 or -ENOENT.
 */
int32_t krun_setgid(uint32_t ctx_id, gid_t gid);

/*
 * krun_set_nested_virt - expose hardware virtualisation (VMX/SVM) to the
 * guest.  Success only records the request; see krun_check_nested_virt().
 *
 * Returns 0 or -ENOENT.
 */
int32_t krun_set_nested_virt(uint32_t ctx_id, bool enabled);

/*
 * krun_check_nested_virt - whether the host KVM module allows nested
 * virtualisation.
 *
 * Returns 1 (supported), 0 (not supported) or a negative errno.
 */
int32_t krun_check_nested_virt(void);

/* Feature ids for krun_has_feature(). */
#define KRUN_FEATURE_NET 0
#define KRUN_FEATURE_BLK 1
#define KRUN_FEATURE_GPU 2
#define KRUN_FEATURE_INPUT 4
#define KRUN_FEATURE_TEE 6
#define KRUN_FEATURE_AMD_SEV 7
#define KRUN_FEATURE_INTEL_TDX 8
#define KRUN_FEATURE_AWS_NITRO 9
#define KRUN_FEATURE_VIRGL_RESOURCE_MAP2 10
#define KRUN_FEATURE_INIT_BLOB 11

/*
 * krun_has_feature - whether this build of the library includes a feature.
 *
 * @feature: one of KRUN_FEATURE_*.
 *
 * Returns 1 or 0, or -EINVAL for an id this library does not know (an older
 * library may not know ids added later).
 */
int32_t krun_has_feature(uint64_t feature);

/*
 * krun_get_max_vcpus - the most vCPUs KVM allows per VM on this host.
 *
 * Returns the count, or a negative errno (-EINVAL when /dev/kvm is not
 * usable).
 */
int32_t krun_get_max_vcpus(void);

/*
 * krun_split_irqchip - emulate the IOAPIC in userspace and keep only the
 * local APICs in the kernel (KVM split irqchip, x86_64).
 *
 * With enable, the guest gets the VMM's IOAPIC (24 pins, version 0x20) and
 * no PIC and no PIT; device interrupts are delivered as the guest programs
 * its redirection entries.  The default (false) is KVM's in-kernel IOAPIC,
 * PIC and PIT.
 *
 * Returns 0 or -ENOENT.
 */
int32_t krun_split_irqchip(uint32_t ctx_id, bool enable);

/* ------------------------------------------------------------------------ */
/* Implicit devices, init and consoles                                      */
/* ------------------------------------------------------------------------ */

/*
 * Implicitly created resources (console, vsock, init) are a convenience of
 * the 1.x API.  New code should disable them and add what it needs.
 */

/*
 * krun_disable_implicit_console - do not create the default console; only
 * consoles added explicitly will exist.
 *
 * Returns 0 or -ENOENT.
 */
int32_t krun_disable_implicit_console(uint32_t ctx_id);

/*
 * krun_disable_implicit_init - do not place the bundled init (/init.krun) in
 * the root filesystem.  Must be called before krun_set_root() or adding a
 * KRUN_FS_ROOT_TAG share.
 *
 * Returns 0 or -ENOENT.
 */
int32_t krun_disable_implicit_init(uint32_t ctx_id);

/*
 * krun_get_default_init - the bundled init binary, e.g. to inject it
 * yourself with krun_fs_add_overlay_file().
 *
 * @data_out: receives a pointer to static data valid for the whole process.
 * @len_out:  receives its length in bytes.
 *
 * Returns 0, -EINVAL (NULL argument) or -ENOTSUP (no bundled init).
 */
int32_t krun_get_default_init(const uint8_t **data_out, size_t *len_out);

/*
 * krun_fs_add_overlay_file - make a memory-backed file appear in a
 * virtio-fs share without creating it on the host.
 *
 * The file is read-only (opening it for writing fails with EACCES, changing
 * it with EPERM), found by name but not listed by readdir, and hides a host
 * file of the same name.
 *
 * @fs_tag:   tag of a share added earlier (e.g. KRUN_FS_ROOT_TAG).
 * @path:     path relative to the share's root such as "etc/hostname" (a
 *            leading '/' is ignored); every parent must be an overlay
 *            directory from an earlier krun_fs_add_overlay_dir() on the same
 *            share.
 * @data:     file contents; NOT copied, must stay valid while the VM runs.
 *            May be NULL when @data_len is 0.
 * @data_len: length of @data.
 * @mode:     permission bits, optionally with S_IFREG, e.g. 0100644.
 * @one_shot: the file can be looked up only once; it then disappears from
 *            the directory (what the guest opened stays readable).
 *
 * At most 64 overlay entries per context.  On the root share the names
 * ".krun_workload" and, unless krun_disable_implicit_init() was called,
 * "init.krun" belong to the library.
 *
 * Returns 0, -EINVAL (NULL pointer, empty, "." or ".." component, component
 * over 255 bytes, bad mode), -ENOENT (context, share or parent not found),
 * -ENOTDIR (a parent is an overlay file), -EEXIST (path already added or
 * reserved) or -ENOSPC (too many entries).
 */
int32_t krun_fs_add_overlay_file(uint32_t ctx_id, const char *fs_tag,
				 const char *path, const uint8_t *data,
				 size_t data_len, uint32_t mode, bool one_shot);

/*
 * krun_fs_add_overlay_dir - add an empty read-only directory (a mount
 * point, typically) to a virtio-fs share.
 *
 * It holds only overlay entries added below it, never host files (even when
 * it hides a host directory of the same name); nothing can be created in it
 * (EROFS).
 *
 * @mode: permission bits, optionally with S_IFDIR, e.g. 040755.  Other
 * arguments and errors as for krun_fs_add_overlay_file().
 */
int32_t krun_fs_add_overlay_dir(uint32_t ctx_id, const char *fs_tag,
				const char *path, uint32_t mode);

/*
 * krun_disable_implicit_vsock - do not create the default vsock device (and
 * with it TSI).  Needed before krun_add_vsock(); without krun_add_vsock()
 * there is then no vsock device and ports added before are ignored.
 * The guest's inet sockets then stay inside the guest (loopback only).
 *
 * Returns 0 or -ENOENT.
 */
int32_t krun_disable_implicit_vsock(uint32_t ctx_id);

/*
 * krun_set_kernel_console - value of "console=" on the kernel command line
 * (e.g. "hvc0" or "ttyS0").
 *
 * Returns 0, -EINVAL or -ENOENT.
 */
int32_t krun_set_kernel_console(uint32_t ctx_id, const char *console_id);

/*
 * krun_add_virtio_console_default - add a virtio-console wired to three
 * host descriptors.
 *
 * If all three are terminals the device has a single console port (stderr
 * goes to the terminal).  Each descriptor that is not a terminal gets its own
 * extra port ("krun-stdin", "krun-stdout", "krun-stderr"), which the guest
 * init connects to the workload's standard streams.  Consoles are numbered
 * hvc0, hvc1, ... in the order added; the implicit console, if enabled, is
 * hvc0.
 *
 * Returns 0 or a negative errno.
 */
int32_t krun_add_virtio_console_default(uint32_t ctx_id,
					int input_fd,
					int output_fd,
					int err_fd);

/*
 * krun_add_serial_console_default - put a console on the legacy 16550 serial
 * port COM1 (the guest's ttyS0), reading @input_fd and writing @output_fd
 * (negative: no such direction).  The descriptors are handed over: the
 * library closes them with the context.  The implicit virtio console stays
 * (and stays the kernel's console) unless krun_disable_implicit_console() is
 * called; krun_set_kernel_console(ctx_id, "ttyS0") makes this port the
 * kernel's console.  The guest kernel has one 8250 port, so only one serial
 * console can be added (upstream fills COM1..COM4).
 *
 * Returns 0, -EBADF (a descriptor is not open), -ENOSPC (a serial console
 * exists already; the descriptors stay the caller's) or -ENOENT.
 */
int32_t krun_add_serial_console_default(uint32_t ctx_id,
					int input_fd,
					int output_fd);

/*
 * krun_add_virtio_console_multiport - add an empty multi-port
 * virtio-console; populate it with krun_add_console_port_*().  Port 0
 * appears as /dev/hvcN, further ports as /dev/vportNpM.
 *
 * Returns the console id (>= 0) used by krun_add_console_port_*(), or a
 * negative errno.  The implicit console is not counted in the id.
 */
int32_t krun_add_virtio_console_multiport(uint32_t ctx_id);

/*
 * krun_add_console_port_tty - add a console port backed by a terminal
 * @tty_fd (input, output and window size).
 *
 * @console_id: value returned by krun_add_virtio_console_multiport().
 * @name:       port name visible in the guest; may be "".
 *
 * Returns 0, -EINVAL (bad fd or console id), -ENOTTY (not a terminal) or
 * -ENOENT.
 */
int32_t krun_add_console_port_tty(uint32_t ctx_id,
				  uint32_t console_id,
				  const char *name,
				  int tty_fd);

/*
 * krun_add_console_port_inout - add a plain data port: the guest reads what
 * arrives on @input_fd and its writes go to @output_fd.  No terminal
 * features such as resize.
 *
 * Returns 0, -EINVAL (bad console id) or -ENOENT.
 */
int32_t krun_add_console_port_inout(uint32_t ctx_id,
				    uint32_t console_id,
				    const char *name,
				    int input_fd,
				    int output_fd);

/*
 * krun_set_root_disk_remount - boot from a virtio-fs stub and then switch
 * the root to a block device.
 *
 * @device:  guest block device, e.g. "/dev/vda1"; the disk must have been
 *           added with krun_add_disk*().
 * @fstype:  filesystem type, or NULL/"auto" to probe.
 * @options: comma-separated mount options, or NULL.
 *
 * Lets the bundled init be used without copying it into every image.
 *
 * Returns 0, -EINVAL (a root share already exists or no disk was added) or
 * -ENOENT.
 */
int32_t krun_set_root_disk_remount(uint32_t ctx_id, const char *device, const char *fstype,
				   const char *options);

/* ------------------------------------------------------------------------ */
/* Start                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * krun_start_enter - build the microVM described by @ctx_id and run it on
 * the calling thread.  The context is consumed.
 *
 * The library takes over the terminal on stdin/stdout for the implicit
 * console.  Once the guest is running this function does not return: when
 * the guest shuts down the process exits with the workload's status.  The
 * guest init reports its own failures as 125 (environment setup failed),
 * 126 (program found but not executable) and 127 (program not found).
 *
 * Returns only on errors detected before the guest starts: -ENOENT (unknown
 * context, or no kernel available), -EINVAL (invalid configuration), or the
 * negative errno of a failed setgid()/setuid() or host resource.
 */
int32_t krun_start_enter(uint32_t ctx_id);

#ifdef __cplusplus
}
#endif

#endif /* _LIBKRUN_H */
