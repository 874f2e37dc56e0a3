// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the FUSE server behind virtio-fs, fed sequences of
 * requests the way the device feeds it (fuse_server_handle() with the
 * chain's readable and writable buffers), against a scratch tree it
 * builds afresh for every input in a mkdtemp() directory.
 *
 * Input:
 *   byte 0        bit 0: read-only share, bit 1: no host directory (NullFs),
 *                 bit 2: no INIT first, bit 3: small limits (byte 1: handles
 *                 1-16 in the low nibble, inodes 1-16 in the high one)
 *   then up to MAX_REQS records:
 *     u8 op       index into ops[] below; 0xff: a raw u32 opcode follows
 *     u8 how      bits 0-1 nodeid (0/2: one the server handed out, picked by
 *                 the next byte, 1: the root, 3: a raw u64), bits 2-3 reply
 *                 room (0: 64 KiB, 1: u16 % 320 bytes, 2: none, 3: 16 +
 *                 u8 % 160), bit 4: request split in up to 4 pieces, bit 5:
 *                 reply room split likewise, bit 6: raw body (u16 length %
 *                 9000, then that many bytes), bit 7: raw h.len (u32)
 *     body        unless raw: the op's fixed struct (its handle and nodeid
 *                 fields replaced by ones the server handed out unless the
 *                 selector byte is >= 0xf0), then its names (a u8 picks one
 *                 of names[] or, >= 0xe0, a raw one of u8 % 64 bytes), then
 *                 WRITE/SETXATTR data (u16 % 4096 bytes)
 * The harness tracks every nodeid, lookup count and handle the replies
 * hand out.  After the input it gives them all back (RELEASE, FORGET) and
 * checks that the server then holds nothing but its root, that the process
 * has the descriptors it had before, and that nothing outside the share
 * changed; then it destroys the server (leaks show up in LeakSanitizer).
 * It also checks every reply's header against the request.
 *
 * Confinement: everything happens below one mkdtemp() directory (on
 * /dev/shm when there is one, else /tmp), and the server only ever gets
 * absolute paths below it; symlinks in the share point at a sentinel next
 * to it, never at host files.  File sizes are capped by RLIMIT_FSIZE
 * (SIGXFSZ ignored: EFBIG instead) and FALLOCATE/COPY_FILE_RANGE lengths
 * are kept small, so the scratch tree cannot fill the disk.  Run as root,
 * MKNOD makes FIFOs, sockets or regular files only: device nodes through a
 * share are a privilege question of their own, not what this target is for.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "backends/fs/fuse_server.h"
#include "util/log.h"
#include "fuzz_input.h"

/*
 * The fuzz build compiles libkrun_core without coverage instrumentation, so
 * libFuzzer would see none of the server's branches.  Its sources are
 * compiled into this target instead (with -fsanitize=fuzzer); the linker
 * then takes their symbols from here and never pulls the same objects out
 * of libkrun_core.a.
 */
#include "../src/backends/fs/creds.c"
#include "../src/backends/fs/nodes.c"
#include "../src/backends/fs/ops_dir.c"
#include "../src/backends/fs/ops_entry.c"
#include "../src/backends/fs/ops_file.c"
#include "../src/backends/fs/ops_xattr.c"
#include "../src/backends/fs/overlay.c"
#include "../src/backends/fs/server.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_REQS 64
#define MAX_NODES 4096
#define MAX_FHS 512
#define BIG_OUT ((64u << 10) + sizeof(struct fuse_out_header))
#define RAW_BODY_MAX 9000u
#define IN_MAX (sizeof(struct fuse_in_header) + RAW_BODY_MAX + 8192)
#define SECRET "TOPSECRET"

/* What each opcode carries: its fixed struct, where a handle and a nodeid
 * sit in it, how many names follow and whether data follows them. */
struct op_spec {
	uint32_t opcode;
	uint16_t size;
	int16_t fh_off;
	int16_t fh2_off;
	int16_t node_off;
	uint8_t names;
	bool data;
};

#define OFF(type, field) ((int16_t)offsetof(type, field))
static const struct op_spec ops[] = {
	{ FUSE_LOOKUP, 0, -1, -1, -1, 1, false },
	{ FUSE_FORGET, sizeof(struct fuse_forget_in), -1, -1, -1, 0, false },
	{ FUSE_GETATTR, sizeof(struct fuse_getattr_in), OFF(struct fuse_getattr_in, fh), -1, -1, 0,
	  false },
	{ FUSE_SETATTR, sizeof(struct fuse_setattr_in), OFF(struct fuse_setattr_in, fh), -1, -1, 0,
	  false },
	{ FUSE_READLINK, 0, -1, -1, -1, 0, false },
	{ FUSE_SYMLINK, 0, -1, -1, -1, 2, false },
	{ FUSE_MKNOD, sizeof(struct fuse_mknod_in), -1, -1, -1, 1, false },
	{ FUSE_MKDIR, sizeof(struct fuse_mkdir_in), -1, -1, -1, 1, false },
	{ FUSE_UNLINK, 0, -1, -1, -1, 1, false },
	{ FUSE_RMDIR, 0, -1, -1, -1, 1, false },
	{ FUSE_RENAME, sizeof(struct fuse_rename_in), -1, -1, OFF(struct fuse_rename_in, newdir), 2,
	  false },
	{ FUSE_LINK, sizeof(struct fuse_link_in), -1, -1, OFF(struct fuse_link_in, oldnodeid), 1,
	  false },
	{ FUSE_OPEN, sizeof(struct fuse_open_in), -1, -1, -1, 0, false },
	{ FUSE_READ, sizeof(struct fuse_read_in), OFF(struct fuse_read_in, fh), -1, -1, 0, false },
	{ FUSE_WRITE, sizeof(struct fuse_write_in), OFF(struct fuse_write_in, fh), -1, -1, 0, true },
	{ FUSE_STATFS, 0, -1, -1, -1, 0, false },
	{ FUSE_RELEASE, sizeof(struct fuse_release_in), OFF(struct fuse_release_in, fh), -1, -1, 0,
	  false },
	{ FUSE_FSYNC, sizeof(struct fuse_fsync_in), OFF(struct fuse_fsync_in, fh), -1, -1, 0, false },
	{ FUSE_SETXATTR, FUSE_COMPAT_SETXATTR_IN_SIZE, -1, -1, -1, 1, true },
	{ FUSE_GETXATTR, sizeof(struct fuse_getxattr_in), -1, -1, -1, 1, false },
	{ FUSE_LISTXATTR, sizeof(struct fuse_getxattr_in), -1, -1, -1, 0, false },
	{ FUSE_REMOVEXATTR, 0, -1, -1, -1, 1, false },
	{ FUSE_FLUSH, sizeof(struct fuse_flush_in), OFF(struct fuse_flush_in, fh), -1, -1, 0, false },
	{ FUSE_INIT, sizeof(struct fuse_init_in), -1, -1, -1, 0, false },
	{ FUSE_OPENDIR, sizeof(struct fuse_open_in), -1, -1, -1, 0, false },
	{ FUSE_READDIR, sizeof(struct fuse_read_in), OFF(struct fuse_read_in, fh), -1, -1, 0,
	  false },
	{ FUSE_RELEASEDIR, sizeof(struct fuse_release_in), OFF(struct fuse_release_in, fh), -1, -1,
	  0, false },
	{ FUSE_FSYNCDIR, sizeof(struct fuse_fsync_in), OFF(struct fuse_fsync_in, fh), -1, -1, 0,
	  false },
	{ FUSE_GETLK, sizeof(struct fuse_lk_in), OFF(struct fuse_lk_in, fh), -1, -1, 0, false },
	{ FUSE_SETLK, sizeof(struct fuse_lk_in), OFF(struct fuse_lk_in, fh), -1, -1, 0, false },
	{ FUSE_SETLKW, sizeof(struct fuse_lk_in), OFF(struct fuse_lk_in, fh), -1, -1, 0, false },
	{ FUSE_ACCESS, sizeof(struct fuse_access_in), -1, -1, -1, 0, false },
	{ FUSE_CREATE, sizeof(struct fuse_create_in), -1, -1, -1, 1, false },
	{ FUSE_INTERRUPT, sizeof(struct fuse_interrupt_in), -1, -1, -1, 0, false },
	{ FUSE_DESTROY, 0, -1, -1, -1, 0, false },
	{ FUSE_IOCTL, sizeof(struct fuse_ioctl_in), OFF(struct fuse_ioctl_in, fh), -1, -1, 0,
	  false },
	{ FUSE_BATCH_FORGET, sizeof(struct fuse_batch_forget_in), -1, -1, -1, 0, false },
	{ FUSE_FALLOCATE, sizeof(struct fuse_fallocate_in), OFF(struct fuse_fallocate_in, fh), -1,
	  -1, 0, false },
	{ FUSE_READDIRPLUS, sizeof(struct fuse_read_in), OFF(struct fuse_read_in, fh), -1, -1, 0,
	  false },
	{ FUSE_RENAME2, sizeof(struct fuse_rename2_in), -1, -1, OFF(struct fuse_rename2_in, newdir),
	  2, false },
	{ FUSE_LSEEK, sizeof(struct fuse_lseek_in), OFF(struct fuse_lseek_in, fh), -1, -1, 0,
	  false },
	{ FUSE_COPY_FILE_RANGE, sizeof(struct fuse_copy_file_range_in),
	  OFF(struct fuse_copy_file_range_in, fh_in), OFF(struct fuse_copy_file_range_in, fh_out),
	  OFF(struct fuse_copy_file_range_in, nodeid_out), 0, false },
	{ FUSE_SYNCFS, sizeof(struct fuse_syncfs_in), -1, -1, -1, 0, false },
};
#define NR_OPS (sizeof(ops) / sizeof(ops[0]))

static const char *const names[] = {
	"f", "d", "g", "sub", "up", "abs", "loop", "dotdot", "hl", "p", "sparse", "empty",
	"ov", "once", "vd", "inner", "new", "new2", ".", "..", "", "a/b", "secret", "outside",
	"user.x", "trusted.x", "security.capability", "system.posix_acl_access", "/",
};
#define NR_NAMES (sizeof(names) / sizeof(names[0]))

static const char ov_data[] = "overlay file contents";

struct node {
	uint64_t id;
	uint64_t lookups;
};

static struct {
	char base[64];
	char share[96];
	char outside[96];
	char secret[128];
	bool root;
	/* Per input. */
	struct fuse_server *srv;
	uint64_t unique;
	struct node nodes[MAX_NODES];
	unsigned int nr_nodes;
	uint64_t fhs[MAX_FHS];
	unsigned int nr_fhs;
	bool lost_track;
	unsigned char in[IN_MAX];
} st;

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	/* Whatever mode a fuzzed SETATTR left, a directory's entries can go
	 * (never chmod() anything else: that would follow symlinks). */
	if (flag == FTW_DP)
		chmod(p, 0700);
	return remove(p);
}

static void rm_tree(const char *path)
{
	chmod(path, 0700);
	nftw(path, rm_cb, 16, FTW_DEPTH | FTW_PHYS | FTW_MOUNT);
}

static void cleanup(void)
{
	rm_tree(st.base);
}

static void put_file(const char *rel, const char *data, off_t at)
{
	char p[160];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", st.share, rel);
	fd = open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	require(fd >= 0);
	require(pwrite(fd, data, strlen(data), at) == (ssize_t)strlen(data));
	close(fd);
}

static void put_link(const char *target, const char *rel)
{
	char p[160];

	snprintf(p, sizeof(p), "%s/%s", st.share, rel);
	require(symlink(target, p) == 0);
}

static void build_share(void)
{
	char p[160];

	rm_tree(st.share);
	require(mkdir(st.share, 0755) == 0);
	put_file("f", "file contents", 0);
	put_file("empty", "", 0);
	put_file("sparse", "tail", 1 << 20);
	put_file("sparse", "head", 0);
	snprintf(p, sizeof(p), "%s/d", st.share);
	require(mkdir(p, 0755) == 0);
	snprintf(p, sizeof(p), "%s/d/sub", st.share);
	require(mkdir(p, 0700) == 0);
	put_file("d/g", "in d", 0);
	put_link("../outside/secret", "up");
	put_link(st.secret, "abs");
	put_link("loop", "loop");
	put_link("..", "dotdot");
	put_link("../../outside", "d/up2");
	snprintf(p, sizeof(p), "%s/p", st.share);
	require(mkfifo(p, 0644) == 0);
	{
		char from[160];

		snprintf(from, sizeof(from), "%s/f", st.share);
		snprintf(p, sizeof(p), "%s/hl", st.share);
		require(link(from, p) == 0);
	}
}

/* Everything next to the share is as the harness left it. */
static void check_outside(void)
{
	char buf[32];
	struct stat sb;
	struct dirent *de;
	DIR *d;
	int fd, n = 0;
	ssize_t len;

	fd = open(st.secret, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	check(fd >= 0);
	len = read(fd, buf, sizeof(buf));
	check(len == (ssize_t)strlen(SECRET) && memcmp(buf, SECRET, (size_t)len) == 0);
	check(fstat(fd, &sb) == 0 && (sb.st_mode & 07777) == 0600 && sb.st_nlink == 1);
	close(fd);
	d = opendir(st.outside);
	check(d != NULL);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			check(strcmp(de->d_name, "secret") == 0 && ++n == 1);
	closedir(d);
	d = opendir(st.base);
	check(d != NULL);
	n = 0;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			check((strcmp(de->d_name, "share") == 0 ||
			       strcmp(de->d_name, "outside") == 0) && ++n <= 2);
	closedir(d);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	require(d != NULL);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static void setup(void)
{
	struct rlimit fsize = { 16u << 20, 16u << 20 };
	char p[160];
	int fd;

	krun_log_configure(2, LOG_LVL_OFF);
	/* tmpfs when there is one: a journalling filesystem makes every
	 * input's fresh tree (and every FSYNC) ten times slower. */
	strcpy(st.base, "/dev/shm/krun-fuzz-fuse-XXXXXX");
	if (!mkdtemp(st.base)) {
		strcpy(st.base, "/tmp/krun-fuzz-fuse-XXXXXX");
		require(mkdtemp(st.base) != NULL);
	}
	snprintf(st.share, sizeof(st.share), "%s/share", st.base);
	snprintf(st.outside, sizeof(st.outside), "%s/outside", st.base);
	snprintf(st.secret, sizeof(st.secret), "%s/secret", st.outside);
	require(mkdir(st.outside, 0755) == 0);
	fd = open(st.secret, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
	require(fd >= 0 && write(fd, SECRET, strlen(SECRET)) == (ssize_t)strlen(SECRET));
	close(fd);
	snprintf(p, sizeof(p), "%s/share", st.base);
	require(mkdir(p, 0755) == 0);
	st.root = geteuid() == 0;
	signal(SIGXFSZ, SIG_IGN);
	require(setrlimit(RLIMIT_FSIZE, &fsize) == 0);
	atexit(cleanup);
}

/* ---- tracking what the server hands out ---------------------------------- */

static void track_node(uint64_t id)
{
	for (unsigned int i = 0; i < st.nr_nodes; i++) {
		if (st.nodes[i].id == id) {
			st.nodes[i].lookups++;
			return;
		}
	}
	if (st.nr_nodes == MAX_NODES) {
		st.lost_track = true;
		return;
	}
	st.nodes[st.nr_nodes].id = id;
	st.nodes[st.nr_nodes++].lookups = 1;
}

static void track_fh(uint64_t fh)
{
	if (st.nr_fhs == MAX_FHS)
		st.lost_track = true;
	else
		st.fhs[st.nr_fhs++] = fh;
}

static void track_reply(uint32_t opcode, const unsigned char *p, size_t len)
{
	struct fuse_entry_out e;
	struct fuse_open_out o;

	switch (opcode) {
	case FUSE_LOOKUP:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_SYMLINK:
	case FUSE_LINK:
		check(len == sizeof(e));
		memcpy(&e, p, sizeof(e));
		check(e.nodeid != 0);
		track_node(e.nodeid);
		break;
	case FUSE_CREATE:
		check(len == sizeof(e) + sizeof(o));
		memcpy(&e, p, sizeof(e));
		memcpy(&o, p + sizeof(e), sizeof(o));
		track_node(e.nodeid);
		track_fh(o.fh);
		break;
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		check(len == sizeof(o));
		memcpy(&o, p, sizeof(o));
		track_fh(o.fh);
		break;
	case FUSE_READDIRPLUS:
		for (size_t off = 0; off < len;) {
			struct fuse_direntplus dp;

			check(len - off >= sizeof(dp));
			memcpy(&dp, p + off, sizeof(dp));
			check(dp.dirent.namelen > 0 && dp.dirent.namelen <= 255);
			check(FUSE_DIRENTPLUS_SIZE(&dp) <= len - off);
			if (dp.entry_out.nodeid)
				track_node(dp.entry_out.nodeid);
			off += FUSE_DIRENTPLUS_SIZE(&dp);
		}
		break;
	default:
		break;
	}
}

/* ---- building and sending requests --------------------------------------- */

static uint64_t pick_node(struct reader *r)
{
	uint8_t sel = get8(r);

	if (sel >= 0xf0 || !st.nr_nodes)
		return sel >= 0xf8 ? FUSE_ROOT_ID : (uint64_t)sel << 24 | get8(r);
	return st.nodes[sel % st.nr_nodes].id;
}

static uint64_t pick_fh(struct reader *r)
{
	uint8_t sel = get8(r);

	if (sel >= 0xf0 || !st.nr_fhs)
		return (uint64_t)get32(r) | (uint64_t)(sel & 1) << 32;
	return st.fhs[sel % st.nr_fhs];
}

static void get_bytes(struct reader *r, unsigned char *dst, size_t n)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = get8(r);
}

/* A name, NUL included; returns its length. */
static size_t put_name(struct reader *r, unsigned char *dst)
{
	uint8_t sel = get8(r);
	size_t n;

	if (sel < 0xe0) {
		const char *s = names[sel % NR_NAMES];

		n = strlen(s);
		memcpy(dst, s, n);
	} else if (sel < 0xf0) {
		/* Just over the longest valid name. */
		n = 255 + (sel & 1);
		memset(dst, 'n', n);
	} else {
		n = get8(r) % 64;
		get_bytes(r, dst, n);
	}
	dst[n] = '\0';
	return n + 1;
}

static void put_u64(unsigned char *body, int16_t off, uint64_t v)
{
	if (off >= 0)
		memcpy(body + off, &v, sizeof(v));
}

/* Keeps the host side small and within what this target is for. */
static void tame(uint32_t opcode, unsigned char *body, size_t len)
{
	if (opcode == FUSE_MKNOD && len >= sizeof(struct fuse_mknod_in) && st.root) {
		struct fuse_mknod_in mn;

		memcpy(&mn, body, sizeof(mn));
		if (S_ISCHR(mn.mode) || S_ISBLK(mn.mode))
			mn.mode = (mn.mode & 07777) | S_IFIFO;
		memcpy(body, &mn, sizeof(mn));
	} else if (opcode == FUSE_FALLOCATE && len >= sizeof(struct fuse_fallocate_in)) {
		struct fuse_fallocate_in fa;

		memcpy(&fa, body, sizeof(fa));
		fa.length &= 0xfffff;
		memcpy(body, &fa, sizeof(fa));
	} else if (opcode == FUSE_COPY_FILE_RANGE && len >= sizeof(struct fuse_copy_file_range_in)) {
		struct fuse_copy_file_range_in c;

		memcpy(&c, body, sizeof(c));
		c.len &= 0xfffff;
		memcpy(body, &c, sizeof(c));
	}
}

static size_t build_body(struct reader *r, const struct op_spec *op, unsigned char *body)
{
	size_t len = op->size;

	get_bytes(r, body, op->size);
	if (op->fh_off >= 0 && get8(r) < 0xf0)
		put_u64(body, op->fh_off, pick_fh(r));
	if (op->fh2_off >= 0 && get8(r) < 0xf0)
		put_u64(body, op->fh2_off, pick_fh(r));
	if (op->node_off >= 0 && get8(r) < 0xf0)
		put_u64(body, op->node_off, pick_node(r));
	for (unsigned int i = 0; i < op->names; i++)
		len += put_name(r, body + len);
	if (op->data) {
		size_t n = get16(r) % 4096;

		get_bytes(r, body + len, n);
		if (op->opcode == FUSE_WRITE) {
			struct fuse_write_in w;

			memcpy(&w, body, sizeof(w));
			w.size = (get8(r) & 1) ? w.size : (uint32_t)n;
			memcpy(body, &w, sizeof(w));
		} else {
			struct fuse_setxattr_in x;

			memcpy(&x, body, FUSE_COMPAT_SETXATTR_IN_SIZE);
			x.size = (get8(r) & 1) ? x.size : (uint32_t)n;
			memcpy(body, &x, FUSE_COMPAT_SETXATTR_IN_SIZE);
		}
		len += n;
	}
	if (op->opcode == FUSE_BATCH_FORGET) {
		unsigned int n = get8(r) % 8;
		struct fuse_batch_forget_in b;

		memcpy(&b, body, sizeof(b));
		b.count = (get8(r) & 1) ? b.count : n;
		memcpy(body, &b, sizeof(b));
		for (unsigned int i = 0; i < n; i++) {
			struct fuse_forget_one one = { .nodeid = pick_node(r), .nlookup = get8(r) };

			memcpy(body + len, &one, sizeof(one));
			len += sizeof(one);
		}
	}
	tame(op->opcode, body, len);
	return len;
}

/* Splits [buf, buf + len) into up to 4 iovecs at input-chosen points. */
static unsigned int split(struct reader *r, bool on, unsigned char *buf, size_t len,
			  struct iovec *iov)
{
	unsigned int n = 0;
	size_t pos = 0;

	if (on) {
		for (unsigned int i = 0; i < 3 && pos < len; i++) {
			size_t piece = get16(r) % (len - pos + 1);

			iov[n].iov_base = buf + pos;
			iov[n++].iov_len = piece;
			pos += piece;
		}
	}
	iov[n].iov_base = buf + pos;
	iov[n++].iov_len = len - pos;
	return n;
}

static size_t out_room(struct reader *r, unsigned int cls)
{
	switch (cls) {
	case 0:
		return BIG_OUT;
	case 1:
		return get16(r) % 320;
	case 2:
		return 0;
	default:
		return sizeof(struct fuse_out_header) + get8(r) % 160;
	}
}

/* Sends one request as the device would and checks the answer's frame. */
static void send_req(struct reader *r, uint32_t opcode, uint64_t nodeid, size_t body_len,
		     size_t room, bool split_in, bool split_out, const uint32_t *raw_len)
{
	struct iovec in[4], out[4];
	struct fuse_in_header h;
	struct fuse_out_header oh;
	unsigned int in_cnt, out_cnt;
	unsigned char *obuf;
	size_t total = sizeof(h) + body_len, reply_len = 99;
	unsigned char *ibuf;
	int ret;

	memset(&h, 0, sizeof(h));
	h.len = raw_len ? *raw_len : (uint32_t)total;
	h.opcode = opcode;
	h.unique = ++st.unique;
	h.nodeid = nodeid;
	h.uid = getuid();
	h.gid = getgid();
	h.pid = 1;
	memcpy(st.in, &h, sizeof(h));
	/* Exact-size copies: a read or write past either end is an ASan report. */
	ibuf = malloc(total);
	obuf = malloc(room ? room : 1);
	require(ibuf && obuf);
	memcpy(ibuf, st.in, total);
	in_cnt = split(r, split_in, ibuf, total, in);
	out_cnt = split(r, split_out, obuf, room, out);
	ret = fuse_server_handle(st.srv, in, in_cnt, out, room ? out_cnt : 0, &reply_len);
	check(ret <= 0 && reply_len <= room);
	if (ret < 0) {
		check(reply_len == 0);
	} else if (reply_len) {
		check(reply_len >= sizeof(oh));
		memcpy(&oh, obuf, sizeof(oh));
		check(oh.unique == h.unique && oh.len == reply_len && oh.error <= 0);
		check(oh.error == 0 || reply_len == sizeof(oh));
		if (oh.error == 0)
			track_reply(opcode, obuf + sizeof(oh), reply_len - sizeof(oh));
	}
	free(ibuf);
	free(obuf);
}

static void send_simple(uint32_t opcode, uint64_t nodeid, const void *arg, size_t len)
{
	struct reader none = { NULL, 0 };

	memcpy(st.in + sizeof(struct fuse_in_header), arg, len);
	send_req(&none, opcode, nodeid, len, BIG_OUT, false, false, NULL);
}

static void send_init(void)
{
	struct fuse_init_in in;

	memset(&in, 0, sizeof(in));
	in.major = FUSE_KERNEL_VERSION;
	in.minor = FUSE_KERNEL_MINOR_VERSION;
	in.max_readahead = 128 << 10;
	in.flags = 0xffffffffu;
	send_simple(FUSE_INIT, 0, &in, sizeof(in));
}

static void one_request(struct reader *r)
{
	uint8_t sel = get8(r), how = get8(r);
	const struct op_spec *op = NULL;
	unsigned char *body = st.in + sizeof(struct fuse_in_header);
	uint32_t opcode, raw_len;
	uint64_t nodeid;
	size_t len, room;

	if (sel == 0xff) {
		opcode = get32(r);
	} else {
		op = &ops[sel % NR_OPS];
		opcode = op->opcode;
	}
	switch (how & 3) {
	case 1:
		nodeid = FUSE_ROOT_ID;
		break;
	case 3:
		nodeid = (uint64_t)get32(r) << 32 | get32(r);
		break;
	default:
		nodeid = pick_node(r);
		break;
	}
	room = out_room(r, (how >> 2) & 3);
	if ((how & 0x40) || !op) {
		len = get16(r) % RAW_BODY_MAX;
		get_bytes(r, body, len);
		tame(opcode, body, len);
	} else {
		len = build_body(r, op, body);
	}
	raw_len = get32(r);
	send_req(r, opcode, nodeid, len, room, how & 0x10, how & 0x20,
		 (how & 0x80) ? &raw_len : NULL);
}

/* Gives back everything the server handed out; it must then hold only its
 * root. */
static void give_back(void)
{
	struct fuse_server_stats s;

	send_init();	/* the input may have sent DESTROY */
	for (unsigned int i = 0; i < st.nr_fhs; i++) {
		struct fuse_release_in rel;

		memset(&rel, 0, sizeof(rel));
		rel.fh = st.fhs[i];
		send_simple(FUSE_RELEASE, FUSE_ROOT_ID, &rel, sizeof(rel));
	}
	for (unsigned int i = 0; i < st.nr_nodes; i++) {
		struct fuse_forget_in fg = { .nlookup = st.nodes[i].lookups };

		send_simple(FUSE_FORGET, st.nodes[i].id, &fg, sizeof(fg));
	}
	fuse_server_get_stats(st.srv, &s);
	if (!st.lost_track)
		check(s.handles == 0 && s.inode_fds == 0 && s.inodes == 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	struct reader r = { data, size };
	uint8_t mode = get8(&r);
	int fds, err = 0;

	if (!ready) {
		setup();
		ready = true;
	}
	build_share();
	fds = count_fds();
	st.srv = fuse_server_create((mode & 2) ? NULL : st.share, mode & 1, &err);
	require(st.srv != NULL);
	st.unique = 0;
	st.nr_nodes = st.nr_fhs = 0;
	st.lost_track = false;
	require(fuse_server_add_overlay_file(st.srv, "ov", ov_data, sizeof(ov_data) - 1, 0644,
					     false) == 0);
	require(fuse_server_add_overlay_file(st.srv, "once", ov_data, 5, 0755, true) == 0);
	require(fuse_server_add_overlay_dir(st.srv, "vd", 0755) == 0);
	require(fuse_server_add_overlay_file(st.srv, "vd/inner", ov_data, 0, 0600, false) == 0);
	if (mode & 8) {
		uint8_t l = get8(&r);
		struct fuse_server_limits lim = { 1 + (l & 15), 1 + (l >> 4) };

		require(fuse_server_set_limits(st.srv, &lim) == 0);
	}
	if (!(mode & 4))
		send_init();
	for (int i = 0; i < MAX_REQS && r.left; i++)
		one_request(&r);
	give_back();
	fuse_server_destroy(st.srv);
	st.srv = NULL;
	check(count_fds() == fds);
	check_outside();
	return 0;
}
