// SPDX-License-Identifier: Apache-2.0
/*
 * The real per-thread filter tables, loaded in forked children: what a
 * kind lists works, what it does not list kills the process (or, in trap
 * mode, fails with EPERM), and a worker created through the launcher runs
 * under its own narrower filter, not the launcher's union.
 */
#include "../test.h"
#include "vmm/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/*
 * The child leaves by exit_group itself: ASan intercepts _exit() to run
 * LeakSanitizer, whose ptrace and sigaltstack no thread's filter allows.
 */
static _Noreturn void leave(int code)
{
	for (;;)
		syscall(SYS_exit_group, code);
}

/* Runs body in a child under kind's filter; returns its wait status. */
static int in_child(enum krun_seccomp_mode mode, enum krun_thread_kind kind, int (*body)(void))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		if (mode == KRUN_SECCOMP_TRAP) {
			struct krun_launcher l;
			krun_launcher_init(&l, mode); /* installs the SIGSYS reporter */
		}
		if (krun_sandbox_thread(mode, kind))
			leave(100);
		leave(body());
	}
	int status = -1;
	waitpid(pid, &status, 0);
	return status;
}

static bool exited_ok(int status)
{
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static bool killed_by_seccomp(int status)
{
	return WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS;
}

static int do_open(void)
{
	int fd = (int)syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
	return fd >= 0 && syscall(SYS_close, fd) == 0 ? 0 : 1;
}

/* Threads that open nothing see EACCES, as glibc's lazy opens expect. */
static int do_open_refused(void)
{
	errno = 0;
	long fd = syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
	return fd == -1 && errno == EACCES ? 0 : 8;
}

static int do_execve(void)
{
	char *argv[] = {(char *)"/bin/true", NULL};
	syscall(SYS_execve, "/bin/true", argv, NULL);
	return 2;
}

static int do_ptrace(void)
{
	syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
	return 3;
}

static int do_getrandom(void)
{
	char b[16];
	return syscall(SYS_getrandom, b, sizeof(b), 0) == (long)sizeof(b) ? 0 : 1;
}

static int do_unix_socket(void)
{
	int fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	return fd >= 0 ? 0 : 1;
}

static int do_netlink_socket(void)
{
	syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0);
	return 4;
}

static int do_tty_ioctl(void)
{
	syscall(SYS_ioctl, 0, TIOCSTI, "x");
	return 5;
}

static int do_fork(void)
{
	syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
	return 6;
}

/* In trap mode the refused call returns EPERM and the thread goes on. */
static int do_ptrace_eperm(void)
{
	errno = 0;
	long r = syscall(SYS_ptrace, PTRACE_TRACEME, 0, 0, 0);
	return r == -1 && errno == EPERM ? 0 : 7;
}

static void test_parse_mode(void)
{
	enum krun_seccomp_mode m = KRUN_SECCOMP_TRAP;
	CHECK_EQ(krun_seccomp_parse_mode(NULL, &m), 0);
	CHECK_EQ(m, SANITIZED ? KRUN_SECCOMP_OFF : KRUN_SECCOMP_KILL);
	CHECK_EQ(krun_seccomp_parse_mode("on", &m), 0);
	CHECK_EQ(m, SANITIZED ? KRUN_SECCOMP_OFF : KRUN_SECCOMP_KILL);
	CHECK_EQ(krun_seccomp_parse_mode("off", &m), 0);
	CHECK_EQ(m, KRUN_SECCOMP_OFF);
	CHECK_EQ(krun_seccomp_parse_mode("log", &m), 0);
	CHECK_EQ(m, SANITIZED ? KRUN_SECCOMP_OFF : KRUN_SECCOMP_LOG);
	CHECK_EQ(krun_seccomp_parse_mode("yes please", &m), -EINVAL);
}

static void test_fs_worker(void)
{
	CHECK(exited_ok(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_FS, do_open)));
	CHECK(killed_by_seccomp(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_FS, do_execve)));
	CHECK(killed_by_seccomp(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_FS, do_unix_socket)));
}

static void test_rng_worker(void)
{
	CHECK(exited_ok(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_RNG, do_getrandom)));
	CHECK(killed_by_seccomp(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_RNG, do_ptrace)));
	CHECK(exited_ok(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_RNG, do_open_refused)));
}

static void test_vsock_socket_families(void)
{
	CHECK(exited_ok(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_VSOCK, do_unix_socket)));
	CHECK(killed_by_seccomp(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_VSOCK, do_netlink_socket)));
}

static void test_vcpu(void)
{
	CHECK(killed_by_seccomp(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_VCPU, do_tty_ioctl)));
	CHECK(killed_by_seccomp(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_VCPU, do_fork)));
	CHECK(exited_ok(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_VCPU, do_open_refused)));
	CHECK(killed_by_seccomp(in_child(KRUN_SECCOMP_KILL, KRUN_THREAD_VCPU, do_execve)));
}

static void test_trap_mode(void)
{
	CHECK(exited_ok(in_child(KRUN_SECCOMP_TRAP, KRUN_THREAD_RNG, do_ptrace_eperm)));
	/* VMM threads block every signal, and a blocked SIGSYS is a kill. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	CHECK(exited_ok(in_child(KRUN_SECCOMP_TRAP, KRUN_THREAD_RNG, do_ptrace_eperm)));
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void *worker_open(void *arg)
{
	*(int *)arg = do_open();
	return NULL;
}

static void *worker_socket(void *arg)
{
	*(int *)arg = do_unix_socket();
	return NULL;
}

/* A launcher (union filter) creates an fs worker from the child's main
 * thread, as a vCPU would; returns the child's wait status. */
static int launch_fs_worker(void *(*fn)(void *))
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct krun_launcher l;
		krun_launcher_init(&l, KRUN_SECCOMP_KILL);
		if (krun_launcher_start(&l))
			_exit(100);
		pthread_t t;
		int result = -1;
		if (krun_spawn(&l, &t, KRUN_THREAD_FS, "fs-test", fn, &result))
			_exit(101);
		pthread_join(t, NULL);
		krun_launcher_stop(&l);
		_exit(result);
	}
	int status = -1;
	waitpid(pid, &status, 0);
	return status;
}

static void test_launched_worker(void)
{
	/* The sanitizer runtime's own thread setup is in no table. */
	if (SANITIZED)
		return;
	CHECK(exited_ok(launch_fs_worker(worker_open)));
	/* socket() is in the launcher's union (vsock) but not in fs's list. */
	CHECK(killed_by_seccomp(launch_fs_worker(worker_socket)));
}

static void test_counts(void)
{
	unsigned int launcher = krun_seccomp_count(KRUN_THREAD_LAUNCHER);
	for (int k = 0; k < KRUN_THREAD_KINDS; k++) {
		unsigned int n = krun_seccomp_count((enum krun_thread_kind)k);
		printf("  %-8s %u syscalls\n", krun_thread_kind_name((enum krun_thread_kind)k), n);
		CHECK(n > 20 && n < 120);
		if (k >= KRUN_THREAD_BLOCK || k == KRUN_THREAD_SERIAL)
			CHECK(n < launcher);
	}
}

int main(void)
{
	RUN_TEST(test_parse_mode);
	RUN_TEST(test_fs_worker);
	RUN_TEST(test_rng_worker);
	RUN_TEST(test_vsock_socket_families);
	RUN_TEST(test_vcpu);
	RUN_TEST(test_trap_mode);
	RUN_TEST(test_launched_worker);
	RUN_TEST(test_counts);
	TEST_MAIN_END();
}
