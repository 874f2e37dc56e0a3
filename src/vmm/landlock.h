// SPDX-License-Identifier: Apache-2.0
/*
 * Landlock confinement of the VMM's filesystem access.  Once the VM is set
 * up (images open, backends connected, sockets bound), the only paths the
 * VMM still reaches are its shares and the directories of the sockets it
 * removes at the end.  The calling thread confines itself before it
 * creates any VMM thread, so every vCPU and device worker inherits it.
 */
#ifndef KRUN_VMM_LANDLOCK_H
#define KRUN_VMM_LANDLOCK_H

#include <stdbool.h>

enum krun_landlock_access {
	KRUN_LL_READ = 1 << 0,		/* read files, list directories */
	KRUN_LL_WRITE = 1 << 1,		/* everything a read-write share needs */
	KRUN_LL_REMOVE = 1 << 2,	/* unlink entries of this directory */
};

#define KRUN_LANDLOCK_MAX_PATHS 96
#define KRUN_LANDLOCK_MAX_SOCKET_DIRS 80

struct krun_landlock_plan {
	struct {
		const char *path;	/* a directory; the caller's string */
		unsigned int access;	/* KRUN_LL_* */
	} paths[KRUN_LANDLOCK_MAX_PATHS];
	unsigned int nr_paths;
	/* Socket directories: sun_path bounds their length. */
	char socket_dirs[KRUN_LANDLOCK_MAX_SOCKET_DIRS][108];
	unsigned int nr_socket_dirs;
	bool off;			/* KRUN_LANDLOCK=off */
};

/* Adds a directory (-ENOSPC past the limit). */
int krun_landlock_allow(struct krun_landlock_plan *plan, const char *dir, unsigned int access);
/* Adds the directory a socket path lives in, with KRUN_LL_REMOVE. */
int krun_landlock_allow_socket_dir(struct krun_landlock_plan *plan, const char *socket_path);

/* KRUN_LANDLOCK: unset, "on": confine where the kernel offers Landlock;
 * "off": do not.  -EINVAL for anything else. */
int krun_landlock_parse_mode(const char *value, bool *off);

/*
 * Confines the calling thread and the threads it creates from now on.
 * 0 when confined, or when the kernel has no Landlock (logged once at
 * debug level: nothing to enforce with); -errno when a rule cannot be
 * built (a share that vanished): the start fails rather than run open.
 */
int krun_landlock_confine(const struct krun_landlock_plan *plan);

/* The ABI version the kernel offers, 0 without Landlock. */
int krun_landlock_abi(void);

#endif
