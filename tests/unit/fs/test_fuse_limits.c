// SPDX-License-Identifier: Apache-2.0
/*
 * What a hostile guest can make the server hold: nothing for requests whose
 * reply does not fit.
 */
#include <dirent.h>

#include "test.h"
#include "fs_test_util.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;	/* the one opendir() holds */
}

static void stats(struct t *t, struct fuse_server_stats *s)
{
	fuse_server_get_stats(t->srv, s);
}

static void check_same_stats(const struct fuse_server_stats *a, const struct fuse_server_stats *b)
{
	CHECK_EQ(a->inodes, b->inodes);
	CHECK_EQ(a->inode_fds, b->inode_fds);
	CHECK_EQ(a->handles, b->handles);
}

/* The reply does not fit: each request that would take a handle or a
 * lookup reference fails with EIO and leaves nothing behind, on the host
 * or in the server. */
static void test_reply_too_small_leaks_nothing(void)
{
	struct t t;
	struct fuse_entry_out f, d;
	struct fuse_server_stats before, after;
	struct fuse_open_in oi = { .flags = O_RDONLY };
	struct fuse_mknod_in mn = { .mode = S_IFIFO | 0644 };
	struct fuse_link_in li;
	uint64_t fh;
	int fds;

	CHECK_EQ(t_setup(&t), 0);
	write_host(tpath(&t, "f"), "data");
	CHECK_EQ(mkdir(tpath(&t, "d"), 0755), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", &f), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "d", &d), 0);
	li.oldnodeid = f.nodeid;
	fds = count_fds();
	stats(&t, &before);

	t.small_out = true;
	for (int i = 0; i < 300; i++) {
		char name[32];
		struct fuse_mkdir_in mk = { .mode = 0755 };
		struct fuse_create_in ci = { .flags = O_RDWR, .mode = S_IFREG | 0644 };

		/* Room for the header and some, not for the whole reply. */
		t.out_cap = sizeof(struct fuse_out_header) + (size_t)(i % 16);
		snprintf(name, sizeof(name), "n%d", i);
		CHECK_EQ(t_req(&t, FUSE_OPEN, f.nodeid, ARG(oi), END), -EIO);
		CHECK_EQ(t_req(&t, FUSE_OPENDIR, d.nodeid, ARG(oi), END), -EIO);
		CHECK_EQ(t_req(&t, FUSE_OPENDIR, FUSE_ROOT_ID, ARG(oi), END), -EIO);
		CHECK_EQ(t_req(&t, FUSE_LOOKUP, FUSE_ROOT_ID, STR("f"), END), -EIO);
		CHECK_EQ(t_req(&t, FUSE_LOOKUP, d.nodeid, STR(".."), END), -EIO);
		CHECK_EQ(t_req(&t, FUSE_LOOKUP, FUSE_ROOT_ID, STR("."), END), -EIO);
		CHECK_EQ(t_req(&t, FUSE_MKDIR, FUSE_ROOT_ID, ARG(mk), STR(name), END), -EIO);
		CHECK_EQ(t_req(&t, FUSE_MKNOD, FUSE_ROOT_ID, ARG(mn), STR(name), END), -EIO);
		CHECK_EQ(t_req(&t, FUSE_SYMLINK, FUSE_ROOT_ID, STR(name), STR("f"), END), -EIO);
		CHECK_EQ(t_req(&t, FUSE_LINK, FUSE_ROOT_ID, ARG(li), STR(name), END), -EIO);
		CHECK_EQ(t_req(&t, FUSE_CREATE, FUSE_ROOT_ID, ARG(ci), STR(name), END), -EIO);
		/* CREATE's reply is an entry and an open reply. */
		t.out_cap = sizeof(struct fuse_out_header) + sizeof(struct fuse_entry_out);
		CHECK_EQ(t_req(&t, FUSE_CREATE, FUSE_ROOT_ID, ARG(ci), STR(name), END), -EIO);
		CHECK(access(tpath(&t, name), F_OK) < 0);
	}
	/* No room even for an error: nothing is done, nothing is answered. */
	t.out_cap = 0;
	CHECK_EQ(t_req(&t, FUSE_OPEN, f.nodeid, ARG(oi), END), 0);
	CHECK_EQ(t.ret, -ENOBUFS);
	CHECK_EQ(t.reply_len, 0);
	CHECK_EQ(t_req(&t, FUSE_UNLINK, FUSE_ROOT_ID, STR("f"), END), 0);
	CHECK_EQ(t.ret, -ENOBUFS);
	CHECK_EQ(access(tpath(&t, "f"), F_OK), 0);
	/* FORGET never has room for a reply and needs none. */
	t.small_out = false;
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f", NULL), 0);
	t.small_out = true;
	t_forget(&t, f.nodeid, 1);
	CHECK_EQ(t.ret, 0);

	t.small_out = false;
	stats(&t, &after);
	check_same_stats(&before, &after);
	CHECK_EQ(count_fds(), fds);
	/* The same requests with room for the reply work. */
	CHECK_EQ(t_open(&t, f.nodeid, O_RDONLY, &fh), 0);
	CHECK_EQ(t_release(&t, f.nodeid, fh, false), 0);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "n0", 0755, NULL), 0);
	t_teardown(&t);
}

int main(void)
{
	RUN_TEST(test_reply_too_small_leaks_nothing);
	TEST_MAIN_END();
}
