// SPDX-License-Identifier: Apache-2.0
/*
 * Landlock (src/vmm/landlock.c) with the rights start.c plans: the FUSE
 * server still does everything a guest asks of a read-write share (its
 * reopening through /proc/self/fd, renames across directories, links,
 * truncation, device nodes kept as files), a read-only share still reads,
 * and nothing outside the allowed directories opens any more.  Each case
 * confines a forked child: confinement cannot be undone.
 */
#include <sys/wait.h>

#include "test.h"
#include "fs_test_util.h"
#include "util/sanitizer.h"
#include "vmm/landlock.h"

/*
 * Runs body in a child that sets up its own server (its /proc/self/fd must
 * be the child's) under a scratch directory, then confines itself with
 * what plan() adds; the child's failures fail us.
 */
static void run_confined(bool ro, const char *seed,
			 int (*plan)(struct t *t, struct krun_landlock_plan *p),
			 void (*body)(struct t *t))
{
	char dir[] = "/tmp/krun-landlock.XXXXXX";

	CHECK(mkdtemp(dir) != NULL);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct t t;
		static struct krun_landlock_plan p;
		test_failures_in_case = 0;
		CHECK_EQ(t_setup_at(&t, dir, ro, true), 0);
		if (seed)
			write_host(tpath(&t, "r"), seed);
		CHECK_EQ(plan(&t, &p), 0);
		int ret = krun_landlock_confine(&p);
		CHECK_EQ(ret, 0);
		if (!ret && !test_failures_in_case)
			body(&t);
		fflush(NULL);
		_exit(test_failures_in_case ? 1 : 0);
	}
	int st = 0;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static int plan_rw(struct t *t, struct krun_landlock_plan *p)
{
	return krun_landlock_allow(p, t->share, KRUN_LL_WRITE);
}

static int plan_ro(struct t *t, struct krun_landlock_plan *p)
{
	return krun_landlock_allow(p, t->share, KRUN_LL_READ);
}

static int plan_socket(struct t *t, struct krun_landlock_plan *p)
{
	char path[2 * PATH_MAX];
	snprintf(path, sizeof(path), "%s/sock", t->outside);
	write_host(path, "");
	int ret = krun_landlock_allow_socket_dir(p, path);
	CHECK_STR(p->paths[0].path, t->outside);
	return ret;
}

static void outside_is_closed(struct t *t)
{
	char p[2 * PATH_MAX];
	snprintf(p, sizeof(p), "%s/secret", t->outside);
	errno = 0;
	CHECK(open(p, O_RDONLY) < 0 && errno == EACCES);
	CHECK(open("/etc/passwd", O_RDONLY) < 0 && errno == EACCES);
	snprintf(p, sizeof(p), "%s/new", t->outside);
	CHECK(open(p, O_CREAT | O_WRONLY, 0600) < 0 && errno == EACCES);
}

static void guest_works_rw(struct t *t)
{
	struct fuse_entry_out e = {0}, d = {0};
	uint64_t fh = 0;
	char buf[16];

	CHECK_EQ(t_create(t, FUSE_ROOT_ID, "f", O_RDWR, 0644, &e, &fh), 0);
	CHECK_EQ(t_write(t, e.nodeid, fh, 0, "hello", 5), 0);
	CHECK_EQ(t_release(t, e.nodeid, fh, false), 0);
	CHECK_EQ(t_open(t, e.nodeid, O_RDONLY, &fh), 0);	/* reopened via /proc */
	CHECK_EQ(t_read(t, e.nodeid, fh, 0, 5), 0);
	CHECK_EQ(t->len, 5);
	CHECK(memcmp(t_payload(t), "hello", 5) == 0);
	CHECK_EQ(t_release(t, e.nodeid, fh, false), 0);

	struct fuse_setattr_in sa = {.valid = FATTR_SIZE, .size = 2};
	CHECK_EQ(t_req(t, FUSE_SETATTR, e.nodeid, ARG(sa), END), 0);
	CHECK_EQ(t_mkdir(t, FUSE_ROOT_ID, "d", 0755, &d), 0);
	struct fuse_rename_in rn = {.newdir = d.nodeid};
	CHECK_EQ(t_req(t, FUSE_RENAME, FUSE_ROOT_ID, ARG(rn), STR("f"), STR("g"), END), 0);
	struct fuse_link_in li = {.oldnodeid = e.nodeid};
	CHECK_EQ(t_req(t, FUSE_LINK, FUSE_ROOT_ID, ARG(li), STR("hard"), END), 0);
	CHECK_EQ(t_req(t, FUSE_SYMLINK, FUSE_ROOT_ID, STR("sl"), STR("d/g"), END), 0);
	struct fuse_mknod_in mk = {.mode = S_IFIFO | 0600};
	CHECK_EQ(t_req(t, FUSE_MKNOD, FUSE_ROOT_ID, ARG(mk), STR("fifo"), END), 0);
	CHECK_EQ(t_opendir(t, FUSE_ROOT_ID, &fh), 0);
	CHECK_EQ(t_release(t, FUSE_ROOT_ID, fh, true), 0);
	CHECK_EQ(t_req(t, FUSE_UNLINK, FUSE_ROOT_ID, STR("hard"), END), 0);
	CHECK_EQ(t_req(t, FUSE_UNLINK, d.nodeid, STR("g"), END), 0);
	CHECK_EQ(t_req(t, FUSE_RMDIR, FUSE_ROOT_ID, STR("d"), END), 0);
	CHECK_EQ(read_host(tpath(t, "sl"), buf, sizeof(buf)), -ENOENT);
	outside_is_closed(t);
}

static void test_rw_share(void)
{
	run_confined(false, NULL, plan_rw, guest_works_rw);
}

static void guest_reads_ro(struct t *t)
{
	struct fuse_entry_out e = {0};
	uint64_t fh = 0;

	CHECK_EQ(t_lookup(t, FUSE_ROOT_ID, "r", &e), 0);
	CHECK_EQ(t_open(t, e.nodeid, O_RDONLY, &fh), 0);
	CHECK_EQ(t_read(t, e.nodeid, fh, 0, 4), 0);
	CHECK(t->len == 4 && memcmp(t_payload(t), "data", 4) == 0);
	CHECK_EQ(t_release(t, e.nodeid, fh, false), 0);
	CHECK_EQ(t_opendir(t, FUSE_ROOT_ID, &fh), 0);
	CHECK_EQ(t_release(t, FUSE_ROOT_ID, fh, true), 0);
	/* The server refuses first; Landlock would refuse the host write too. */
	CHECK_EQ(t_create(t, FUSE_ROOT_ID, "w", O_RDWR, 0644, &e, &fh), -EROFS);
	CHECK(open(tpath(t, "r"), O_WRONLY) < 0 && errno == EACCES);
	outside_is_closed(t);
}

static void test_ro_share(void)
{
	run_confined(true, "data", plan_ro, guest_reads_ro);
}

/* The socket directory: the VMM removes its sockets there at the end and
 * can do nothing else. */
static void remove_only(struct t *t)
{
	char p[2 * PATH_MAX];
	snprintf(p, sizeof(p), "%s/sock", t->outside);
	CHECK_EQ(unlink(p), 0);
	snprintf(p, sizeof(p), "%s/secret", t->outside);
	CHECK(open(p, O_RDONLY) < 0 && errno == EACCES);
	snprintf(p, sizeof(p), "%s/new", t->outside);
	CHECK(open(p, O_CREAT | O_WRONLY, 0600) < 0 && errno == EACCES);
}

static void test_socket_dir(void)
{
	run_confined(false, NULL, plan_socket, remove_only);
}

static void test_plan_limits(void)
{
	struct krun_landlock_plan plan = {0};
	bool off = true;

	CHECK_EQ(krun_landlock_allow_socket_dir(&plan, "relative.sock"), 0);
	CHECK_STR(plan.paths[0].path, ".");
	CHECK_EQ(krun_landlock_allow_socket_dir(&plan, "/top.sock"), 0);
	CHECK_STR(plan.paths[1].path, "/");
	CHECK_EQ(krun_landlock_allow(&plan, "", KRUN_LL_READ), -EINVAL);
	while (plan.nr_paths < KRUN_LANDLOCK_MAX_PATHS)
		CHECK_EQ(krun_landlock_allow(&plan, "/", KRUN_LL_READ), 0);
	CHECK_EQ(krun_landlock_allow(&plan, "/", KRUN_LL_READ), -ENOSPC);
	CHECK_EQ(krun_landlock_parse_mode(NULL, &off), 0);
	CHECK_EQ(off, krun_sanitized_build());	/* on, except under sanitizers */
	CHECK_EQ(krun_landlock_parse_mode("off", &off), 0);
	CHECK(off);
	CHECK_EQ(krun_landlock_parse_mode("maybe", &off), -EINVAL);

	/* A rule for a directory that vanished fails the start, closed. */
	struct krun_landlock_plan gone = {0};
	CHECK_EQ(krun_landlock_allow(&gone, "/nonexistent/krun-share", KRUN_LL_WRITE), 0);
	if (krun_landlock_abi() > 0) {
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0)
			_exit(krun_landlock_confine(&gone) == -ENOENT ? 0 : 1);
		int st = 0;
		CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

int main(void)
{
	RUN_TEST(test_plan_limits);
	if (krun_landlock_abi() > 0) {
		RUN_TEST(test_rw_share);
		RUN_TEST(test_ro_share);
		RUN_TEST(test_socket_dir);
	} else {
		printf("SKIP test_rw_share test_ro_share test_socket_dir: no Landlock here\n");
	}
	TEST_MAIN_END();
}
