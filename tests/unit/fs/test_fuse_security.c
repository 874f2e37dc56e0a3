// SPDX-License-Identifier: Apache-2.0
/*
 * Hostile input: malformed requests, confinement to the shared directory,
 * read-only mode, virtual overlay files and the exit-code ioctl.
 */
#include "test.h"
#include "fs_test_util.h"

static void test_malformed_truncated_header(void)
{
	struct t t;
	unsigned char req[20] = { 0 };
	struct iovec iv = { req, sizeof(req) }, ov;
	size_t rlen = 123;

	CHECK_EQ(t_setup(&t), 0);
	ov.iov_base = t.out;
	ov.iov_len = OUT_CAP;
	CHECK_EQ(fuse_server_handle(t.srv, &iv, 1, &ov, 1, &rlen), -EINVAL);
	CHECK_EQ(rlen, 0);
	CHECK_EQ(fuse_server_handle(t.srv, NULL, 0, &ov, 1, &rlen), -EINVAL);
	t_teardown(&t);
}

static void test_malformed_len_too_big(void)
{
	struct t t;
	struct fuse_in_header h;
	struct iovec iv = { &h, sizeof(h) }, ov;
	struct fuse_out_header oh;
	size_t rlen;

	CHECK_EQ(t_setup(&t), 0);
	memset(&h, 0, sizeof(h));
	h.len = 4096;
	h.opcode = FUSE_GETATTR;
	h.unique = 5;
	h.nodeid = FUSE_ROOT_ID;
	ov.iov_base = t.out;
	ov.iov_len = OUT_CAP;
	CHECK_EQ(fuse_server_handle(t.srv, &iv, 1, &ov, 1, &rlen), 0);
	CHECK_EQ(rlen, sizeof(oh));
	memcpy(&oh, t.out, sizeof(oh));
	CHECK_EQ(oh.error, -EINVAL);
	CHECK_EQ(oh.unique, 5);
	/* len smaller than the header itself */
	h.len = 8;
	CHECK_EQ(fuse_server_handle(t.srv, &iv, 1, &ov, 1, &rlen), 0);
	memcpy(&oh, t.out, sizeof(oh));
	CHECK_EQ(oh.error, -EINVAL);
	/* extension length beyond the request */
	h.len = sizeof(h);
	h.total_extlen = 100;
	CHECK_EQ(fuse_server_handle(t.srv, &iv, 1, &ov, 1, &rlen), 0);
	memcpy(&oh, t.out, sizeof(oh));
	CHECK_EQ(oh.error, -EINVAL);
	/* No room for the reply header. */
	h.total_extlen = 0;
	ov.iov_len = 8;
	CHECK_EQ(fuse_server_handle(t.srv, &iv, 1, &ov, 1, &rlen), -ENOBUFS);
	CHECK_EQ(rlen, 0);
	t_teardown(&t);
}

static void test_malformed_short_args(void)
{
	struct t t;
	uint32_t small = 0;

	CHECK_EQ(t_setup(&t), 0);
	/* Every fixed-size argument struct is required in full. */
	static const uint32_t ops[] = { FUSE_GETATTR, FUSE_SETATTR, FUSE_MKNOD, FUSE_MKDIR,
					FUSE_RENAME, FUSE_RENAME2, FUSE_LINK, FUSE_OPEN,
					FUSE_READ, FUSE_WRITE, FUSE_RELEASE, FUSE_FSYNC,
					FUSE_GETXATTR, FUSE_LISTXATTR, FUSE_FLUSH, FUSE_OPENDIR,
					FUSE_READDIR, FUSE_READDIRPLUS, FUSE_RELEASEDIR,
					FUSE_GETLK, FUSE_SETLK, FUSE_SETLKW, FUSE_ACCESS,
					FUSE_CREATE, FUSE_IOCTL, FUSE_FALLOCATE, FUSE_LSEEK,
					FUSE_COPY_FILE_RANGE, FUSE_SETXATTR, FUSE_INIT };

	for (unsigned int i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		int32_t err = t_req(&t, ops[i], FUSE_ROOT_ID, ARG(small), END);

		if (err != -EINVAL)
			fprintf(stderr, "  opcode %u -> %d\n", ops[i], err);
		CHECK_EQ(err, -EINVAL);
	}
	/* FORGET with short args: no reply, no crash. */
	t_req(&t, FUSE_FORGET, FUSE_ROOT_ID, ARG(small), END);
	CHECK_EQ(t.reply_len, 0);
	/* BATCH_FORGET claiming more entries than present. */
	{
		struct fuse_batch_forget_in b = { .count = 1000000 };

		t_req(&t, FUSE_BATCH_FORGET, 0, ARG(b), END);
		CHECK_EQ(t.reply_len, 0);
	}
	CHECK_EQ(t_getattr(&t, FUSE_ROOT_ID, NULL), 0);
	t_teardown(&t);
}

static void test_malformed_names(void)
{
	struct t t;
	struct fuse_mkdir_in mk = { .mode = 0755 };
	struct fuse_entry_out e;
	char noterm[8] = { 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h' };
	struct stat st;

	CHECK_EQ(t_setup(&t), 0);
	/* Name without NUL within the request. */
	CHECK_EQ(t_req(&t, FUSE_LOOKUP, FUSE_ROOT_ID, noterm, sizeof(noterm), END), -EINVAL);
	CHECK_EQ(t_req(&t, FUSE_MKDIR, FUSE_ROOT_ID, ARG(mk), noterm, sizeof(noterm), END), -EINVAL);
	/* Slashes, dot entries, empty names. */
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "a/b", 0755, NULL), -EINVAL);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "../escape", 0755, NULL), -EINVAL);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "..", 0755, NULL), -EINVAL);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, ".", 0755, NULL), -EINVAL);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "", 0755, NULL), -EINVAL);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "../outside", NULL), -EINVAL);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "/etc", NULL), -EINVAL);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "../outside/new", O_RDWR, 0644, NULL, NULL), -EINVAL);
	CHECK_EQ(t_req(&t, FUSE_SYMLINK, FUSE_ROOT_ID, STR("x/y"), STR("t"), END), -EINVAL);
	CHECK_EQ(t_req(&t, FUSE_UNLINK, FUSE_ROOT_ID, STR(".."), END), -EINVAL);
	CHECK_EQ(t_req(&t, FUSE_RMDIR, FUSE_ROOT_ID, STR("../outside"), END), -EINVAL);
	{
		struct fuse_rename_in rn = { .newdir = FUSE_ROOT_ID };

		write_host(tpath(&t, "f"), "x");
		CHECK_EQ(t_req(&t, FUSE_RENAME, FUSE_ROOT_ID, ARG(rn), STR("f"), STR("../outside/f"),
			       END), -EINVAL);
		/* Second name missing its NUL. */
		CHECK_EQ(t_req(&t, FUSE_RENAME, FUSE_ROOT_ID, ARG(rn), STR("f"), "gg", (size_t)2, END),
			 -EINVAL);
	}
	CHECK(stat(tpath(&t, "../outside/new"), &st) < 0);
	CHECK(stat(tpath(&t, "../outside/f"), &st) < 0);
	/* "." looks up the directory itself. */
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, ".", &e), 0);
	CHECK_EQ(e.nodeid, FUSE_ROOT_ID);
	t_teardown(&t);
}

static void test_malformed_ids(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_read_in rd;
	struct fuse_link_in li = { .oldnodeid = 0xdead00000005ull };

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_req(&t, 99, FUSE_ROOT_ID, END), -ENOSYS);
	CHECK_EQ(t_req(&t, 4096, FUSE_ROOT_ID, END), -ENOSYS);
	CHECK_EQ(t_req(&t, 0xffffffffu, FUSE_ROOT_ID, END), -ENOSYS);
	CHECK_EQ(t_getattr(&t, 0, NULL), -ESTALE);
	CHECK_EQ(t_getattr(&t, 12345, NULL), -ESTALE);
	CHECK_EQ(t_getattr(&t, 0xffffffffffffffffull, NULL), -ESTALE);
	CHECK_EQ(t_getattr(&t, (1ull << 32) | 1, NULL), -ESTALE); /* root slot, wrong generation */
	CHECK_EQ(t_lookup(&t, 777, "x", NULL), -ESTALE);
	CHECK_EQ(t_req(&t, FUSE_LINK, FUSE_ROOT_ID, ARG(li), STR("l"), END), -ESTALE);
	memset(&rd, 0, sizeof(rd));
	rd.fh = 0;
	rd.size = 10;
	CHECK_EQ(t_req(&t, FUSE_READ, FUSE_ROOT_ID, ARG(rd), END), -EBADF);
	rd.fh = 0xffffffffffffffffull;
	CHECK_EQ(t_req(&t, FUSE_READ, FUSE_ROOT_ID, ARG(rd), END), -EBADF);
	CHECK_EQ(t_write(&t, FUSE_ROOT_ID, 42, 0, "x", 1), -EBADF);
	/* A write claiming more data than it carries. */
	{
		struct fuse_write_in w;
		uint64_t fh;

		CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "w", O_RDWR, 0644, &e, &fh), 0);
		memset(&w, 0, sizeof(w));
		w.fh = fh;
		w.size = 100000;
		CHECK_EQ(t_req(&t, FUSE_WRITE, e.nodeid, ARG(w), "abc", (size_t)3, END), -EINVAL);
		/* A directory handle used for file I/O and vice versa. */
		rd.fh = fh;
		CHECK_EQ(t_req(&t, FUSE_READDIR, FUSE_ROOT_ID, ARG(rd), END), -ENOTDIR);
		CHECK_EQ(t_release(&t, e.nodeid, fh, false), 0);
		/* A released handle is dead, even if its slot is reused. */
		CHECK_EQ(t_read(&t, e.nodeid, fh, 0, 10), -EBADF);
		{
			uint64_t fh2;

			CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh2), 0);
			CHECK(fh2 != fh);
			CHECK_EQ(t_read(&t, e.nodeid, fh, 0, 10), -EBADF);
		}
	}
	t_teardown(&t);
}

static void test_confine_symlink_absolute(void)
{
	struct t t;
	struct fuse_entry_out e, e2;
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(symlink("/etc", tpath(&t, "etc")), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "etc", &e), 0);
	CHECK(S_ISLNK(e.attr.mode));
	/* The symlink is never traversed on the host. */
	CHECK_EQ(t_lookup(&t, e.nodeid, "passwd", &e2), -ENOTDIR);
	CHECK_EQ(t_opendir(&t, e.nodeid, &fh), -ENOTDIR);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh), -ELOOP);
	CHECK_EQ(t_mkdir(&t, e.nodeid, "x", 0755, NULL), -ENOTDIR);
	CHECK_EQ(t_create(&t, e.nodeid, "x", O_RDWR, 0644, NULL, NULL), -ENOTDIR);
	/* Only the link text comes back; the guest resolves it in its own tree. */
	CHECK_EQ(t_req(&t, FUSE_READLINK, e.nodeid, END), 0);
	CHECK_EQ(t.len, 4);
	t_teardown(&t);
}

static void test_confine_symlink_relative(void)
{
	struct t t;
	struct fuse_entry_out e;
	uint64_t fh;
	struct fuse_create_in ci = { .flags = O_RDWR, .mode = 0644 };
	char buf[64];

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(symlink("../../outside", tpath(&t, "up")), 0);
	CHECK_EQ(symlink("../outside/secret", tpath(&t, "sec")), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "up", &e), 0);
	CHECK(S_ISLNK(e.attr.mode));
	CHECK_EQ(t_lookup(&t, e.nodeid, "secret", NULL), -ENOTDIR);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "sec", &e), 0);
	CHECK(S_ISLNK(e.attr.mode));
	CHECK_EQ(e.attr.size, 17);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh), -ELOOP);
	/* Creating through a dangling-outward symlink name must not write outside. */
	CHECK_EQ(symlink("../outside/created", tpath(&t, "dangle")), 0);
	CHECK(t_req(&t, FUSE_CREATE, FUSE_ROOT_ID, ARG(ci), STR("dangle"), END) < 0);
	CHECK(access(tpath(&t, "../outside/created"), F_OK) < 0);
	/* Non-exclusive create of the outward symlink name: not opened. */
	CHECK(t_req(&t, FUSE_CREATE, FUSE_ROOT_ID, ARG(ci), STR("sec"), END) < 0);
	CHECK_EQ(read_host(tpath(&t, "../outside/secret"), buf, sizeof(buf)), 9);
	t_teardown(&t);
}

static void test_confine_dotdot_root(void)
{
	struct t t;
	struct fuse_entry_out e, d;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "..", &e), 0);
	CHECK_EQ(e.nodeid, FUSE_ROOT_ID);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "secret", NULL), -ENOENT);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "sub", 0755, &d), 0);
	CHECK_EQ(t_lookup(&t, d.nodeid, "..", &e), 0);
	CHECK_EQ(e.nodeid, FUSE_ROOT_ID);
	CHECK_EQ(t_lookup(&t, e.nodeid, "..", &e), 0);
	CHECK_EQ(e.nodeid, FUSE_ROOT_ID);
	t_teardown(&t);
}

static void test_confine_renamed_dir(void)
{
	struct t t;
	struct fuse_entry_out d, e;
	char from[2 * PATH_MAX], to[2 * PATH_MAX];

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "d", 0755, &d), 0);
	CHECK_EQ(t_mkdir(&t, d.nodeid, "inner", 0755, NULL), 0);
	/* Someone on the host moves the directory out of the share while the
	 * guest holds its nodeid. */
	snprintf(from, sizeof(from), "%s/d", t.share);
	snprintf(to, sizeof(to), "%s/d", t.outside);
	CHECK_EQ(rename(from, to), 0);
	CHECK_EQ(t_lookup(&t, d.nodeid, "..", &e), -EACCES);
	CHECK_EQ(t_lookup(&t, d.nodeid, "secret", NULL), -ENOENT);
	/* Its inner directory cannot climb out either. */
	CHECK_EQ(t_lookup(&t, d.nodeid, "inner", &e), 0);
	CHECK_EQ(t_lookup(&t, e.nodeid, "..", NULL), -EACCES);
	/* Moved back in: ".." works again. */
	CHECK_EQ(rename(to, from), 0);
	CHECK_EQ(t_lookup(&t, d.nodeid, "..", &e), 0);
	CHECK_EQ(e.nodeid, FUSE_ROOT_ID);
	t_teardown(&t);
}

static void test_confine_rename_race_inside(void)
{
	struct t t;
	struct fuse_entry_out a, b, e;
	char from[2 * PATH_MAX], to[2 * PATH_MAX];

	/* a/b held by nodeid; a is renamed on the host: lookups through the
	 * held nodeid keep working on the same directory, wherever it went
	 * inside the share. */
	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "a", 0755, &a), 0);
	CHECK_EQ(t_mkdir(&t, a.nodeid, "b", 0755, &b), 0);
	write_host(tpath(&t, "a/b/file"), "in-b");
	snprintf(from, sizeof(from), "%s/a", t.share);
	snprintf(to, sizeof(to), "%s/z", t.share);
	CHECK_EQ(rename(from, to), 0);
	CHECK_EQ(t_lookup(&t, b.nodeid, "file", &e), 0);
	CHECK_EQ(e.attr.size, 4);
	CHECK_EQ(t_lookup(&t, b.nodeid, "..", &e), 0);
	CHECK_EQ(e.nodeid, a.nodeid);
	t_teardown(&t);
}

static void test_confine_proc_magic_links(void)
{
	struct t t;
	struct fuse_entry_out e;
	char target[64];
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	/* Links into /proc (magic links on the host) stay plain symlinks. */
	CHECK_EQ(symlink("/proc/self/root", tpath(&t, "procroot")), 0);
	snprintf(target, sizeof(target), "/proc/self/fd/%d", 3);
	CHECK_EQ(symlink(target, tpath(&t, "procfd")), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "procroot", &e), 0);
	CHECK(S_ISLNK(e.attr.mode));
	CHECK_EQ(t_lookup(&t, e.nodeid, "etc", NULL), -ENOTDIR);
	CHECK_EQ(t_opendir(&t, e.nodeid, &fh), -ENOTDIR);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "procfd", &e), 0);
	CHECK(S_ISLNK(e.attr.mode));
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh), -ELOOP);
	/* Hard links made by the guest need a nodeid it already holds: only
	 * files inside the share can be linked. */
	{
		struct fuse_link_in li = { .oldnodeid = FUSE_ROOT_ID };

		CHECK_EQ(t_req(&t, FUSE_LINK, FUSE_ROOT_ID, ARG(li), STR("rootlink"), END), -EPERM);
	}
	/* Extended attributes of a symlink never follow it. */
	{
		struct fuse_getxattr_in gi = { .size = 64 };

		CHECK_EQ(t_req(&t, FUSE_GETXATTR, e.nodeid, ARG(gi), STR("user.x"), END), -ENODATA);
	}
	t_teardown(&t);
}

static void test_read_only(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_setattr_in sa;
	struct fuse_mknod_in mn = { .mode = S_IFIFO | 0644 };
	struct fuse_rename_in rn = { .newdir = FUSE_ROOT_ID };
	struct fuse_rename2_in r2 = { .newdir = FUSE_ROOT_ID };
	struct fuse_link_in li;
	struct fuse_setxattr_in si = { .size = 1 };
	struct fuse_fallocate_in fa;
	struct fuse_copy_file_range_in cfr;
	struct fuse_access_in ac = { .mask = W_OK };
	uint64_t fh;
	char buf[32];

	CHECK_EQ(t_setup_opts(&t, true, true), 0);
	write_host(tpath(&t, "f"), "readonly");
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", &e), 0);
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_SIZE;
	CHECK_EQ(t_req(&t, FUSE_SETATTR, e.nodeid, ARG(sa), END), -EROFS);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "d", 0755, NULL), -EROFS);
	CHECK_EQ(t_req(&t, FUSE_MKNOD, FUSE_ROOT_ID, ARG(mn), STR("p"), END), -EROFS);
	CHECK_EQ(t_req(&t, FUSE_SYMLINK, FUSE_ROOT_ID, STR("s"), STR("f"), END), -EROFS);
	CHECK_EQ(t_req(&t, FUSE_UNLINK, FUSE_ROOT_ID, STR("f"), END), -EROFS);
	CHECK_EQ(t_req(&t, FUSE_RMDIR, FUSE_ROOT_ID, STR("f"), END), -EROFS);
	CHECK_EQ(t_req(&t, FUSE_RENAME, FUSE_ROOT_ID, ARG(rn), STR("f"), STR("g"), END), -EROFS);
	CHECK_EQ(t_req(&t, FUSE_RENAME2, FUSE_ROOT_ID, ARG(r2), STR("f"), STR("g"), END), -EROFS);
	li.oldnodeid = e.nodeid;
	CHECK_EQ(t_req(&t, FUSE_LINK, FUSE_ROOT_ID, ARG(li), STR("h"), END), -EROFS);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "new", O_RDWR, 0644, NULL, NULL), -EROFS);
	CHECK_EQ(t_req(&t, FUSE_SETXATTR, e.nodeid, &si, (size_t)8, STR("user.a"), "b", (size_t)1,
		       END), -EROFS);
	CHECK_EQ(t_req(&t, FUSE_REMOVEXATTR, e.nodeid, STR("user.a"), END), -EROFS);
	CHECK_EQ(t_open(&t, e.nodeid, O_WRONLY, &fh), -EROFS);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDWR, &fh), -EROFS);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY | O_TRUNC, &fh), -EROFS);
	CHECK_EQ(t_req(&t, FUSE_ACCESS, e.nodeid, ARG(ac), END), -EROFS);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh), 0);
	CHECK_EQ(t_write(&t, e.nodeid, fh, 0, "x", 1), -EROFS);
	memset(&fa, 0, sizeof(fa));
	fa.fh = fh;
	fa.length = 10;
	CHECK_EQ(t_req(&t, FUSE_FALLOCATE, e.nodeid, ARG(fa), END), -EROFS);
	memset(&cfr, 0, sizeof(cfr));
	cfr.fh_in = fh;
	cfr.fh_out = fh;
	cfr.len = 1;
	CHECK_EQ(t_req(&t, FUSE_COPY_FILE_RANGE, e.nodeid, ARG(cfr), END), -EROFS);
	/* Reading still works and nothing changed. */
	CHECK_EQ(t_read(&t, e.nodeid, fh, 0, 100), 0);
	CHECK_EQ(t.len, 8);
	CHECK_EQ(read_host(tpath(&t, "f"), buf, sizeof(buf)), 8);
	CHECK_EQ(access(tpath(&t, "d"), F_OK), -1);
	t_teardown(&t);
}

static const char init_blob[] = "\177ELF-pretend-init";
static const char workload[] = "{\"argv\":[\"/bin/true\"]}";

static void test_virtual_files(void)
{
	struct t t;
	struct fuse_entry_out e, w, w2;
	struct fuse_setattr_in sa;
	struct dent_seen;
	uint64_t fh;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "init.krun", init_blob, sizeof(init_blob) - 1,
					      0755, true), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, ".krun_workload", workload,
					      sizeof(workload) - 1, 0644, false), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "init.krun", init_blob, 1, 0755, true),
		 -EEXIST);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "a/b", init_blob, 1, 0755, true), -ENOENT);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "..", init_blob, 1, 0755, true), -EINVAL);

	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "init.krun", &e), 0);
	CHECK(S_ISREG(e.attr.mode));
	CHECK_EQ(e.attr.mode & 07777, 0755);
	CHECK_EQ(e.attr.size, sizeof(init_blob) - 1);
	CHECK_EQ(e.entry_valid, 0);
	/* One-shot: gone from the name space after the first lookup... */
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "init.krun", NULL), -ENOENT);
	/* ...but the inode the guest holds still works. */
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh), 0);
	CHECK_EQ(t_read(&t, e.nodeid, fh, 0, 4096), 0);
	CHECK_EQ(t.len, sizeof(init_blob) - 1);
	CHECK(memcmp(t_payload(&t), init_blob, t.len) == 0);
	CHECK_EQ(t_read(&t, e.nodeid, fh, 5, 3), 0);
	CHECK_EQ(t.len, 3);
	CHECK(memcmp(t_payload(&t), init_blob + 5, 3) == 0);
	CHECK_EQ(t_read(&t, e.nodeid, fh, 1 << 20, 3), 0);
	CHECK_EQ(t.len, 0);
	CHECK_EQ(t_write(&t, e.nodeid, fh, 0, "x", 1), -EPERM);
	CHECK_EQ(t_getattr(&t, e.nodeid, NULL), 0);
	CHECK_EQ(t_release(&t, e.nodeid, fh, false), 0);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDWR, &fh), -EACCES);
	CHECK_EQ(t_open(&t, e.nodeid, O_WRONLY, &fh), -EACCES);
	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_MODE;
	sa.mode = 0777;
	CHECK_EQ(t_req(&t, FUSE_SETATTR, e.nodeid, ARG(sa), END), -EPERM);
	CHECK_EQ(t_lookup(&t, e.nodeid, "x", NULL), -ENOTDIR);
	t_forget(&t, e.nodeid, 1);
	CHECK_EQ(t_getattr(&t, e.nodeid, NULL), -ESTALE);

	/* Persistent: same nodeid each time; never written to the host. */
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, ".krun_workload", &w), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, ".krun_workload", &w2), 0);
	CHECK_EQ(w.nodeid, w2.nodeid);
	CHECK(access(tpath(&t, ".krun_workload"), F_OK) < 0);
	CHECK(access(tpath(&t, "init.krun"), F_OK) < 0);
	/* Not listed by READDIR. */
	{
		struct fuse_read_in in;
		uint64_t dfh;

		CHECK_EQ(t_opendir(&t, FUSE_ROOT_ID, &dfh), 0);
		memset(&in, 0, sizeof(in));
		in.fh = dfh;
		in.size = 4096;
		CHECK_EQ(t_req(&t, FUSE_READDIR, FUSE_ROOT_ID, ARG(in), END), 0);
		CHECK(memmem(t_payload(&t), t.len, "krun", 4) == NULL);
		CHECK_EQ(t_release(&t, FUSE_ROOT_ID, dfh, true), 0);
	}
	t_teardown(&t);
}

/* LSEEK on an overlay file (no host fd behind it): the server computes the
 * position itself and must answer what Linux lseek(2) answers, without
 * signed overflow (found by fuzzing: SEEK_END with INT64_MAX). */
static int32_t t_lseek(struct t *t, uint64_t node, uint64_t fh, uint64_t off, uint32_t whence,
		       uint64_t *pos)
{
	struct fuse_lseek_in in;
	int32_t err;

	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.offset = off;
	in.whence = whence;
	err = t_req(t, FUSE_LSEEK, node, ARG(in), END);
	if (!err && pos)
		*pos = ((const struct fuse_lseek_out *)t_payload(t))->offset;
	return err;
}

static void test_lseek_virtual_overflow(void)
{
	static const char data[] = "0123456789";
	const uint64_t len = sizeof(data) - 1;
	struct t t;
	struct fuse_entry_out e, d;
	uint64_t fh, dfh, pos = 0;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "v", data, len, 0644, false), 0);
	CHECK_EQ(fuse_server_add_overlay_dir(t.srv, "vd", 0755), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "v", &e), 0);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh), 0);

	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)INT64_MAX, SEEK_END, NULL), -EINVAL);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)INT64_MAX - len + 1, SEEK_END, NULL), -EINVAL);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)INT64_MAX - len, SEEK_END, &pos), 0);
	CHECK_EQ(pos, (uint64_t)INT64_MAX);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)INT64_MIN, SEEK_END, NULL), -EINVAL);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)-1, SEEK_END, &pos), 0);
	CHECK_EQ(pos, len - 1);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)-(int64_t)len - 1, SEEK_END, NULL), -EINVAL);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, 5, SEEK_END, &pos), 0);
	CHECK_EQ(pos, len + 5);
	/* SEEK_SET/SEEK_CUR: the position is never kept, so both count from 0. */
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)INT64_MAX, SEEK_SET, &pos), 0);
	CHECK_EQ(pos, (uint64_t)INT64_MAX);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)INT64_MAX + 1, SEEK_SET, NULL), -EINVAL);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, UINT64_MAX, SEEK_SET, NULL), -EINVAL);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, UINT64_MAX, SEEK_CUR, NULL), -EINVAL);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)INT64_MAX, SEEK_CUR, &pos), 0);
	CHECK_EQ(pos, (uint64_t)INT64_MAX);
	/* SEEK_DATA/SEEK_HOLE: ENXIO at or past the end and for negative offsets. */
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, 3, SEEK_DATA, &pos), 0);
	CHECK_EQ(pos, 3);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, 3, SEEK_HOLE, &pos), 0);
	CHECK_EQ(pos, len);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, len, SEEK_DATA, NULL), -ENXIO);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, len, SEEK_HOLE, NULL), -ENXIO);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)INT64_MAX, SEEK_DATA, NULL), -ENXIO);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, (uint64_t)INT64_MIN, SEEK_HOLE, NULL), -ENXIO);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, UINT64_MAX, SEEK_DATA, NULL), -ENXIO);
	/* Whence values lseek(2) does not know. */
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, 0, 5, NULL), -EINVAL);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, 0, 0x80000000u, NULL), -EINVAL);
	CHECK_EQ(t_lseek(&t, e.nodeid, fh, 0, UINT32_MAX, NULL), -EINVAL);
	CHECK_EQ(t_release(&t, e.nodeid, fh, false), 0);

	/* An overlay directory handle: size 0. */
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "vd", &d), 0);
	CHECK_EQ(t_opendir(&t, d.nodeid, &dfh), 0);
	CHECK_EQ(t_lseek(&t, d.nodeid, dfh, (uint64_t)INT64_MAX, SEEK_END, &pos), 0);
	CHECK_EQ(pos, (uint64_t)INT64_MAX);
	CHECK_EQ(t_lseek(&t, d.nodeid, dfh, 0, SEEK_DATA, NULL), -ENXIO);
	CHECK_EQ(t_release(&t, d.nodeid, dfh, true), 0);
	t_teardown(&t);
}

struct exit_seen {
	int calls;
	int code;
};

static void exit_cb(void *opaque, int code)
{
	struct exit_seen *s = opaque;

	s->calls++;
	s->code = code;
}

static void test_exit_code_ioctl(void)
{
	struct t t;
	struct exit_seen seen = { 0, -1 };
	struct fuse_ioctl_in io;

	CHECK_EQ(t_setup(&t), 0);
	memset(&io, 0, sizeof(io));
	io.cmd = 0x7602;
	io.arg = 42;
	/* No callback yet: accepted, nothing happens. */
	CHECK_EQ(t_req(&t, FUSE_IOCTL, FUSE_ROOT_ID, ARG(io), END), 0);
	fuse_server_set_exit_code_cb(t.srv, exit_cb, &seen);
	CHECK_EQ(t_req(&t, FUSE_IOCTL, FUSE_ROOT_ID, ARG(io), END), 0);
	CHECK_EQ(t.len, sizeof(struct fuse_ioctl_out));
	CHECK_EQ(seen.calls, 1);
	CHECK_EQ(seen.code, 42);
	io.cmd = 0x7601;
	CHECK_EQ(t_req(&t, FUSE_IOCTL, FUSE_ROOT_ID, ARG(io), END), -ENOTTY);
	io.cmd = 0xc0107601; /* _IOR-style variants are not ours either */
	CHECK_EQ(t_req(&t, FUSE_IOCTL, FUSE_ROOT_ID, ARG(io), END), -ENOTTY);
	CHECK_EQ(seen.calls, 1);
	t_teardown(&t);
}

static void test_create_errors(void)
{
	int err = 0;
	struct fuse_server *srv;

	srv = fuse_server_create("/nonexistent/krun-fs-test", false, &err);
	CHECK(srv == NULL);
	CHECK_EQ(err, -ENOENT);
	srv = fuse_server_create("/etc/hostname", false, &err);
	CHECK(srv == NULL);
	CHECK_EQ(err, -ENOTDIR);
	fuse_server_destroy(NULL);
}

int main(void)
{
	RUN_TEST(test_malformed_truncated_header);
	RUN_TEST(test_malformed_len_too_big);
	RUN_TEST(test_malformed_short_args);
	RUN_TEST(test_malformed_names);
	RUN_TEST(test_malformed_ids);
	RUN_TEST(test_confine_symlink_absolute);
	RUN_TEST(test_confine_symlink_relative);
	RUN_TEST(test_confine_dotdot_root);
	RUN_TEST(test_confine_renamed_dir);
	RUN_TEST(test_confine_rename_race_inside);
	RUN_TEST(test_confine_proc_magic_links);
	RUN_TEST(test_read_only);
	RUN_TEST(test_virtual_files);
	RUN_TEST(test_lseek_virtual_overflow);
	RUN_TEST(test_exit_code_ioctl);
	RUN_TEST(test_create_errors);
	TEST_MAIN_END();
}
