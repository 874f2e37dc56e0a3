/* SPDX-License-Identifier: Apache-2.0 */
/*
 * init/workload.h - the ".krun_workload" channel between host and guest init
 *
 * Upstream libkrun squeezes argv, env, workdir and rlimits onto the kernel
 * command line (2048 bytes, 32 entries, no quoting).  We hand the guest init
 * a binary blob instead, served read-only as the virtual file
 * "/.krun_workload" on the root virtio-fs.  This header is compiled both
 * into the library (encoder) and into the static guest init (decoder), so
 * it depends on nothing but libc.
 *
 * Wire format, all integers little-endian:
 *
 *   header (32 bytes):
 *     u8  magic[8]    "KRUNWKLD"
 *     u32 version     WORKLOAD_VERSION
 *     u32 total_len   length of the whole blob, header included
 *     u32 flags       WORKLOAD_F_* (unknown bits: the blob is refused)
 *     u32 uid         meaningful only with WORKLOAD_F_UID_SET
 *     u32 gid         meaningful only with WORKLOAD_F_GID_SET
 *     u32 reserved    must be 0
 *   then, in this order:
 *     str   exec_path          (required, non-empty)
 *     list  argv               (argv[0] included, count >= 1)
 *     list  envp               ("KEY=VALUE" strings)
 *     str   workdir            (optional)
 *     list  rlimits            ("RESOURCE=CUR:MAX", see parse_rlimit)
 *     str   hostname           (optional, at most 64 bytes)
 *   and only with WORKLOAD_F_BLOCK_ROOT:
 *     str   root_device        (required, e.g. "/dev/vda")
 *     str   root_fstype        (optional; absent or "auto": probe)
 *     str   root_options       (optional mount data)
 *
 *   str  = u32 len, then len bytes.  len == 0 means "absent"; otherwise
 *          the bytes are the string followed by exactly one NUL, so the
 *          decoder can hand out pointers into the blob without copying.
 *   list = u32 count, then count non-absent strs.
 *
 * Nothing may follow the last record.
 */
#ifndef KRUN_INIT_WORKLOAD_H
#define KRUN_INIT_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>

#define WORKLOAD_FILE_NAME ".krun_workload"
#define WORKLOAD_MAGIC "KRUNWKLD"
#define WORKLOAD_MAGIC_LEN 8
#define WORKLOAD_VERSION 1u
#define WORKLOAD_HEADER_LEN 32u

/* Bounds that keep a hostile or buggy blob from exhausting guest memory. */
#define WORKLOAD_MAX_SIZE (16u << 20)
#define WORKLOAD_MAX_STRINGS (1u << 18)
#define WORKLOAD_MAX_RLIMITS 64u
#define WORKLOAD_MAX_HOSTNAME 64u

#define WORKLOAD_F_UID_SET (1u << 0)
#define WORKLOAD_F_GID_SET (1u << 1)
#define WORKLOAD_F_REPORT_BOOT_TIME (1u << 2)
/*
 * The caller gave no exec path (no krun_set_exec): exec_path and argv hold
 * the fallback ("/bin/sh"), which the guest init replaces with the argv of
 * the container config ("/.krun_config.json" or $KRUN_CONFIG) when it has
 * one.  Without the flag the host's argv always wins.
 */
#define WORKLOAD_F_DEFAULT_EXEC (1u << 3)
/*
 * krun_set_root_disk_remount: the init mounts root_device on /newroot and
 * makes it the root before it looks for the container config.
 */
#define WORKLOAD_F_BLOCK_ROOT (1u << 4)
#define WORKLOAD_F_ALL                                                                \
	(WORKLOAD_F_UID_SET | WORKLOAD_F_GID_SET | WORKLOAD_F_REPORT_BOOT_TIME |      \
	 WORKLOAD_F_DEFAULT_EXEC | WORKLOAD_F_BLOCK_ROOT)

/*
 * Host-side description.  String arrays are NULL-terminated (a NULL array
 * is empty).  argv includes argv[0]; an empty argv encodes as
 * { exec_path }.  uid/gid are applied only when the matching WORKLOAD_F_*
 * bit is set in flags.
 */
struct workload_spec {
	const char *exec_path;
	const char *const *argv;
	const char *const *envp;
	const char *workdir;
	const char *const *rlimits;
	const char *hostname;
	const char *root_device;	/* used only with WORKLOAD_F_BLOCK_ROOT */
	const char *root_fstype;
	const char *root_options;
	uint32_t flags;
	uint32_t uid;
	uint32_t gid;
};

/*
 * Decoded blob.  Strings point into the buffer given to workload_decode(),
 * which must outlive the view; the arrays are NULL-terminated and owned by
 * the view (release with workload_view_free()).
 */
struct workload_view {
	uint32_t version;
	uint32_t flags;
	uint32_t uid;
	uint32_t gid;
	const char *exec_path;
	const char *workdir;	/* NULL when absent */
	const char *hostname;	/* NULL when absent */
	const char *root_device;	/* non-NULL exactly with WORKLOAD_F_BLOCK_ROOT */
	const char *root_fstype;	/* NULL when absent */
	const char *root_options;	/* NULL when absent */
	const char **argv;
	size_t argc;
	const char **envp;
	size_t envc;
	const char **rlimits;
	size_t nrlimits;
};

/* 0, or -EINVAL (bad spec), -E2BIG (over the limits above), -ENOMEM. */
int workload_encode(const struct workload_spec *spec, uint8_t **buf, size_t *len);

/* 0, -EINVAL or -ENOMEM; on error *out is left empty and needs no freeing. */
int workload_decode(const uint8_t *buf, size_t len, struct workload_view *out);
void workload_view_free(struct workload_view *view);

/*
 * "RESOURCE=CUR:MAX" (also "RESOURCE:CUR:MAX", upstream's alternate form).
 * RESOURCE: RLIMIT_NOFILE, NOFILE, nofile or a number below RLIM_NLIMITS.
 * CUR/MAX: decimal, or "unlimited"/"infinity"/"-1" for RLIM_INFINITY.
 * cur must not exceed max.  Returns 0 or -EINVAL.
 */
int parse_rlimit(const char *s, int *resource, struct rlimit *rl);

#endif
