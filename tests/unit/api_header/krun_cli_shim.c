/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LD_PRELOAD stand-in for the libkrun functions tools/krun.c calls.  Each
 * call is printed to stdout in a fixed format so test_krun_cli.sh can check
 * exactly what the tool asked for; krun_start_enter() then returns
 * -$KRUN_SHIM_START_ERRNO (default: exits 0, like a VM whose workload
 * succeeded).
 */
#include <libkrun.h>

#include <stdio.h>
#include <stdlib.h>

static void print_strv(const char *label, const char *const v[])
{
	printf("%s:", label);
	if (!v) {
		printf(" (null)\n");
		return;
	}
	for (size_t i = 0; v[i]; i++)
		printf(" [%s]", v[i]);
	printf("\n");
}

int32_t krun_set_log_level(uint32_t level)
{
	printf("log_level %u\n", level);
	return 0;
}

int32_t krun_create_ctx(void)
{
	printf("create_ctx\n");
	return 7;
}

int32_t krun_set_vm_config(uint32_t ctx_id, uint8_t num_vcpus, uint32_t ram_mib)
{
	printf("vm_config ctx=%u cpus=%u mem=%u\n", ctx_id, num_vcpus, ram_mib);
	return 0;
}

int32_t krun_set_root(uint32_t ctx_id, const char *root_path)
{
	printf("root ctx=%u %s\n", ctx_id, root_path);
	return 0;
}

int32_t krun_set_nested_virt(uint32_t ctx_id, bool enabled)
{
	printf("nested_virt ctx=%u %d\n", ctx_id, enabled);
	return 0;
}

int32_t krun_split_irqchip(uint32_t ctx_id, bool enable)
{
	printf("split_irqchip ctx=%u %d\n", ctx_id, enable);
	return 0;
}

int32_t krun_add_virtiofs3(uint32_t ctx_id, const char *c_tag, const char *c_path,
			   uint64_t shm_size, bool read_only)
{
	printf("virtiofs ctx=%u tag=%s path=%s shm=%llu ro=%d\n", ctx_id, c_tag, c_path,
	       (unsigned long long)shm_size, read_only);
	return 0;
}

int32_t krun_set_workdir(uint32_t ctx_id, const char *workdir_path)
{
	printf("workdir ctx=%u %s\n", ctx_id, workdir_path);
	return 0;
}

int32_t krun_set_exec(uint32_t ctx_id, const char *exec_path, const char *const argv[],
		      const char *const envp[])
{
	printf("exec ctx=%u %s\n", ctx_id, exec_path);
	print_strv("argv", argv);
	print_strv("envp", envp);
	return 0;
}

int32_t krun_set_rlimits(uint32_t ctx_id, const char *const rlimits[])
{
	print_strv("rlimits", rlimits);
	return 0;
}

int32_t krun_set_console_output(uint32_t ctx_id, const char *c_filepath)
{
	printf("console_output %s\n", c_filepath);
	return 0;
}

int32_t krun_set_kernel(uint32_t ctx_id, const char *kernel_path, uint32_t kernel_format,
			const char *initramfs, const char *cmdline)
{
	printf("kernel %s format=%u initramfs=%s cmdline=%s\n", kernel_path, kernel_format,
	       initramfs ? initramfs : "(null)", cmdline ? cmdline : "(null)");
	return 0;
}

int32_t krun_setuid(uint32_t ctx_id, uid_t uid)
{
	printf("setuid %u\n", (unsigned)uid);
	return 0;
}

int32_t krun_setgid(uint32_t ctx_id, gid_t gid)
{
	printf("setgid %u\n", (unsigned)gid);
	return 0;
}

static void print_mac(const uint8_t *mac)
{
	printf(" mac=%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
	       mac[5]);
}

int32_t krun_add_net_unixstream(uint32_t ctx_id, const char *c_path, int fd, uint8_t *const c_mac,
				uint32_t features, uint32_t flags)
{
	printf("net_unixstream ctx=%u path=%s fd=%s", ctx_id, c_path ? c_path : "(null)",
	       fd >= 0 ? "open" : "none");
	print_mac(c_mac);
	printf(" features=0x%x flags=0x%x\n", features, flags);
	return 0;
}

int32_t krun_add_net_unixgram(uint32_t ctx_id, const char *c_path, int fd, uint8_t *const c_mac,
			      uint32_t features, uint32_t flags)
{
	printf("net_unixgram ctx=%u path=%s fd=%d", ctx_id, c_path, fd);
	print_mac(c_mac);
	printf(" features=0x%x flags=0x%x\n", features, flags);
	return 0;
}

int32_t krun_add_net_tap(uint32_t ctx_id, char *c_tap_name, uint8_t *const c_mac,
			 uint32_t features, uint32_t flags)
{
	printf("net_tap ctx=%u name=%s", ctx_id, c_tap_name);
	print_mac(c_mac);
	printf(" features=0x%x flags=0x%x\n", features, flags);
	return 0;
}

int32_t krun_start_enter(uint32_t ctx_id)
{
	const char *e = getenv("KRUN_SHIM_START_ERRNO");

	printf("start_enter ctx=%u\n", ctx_id);
	fflush(stdout);
	if (e)
		return -atoi(e);
	exit(0);
}
