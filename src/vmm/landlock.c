// SPDX-License-Identifier: Apache-2.0
/*
 * Landlock confinement (see landlock.h).  Only filesystem rights up to ABI
 * 3 are handled: network rights (ABI 4) would stop TSI, which binds and
 * connects whatever ports the guest asks for, and device ioctls (ABI 5)
 * are already bounded by seccomp.  Descriptors opened before confinement
 * (images, KVM, terminals, backends) keep working: Landlock checks paths
 * at open time.
 */
#include "vmm/landlock.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "util/log.h"
#include "util/sanitizer.h"

#define ABI1_RIGHTS                                                                         \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE |                       \
	 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR |                       \
	 LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |                   \
	 LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR |                       \
	 LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_SOCK |                       \
	 LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |                     \
	 LANDLOCK_ACCESS_FS_MAKE_SYM)
/* Spelled out: Debian 12's UAPI header stops at ABI 2. */
#define LL_ACCESS_FS_TRUNCATE (1ULL << 14)

int krun_landlock_abi(void)
{
	long v = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	return v > 0 ? (int)v : 0;
}

static uint64_t handled_rights(int abi)
{
	uint64_t r = ABI1_RIGHTS;
	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= LL_ACCESS_FS_TRUNCATE;
	return r;
}

static uint64_t rights_of(unsigned int access, uint64_t handled)
{
	uint64_t r = 0;
	if (access & KRUN_LL_READ)
		r |= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	if (access & KRUN_LL_WRITE)
		r |= handled;
	if (access & KRUN_LL_REMOVE)
		r |= LANDLOCK_ACCESS_FS_REMOVE_FILE;
	return r & handled;
}

int krun_landlock_allow(struct krun_landlock_plan *plan, const char *dir, unsigned int access)
{
	if (!dir || !*dir)
		return -EINVAL;
	if (plan->nr_paths >= KRUN_LANDLOCK_MAX_PATHS)
		return -ENOSPC;
	plan->paths[plan->nr_paths].path = dir;
	plan->paths[plan->nr_paths].access = access;
	plan->nr_paths++;
	return 0;
}

int krun_landlock_allow_socket_dir(struct krun_landlock_plan *plan, const char *socket_path)
{
	if (!socket_path || !*socket_path)
		return -EINVAL;
	if (plan->nr_paths >= KRUN_LANDLOCK_MAX_PATHS)
		return -ENOSPC;
	/* A socket at the filesystem root has "/" as its directory: allowed as
	 * asked, it only permits removing entries there. */
	const char *slash = strrchr(socket_path, '/');
	if (!slash)
		return krun_landlock_allow(plan, ".", KRUN_LL_REMOVE);
	size_t len = slash == socket_path ? 1 : (size_t)(slash - socket_path);
	if (len >= sizeof(plan->socket_dirs[0]))
		return -ENAMETOOLONG;
	if (plan->nr_socket_dirs >= KRUN_LANDLOCK_MAX_SOCKET_DIRS)
		return -ENOSPC;
	char *dir = plan->socket_dirs[plan->nr_socket_dirs++];
	memcpy(dir, socket_path, len);
	dir[len] = '\0';
	return krun_landlock_allow(plan, dir, KRUN_LL_REMOVE);
}

int krun_landlock_parse_mode(const char *value, bool *off)
{
	if (!value || !*value || !strcmp(value, "on"))
		*off = false;
	else if (!strcmp(value, "off"))
		*off = true;
	else
		return -EINVAL;
	if (!*off && krun_sanitized_build()) {
		log_debug("landlock: off in a sanitizer build");
		*off = true;
	}
	return 0;
}

static int add_path_rule(int ruleset, const char *path, uint64_t rights)
{
	int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		log_error("landlock: %s: %s", path, strerror(err));
		return -err;
	}
	struct landlock_path_beneath_attr attr = {.allowed_access = rights, .parent_fd = fd};
	long r = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &attr, 0);
	int err = errno;
	close(fd);
	if (r < 0) {
		log_error("landlock: cannot allow %s: %s", path, strerror(err));
		return -err;
	}
	return 0;
}

static int restrict_self(int ruleset)
{
	/* seccomp's filters set it too; Landlock needs it without CAP_SYS_ADMIN. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		return -errno;
	return 0;
}

int krun_landlock_confine(const struct krun_landlock_plan *plan)
{
	if (plan->off)
		return 0;
	int abi = krun_landlock_abi();
	if (!abi) {
		log_debug("landlock: not offered by this kernel; filesystem access not confined");
		return 0;
	}
	uint64_t handled = handled_rights(abi);
	struct landlock_ruleset_attr attr = {.handled_access_fs = handled};
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (ruleset < 0) {
		int err = errno;
		log_error("landlock: cannot create a ruleset: %s", strerror(err));
		return -err;
	}
	int ret = 0;
	for (unsigned int i = 0; i < plan->nr_paths && !ret; i++)
		ret = add_path_rule(ruleset, plan->paths[i].path,
				    rights_of(plan->paths[i].access, handled));
	if (!ret) {
		ret = restrict_self(ruleset);
		if (ret)
			log_error("landlock: cannot confine the VMM: %s", strerror(-ret));
	}
	close(ruleset);
	if (!ret)
		log_debug("landlock: ABI %d, %u paths allowed", abi, plan->nr_paths);
	return ret;
}
