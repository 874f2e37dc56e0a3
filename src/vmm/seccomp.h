/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-thread seccomp allowlists (issue 11 item 4).
 *
 * Every VMM thread installs the filter of its kind before it touches guest
 * input, on itself only (no TSYNC: the caller's other threads are not ours).
 * A filter is inherited by the threads its thread creates and can then only
 * be narrowed, so nothing filtered creates a thread it did not mean to cover:
 * the main thread creates the vCPUs, the serial drain thread and the
 * launcher before it filters itself, and device workers (which the guest
 * starts from a vCPU thread by writing DRIVER_OK) are created by the
 * launcher, whose filter is the union of the workers' lists plus what
 * creating a thread takes.  The vCPU filter therefore needs no clone().
 */
#ifndef KRUN_SECCOMP_H
#define KRUN_SECCOMP_H

#include <pthread.h>
#include <stdbool.h>

enum krun_thread_kind {
	KRUN_THREAD_MAIN,	/* krun_start_enter's thread: host events, teardown */
	KRUN_THREAD_VCPU,
	KRUN_THREAD_SERIAL,	/* the 8250's output drain and input reader */
	KRUN_THREAD_LAUNCHER,	/* creates device workers for the vCPUs */
	KRUN_THREAD_BLOCK,
	KRUN_THREAD_CONSOLE,
	KRUN_THREAD_FS,
	KRUN_THREAD_NET,
	KRUN_THREAD_VSOCK,
	KRUN_THREAD_RNG,
	KRUN_THREAD_BALLOON,
	KRUN_THREAD_KINDS
};

enum krun_seccomp_mode {
	KRUN_SECCOMP_OFF,
	KRUN_SECCOMP_KILL,	/* default: an unlisted syscall kills the process */
	KRUN_SECCOMP_LOG,	/* allowed, but logged by the kernel's audit */
	KRUN_SECCOMP_TRAP,	/* refused with EPERM and reported on stderr */
};

/* KRUN_SECCOMP's value (NULL: unset) to a mode: "on" is KILL, unset OFF. */
int krun_seccomp_parse_mode(const char *value, enum krun_seccomp_mode *out);
const char *krun_thread_kind_name(enum krun_thread_kind kind);
/* Distinct syscalls the kind's allowlist names (for the README table). */
unsigned int krun_seccomp_count(enum krun_thread_kind kind);
/* Installs the kind's filter on the calling thread; 0 for MODE_OFF. */
int krun_sandbox_thread(enum krun_seccomp_mode mode, enum krun_thread_kind kind);

/* Creates filtered threads; one per VM. */
struct krun_spawn_req;
struct krun_launcher {
	enum krun_seccomp_mode mode;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct krun_spawn_req *req;	/* the one pending request */
	bool running;
	bool stop;
	pthread_t thread;
};

void krun_launcher_init(struct krun_launcher *l, enum krun_seccomp_mode mode);
/* Starts the launcher thread; until then krun_spawn creates threads itself. */
int krun_launcher_start(struct krun_launcher *l);
void krun_launcher_stop(struct krun_launcher *l);
/* Starts fn(arg) on a new thread named name that installs kind's filter
 * first.  l may be NULL (unit tests): an unfiltered thread.  The new
 * thread's signal mask is the creator's, or with a running launcher all
 * signals blocked. */
int krun_spawn(struct krun_launcher *l, pthread_t *t, enum krun_thread_kind kind,
	       const char *name, void *(*fn)(void *), void *arg);

#endif
