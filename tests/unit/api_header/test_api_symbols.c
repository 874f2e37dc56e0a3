/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Link check: takes the address of every public function and verifies that
 * the dynamic linker resolved it from libkrun.so.
 *
 * Functions are referenced weakly (see below), so a missing export shows up
 * as a NULL address at run time and fails the test by name instead of
 * breaking the build.
 */
#include <libkrun.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * krun_create_ctx (present in every libkrun release) is referenced normally:
 * a strong reference is what makes the linker record libkrun.so as needed
 * under --as-needed.  All other functions are listed here and made weak.
 */
#define API_FUNCTIONS(X)                   \
	X(krun_set_log_level)              \
	X(krun_init_log)                   \
	X(krun_free_ctx)                   \
	X(krun_set_vm_config)              \
	X(krun_set_root)                   \
	X(krun_set_root_disk)              \
	X(krun_set_data_disk)              \
	X(krun_add_disk)                   \
	X(krun_add_disk2)                  \
	X(krun_add_disk3)                  \
	X(krun_set_mapped_volumes)         \
	X(krun_add_virtiofs)               \
	X(krun_add_virtiofs2)              \
	X(krun_add_virtiofs3)              \
	X(krun_add_net_unixstream)         \
	X(krun_add_net_unixgram)           \
	X(krun_add_net_tap)                \
	X(krun_set_passt_fd)               \
	X(krun_set_gvproxy_path)           \
	X(krun_set_net_mac)                \
	X(krun_set_port_map)               \
	X(krun_set_gpu_options)            \
	X(krun_set_gpu_options2)           \
	X(krun_add_display)                \
	X(krun_display_set_edid)           \
	X(krun_display_set_dpi)            \
	X(krun_display_set_physical_size)  \
	X(krun_display_set_refresh_rate)   \
	X(krun_set_display_backend)        \
	X(krun_add_input_device)           \
	X(krun_add_input_device_fd)        \
	X(krun_set_snd_device)             \
	X(krun_add_vhost_user_device)      \
	X(krun_set_rlimits)                \
	X(krun_set_smbios_oem_strings)     \
	X(krun_set_workdir)                \
	X(krun_set_exec)                   \
	X(krun_set_firmware)               \
	X(krun_set_kernel)                 \
	X(krun_set_env)                    \
	X(krun_set_tee_config_file)        \
	X(krun_add_vsock_port)             \
	X(krun_add_vsock_port2)            \
	X(krun_add_vsock)                  \
	X(krun_get_shutdown_eventfd)       \
	X(krun_set_console_output)         \
	X(krun_setuid)                     \
	X(krun_setgid)                     \
	X(krun_set_nested_virt)            \
	X(krun_check_nested_virt)          \
	X(krun_has_feature)                \
	X(krun_get_max_vcpus)              \
	X(krun_split_irqchip)              \
	X(krun_disable_implicit_console)   \
	X(krun_disable_implicit_init)      \
	X(krun_get_default_init)           \
	X(krun_fs_add_overlay_file)        \
	X(krun_fs_add_overlay_dir)         \
	X(krun_disable_implicit_vsock)     \
	X(krun_set_kernel_console)         \
	X(krun_add_virtio_console_default) \
	X(krun_add_serial_console_default) \
	X(krun_add_virtio_console_multiport) \
	X(krun_add_console_port_tty)       \
	X(krun_add_console_port_inout)     \
	X(krun_set_root_disk_remount)      \
	X(krun_start_enter)

/* Re-declare each function weak; the type comes from the header. */
#define DECLARE_WEAK(fn) extern __typeof__(fn) fn __attribute__((weak));
API_FUNCTIONS(DECLARE_WEAK)

struct api_symbol {
	const char *name;
	void (*addr)(void);
};

#define ENTRY(fn) { #fn, (void (*)(void))fn },
static const struct api_symbol symbols[] = { ENTRY(krun_create_ctx) API_FUNCTIONS(ENTRY) };

int main(void)
{
	size_t total = sizeof(symbols) / sizeof(symbols[0]);
	size_t missing = 0;

	for (size_t i = 0; i < total; i++) {
		/* Read through a volatile pointer so the check is not folded. */
		void (*volatile addr)(void) = symbols[i].addr;

		if (!addr) {
			printf("FAIL %s is exported\n", symbols[i].name);
			missing++;
		}
	}
	if (!missing)
		printf("PASS all %zu API functions are exported\n", total);
	printf("%zu of %zu API functions resolved\n", total - missing, total);
	if (total != 68) {
		printf("FAIL expected 68 API functions in the list\n");
		return 1;
	}
	return missing ? 1 : 0;
}
