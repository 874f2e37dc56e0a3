// SPDX-License-Identifier: Apache-2.0
/*
 * The public API: argument checking and recording into the context.  Every
 * entry point returns 0 or a negative errno and logs why it refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libkrun.h"

#include "api/api.h"
#include "api/ctx.h"
#include "api/start.h"
#include "arch/x86_64/smbios.h"
#include "hv/hv.h"
#include "init/init_blob.h"
#include "kernel/formats.h"
#include "util/log.h"

/* The bundled kernel is built with NR_CPUS=16. */
#define MAX_GUEST_VCPUS 254
#define MIN_RAM_MIB 64
#define MAX_RAM_MIB (1024u * 1024u)
#define MAX_TAG_LEN 36

static int not_implemented(const char *fn)
{
	log_error("%s is not implemented by this libkrun yet", fn);
	return -ENOSYS;
}

static int replace_str(char **dst, const char *src)
{
	char *s = NULL;
	if (src) {
		s = strdup(src);
		if (!s)
			return -ENOMEM;
	}
	free(*dst);
	*dst = s;
	return 0;
}

static int replace_strv(char ***dst, const char *const *src)
{
	char **v = NULL;
	if (src) {
		int ret = strv_dup(src, &v);
		if (ret)
			return ret;
	}
	strv_free(*dst);
	*dst = v;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Logging and contexts                                               */
/* ------------------------------------------------------------------ */

KRUN_API int32_t krun_set_log_level(uint32_t level)
{
	krun_log_configure(2, level > KRUN_LOG_LEVEL_TRACE ? KRUN_LOG_LEVEL_TRACE : level);
	return 0;
}

KRUN_API int32_t krun_init_log(int target_fd, uint32_t level, uint32_t style, uint32_t options)
{
	if (target_fd == 0 || target_fd < KRUN_LOG_TARGET_DEFAULT)
		return api_refuse(__func__, "invalid log target fd");
	if (style > KRUN_LOG_STYLE_NEVER)
		return api_refuse(__func__, "invalid log style");
	if (options & ~(uint32_t)KRUN_LOG_OPTION_NO_ENV)
		return api_refuse(__func__, "unknown log options");
	int fd = target_fd == KRUN_LOG_TARGET_DEFAULT ? 2 : target_fd;
	if (fcntl(fd, F_GETFD) < 0) {
		log_error("%s: fd %d is not open", __func__, fd);
		return -EBADF;
	}
	krun_log_configure(fd, level > KRUN_LOG_LEVEL_TRACE ? KRUN_LOG_LEVEL_TRACE : level);
	return 0;
}

KRUN_API int32_t krun_create_ctx(void)
{
	int ret = ctx_create();
	if (ret < 0)
		log_error("cannot create a context: %s", strerror(-ret));
	return ret;
}

KRUN_API int32_t krun_free_ctx(uint32_t ctx_id)
{
	int ret = ctx_free(ctx_id);
	if (ret)
		log_error("%s: unknown context %u", __func__, ctx_id);
	return ret;
}

/*
 * The guest kernel and the MP table take up to MAX_GUEST_VCPUS; KVM may
 * take fewer.  Without a usable /dev/kvm now, only the static bound
 * applies: krun_start_enter reports the missing hypervisor itself.
 */
static int vcpu_limit(void)
{
	int fd;
	if (hv_open(&fd))
		return MAX_GUEST_VCPUS;
	int n = hv_max_vcpus(fd);
	close(fd);
	return n > 0 && n < MAX_GUEST_VCPUS ? n : MAX_GUEST_VCPUS;
}

KRUN_API int32_t krun_set_vm_config(uint32_t ctx_id, uint8_t num_vcpus, uint32_t ram_mib)
{
	if (num_vcpus == 0)
		return api_refuse(__func__, "a VM needs at least one vCPU");
	int max_vcpus = vcpu_limit();
	if (num_vcpus > max_vcpus) {
		log_error("%s: %u vCPUs requested, at most %d here (KVM and the guest kernel)",
			  __func__, num_vcpus, max_vcpus);
		return -EINVAL;
	}
	/* Guest RAM is only reserved address space until the guest touches it,
	 * so asking for more than the host has is allowed, as upstream (its
	 * own example asks for 4 GiB). */
	if (ram_mib < MIN_RAM_MIB || ram_mib > MAX_RAM_MIB) {
		log_error("%s: %u MiB of RAM is outside [%d, %u] MiB", __func__, ram_mib,
			  MIN_RAM_MIB, MAX_RAM_MIB);
		return -EINVAL;
	}
	LOCK_CTX(c, ctx_id);
	c->nr_vcpus = num_vcpus;
	c->ram_mib = ram_mib;
	ctx_unlock();
	return 0;
}

KRUN_API int32_t krun_get_max_vcpus(void)
{
	int fd;
	if (hv_open(&fd))
		return -EINVAL;
	int n = hv_max_vcpus(fd);
	close(fd);
	return n;
}

KRUN_API int32_t krun_has_feature(uint64_t feature)
{
	switch (feature) {
	case KRUN_FEATURE_INIT_BLOB:
	case KRUN_FEATURE_BLK:
	case KRUN_FEATURE_NET:
		return 1;
	case KRUN_FEATURE_GPU:
	case KRUN_FEATURE_INPUT:
	case KRUN_FEATURE_TEE:
	case KRUN_FEATURE_AMD_SEV:
	case KRUN_FEATURE_INTEL_TDX:
	case KRUN_FEATURE_AWS_NITRO:
	case KRUN_FEATURE_VIRGL_RESOURCE_MAP2:
		return 0;
	default:
		log_error("%s: unknown feature %llu", __func__, (unsigned long long)feature);
		return -EINVAL;
	}
}

KRUN_API int32_t krun_check_nested_virt(void)
{
	static const char *const paths[] = {
		"/sys/module/kvm_intel/parameters/nested",
		"/sys/module/kvm_amd/parameters/nested",
	};
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		int fd = open(paths[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		char c = 0;
		ssize_t n = read(fd, &c, 1);
		close(fd);
		if (n == 1)
			return c == '1' || c == 'Y' || c == 'y';
	}
	return 0;
}

KRUN_API int32_t krun_set_nested_virt(uint32_t ctx_id, bool enabled)
{
	LOCK_CTX(c, ctx_id);
	c->nested_virt = enabled;
	ctx_unlock();
	return 0;
}

KRUN_API int32_t krun_split_irqchip(uint32_t ctx_id, bool enable)
{
	LOCK_CTX(c, ctx_id);
	c->split_irqchip = enable;
	ctx_unlock();
	return 0;
}

/* ------------------------------------------------------------------ */
/* Kernel                                                             */
/* ------------------------------------------------------------------ */

static int check_readable_file(const char *fn, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		int err = errno;
		log_error("%s: %s: %s", fn, path, strerror(err));
		return -err;
	}
	if (!S_ISREG(st.st_mode)) {
		log_error("%s: %s is not a regular file", fn, path);
		return -EINVAL;
	}
	if (access(path, R_OK) < 0) {
		int err = errno;
		log_error("%s: %s: %s", fn, path, strerror(err));
		return -err;
	}
	return 0;
}

/* Refuse a corrupt or unsupported image now rather than at start. */
static int check_kernel(const char *path, uint32_t format)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = kernel_check_format(fd, format);
	close(fd);
	if (ret)
		log_error("krun_set_kernel: %s refused (format %u)", path, format);
	return ret;
}

KRUN_API int32_t krun_set_kernel(uint32_t ctx_id, const char *kernel_path, uint32_t kernel_format,
				 const char *initramfs, const char *cmdline)
{
	if (!kernel_path)
		return api_refuse(__func__, "kernel path is NULL");
	if (kernel_format > KRUN_KERNEL_FORMAT_IMAGE_ZSTD)
		return api_refuse(__func__, "unknown kernel format");
	int ret = check_readable_file(__func__, kernel_path);
	if (ret)
		return ret;
	/* Upstream: an initramfs it cannot read is -EINVAL. */
	if (initramfs && check_readable_file(__func__, initramfs))
		return -EINVAL;
	ret = check_kernel(kernel_path, kernel_format);
	if (ret)
		return ret;
	LOCK_CTX(c, ctx_id);
	ret = replace_str(&c->kernel_path, kernel_path);
	if (!ret)
		ret = replace_str(&c->kernel_cmdline, cmdline);
	if (!ret)
		ret = replace_str(&c->initramfs_path, initramfs);
	c->kernel_format = kernel_format;
	ctx_unlock();
	return ret;
}

KRUN_API int32_t krun_set_kernel_console(uint32_t ctx_id, const char *console_id)
{
	if (!console_id || !*console_id)
		return api_refuse(__func__, "console id is NULL or empty");
	if (strpbrk(console_id, " \t\n\"="))
		return api_refuse(__func__, "console id contains spaces, quotes or '='");
	LOCK_CTX(c, ctx_id);
	int ret = replace_str(&c->kernel_console, console_id);
	ctx_unlock();
	return ret;
}

KRUN_API int32_t krun_set_firmware(uint32_t ctx_id, const char *firmware_path)
{
	(void)ctx_id;
	(void)firmware_path;
	return not_implemented(__func__);
}

/* ------------------------------------------------------------------ */
/* Filesystems                                                        */
/* ------------------------------------------------------------------ */

static int add_share(uint32_t ctx_id, const char *fn, const char *tag, const char *path,
		     bool read_only)
{
	if (!tag || !*tag)
		return api_refuse(fn, "tag is NULL or empty");
	if (strlen(tag) > MAX_TAG_LEN)
		return api_refuse(fn, "tag is longer than 36 bytes");
	if (path) {
		struct stat st;
		if (stat(path, &st) < 0) {
			int err = errno;
			log_error("%s: %s: %s", fn, path, strerror(err));
			return -err;
		}
		if (!S_ISDIR(st.st_mode)) {
			log_error("%s: %s is not a directory", fn, path);
			return -ENOTDIR;
		}
	}
	LOCK_CTX(c, ctx_id);
	int ret = 0;
	for (unsigned int i = 0; i < c->nr_shares; i++) {
		if (strcmp(c->shares[i].tag, tag) == 0) {
			log_error("%s: tag %s is already in use", fn, tag);
			ret = -EEXIST;
			goto out;
		}
	}
	if (c->nr_shares >= CTX_MAX_SHARES) {
		ret = -ENOSPC;
		goto out;
	}
	struct ctx_share *s = &c->shares[c->nr_shares];
	s->tag = strdup(tag);
	s->path = path ? strdup(path) : NULL;
	if (!s->tag || (path && !s->path)) {
		free(s->tag);
		free(s->path);
		ret = -ENOMEM;
		goto out;
	}
	s->read_only = read_only;
	c->nr_shares++;
out:
	ctx_unlock();
	return ret;
}

/* A NULL root_path is a root with no host directory (upstream's NullFs). */
KRUN_API int32_t krun_set_root(uint32_t ctx_id, const char *root_path)
{
	return add_share(ctx_id, __func__, KRUN_FS_ROOT_TAG, root_path, false);
}

KRUN_API int32_t krun_add_virtiofs(uint32_t ctx_id, const char *c_tag, const char *c_path)
{
	return add_share(ctx_id, __func__, c_tag, c_path, false);
}

KRUN_API int32_t krun_add_virtiofs2(uint32_t ctx_id, const char *c_tag, const char *c_path,
				    uint64_t shm_size)
{
	(void)shm_size; /* no DAX window yet: the guest falls back to the page cache */
	return add_share(ctx_id, __func__, c_tag, c_path, false);
}

KRUN_API int32_t krun_add_virtiofs3(uint32_t ctx_id, const char *c_tag, const char *c_path,
				    uint64_t shm_size, bool read_only)
{
	(void)shm_size;
	return add_share(ctx_id, __func__, c_tag, c_path, read_only);
}

KRUN_API int32_t krun_disable_implicit_init(uint32_t ctx_id)
{
	LOCK_CTX(c, ctx_id);
	c->implicit_init = false;
	ctx_unlock();
	return 0;
}

KRUN_API int32_t krun_get_default_init(const uint8_t **data_out, size_t *len_out)
{
	if (!data_out || !len_out)
		return api_refuse(__func__, "NULL output pointer");
	*data_out = krun_init_blob(len_out);
	return 0;
}

KRUN_API int32_t krun_set_mapped_volumes(uint32_t ctx_id, const char *const mapped_volumes[])
{
	(void)ctx_id;
	(void)mapped_volumes;
	/* Upstream rejects this too: volumes are krun_add_virtiofs shares. */
	return api_refuse(__func__, "mapped volumes are not supported; use krun_add_virtiofs");
}

/* ------------------------------------------------------------------ */
/* Workload                                                           */
/* ------------------------------------------------------------------ */

KRUN_API int32_t krun_set_exec(uint32_t ctx_id, const char *exec_path, const char *const argv[],
			       const char *const envp[])
{
	if (!exec_path || !*exec_path)
		return api_refuse(__func__, "exec path is NULL or empty");
	LOCK_CTX(c, ctx_id);
	char *path = strdup(exec_path);
	char **args = NULL, **env = NULL;
	int ret = path ? 0 : -ENOMEM;
	if (!ret && argv)
		ret = strv_dup(argv, &args);
	if (!ret && envp)
		ret = strv_dup(envp, &env);
	if (ret) {
		free(path);
		strv_free(args);
		strv_free(env);
		goto out;
	}
	free(c->exec_path);
	c->exec_path = path;
	strv_free(c->argv);
	c->argv = args;
	strv_free(c->envp);
	c->envp = env;
	c->env_set = envp != NULL;
out:
	ctx_unlock();
	if (ret)
		log_error("%s: %s", __func__, strerror(-ret));
	return ret;
}

KRUN_API int32_t krun_set_env(uint32_t ctx_id, const char *const envp[])
{
	LOCK_CTX(c, ctx_id);
	int ret = replace_strv(&c->envp, envp);
	if (!ret)
		c->env_set = envp != NULL;
	ctx_unlock();
	return ret;
}

KRUN_API int32_t krun_set_workdir(uint32_t ctx_id, const char *workdir_path)
{
	if (!workdir_path || !*workdir_path)
		return api_refuse(__func__, "workdir is NULL or empty");
	LOCK_CTX(c, ctx_id);
	int ret = replace_str(&c->workdir, workdir_path);
	ctx_unlock();
	return ret;
}

KRUN_API int32_t krun_set_rlimits(uint32_t ctx_id, const char *const rlimits[])
{
	if (!rlimits)
		return api_refuse(__func__, "rlimits is NULL");
	int ret = start_check_rlimits(rlimits);
	if (ret)
		return ret;
	LOCK_CTX(c, ctx_id);
	ret = replace_strv(&c->rlimits, rlimits);
	ctx_unlock();
	return ret;
}

KRUN_API int32_t krun_setuid(uint32_t ctx_id, uid_t uid)
{
	LOCK_CTX(c, ctx_id);
	c->uid = uid;
	c->uid_set = true;
	ctx_unlock();
	return 0;
}

KRUN_API int32_t krun_setgid(uint32_t ctx_id, gid_t gid)
{
	LOCK_CTX(c, ctx_id);
	c->gid = gid;
	c->gid_set = true;
	ctx_unlock();
	return 0;
}

/* SMBIOS type 11 on x86 too (upstream ignores them there); a later call
 * replaces the strings. */
KRUN_API int32_t krun_set_smbios_oem_strings(uint32_t ctx_id, const char *const oem_strings[])
{
	if (!oem_strings)
		return api_refuse(__func__, "oem strings array is NULL");
	if (x86_smbios_check_oem_strings(oem_strings))
		return -EINVAL;
	LOCK_CTX(c, ctx_id);
	int ret = replace_strv(&c->smbios_oem_strings, oem_strings);
	ctx_unlock();
	return ret;
}

/* ------------------------------------------------------------------ */
/* Consoles                                                           */
/* ------------------------------------------------------------------ */

KRUN_API int32_t krun_disable_implicit_console(uint32_t ctx_id)
{
	LOCK_CTX(c, ctx_id);
	c->implicit_console = false;
	ctx_unlock();
	return 0;
}

KRUN_API int32_t krun_set_console_output(uint32_t ctx_id, const char *c_filepath)
{
	if (!c_filepath || !*c_filepath)
		return api_refuse(__func__, "path is NULL or empty");
	LOCK_CTX(c, ctx_id);
	int ret = 0;
	if (c->console_output) {
		log_error("%s: console output already set", __func__);
		ret = -EINVAL;
	} else {
		ret = replace_str(&c->console_output, c_filepath);
	}
	ctx_unlock();
	return ret;
}

static bool fd_valid(int fd)
{
	return fd < 0 || fcntl(fd, F_GETFD) >= 0;
}

KRUN_API int32_t krun_add_virtio_console_default(uint32_t ctx_id, int input_fd, int output_fd,
						 int err_fd)
{
	if (!fd_valid(input_fd) || !fd_valid(output_fd) || !fd_valid(err_fd)) {
		log_error("%s: a console fd is not open", __func__);
		return -EBADF;
	}
	LOCK_CTX(c, ctx_id);
	int ret = 0;
	if (c->has_default_console) {
		ret = -EEXIST;
	} else {
		c->has_default_console = true;
		c->default_console = (struct ctx_console){input_fd, output_fd, err_fd};
	}
	ctx_unlock();
	return ret;
}

/*
 * COM1 with the caller's fds (upstream fills COM1..COM4; the guest kernel
 * has one 8250 port, so a second call is refused).  The fds are handed
 * over: the context closes them.  Like upstream, the implicit virtio
 * console stays (krun_disable_implicit_console removes it) and stays the
 * kernel's console unless krun_set_kernel_console says "ttyS0".
 */
KRUN_API int32_t krun_add_serial_console_default(uint32_t ctx_id, int input_fd, int output_fd)
{
	if (!fd_valid(input_fd) || !fd_valid(output_fd)) {
		log_error("%s: a serial console fd is not open", __func__);
		return -EBADF;
	}
	LOCK_CTX(c, ctx_id);
	int ret = 0;
	if (c->has_serial_console) {
		log_error("%s: the VM has one serial port (COM1) and it has a console already",
			  __func__);
		ret = -ENOSPC;
	} else {
		c->has_serial_console = true;
		c->serial_console = (struct ctx_port){
			.in_fd = input_fd < 0 ? -1 : input_fd,
			.out_fd = output_fd < 0 ? -1 : output_fd,
		};
	}
	ctx_unlock();
	return ret;
}

/* As upstream on Linux: the guest ends the VM, the host has no eventfd. */
KRUN_API int32_t krun_get_shutdown_eventfd(uint32_t ctx_id)
{
	LOCK_CTX(c, ctx_id);
	ctx_unlock();
	return api_refuse(__func__, "no shutdown eventfd on Linux");
}

/* ------------------------------------------------------------------ */
/* Start                                                              */
/* ------------------------------------------------------------------ */

KRUN_API int32_t krun_start_enter(uint32_t ctx_id)
{
	struct krun_ctx *c = ctx_take(ctx_id);
	if (!c) {
		log_error("%s: unknown context %u", __func__, ctx_id);
		return -ENOENT;
	}
	return start_enter(c);
}
