/* SPDX-License-Identifier: Apache-2.0 */
/*
 * init/init_lib.h - the side-effect-free parts of the guest init, split out
 * so the unit tests can run them on the host.  Compiled into init.krun and
 * into tests/unit/init, not into libkrun.
 */
#ifndef KRUN_INIT_LIB_H
#define KRUN_INIT_LIB_H

#include <stdbool.h>
#include <stddef.h>

#include "workload.h"

/* Shell conventions, shared with upstream libkrun's init. */
#define INIT_EXIT_SETUP 125
#define INIT_EXIT_NOEXEC 126
#define INIT_EXIT_NOTFOUND 127

#define INIT_DEFAULT_PATH "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#define INIT_DEFAULT_HOME "HOME=/"
#define INIT_DEFAULT_TERM "TERM=xterm-256color"
#define INIT_DEFAULT_HOSTNAME "localhost"

/* waitpid() status -> exit code the host sees: code, or 128 + signal. */
int init_status_from_wait(int wstatus);

/* errno from a failed exec -> 127 (not found) or 126 (anything else). */
int init_exec_failure_status(int err);
const char *init_exec_failure_text(int err);

/*
 * Content of /sys/class/virtio-ports/X/name (trailing newline allowed) ->
 * the workload fd it stands for (0, 1, 2), INIT_PORT_SIGNALS for the port
 * carrying signals relayed by the host, or -1 for any other port.
 */
#define INIT_PORT_SIGNALS 3
int init_port_role(const char *name);

/* Does envp (NULL-terminated) define KEY (given without '=')? */
bool init_env_has(const char *const *envp, const char *key);

/* The value of KEY in envp (the first definition), or NULL. */
const char *init_env_get(const char *const *envp, const char *key);

/*
 * envp with a container config's environment merged in as upstream's init
 * does: a config entry is added only when its key is not set yet, except
 * HOME and TERM, which the config overrides.  Within the config the first
 * entry of a key counts, for HOME and TERM the last (upstream sets them one
 * after the other).  O(n log n), so no environment size makes PID 1 spin.
 * Returns a malloc'd NULL-terminated array of borrowed strings (envp's
 * entries first, in order), or NULL on ENOMEM.
 */
const char **init_merge_env(const char *const *envp, const char *const *cfg_env);

/*
 * The workload's environment: envp plus defaults for what it leaves unset
 * (PATH, HOME, and TERM only when the workload talks to a terminal).  Returns a malloc'd
 * NULL-terminated array of borrowed strings, or NULL on ENOMEM.
 */
const char **init_build_env(const char *const *envp, bool on_tty);

/*
 * Upstream-compatible fallback when /.krun_workload is absent: the job comes
 * from init's environment (KRUN_INIT, KRUN_WORKDIR, KRUN_RLIMITS, KRUN_HOME,
 * KRUN_TERM, HOSTNAME) and argv (the kernel command line after "--").
 * Without KRUN_INIT the view carries WORKLOAD_F_DEFAULT_EXEC: as upstream,
 * a container config's argv then comes before the command-line words.
 * Strings are borrowed from argv/environ; the split rlimit list is a copy
 * owned by the view.  Release with workload_view_free().  Returns 0,
 * -EINVAL (bad KRUN_RLIMITS) or -ENOMEM.
 */
int init_view_from_env(int argc, char *const *argv, char *const *environ_,
		       struct workload_view *out);

/*
 * Splits upstream's KRUN_RLIMITS value ("\"a,b,c\"" or "a,b,c") in place.
 * Empty items are skipped.  Returns the number of items stored in out
 * (NULL-terminated, at most max - 1 items) or -E2BIG.
 */
int init_split_rlimits(char *s, const char **out, size_t max);

/* Is /tmp-style directory content "empty"? Only "." and ".." count as none. */
bool init_dirent_is_dot(const char *name);

#endif
