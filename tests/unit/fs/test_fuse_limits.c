// SPDX-License-Identifier: Apache-2.0
/*
 * What a hostile guest can make the server hold: nothing for requests whose
 * reply does not fit, and no more than the configured number of handles and
 * inodes (with the VMM's own descriptors left available).
 */
#include <dirent.h>
#include <sys/resource.h>

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

static void test_default_limits(void)
{
	struct t t;
	struct fuse_server_limits l, bad = { 0, 1 };
	struct rlimit rl;

	CHECK_EQ(t_setup(&t), 0);
	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &rl), 0);
	fuse_server_get_limits(t.srv, &l);
	CHECK(l.max_handles <= FUSE_SERVER_MAX_HANDLES);
	CHECK(l.max_inodes <= FUSE_SERVER_MAX_INODES);
	if (rl.rlim_cur >= 2 * FUSE_SERVER_FD_RESERVE) {
		CHECK(l.max_handles <= rl.rlim_cur - FUSE_SERVER_FD_RESERVE);
		CHECK(l.max_inodes <= rl.rlim_cur - FUSE_SERVER_FD_RESERVE);
	}
	if (rl.rlim_cur >= FUSE_SERVER_MAX_HANDLES + FUSE_SERVER_FD_RESERVE)
		CHECK_EQ(l.max_handles, FUSE_SERVER_MAX_HANDLES);
	CHECK(l.max_handles >= 256 || rl.rlim_cur < 512 + FUSE_SERVER_FD_RESERVE);
	CHECK_EQ(fuse_server_set_limits(t.srv, &bad), -EINVAL);
	bad.max_handles = 1;
	bad.max_inodes = 0;
	CHECK_EQ(fuse_server_set_limits(t.srv, &bad), -EINVAL);
	CHECK_EQ(fuse_server_set_limits(t.srv, NULL), -EINVAL);
	t_teardown(&t);
}

#define NFILES 12

/* Past the configured limits open/opendir/create fail with EMFILE and
 * lookups with ENFILE; giving one back makes room for the next. */
static void test_handle_and_inode_limits(void)
{
	struct fuse_server_limits lim = { .max_handles = 4, .max_inodes = 6 };
	struct fuse_entry_out e[NFILES];
	struct fuse_server_stats s, base;
	struct t t;
	uint64_t fh[5], dfh;
	char name[16];
	int fds;

	CHECK_EQ(t_setup(&t), 0);
	for (int i = 0; i < NFILES; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		write_host(tpath(&t, name), "x");
	}
	CHECK_EQ(mkdir(tpath(&t, "d"), 0755), 0);
	CHECK_EQ(fuse_server_set_limits(t.srv, &lim), 0);
	stats(&t, &base);
	fds = count_fds();

	/* Handles: four, then EMFILE for files and directories alike. */
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f0", &e[0]), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(t_open(&t, e[0].nodeid, O_RDONLY, &fh[i]), 0);
	CHECK_EQ(t_open(&t, e[0].nodeid, O_RDONLY, &fh[4]), -EMFILE);
	CHECK_EQ(t_opendir(&t, FUSE_ROOT_ID, &dfh), -EMFILE);
	/* CREATE refuses before it creates the file. */
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "new", O_RDWR, 0644, NULL, NULL), -EMFILE);
	CHECK(access(tpath(&t, "new"), F_OK) < 0);
	stats(&t, &s);
	CHECK_EQ(s.handles, 4);
	CHECK_EQ(s.inode_fds, 1);
	CHECK_EQ(count_fds(), fds + 1 + 4);
	CHECK_EQ(t_release(&t, e[0].nodeid, fh[0], false), 0);
	CHECK_EQ(t_opendir(&t, FUSE_ROOT_ID, &dfh), 0);
	CHECK_EQ(t_open(&t, e[0].nodeid, O_RDONLY, &fh[4]), -EMFILE);
	CHECK_EQ(t_release(&t, FUSE_ROOT_ID, dfh, true), 0);
	CHECK_EQ(t_open(&t, e[0].nodeid, O_RDONLY, &fh[0]), 0);
	for (int i = 0; i < 4; i++)
		CHECK_EQ(t_release(&t, e[0].nodeid, fh[i], false), 0);

	/* Inodes with a host fd: six (f0 and the five next), then ENFILE. */
	for (int i = 1; i < 6; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, name, &e[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f6", NULL), -ENFILE);
	/* What it already holds stays reachable: no new inode needed. */
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f5", NULL), 0);
	t_forget(&t, e[5].nodeid, 1);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, ".", NULL), 0);
	t_forget(&t, FUSE_ROOT_ID, 1);
	/* Creating requests refuse before they create anything. */
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "newdir", 0755, NULL), -ENFILE);
	CHECK(access(tpath(&t, "newdir"), F_OK) < 0);
	CHECK_EQ(t_create(&t, FUSE_ROOT_ID, "newfile", O_RDWR, 0644, NULL, NULL), -ENFILE);
	CHECK(access(tpath(&t, "newfile"), F_OK) < 0);
	CHECK_EQ(t_req(&t, FUSE_SYMLINK, FUSE_ROOT_ID, STR("sl"), STR("f0"), END), -ENFILE);
	CHECK(access(tpath(&t, "sl"), F_OK) < 0);
	/* READDIRPLUS hands out no entry it cannot take (nodeid 0 instead). */
	{
		static unsigned char list[65536];
		struct fuse_read_in rd;
		size_t off = 0, len;
		int held = 0, entries = 0;

		CHECK_EQ(t_opendir(&t, FUSE_ROOT_ID, &dfh), 0);
		memset(&rd, 0, sizeof(rd));
		rd.fh = dfh;
		rd.size = sizeof(list);
		CHECK_EQ(t_req(&t, FUSE_READDIRPLUS, FUSE_ROOT_ID, ARG(rd), END), 0);
		len = t.len;
		memcpy(list, t_payload(&t), len);
		while (off + sizeof(struct fuse_direntplus) <= len) {
			const struct fuse_direntplus *dp = (const void *)(list + off);

			entries++;
			if (dp->entry_out.nodeid) {
				held++;
				t_forget(&t, dp->entry_out.nodeid, 1);
			}
			off += FUSE_DIRENTPLUS_SIZE(dp);
		}
		CHECK_EQ(entries, NFILES + 3);	/* ".", "..", "d" */
		CHECK_EQ(held, 6);
		CHECK(held > 0 && held <= 6);
		CHECK_EQ(t_release(&t, FUSE_ROOT_ID, dfh, true), 0);
	}
	stats(&t, &s);
	CHECK_EQ(s.inode_fds, 6);
	CHECK_EQ(count_fds(), fds + 6);
	/* One forgotten: the next lookup gets its place. */
	t_forget(&t, e[5].nodeid, 1);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f6", &e[6]), 0);
	CHECK_EQ(t_lookup(&t, FUSE_ROOT_ID, "f7", NULL), -ENFILE);

	/* Everything given back: nothing left over. */
	for (int i = 0; i < 7; i++)
		if (i != 5)
			t_forget(&t, e[i].nodeid, 1);
	stats(&t, &s);
	check_same_stats(&s, &base);
	CHECK_EQ(count_fds(), fds);
	/* Raised limits take effect at once. */
	lim.max_inodes = 100;
	CHECK_EQ(fuse_server_set_limits(t.srv, &lim), 0);
	CHECK_EQ(t_mkdir(&t, FUSE_ROOT_ID, "newdir", 0755, NULL), 0);
	t_teardown(&t);
}

/*
 * All servers of the process together keep RLIMIT_NOFILE less the reserve
 * free for the VMM, whatever their own limits say.
 */
static void test_fd_budget_across_servers(void)
{
	enum { SOFT = 600, PER_SHARE = 400 };
	struct rlimit old, rl;
	struct t a, b;
	struct fuse_server_stats sa, sb;
	struct fuse_entry_out e;
	int got_a = 0, got_b = 0, extra[32], nextra = 0;
	char name[16];

	CHECK_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
	if (old.rlim_max < SOFT || count_fds() > 64) {
		printf("  skipped: needs RLIMIT_NOFILE hard >= %d and few open fds\n", SOFT);
		return;
	}
	CHECK_EQ(t_setup(&a), 0);
	CHECK_EQ(t_setup(&b), 0);
	for (int i = 0; i < PER_SHARE; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		write_host(tpath(&a, name), "a");
		write_host(tpath(&b, name), "b");
	}
	rl = old;
	rl.rlim_cur = SOFT;
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &rl), 0);
	for (int i = 0; i < PER_SHARE; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		got_a += t_lookup(&a, FUSE_ROOT_ID, name, NULL) == 0;
		got_b += t_lookup(&b, FUSE_ROOT_ID, name, NULL) == 0;
	}
	CHECK_EQ(got_a + got_b, SOFT - FUSE_SERVER_FD_RESERVE);
	CHECK_EQ(t_lookup(&a, FUSE_ROOT_ID, "f0", &e), 0);	/* already held */
	CHECK_EQ(t_open(&a, e.nodeid, O_RDONLY, NULL), -EMFILE);
	fuse_server_get_stats(a.srv, &sa);
	fuse_server_get_stats(b.srv, &sb);
	CHECK_EQ(sa.inode_fds + sb.inode_fds, SOFT - FUSE_SERVER_FD_RESERVE);
	/* The VMM itself still has room. */
	for (nextra = 0; nextra < 32; nextra++) {
		extra[nextra] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		CHECK(extra[nextra] >= 0);
	}
	for (int i = 0; i < nextra; i++)
		close(extra[i]);
	CHECK_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* With the old limit back there is room again. */
	CHECK_EQ(t_lookup(&b, FUSE_ROOT_ID, "f399", NULL), 0);
	t_teardown(&a);
	t_teardown(&b);
}

int main(void)
{
	RUN_TEST(test_reply_too_small_leaks_nothing);
	RUN_TEST(test_default_limits);
	RUN_TEST(test_handle_and_inode_limits);
	RUN_TEST(test_fd_budget_across_servers);
	TEST_MAIN_END();
}
