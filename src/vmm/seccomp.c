// SPDX-License-Identifier: Apache-2.0
/*
 * Per-thread seccomp allowlists and the launcher that creates device
 * workers (see seccomp.h for why thread creation is arranged this way).
 *
 * Each table lists what its thread does after setup and nothing it did
 * before (opening images, connecting backends, creating the VM happen on
 * the main thread before any filter).  Glibc's own needs (malloc, pthread
 * locks and exit, one write() per log line) are in every table.
 */
#include "vmm/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <ucontext.h>
#include <unistd.h>

#include "util/log.h"
#include "util/sanitizer.h"

/* One allowed syscall, optionally only when argument arg masked by mask
 * equals val.  Several rules for one syscall allow any of them. */
struct rule {
	int nr;
	int arg;	/* -1: any arguments */
	uint64_t mask;
	uint64_t val;
};

#define ANY(name) {SCMP_SYS(name), -1, 0, 0}
#define ARG_EQ(name, i, v) {SCMP_SYS(name), i, ~0ULL, (uint64_t)(v)}
#define ARG_HAS(name, i, bits) {SCMP_SYS(name), i, (uint64_t)(bits), (uint64_t)(bits)}
#define END {-1, -1, 0, 0}

/* Glibc internals every thread relies on.  tgkill is added per kind with
 * the process's own id (kicks, abort()). */
static const struct rule base_rules[] = {
	ANY(futex), ANY(rt_sigprocmask), ANY(rt_sigreturn), ANY(restart_syscall),
	ANY(mmap), ANY(munmap), ANY(mprotect), ANY(madvise), ANY(mremap), ANY(brk),
	ANY(exit), ANY(exit_group), ANY(write), ANY(clock_gettime), ANY(clock_nanosleep),
	ANY(nanosleep), ANY(gettid), ANY(getpid), ANY(sched_yield), ANY(rseq),
	ANY(set_robust_list),
	/* glibc sizing malloc arenas when /sys is not readable (Landlock). */
	ANY(sched_getaffinity),
	END
};

/* Host events (signalfd, terminal size), then teardown: joins, closes,
 * removes the sockets the VMM bound, restores the terminal, exits. */
static const struct rule main_rules[] = {
	ANY(read), ANY(writev), ANY(close), ANY(poll), ANY(ppoll), ANY(fcntl),
	ANY(shutdown), ANY(epoll_ctl), ANY(unlink), ANY(unlinkat), ANY(newfstatat),
	ANY(fstat), ANY(lstat), ANY(fsync), ANY(fdatasync), ANY(lseek),
	ARG_EQ(ioctl, 1, TCGETS), ARG_EQ(ioctl, 1, TCSETS), ARG_EQ(ioctl, 1, TCSETSW),
	ARG_EQ(ioctl, 1, TCSETSF), ARG_EQ(ioctl, 1, TIOCGWINSZ),
	/* vhost-user: stopping the backend's rings at teardown. */
	ANY(sendmsg), ANY(recvmsg),
	END
};

/* KVM_RUN and the trace-level register dumps; the split irqchip's IOAPIC
 * routes (redirection entries the guest writes); device register writes
 * (eventfds, a tap's offloads on activation, closing epoll sets and
 * connections on reset). */
static const struct rule vcpu_rules[] = {
	ARG_EQ(ioctl, 1, KVM_RUN), ARG_EQ(ioctl, 1, KVM_GET_REGS),
	ARG_EQ(ioctl, 1, KVM_GET_SREGS), ARG_EQ(ioctl, 1, KVM_GET_VCPU_EVENTS),
	ARG_EQ(ioctl, 1, KVM_GET_LAPIC), ARG_EQ(ioctl, 1, TUNSETOFFLOAD),
	ARG_EQ(ioctl, 1, KVM_SET_GSI_ROUTING),
	ANY(read), ANY(close), ANY(poll), ANY(epoll_create1), ANY(epoll_ctl),
	ANY(shutdown), ANY(fcntl),
	/* vhost-user: the backend is told of activation, reset and config
	 * writes by the vCPU that wrote the register (replies bounded in time). */
	ANY(sendmsg), ANY(recvmsg),
	END
};

/* Writes the guest's bytes to COM1's fd (send() when it is a socket) and
 * reads the serial console's input and its wake-up eventfd. */
static const struct rule serial_rules[] = {
	ANY(writev), ANY(sendto), ANY(poll), ANY(ppoll), ANY(close), ANY(read),
	END
};

/* What every device worker shares: eventfds, epoll, the queues. */
static const struct rule worker_rules[] = {
	ANY(read), ANY(readv), ANY(writev), ANY(close), ANY(poll), ANY(ppoll),
	ANY(epoll_create1), ANY(epoll_wait), ANY(epoll_pwait), ANY(epoll_ctl), ANY(fcntl),
	END
};

static const struct rule block_rules[] = {
	ANY(preadv), ANY(pwritev), ANY(pread64), ANY(pwrite64), ANY(fsync),
	ANY(fdatasync), ANY(fallocate), ANY(lseek),
	END
};

/* Port fds may be sockets (recvmsg/sendmsg with MSG_DONTWAIT). */
static const struct rule console_rules[] = {
	ANY(recvmsg), ANY(sendmsg), ANY(recvfrom), ANY(sendto),
	END
};

/* The FUSE passthrough server: every file operation, relative to the
 * share's descriptors (openat2 with RESOLVE_BENEATH), path xattr calls
 * through /proc/self/fd, per-request fsuid/fsgid. */
static const struct rule fs_rules[] = {
	ANY(openat), ANY(openat2), ANY(open), ANY(newfstatat), ANY(fstat), ANY(statx),
	ANY(lseek), ANY(getdents64), ANY(readlinkat), ANY(mkdirat), ANY(mknodat),
	ANY(unlinkat), ANY(renameat2), ANY(renameat), ANY(linkat), ANY(symlinkat),
	ANY(fchmod), ANY(fchmodat), ANY(fchown), ANY(fchownat), ANY(utimensat),
	ANY(ftruncate), ANY(truncate), ANY(fallocate), ANY(fsync), ANY(fdatasync),
	ANY(fstatfs), ANY(statfs), ANY(flock), ANY(dup), ANY(copy_file_range),
	ANY(faccessat), ANY(faccessat2), ANY(getxattr), ANY(lgetxattr), ANY(fgetxattr),
	ANY(setxattr), ANY(lsetxattr), ANY(fsetxattr), ANY(listxattr), ANY(llistxattr),
	ANY(flistxattr), ANY(removexattr), ANY(lremovexattr), ANY(fremovexattr),
	ANY(setfsuid), ANY(setfsgid), ANY(geteuid), ANY(getuid), ANY(getegid),
	ANY(getgid), ANY(getrlimit), ANY(prlimit64), ANY(preadv), ANY(pwritev),
	ANY(pread64), ANY(pwrite64),
	END
};

static const struct rule net_rules[] = {
	ANY(recvmsg), ANY(sendmsg), ANY(recvfrom), ANY(sendto),
	END
};

/* vsock ports and TSI: the VMM's own host sockets, unix and inet only. */
static const struct rule vsock_rules[] = {
	ARG_EQ(socket, 0, AF_UNIX), ARG_EQ(socket, 0, AF_INET), ARG_EQ(socket, 0, AF_INET6),
	ANY(connect), ANY(bind), ANY(listen), ANY(accept4), ANY(accept),
	ANY(getsockname), ANY(getpeername), ANY(setsockopt), ANY(getsockopt),
	ANY(recvmsg), ANY(sendmsg), ANY(recvfrom), ANY(sendto), ANY(shutdown),
	ANY(unlink), ANY(unlinkat), ANY(newfstatat), ANY(fstat), ANY(lstat), ANY(stat),
	ANY(epoll_create1),
	END
};

static const struct rule rng_rules[] = {
	ANY(getrandom),
	END
};

/* Gives reported guest pages back with madvise (in base_rules). */
static const struct rule balloon_rules[] = {
	END
};

/* Thread creation only with CLONE_THREAD; clone3's flags live in memory a
 * filter cannot read, so it answers ENOSYS and glibc falls back to clone.
 * The new thread names itself and loads its own filter (prctl, seccomp).
 * Its threads are the device workers and COM1's drain thread. */
static const struct rule launcher_rules[] = {
	ARG_HAS(clone, 0, CLONE_THREAD), ANY(prctl), ANY(seccomp),
	END
};

static const struct rule *const worker_tables[][2] = {
	[KRUN_THREAD_BLOCK] = {worker_rules, block_rules},
	[KRUN_THREAD_CONSOLE] = {worker_rules, console_rules},
	[KRUN_THREAD_FS] = {worker_rules, fs_rules},
	[KRUN_THREAD_NET] = {worker_rules, net_rules},
	[KRUN_THREAD_VSOCK] = {worker_rules, vsock_rules},
	[KRUN_THREAD_RNG] = {worker_rules, rng_rules},
	[KRUN_THREAD_BALLOON] = {worker_rules, balloon_rules},
};

static const char *const kind_names[KRUN_THREAD_KINDS] = {
	[KRUN_THREAD_MAIN] = "main", [KRUN_THREAD_VCPU] = "vcpu",
	[KRUN_THREAD_SERIAL] = "serial", [KRUN_THREAD_LAUNCHER] = "launcher",
	[KRUN_THREAD_BLOCK] = "block", [KRUN_THREAD_CONSOLE] = "console",
	[KRUN_THREAD_FS] = "fs", [KRUN_THREAD_NET] = "net",
	[KRUN_THREAD_VSOCK] = "vsock", [KRUN_THREAD_RNG] = "rng",
	[KRUN_THREAD_BALLOON] = "balloon",
};

const char *krun_thread_kind_name(enum krun_thread_kind kind)
{
	return (unsigned int)kind < KRUN_THREAD_KINDS ? kind_names[kind] : "?";
}

static bool is_worker(enum krun_thread_kind kind)
{
	return kind >= KRUN_THREAD_BLOCK && kind < KRUN_THREAD_KINDS;
}

static bool kicks_threads(enum krun_thread_kind kind)
{
	return kind == KRUN_THREAD_MAIN || kind == KRUN_THREAD_VCPU;
}

/* The kind's tables, base first; returns how many. */
static unsigned int tables_of(enum krun_thread_kind kind, const struct rule *out[], unsigned int max)
{
	unsigned int n = 0;
	out[n++] = base_rules;
	if (is_worker(kind)) {
		out[n++] = worker_tables[kind][0];
		out[n++] = worker_tables[kind][1];
	} else if (kind == KRUN_THREAD_LAUNCHER) {
		out[n++] = launcher_rules;
		out[n++] = serial_rules;
		out[n++] = worker_rules;
		for (int k = KRUN_THREAD_BLOCK; k < KRUN_THREAD_KINDS && n < max; k++)
			out[n++] = worker_tables[k][1];
	} else if (kind == KRUN_THREAD_MAIN) {
		out[n++] = main_rules;
	} else if (kind == KRUN_THREAD_VCPU) {
		out[n++] = vcpu_rules;
	} else if (kind == KRUN_THREAD_SERIAL) {
		out[n++] = serial_rules;
	}
	return n;
}

#define MAX_TABLES 16

static bool listed_before(const struct rule *const t[], unsigned int nt, unsigned int ti,
			  unsigned int ri)
{
	int nr = t[ti][ri].nr;
	for (unsigned int i = 0; i <= ti; i++)
		for (unsigned int j = 0; t[i][j].nr >= 0 && (i < ti || j < ri); j++)
			if (t[i][j].nr == nr)
				return true;
	(void)nt;
	return false;
}

unsigned int krun_seccomp_count(enum krun_thread_kind kind)
{
	const struct rule *t[MAX_TABLES];
	unsigned int nt = tables_of(kind, t, MAX_TABLES), count = 0;
	for (unsigned int i = 0; i < nt; i++)
		for (unsigned int j = 0; t[i][j].nr >= 0; j++)
			count += !listed_before(t, nt, i, j);
	/* clone3 (answered ENOSYS) is not allowed; tgkill is. */
	return count + (kicks_threads(kind) ? 1 : 0);
}

static bool tables_list(const struct rule *const t[], unsigned int nt, int nr)
{
	for (unsigned int i = 0; i < nt; i++)
		for (unsigned int j = 0; t[i][j].nr >= 0; j++)
			if (t[i][j].nr == nr)
				return true;
	return false;
}

/*
 * Glibc opens files behind the program's back (malloc sizing its arenas
 * reads /sys/devices/system/cpu/online, the first localtime() reads
 * /etc/localtime) and copes when that fails: threads that open nothing get
 * EACCES for it instead of the kill.
 */
static int deny_opens_softly(scmp_filter_ctx f, const struct rule *const t[], unsigned int nt)
{
	static const int opens[] = {SCMP_SYS(open), SCMP_SYS(openat)};
	int ret = 0;
	for (unsigned int i = 0; i < sizeof(opens) / sizeof(opens[0]) && !ret; i++)
		if (!tables_list(t, nt, opens[i]))
			ret = seccomp_rule_add(f, SCMP_ACT_ERRNO(EACCES), opens[i], 0);
	return ret;
}

static int add_rule(scmp_filter_ctx f, const struct rule *r)
{
	if (r->arg < 0)
		return seccomp_rule_add(f, SCMP_ACT_ALLOW, r->nr, 0);
	struct scmp_arg_cmp cmp = {
		.arg = (unsigned int)r->arg, .op = SCMP_CMP_MASKED_EQ,
		.datum_a = r->mask, .datum_b = r->val,
	};
	return seccomp_rule_add_array(f, SCMP_ACT_ALLOW, r->nr, 1, &cmp);
}

static uint32_t default_action(enum krun_seccomp_mode mode)
{
	switch (mode) {
	case KRUN_SECCOMP_LOG:
		return SCMP_ACT_LOG;
	case KRUN_SECCOMP_TRAP:
		return SCMP_ACT_TRAP;
	default:
		return SCMP_ACT_KILL_PROCESS;
	}
}

static int fill_filter(scmp_filter_ctx f, enum krun_thread_kind kind)
{
	const struct rule *t[MAX_TABLES];
	unsigned int nt = tables_of(kind, t, MAX_TABLES);
	int ret = 0;
	for (unsigned int i = 0; i < nt && !ret; i++)
		for (unsigned int j = 0; t[i][j].nr >= 0 && !ret; j++)
			ret = add_rule(f, &t[i][j]);
	if (!ret)
		ret = deny_opens_softly(f, t, nt);
	if (!ret && kicks_threads(kind)) {
		/* Spelled out: clang -Wextra rejects SCMP_A0's partial initializer. */
		const struct scmp_arg_cmp own_process = {
			.arg = 0, .op = SCMP_CMP_EQ, .datum_a = (uint64_t)getpid(), .datum_b = 0,
		};
		ret = seccomp_rule_add_array(f, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, &own_process);
	}
	if (!ret && kind == KRUN_THREAD_LAUNCHER)
		ret = seccomp_rule_add(f, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	return ret;
}

/* Built by the creator, where failing still fails the start cleanly. */
static int build_filter(enum krun_seccomp_mode mode, enum krun_thread_kind kind,
			scmp_filter_ctx *out)
{
	if ((unsigned int)kind >= KRUN_THREAD_KINDS)
		return -EINVAL;
	scmp_filter_ctx f = seccomp_init(default_action(mode));
	if (!f)
		return -ENOMEM;
	int ret = fill_filter(f, kind);
	if (ret) {
		seccomp_release(f);
		return ret < 0 ? ret : -EINVAL;
	}
	*out = f;
	return 0;
}

/* The kind a thread was filtered as, for TRAP mode's report; written by
 * the thread itself before its filter is loaded, so already there. */
static _Thread_local const char *filtered_as;

/*
 * VMM threads run with every signal blocked, and the kernel turns a blocked
 * SIGSYS from seccomp into a kill: in trap mode the thread takes it.
 */
static void accept_trap_signal(enum krun_seccomp_mode mode)
{
	sigset_t sys;

	if (mode != KRUN_SECCOMP_TRAP)
		return;
	sigemptyset(&sys);
	sigaddset(&sys, SIGSYS);
	pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
}

static int load_filter(scmp_filter_ctx f, enum krun_seccomp_mode mode,
		       enum krun_thread_kind kind)
{
	filtered_as = krun_thread_kind_name(kind);
	accept_trap_signal(mode);
	int ret = seccomp_load(f);
	seccomp_release(f);
	if (ret)
		log_error("seccomp: cannot filter the %s thread: %s", krun_thread_kind_name(kind),
			  strerror(-ret));
	else
		log_debug("seccomp: %s thread %d filtered (%u syscalls)", krun_thread_kind_name(kind),
			  (int)gettid(), krun_seccomp_count(kind));
	return ret;
}

int krun_sandbox_thread(enum krun_seccomp_mode mode, enum krun_thread_kind kind)
{
	if (mode == KRUN_SECCOMP_OFF)
		return 0;
	scmp_filter_ctx f;
	int ret = build_filter(mode, kind, &f);
	return ret ? ret : load_filter(f, mode, kind);
}

int krun_seccomp_parse_mode(const char *value, enum krun_seccomp_mode *out)
{
	/* On by default: every VMM thread under its kind's allowlist. */
	if (!value || !*value || !strcmp(value, "on") || !strcmp(value, "kill"))
		*out = KRUN_SECCOMP_KILL;
	else if (!strcmp(value, "off"))
		*out = KRUN_SECCOMP_OFF;
	else if (!strcmp(value, "log"))
		*out = KRUN_SECCOMP_LOG;
	else if (!strcmp(value, "trap"))
		*out = KRUN_SECCOMP_TRAP;
	else
		return -EINVAL;
	if (*out != KRUN_SECCOMP_OFF && krun_sanitized_build()) {
		log_debug("seccomp: off in a sanitizer build");
		*out = KRUN_SECCOMP_OFF;
	}
	return 0;
}

/* TRAP mode's report: async-signal-safe, then the call fails with EPERM. */
static void put_num(char *buf, size_t *len, long v)
{
	char tmp[24];
	int n = 0;
	if (v < 0) {
		buf[(*len)++] = '-';
		v = -v;
	}
	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) && n < (int)sizeof(tmp));
	while (n)
		buf[(*len)++] = tmp[--n];
}

/*
 * Trap mode is for finding what a table lacks, and a VMM's stderr is often
 * swallowed by its caller (crun, podman, test harnesses): reports also go
 * to the kernel log when it is writable.  Set once, before any thread is
 * filtered, and kept for the process.
 */
static int trap_kmsg_fd = -1;

static void on_sigsys(int sig, siginfo_t *si, void *uc_)
{
	char buf[128];
	size_t len = 0;
	static const char a[] = "libkrun: seccomp refused syscall ", b[] = " on thread ";
	const char *kind = filtered_as ? filtered_as : "unknown";
	size_t kind_len = strnlen(kind, 16);
	memcpy(buf, a, sizeof(a) - 1);
	len += sizeof(a) - 1;
	put_num(buf, &len, si->si_syscall);
	memcpy(buf + len, b, sizeof(b) - 1);
	len += sizeof(b) - 1;
	put_num(buf, &len, (long)gettid());
	buf[len++] = ' ';
	buf[len++] = '(';
	memcpy(buf + len, kind, kind_len);
	len += kind_len;
	buf[len++] = ')';
#ifdef __x86_64__
	/* Tables filter ioctl and fcntl by their second argument. */
	static const char c[] = " arg1 ";
	memcpy(buf + len, c, sizeof(c) - 1);
	len += sizeof(c) - 1;
	put_num(buf, &len, (long)((ucontext_t *)uc_)->uc_mcontext.gregs[REG_RSI]);
#endif
	buf[len++] = '\n';
	ssize_t r = write(STDERR_FILENO, buf, len);
	if (trap_kmsg_fd >= 0)
		r = write(trap_kmsg_fd, buf, len);
	(void)r;
	(void)sig;
#ifdef __x86_64__
	((ucontext_t *)uc_)->uc_mcontext.gregs[REG_RAX] = -EPERM;
#endif
}

static void install_trap_handler(void)
{
	struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
	sigemptyset(&sa.sa_mask);
	if (trap_kmsg_fd < 0)
		trap_kmsg_fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	sigaction(SIGSYS, &sa, NULL);
}

/* --- thread creation ------------------------------------------------- */

struct thread_start {
	enum krun_seccomp_mode mode;
	enum krun_thread_kind kind;
	scmp_filter_ctx filter;		/* NULL: unfiltered */
	char name[16];
	void *(*fn)(void *);
	void *arg;
};

struct krun_spawn_req {
	pthread_t *thread;
	struct thread_start *start;
	int ret;
	bool done;
};

static void *trampoline(void *p)
{
	struct thread_start s = *(struct thread_start *)p;
	free(p);
	prctl(PR_SET_NAME, s.name, 0, 0, 0);
	/* Fail closed: a thread that cannot be filtered does not serve. */
	if (s.filter && load_filter(s.filter, s.mode, s.kind))
		return NULL;
	return s.fn(s.arg);
}

/* The filter is built here, on the launcher or the still unfiltered main
 * thread: libseccomp may probe the kernel (seccomp()) the first time. */
static int create_thread(pthread_t *t, struct thread_start *s)
{
	int ret = s->mode == KRUN_SECCOMP_OFF ? 0 : build_filter(s->mode, s->kind, &s->filter);
	if (!ret)
		ret = -pthread_create(t, NULL, trampoline, s);
	if (ret) {
		if (s->filter)
			seccomp_release(s->filter);
		free(s);
	}
	return ret;
}

static void *launcher_main(void *arg)
{
	struct krun_launcher *l = arg;
	pthread_mutex_lock(&l->lock);
	for (;;) {
		while (!l->req && !l->stop)
			pthread_cond_wait(&l->cond, &l->lock);
		if (l->stop)
			break;
		struct krun_spawn_req *r = l->req;
		l->req = NULL;
		r->ret = create_thread(r->thread, r->start);
		r->done = true;
		pthread_cond_broadcast(&l->cond);
	}
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

void krun_launcher_init(struct krun_launcher *l, enum krun_seccomp_mode mode)
{
	memset(l, 0, sizeof(*l));
	l->mode = mode;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	if (mode == KRUN_SECCOMP_TRAP)
		install_trap_handler();
}

static struct thread_start *new_start(enum krun_seccomp_mode mode, enum krun_thread_kind kind,
				      const char *name, void *(*fn)(void *), void *arg)
{
	struct thread_start *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	*s = (struct thread_start){.mode = mode, .kind = kind, .fn = fn, .arg = arg};
	snprintf(s->name, sizeof(s->name), "%s", name);
	return s;
}

int krun_launcher_start(struct krun_launcher *l)
{
	if (l->mode == KRUN_SECCOMP_OFF)
		return 0;
	/* All signals blocked: the workers it creates inherit that mask. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = krun_spawn(l, &l->thread, KRUN_THREAD_LAUNCHER, "krun-launcher", launcher_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ret)
		l->running = true;
	return ret;
}

void krun_launcher_stop(struct krun_launcher *l)
{
	if (!l->running)
		return;
	pthread_mutex_lock(&l->lock);
	l->stop = true;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	pthread_join(l->thread, NULL);
	l->running = false;
}

/* Hands the thread to the launcher and waits for pthread_create's answer. */
static int spawn_via_launcher(struct krun_launcher *l, pthread_t *t, struct thread_start *s)
{
	struct krun_spawn_req r = {.thread = t, .start = s};
	pthread_mutex_lock(&l->lock);
	while (l->req)
		pthread_cond_wait(&l->cond, &l->lock);
	l->req = &r;
	pthread_cond_broadcast(&l->cond);
	while (!r.done)
		pthread_cond_wait(&l->cond, &l->lock);
	pthread_mutex_unlock(&l->lock);
	return r.ret;
}

int krun_spawn(struct krun_launcher *l, pthread_t *t, enum krun_thread_kind kind,
	       const char *name, void *(*fn)(void *), void *arg)
{
	struct thread_start *s = new_start(l ? l->mode : KRUN_SECCOMP_OFF, kind, name, fn, arg);
	if (!s)
		return -ENOMEM;
	if (l && l->running && !pthread_equal(pthread_self(), l->thread))
		return spawn_via_launcher(l, t, s);
	return create_thread(t, s);
}
