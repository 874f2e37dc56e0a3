// SPDX-License-Identifier: Apache-2.0
/*
 * Overlay entries (in-memory files and directories) and servers without a
 * host directory, driven with in-memory FUSE requests.
 */
#include <sys/statfs.h>

#include "test.h"
#include "fs_test_util.h"

static const char data[] = "0123456789abcdefghij";	/* 20 bytes */

/* A server with no host directory instead of the share. */
static int setup_null(struct t *t)
{
	int err = 0, ret = t_setup_opts(t, false, false);

	if (ret)
		return ret;
	fuse_server_destroy(t->srv);
	t->srv = fuse_server_create(NULL, false, &err);
	if (!t->srv)
		return err;
	return t_init(t, 7, 38) ? -EPROTO : 0;
}

static int32_t t_setattr_mode(struct t *t, uint64_t node, uint32_t mode)
{
	struct fuse_setattr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.valid = FATTR_MODE;
	sa.mode = mode;
	return t_req(t, FUSE_SETATTR, node, ARG(sa), END);
}

static int32_t t_setxattr(struct t *t, uint64_t node)
{
	struct fuse_setxattr_in si;

	memset(&si, 0, sizeof(si));
	si.size = 1;
	/* The 8-byte compat struct, as the kernel sends it. */
	return t_req(t, FUSE_SETXATTR, node, &si, (size_t)8, STR("user.k"), "v", (size_t)1, END);
}

static int32_t t_access(struct t *t, uint64_t node, uint32_t mask)
{
	struct fuse_access_in in = { .mask = mask };

	return t_req(t, FUSE_ACCESS, node, ARG(in), END);
}

/* Counts the entries of one READDIR(PLUS) reply; *dots: how many were "." or "..". */
static int count_dirents(struct t *t, uint64_t node, uint64_t fh, bool plus, uint64_t off,
			 int *dots)
{
	struct fuse_read_in in;
	const unsigned char *p;
	size_t pos = 0;
	int n = 0;

	memset(&in, 0, sizeof(in));
	in.fh = fh;
	in.offset = off;
	in.size = 4096;
	if (t_req(t, plus ? FUSE_READDIRPLUS : FUSE_READDIR, node, ARG(in), END))
		return -1;
	p = t_payload(t);
	*dots = 0;
	while (pos < t->len) {
		const struct fuse_dirent *d;
		size_t rec;

		if (plus) {
			d = &((const struct fuse_direntplus *)(p + pos))->dirent;
			rec = FUSE_DIRENTPLUS_SIZE((const struct fuse_direntplus *)(p + pos));
		} else {
			d = (const struct fuse_dirent *)(p + pos);
			rec = FUSE_DIRENT_SIZE(d);
		}
		if ((d->namelen == 1 && d->name[0] == '.') ||
		    (d->namelen == 2 && memcmp(d->name, "..", 2) == 0))
			(*dots)++;
		n++;
		pos += rec;
	}
	return n;
}

static void test_null_root(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_attr a;
	uint64_t fh;
	int dots;

	CHECK_EQ(setup_null(&t), 0);
	CHECK_EQ(t_getattr(&t, FUSE_ROOT_ID, &a), 0);
	CHECK_EQ(a.mode, S_IFDIR | 0755);
	CHECK_EQ(a.uid, 0);
	CHECK_EQ(a.gid, 0);
	CHECK_EQ(a.nlink, 2);
	CHECK_EQ(a.ino, FUSE_ROOT_ID);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "etc", NULL), -ENOENT);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "init.krun", NULL), -ENOENT);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "..", &e), 0);
	CHECK_EQ(e.nodeid, FUSE_ROOT_ID);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, ".", &e), 0);
	CHECK_EQ(e.nodeid, FUSE_ROOT_ID);

	/* Nothing can be made or changed. */
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "d", 0755, NULL), -EROFS);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "f", O_WRONLY, 0644, NULL, NULL), -EROFS);
	{
		struct fuse_mknod_in mk = { .mode = S_IFIFO | 0644 };
		struct fuse_rename_in rn = { .newdir = FUSE_ROOT_ID };
		struct fuse_link_in ln = { .oldnodeid = FUSE_ROOT_ID };

		CHECK_EQ(t_req(&t, FUSE_MKNOD, FUSE_ROOT_ID, ARG(mk), STR("p"), END), -EROFS);
		CHECK_EQ(t_req(&t, FUSE_SYMLINK, FUSE_ROOT_ID, STR("l"), STR("/x"), END), -EROFS);
		CHECK_EQ(t_req(&t, FUSE_UNLINK, FUSE_ROOT_ID, STR("f"), END), -EROFS);
		CHECK_EQ(t_req(&t, FUSE_RMDIR, FUSE_ROOT_ID, STR("d"), END), -EROFS);
		CHECK_EQ(t_req(&t, FUSE_RENAME, FUSE_ROOT_ID, ARG(rn), STR("a"), STR("b"), END),
			 -EROFS);
		CHECK_EQ(t_req(&t, FUSE_LINK, FUSE_ROOT_ID, ARG(ln), STR("h"), END), -EPERM);
	}
	CHECK_EQ(t_setattr_mode(&t, FUSE_ROOT_ID, 0777), -EROFS);
	CHECK_EQ(t_setxattr(&t, FUSE_ROOT_ID), -EPERM);
	CHECK_EQ(t_req(&t, FUSE_REMOVEXATTR, FUSE_ROOT_ID, STR("user.k"), END), -EPERM);
	CHECK_EQ(t_access(&t, FUSE_ROOT_ID, W_OK), -EROFS);
	CHECK_EQ(t_access(&t, FUSE_ROOT_ID, R_OK | X_OK), 0);
	CHECK_EQ(t_getattr(&t, FUSE_ROOT_ID, &a), 0);
	CHECK_EQ(a.mode, S_IFDIR | 0755);

	CHECK_EQ(t_req(&t, FUSE_STATFS, FUSE_ROOT_ID, END), 0);
	{
		const struct fuse_statfs_out *so = t_payload(&t);

		CHECK_EQ(t.len, sizeof(*so));
		CHECK_EQ(so->st.bsize, 4096);
		CHECK_EQ(so->st.frsize, 4096);
		CHECK_EQ(so->st.namelen, 255);
		CHECK_EQ(so->st.bfree, 0);
	}

	/* Listing: only "." and "..". */
	CHECK_EQ(t_open(&t, FUSE_ROOT_ID, O_RDONLY, NULL), -EISDIR);
	CHECK_EQ(t_opendir(&t, FUSE_ROOT_ID, &fh), 0);
	CHECK_EQ(count_dirents(&t, FUSE_ROOT_ID, fh, false, 0, &dots), 2);
	CHECK_EQ(dots, 2);
	CHECK_EQ(count_dirents(&t, FUSE_ROOT_ID, fh, true, 0, &dots), 2);
	CHECK_EQ(count_dirents(&t, FUSE_ROOT_ID, fh, false, 1, &dots), 1);
	CHECK_EQ(count_dirents(&t, FUSE_ROOT_ID, fh, false, 2, &dots), 0);
	CHECK_EQ(t_read(&t, FUSE_ROOT_ID, fh, 0, 10), -EISDIR);
	CHECK_EQ(t_write(&t, FUSE_ROOT_ID, fh, 0, "x", 1), -EISDIR);
	CHECK_EQ(t_release(&t, FUSE_ROOT_ID, fh, true), 0);

	/* The init reports its exit status through the root as anywhere. */
	{
		struct fuse_ioctl_in io;

		memset(&io, 0, sizeof(io));
		io.cmd = FUSE_SERVER_IOCTL_EXIT_CODE;
		io.arg = 3;
		CHECK_EQ(t_req(&t, FUSE_IOCTL, FUSE_ROOT_ID, ARG(io), END), 0);
	}
	t_teardown(&t);
}

static void test_overlay_file(void)
{
	struct t t;
	struct fuse_entry_out e;
	struct fuse_attr a;
	uint64_t fh, fh2;

	CHECK_EQ(t_setup(&t), 0);
	/* The overlay wins over a host file of the same name. */
	write_host(tpath(&t, "hello"), "HOST CONTENTS");
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "hello", data, 20, S_IFREG | 0644, false), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "hello", &e), 0);
	CHECK_EQ(e.attr.size, 20);
	CHECK_EQ(e.attr.mode, S_IFREG | 0644);
	CHECK_EQ(e.attr.nlink, 1);
	CHECK_EQ(e.attr.blksize, 4096);
	CHECK_EQ(e.attr.blocks, 1);
	CHECK_EQ(e.attr.uid, 0);
	CHECK(e.entry_valid > 86400);
	CHECK(e.attr_valid > 86400);
	CHECK_EQ(t_getattr(&t, e.nodeid, &a), 0);
	CHECK_EQ(a.size, 20);
	CHECK_EQ(a.ino, e.attr.ino);

	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh), 0);
	CHECK_EQ(t_read(&t, e.nodeid, fh, 0, 4096), 0);
	CHECK_EQ(t.len, 20);
	CHECK(memcmp(t_payload(&t), data, 20) == 0);
	CHECK_EQ(t_read(&t, e.nodeid, fh, 7, 5), 0);	/* ranged */
	CHECK_EQ(t.len, 5);
	CHECK(memcmp(t_payload(&t), "789ab", 5) == 0);
	CHECK_EQ(t_read(&t, e.nodeid, fh, 15, 100), 0);	/* short at EOF */
	CHECK_EQ(t.len, 5);
	CHECK(memcmp(t_payload(&t), "fghij", 5) == 0);
	CHECK_EQ(t_read(&t, e.nodeid, fh, 20, 10), 0);	/* at EOF */
	CHECK_EQ(t.len, 0);
	CHECK_EQ(t_read(&t, e.nodeid, fh, UINT64_C(1) << 40, 10), 0);	/* past EOF */
	CHECK_EQ(t.len, 0);
	CHECK_EQ(t_write(&t, e.nodeid, fh, 0, "x", 1), -EPERM);
	{
		struct fuse_fallocate_in fa = { .fh = fh, .length = 10 };

		CHECK_EQ(t_req(&t, FUSE_FALLOCATE, e.nodeid, ARG(fa), END), -EPERM);
	}
	/* A second open of the same inode. */
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh2), 0);
	CHECK_EQ(t_release(&t, e.nodeid, fh2, false), 0);
	CHECK_EQ(t_release(&t, e.nodeid, fh, false), 0);

	/* Read-only in every way. */
	CHECK_EQ(t_open(&t, e.nodeid, O_WRONLY, NULL), -EACCES);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDWR, NULL), -EACCES);
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY | O_TRUNC, NULL), -EACCES);
	CHECK_EQ(t_opendir(&t, e.nodeid, NULL), -ENOTDIR);
	CHECK_EQ(t_access(&t, e.nodeid, W_OK), -EACCES);
	CHECK_EQ(t_access(&t, e.nodeid, R_OK), 0);
	CHECK_EQ(t_access(&t, e.nodeid, X_OK), -EACCES);
	CHECK_EQ(t_setattr_mode(&t, e.nodeid, 0777), -EPERM);
	CHECK_EQ(t_setxattr(&t, e.nodeid), -EPERM);
	CHECK_EQ(t_req(&t, FUSE_REMOVEXATTR, e.nodeid, STR("user.k"), END), -EPERM);
	{
		struct fuse_getxattr_in gx = { .size = 64 };

		CHECK_EQ(t_req(&t, FUSE_GETXATTR, e.nodeid, ARG(gx), STR("user.k"), END),
			 -ENODATA);
	}
	CHECK_EQ(t_lookup(&t, e.nodeid, "x", NULL), -ENOTDIR);
	CHECK_EQ(t_getattr(&t, e.nodeid, &a), 0);
	CHECK_EQ(a.mode, S_IFREG | 0644);

	/* Neither the overlay nor the host file it hides goes away by name. */
	CHECK_EQ(t_req(&t, FUSE_UNLINK, FUSE_ROOT_ID, STR("hello"), END), -EPERM);
	{
		struct fuse_rename_in rn = { .newdir = FUSE_ROOT_ID };
		struct fuse_link_in ln = { .oldnodeid = e.nodeid };

		write_host(tpath(&t, "other"), "o");
		CHECK_EQ(t_req(&t, FUSE_RENAME, FUSE_ROOT_ID, ARG(rn), STR("hello"), STR("h2"),
			       END), -EPERM);
		CHECK_EQ(t_req(&t, FUSE_RENAME, FUSE_ROOT_ID, ARG(rn), STR("other"), STR("hello"),
			       END), -EPERM);
		CHECK_EQ(t_req(&t, FUSE_LINK, FUSE_ROOT_ID, ARG(ln), STR("h3"), END), -EPERM);
	}
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "hello", O_WRONLY, 0644, NULL, NULL), -EEXIST);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "hello", 0755, NULL), -EEXIST);
	{
		char buf[64];

		CHECK_EQ(read_host(tpath(&t, "hello"), buf, sizeof(buf)), 13);
		CHECK_STR(buf, "HOST CONTENTS");
	}
	t_teardown(&t);
}

static void test_overlay_add_errors(void)
{
	struct t t;
	char long_name[300];

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(fuse_server_add_overlay_dir(t.srv, "d", 0755), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "d/f", data, 20, 0644, false), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "x/y", data, 1, 0644, false), -ENOENT);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "d/f/g", data, 1, 0644, false), -ENOTDIR);
	CHECK_EQ(fuse_server_add_overlay_dir(t.srv, "d", 0755), -EEXIST);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "d/f", data, 1, 0644, false), -EEXIST);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "d", data, 1, 0644, false), -EEXIST);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "", data, 1, 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "/", data, 1, 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "d/", data, 1, 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "d//g", data, 1, 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "d/../g", data, 1, 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "./g", data, 1, 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "d/..", data, 1, 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, NULL, data, 1, 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_file(NULL, "z", data, 1, 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "z", NULL, 1, 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "z", data, 1, S_IFDIR | 0644, false), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_dir(t.srv, "z", S_IFREG | 0755), -EINVAL);
	CHECK_EQ(fuse_server_add_overlay_dir(t.srv, "z", 0100000000), -EINVAL);
	memset(long_name, 'n', 256);
	long_name[256] = '\0';
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, long_name, data, 1, 0644, false), -EINVAL);
	long_name[255] = '\0';
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, long_name, data, 1, 0644, false), 0);
	/* An empty file needs no data; a leading '/' means the same path. */
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "/empty", NULL, 0, 0644, true), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "empty", NULL, 0, 0644, true), -EEXIST);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "empty", NULL), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, long_name, NULL), 0);
	t_teardown(&t);
}

static void test_overlay_bound(void)
{
	struct t t;
	char name[16];
	int ok = 0;

	CHECK_EQ(setup_null(&t), 0);
	for (int i = 0; i < FUSE_SERVER_MAX_OVERLAYS + 5; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		if (fuse_server_add_overlay_file(t.srv, name, data, 1, 0644, false) == 0)
			ok++;
	}
	CHECK_EQ(ok, FUSE_SERVER_MAX_OVERLAYS);
	CHECK_EQ(fuse_server_add_overlay_dir(t.srv, "more", 0755), -ENOSPC);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f0", NULL), 0);
	snprintf(name, sizeof(name), "f%d", FUSE_SERVER_MAX_OVERLAYS - 1);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, name, NULL), 0);
	snprintf(name, sizeof(name), "f%d", FUSE_SERVER_MAX_OVERLAYS);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, name, NULL), -ENOENT);
	t_teardown(&t);
}

static void test_overlay_dirs(void)
{
	struct t t;
	struct fuse_entry_out d, e, f, g, up;
	uint64_t fh;
	int dots;

	CHECK_EQ(setup_null(&t), 0);
	CHECK_EQ(fuse_server_add_overlay_dir(t.srv, "d", S_IFDIR | 0750), 0);
	CHECK_EQ(fuse_server_add_overlay_dir(t.srv, "d/e", 0755), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "d/e/f", data, 20, 0444, false), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "d/g", data, 3, 0755, false), 0);

	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "d", &d), 0);
	CHECK_EQ(d.attr.mode, S_IFDIR | 0750);
	CHECK_EQ(d.attr.nlink, 2);
	CHECK_EQ(d.attr.blksize, 4096);
	CHECK(d.entry_valid > 86400);
	CHECK_EQ(t_lookup(&t, d.nodeid, "e", &e), 0);
	CHECK(S_ISDIR(e.attr.mode));
	CHECK_EQ(t_lookup(&t, e.nodeid, "f", &f), 0);
	CHECK_EQ(f.attr.mode, S_IFREG | 0444);
	CHECK_EQ(f.attr.size, 20);
	CHECK_EQ(t_lookup(&t, d.nodeid, "g", &g), 0);
	CHECK_EQ(g.attr.size, 3);
	CHECK_EQ(t_access(&t, g.nodeid, X_OK), 0);
	/* Entries live only where they were added. */
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "e", NULL), -ENOENT);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", NULL), -ENOENT);
	CHECK_EQ(t_lookup(&t, d.nodeid, "f", NULL), -ENOENT);
	CHECK_EQ(t_lookup(&t, d.nodeid, "missing", NULL), -ENOENT);

	/* ".." is the overlay parent; ".." of a top-level one is the root. */
	CHECK_EQ(t_lookup(&t, e.nodeid, "..", &up), 0);
	CHECK_EQ(up.nodeid, d.nodeid);
	CHECK_EQ(t_lookup(&t, d.nodeid, "..", &up), 0);
	CHECK_EQ(up.nodeid, FUSE_ROOT_ID);
	CHECK_EQ(t_lookup(&t, e.nodeid, ".", &up), 0);
	CHECK_EQ(up.nodeid, e.nodeid);

	/* A directory is not a file and vice versa. */
	CHECK_EQ(t_open(&t, d.nodeid, O_RDONLY, NULL), -EISDIR);
	CHECK_EQ(t_opendir(&t, f.nodeid, NULL), -ENOTDIR);
	CHECK_EQ(t_opendir(&t, d.nodeid, &fh), 0);
	CHECK_EQ(count_dirents(&t, d.nodeid, fh, false, 0, &dots), 2);	/* not listed */
	CHECK_EQ(dots, 2);
	CHECK_EQ(count_dirents(&t, d.nodeid, fh, true, 0, &dots), 2);
	CHECK_EQ(t_release(&t, d.nodeid, fh, true), 0);
	CHECK_EQ(t_open(&t, f.nodeid, O_RDONLY, &fh), 0);
	CHECK_EQ(t_read(&t, f.nodeid, fh, 18, 10), 0);
	CHECK_EQ(t.len, 2);
	CHECK(memcmp(t_payload(&t), "ij", 2) == 0);
	CHECK_EQ(t_release(&t, f.nodeid, fh, false), 0);

	/* Read-only directories. */
	CHECK_EQ(t_mkdir(&t, d.nodeid, "new", 0755, NULL), -EROFS);
	CHECK_EQ(t_create(&t, d.nodeid, "new", O_WRONLY, 0644, NULL, NULL), -EROFS);
	CHECK_EQ(t_mkdir(&t, d.nodeid, "e", 0755, NULL), -EEXIST);
	CHECK_EQ(t_req(&t, FUSE_UNLINK, d.nodeid, STR("g"), END), -EPERM);
	CHECK_EQ(t_req(&t, FUSE_RMDIR, d.nodeid, STR("e"), END), -EPERM);
	CHECK_EQ(t_setattr_mode(&t, d.nodeid, 0777), -EPERM);
	CHECK_EQ(t_access(&t, d.nodeid, W_OK), -EACCES);
	CHECK_EQ(t_req(&t, FUSE_STATFS, d.nodeid, END), 0);
	t_teardown(&t);
}

/* An overlay directory over a host directory never leads to host files. */
static void test_overlay_dir_confined(void)
{
	struct t t;
	struct fuse_entry_out d, up;
	char p[PATH_MAX + 32];

	CHECK_EQ(t_setup(&t), 0);
	mkdir(tpath(&t, "etc"), 0755);
	snprintf(p, sizeof(p), "%s/etc/passwd", t.share);
	write_host(p, "host passwd");
	write_host(tpath(&t, "top"), "host top");
	CHECK_EQ(fuse_server_add_overlay_dir(t.srv, "etc", 0755), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "etc/hostname", data, 4, 0644, false), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "etc", &d), 0);
	CHECK_EQ(d.attr.nlink, 2);
	CHECK_EQ(t_lookup(&t, d.nodeid, "hostname", NULL), 0);
	CHECK_EQ(t_lookup(&t, d.nodeid, "passwd", NULL), -ENOENT);
	CHECK_EQ(t_lookup(&t, d.nodeid, "top", NULL), -ENOENT);
	CHECK_EQ(t_lookup(&t, d.nodeid, "../top", NULL), -EINVAL);
	CHECK_EQ(t_lookup(&t, d.nodeid, "..", &up), 0);
	CHECK_EQ(up.nodeid, FUSE_ROOT_ID);
	/* Host entries of the root stay reachable next to overlays. */
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "top", NULL), 0);
	CHECK_EQ(t_mkdir(&t, d.nodeid, "sub", 0755, NULL), -EROFS);
	CHECK(access(tpath(&t, "etc/sub"), F_OK) < 0);
	{
		struct fuse_rename_in rn = { .newdir = d.nodeid };

		CHECK_EQ(t_req(&t, FUSE_RENAME, FUSE_ROOT_ID, ARG(rn), STR("top"), STR("moved"),
			       END), -EROFS);
	}
	CHECK(access(tpath(&t, "top"), F_OK) == 0);
	t_teardown(&t);
}

static void test_overlay_one_shot(void)
{
	struct t t;
	struct fuse_entry_out e;
	uint64_t fh;

	CHECK_EQ(setup_null(&t), 0);
	CHECK_EQ(fuse_server_add_overlay_dir(t.srv, "bin", 0755), 0);
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "bin/once", data, 20, 0755, true), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "bin", &e), 0);
	CHECK_EQ(t_lookup(&t, e.nodeid, "once", &e), 0);
	CHECK_EQ(e.entry_valid, 0);
	CHECK_EQ(e.attr_valid, 0);
	CHECK_EQ(t_lookup(&t, 2, "once", NULL), -ENOENT);	/* bin is nodeid 2 */
	{
		struct fuse_attr_out *ao;

		CHECK_EQ(t_req(&t, FUSE_GETATTR, e.nodeid, &(struct fuse_getattr_in){ 0 },
			       sizeof(struct fuse_getattr_in), END), 0);
		ao = (struct fuse_attr_out *)t_payload(&t);
		CHECK_EQ(ao->attr_valid, 0);
	}
	/* The inode the guest holds works until it is forgotten and closed. */
	CHECK_EQ(t_open(&t, e.nodeid, O_RDONLY, &fh), 0);
	t_forget(&t, e.nodeid, 1);
	CHECK_EQ(t_read(&t, e.nodeid, fh, 10, 10), 0);
	CHECK_EQ(t.len, 10);
	CHECK(memcmp(t_payload(&t), "abcdefghij", 10) == 0);
	CHECK_EQ(t_release(&t, e.nodeid, fh, false), 0);
	CHECK_EQ(t_getattr(&t, e.nodeid, NULL), -ESTALE);
	CHECK_EQ(t_lookup(&t, 2, "once", NULL), -ENOENT);
	t_teardown(&t);
}

/* A one-shot overlay hides a host file only until its lookup. */
static void test_one_shot_uncovers_host(void)
{
	struct t t;
	struct fuse_entry_out e;

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "cfg"), "host");
	CHECK_EQ(fuse_server_add_overlay_file(t.srv, "cfg", data, 20, 0644, true), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "cfg", &e), 0);
	CHECK_EQ(e.attr.size, 20);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "cfg", &e), 0);
	CHECK_EQ(e.attr.size, 4);
	t_teardown(&t);
}

int main(void)
{
	RUN_TEST(test_null_root);
	RUN_TEST(test_overlay_file);
	RUN_TEST(test_overlay_add_errors);
	RUN_TEST(test_overlay_bound);
	RUN_TEST(test_overlay_dirs);
	RUN_TEST(test_overlay_dir_confined);
	RUN_TEST(test_overlay_one_shot);
	RUN_TEST(test_one_shot_uncovers_host);
	TEST_MAIN_END();
}
