// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the guest init's pure helpers (status mapping, exec
 * failure classification, port names, environment, the upstream
 * command-line fallback) and for the embedded init image.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "init/init_blob.h"
#include "init/init_lib.h"
#include "../test.h"

/* Real wait statuses, not hand-built bit patterns. */
static int wait_status_of(int how, int val)
{
	int ws = 0;
	pid_t pid = fork();

	if (pid == 0) {
		if (how == 0)
			_exit(val);
		signal(val, SIG_DFL);
		raise(val);
		_exit(99);
	}
	waitpid(pid, &ws, 0);
	return ws;
}

static void test_status_from_wait(void)
{
	CHECK_EQ(init_status_from_wait(wait_status_of(0, 0)), 0);
	CHECK_EQ(init_status_from_wait(wait_status_of(0, 3)), 3);
	CHECK_EQ(init_status_from_wait(wait_status_of(0, 255)), 255);
	CHECK_EQ(init_status_from_wait(wait_status_of(1, SIGKILL)), 128 + SIGKILL);
	CHECK_EQ(init_status_from_wait(wait_status_of(1, SIGTERM)), 128 + SIGTERM);
	CHECK_EQ(init_status_from_wait(wait_status_of(1, SIGUSR1)), 128 + SIGUSR1);
}

static void test_exec_failure(void)
{
	CHECK_EQ(init_exec_failure_status(ENOENT), 127);
	CHECK_EQ(init_exec_failure_status(EACCES), 126);
	CHECK_EQ(init_exec_failure_status(ENOEXEC), 126);
	CHECK_EQ(init_exec_failure_status(E2BIG), 126);
	CHECK_STR(init_exec_failure_text(ENOENT), "not found");
	CHECK_STR(init_exec_failure_text(EACCES), "not executable");
}

/* The same classification a real failed execvp() produces. */
static void test_exec_failure_real(void)
{
	char *argv[] = { "krun-no-such-command-xyz", NULL };
	char *argv2[] = { "/dev/null", NULL };

	CHECK_EQ(execvp(argv[0], argv), -1);
	CHECK_EQ(init_exec_failure_status(errno), 127);
	CHECK_EQ(execvp(argv2[0], argv2), -1);
	CHECK_EQ(init_exec_failure_status(errno), 126);
}

static void test_port_role(void)
{
	CHECK_EQ(init_port_role("krun-stdin"), 0);
	CHECK_EQ(init_port_role("krun-stdout\n"), 1);
	CHECK_EQ(init_port_role("krun-stderr\n"), 2);
	CHECK_EQ(init_port_role("krun-stderr\n\n"), -1);
	CHECK_EQ(init_port_role("krun-stdoutx"), -1);
	CHECK_EQ(init_port_role("krun-std"), -1);
	CHECK_EQ(init_port_role(""), -1);
	CHECK_EQ(init_port_role("\n"), -1);
	CHECK_EQ(init_port_role("org.qemu.guest_agent.0\n"), -1);
	CHECK_EQ(init_port_role(NULL), -1);
}

static size_t count(const char **v)
{
	size_t n = 0;

	while (v[n])
		n++;
	return n;
}

static void test_build_env_defaults(void)
{
	const char *none[] = { NULL };
	const char *some[] = { "PATH=/opt", "HOME=/root", "TERM=vt100", "X=1", NULL };
	const char *partial[] = { "PATHX=1", "XHOME=2", NULL };
	const char **e;

	e = init_build_env(none, false);
	CHECK_EQ(count(e), 2);
	CHECK_STR(e[0], INIT_DEFAULT_PATH);
	CHECK_STR(e[1], INIT_DEFAULT_HOME);
	free(e);

	e = init_build_env(NULL, true);
	CHECK_EQ(count(e), 3);
	CHECK_STR(e[2], "TERM=xterm-256color");
	free(e);

	e = init_build_env(some, true);
	CHECK_EQ(count(e), 4);
	CHECK_STR(e[0], "PATH=/opt");
	CHECK_STR(e[2], "TERM=vt100");
	free(e);

	e = init_build_env(partial, false);
	CHECK_EQ(count(e), 4);
	CHECK(init_env_has(e, "PATH"));
	CHECK(init_env_has(e, "HOME"));
	CHECK(!init_env_has(e, "TERM"));
	CHECK(!init_env_has(e, "PAT"));
	free(e);
}

static void test_split_rlimits(void)
{
	char s1[] = "\"NOFILE=1:2,6=3:4\"";
	char s2[] = "a,,b,";
	char s3[] = "a,b,c";
	char s4[] = "\"";
	const char *out[4];

	CHECK_EQ(init_split_rlimits(s1, out, 4), 2);
	CHECK_STR(out[0], "NOFILE=1:2");
	CHECK_STR(out[1], "6=3:4");
	CHECK(out[2] == NULL);
	CHECK_EQ(init_split_rlimits(s2, out, 4), 2);
	CHECK_STR(out[1], "b");
	CHECK_EQ(init_split_rlimits(s3, out, 3), -E2BIG);
	CHECK_EQ(init_split_rlimits(s4, out, 4), 1);
	CHECK_EQ(init_split_rlimits(NULL, out, 4), -E2BIG);
}

static void test_fallback_krun_init(void)
{
	char *argv[] = { "/init.krun", "-c", "echo hi", NULL };
	char *env[] = { "HOME=/", "TERM=linux", "KRUN_INIT=/bin/sh", "KRUN_WORKDIR=/tmp",
			"KRUN_RLIMITS=\"NOFILE=10:20,6=1:2\"", "KRUN_HOME=/root",
			"HOSTNAME=box", "FOO=bar", NULL };
	struct workload_view v;

	CHECK_EQ(init_view_from_env(3, argv, env, &v), 0);
	/* KRUN_INIT names the job: a container config's argv must not win. */
	CHECK_EQ(v.flags & WORKLOAD_F_DEFAULT_EXEC, 0);
	CHECK_STR(v.exec_path, "/bin/sh");
	CHECK_EQ(v.argc, 3);
	CHECK_STR(v.argv[0], "/bin/sh");
	CHECK_STR(v.argv[1], "-c");
	CHECK_STR(v.argv[2], "echo hi");
	CHECK(v.argv[3] == NULL);
	CHECK_STR(v.workdir, "/tmp");
	CHECK_STR(v.hostname, "box");
	CHECK_EQ(v.nrlimits, 2);
	CHECK_STR(v.rlimits[0], "NOFILE=10:20");
	CHECK_STR(v.rlimits[1], "6=1:2");
	/* KRUN_* consumed, HOME replaced by KRUN_HOME, the rest kept. */
	CHECK_EQ(v.envc, 4);
	CHECK_STR(v.envp[0], "TERM=linux");
	CHECK_STR(v.envp[1], "HOSTNAME=box");
	CHECK_STR(v.envp[2], "FOO=bar");
	CHECK_STR(v.envp[3], "HOME=/root");
	CHECK(v.envp[4] == NULL);
	workload_view_free(&v);
}

static void test_fallback_args_only(void)
{
	char *argv[] = { "/init.krun", "/usr/bin/env", NULL };
	char *argv0[] = { "/init.krun", NULL };
	char *env[] = { "KRUN_TERM=dumb", "TERM=linux", NULL };
	struct workload_view v;

	CHECK_EQ(init_view_from_env(2, argv, env, &v), 0);
	/* Upstream: without KRUN_INIT a config's argv comes before these. */
	CHECK_EQ(v.flags, WORKLOAD_F_DEFAULT_EXEC);
	CHECK_STR(v.exec_path, "/usr/bin/env");
	CHECK_EQ(v.argc, 1);
	CHECK(v.workdir == NULL);
	CHECK(v.hostname == NULL);
	CHECK_EQ(v.envc, 1);
	CHECK_STR(v.envp[0], "TERM=dumb");
	workload_view_free(&v);

	CHECK_EQ(init_view_from_env(1, argv0, env, &v), 0);
	CHECK_STR(v.exec_path, "/bin/sh");
	CHECK_EQ(v.argc, 1);
	CHECK_EQ(v.flags, WORKLOAD_F_DEFAULT_EXEC);
	workload_view_free(&v);
}

static void test_fallback_bad_rlimits(void)
{
	char *argv[] = { "/init.krun", NULL };
	char *env[] = { "KRUN_RLIMITS=NOFILE=1", NULL };
	struct workload_view v;

	CHECK_EQ(init_view_from_env(1, argv, env, &v), -EINVAL);
	CHECK(v.argv == NULL && v.envp == NULL && v.rlimits == NULL);
}

static void test_dirent_is_dot(void)
{
	CHECK(init_dirent_is_dot("."));
	CHECK(init_dirent_is_dot(".."));
	CHECK(!init_dirent_is_dot("..."));
	CHECK(!init_dirent_is_dot(".x"));
}

static void test_init_blob(void)
{
	size_t len = 0;
	const uint8_t *p = krun_init_blob(&len);

	CHECK(p != NULL);
	CHECK(len > 4096);
	CHECK(((uintptr_t)p & 4095) == 0);
	CHECK(p && !memcmp(p, "\x7f" "ELF", 4));
	/* ET_EXEC: static, not PIE, so the kernel needs no interpreter. */
	CHECK_EQ(p[16], 2);
	CHECK(krun_init_blob(NULL) == p);
}

int main(void)
{
	RUN_TEST(test_status_from_wait);
	RUN_TEST(test_exec_failure);
	RUN_TEST(test_exec_failure_real);
	RUN_TEST(test_port_role);
	RUN_TEST(test_build_env_defaults);
	RUN_TEST(test_split_rlimits);
	RUN_TEST(test_fallback_krun_init);
	RUN_TEST(test_fallback_args_only);
	RUN_TEST(test_fallback_bad_rlimits);
	RUN_TEST(test_dirent_is_dot);
	RUN_TEST(test_init_blob);
	TEST_MAIN_END();
}
