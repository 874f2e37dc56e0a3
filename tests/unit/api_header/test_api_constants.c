/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checks that <libkrun.h> defines every public constant with the value used
 * by upstream libkrun 1.x, and (at compile time) that every function has the
 * upstream prototype.  Nothing here calls into the library, so this test
 * needs no symbols from libkrun.so.
 */
#include <libkrun.h>

#include "../test.h"

/* The header must stand alone: these are only available through it. */
static uid_t probe_uid;
static gid_t probe_gid;

/*
 * SIG(fn, type): fails to compile unless fn has exactly the function type
 * `type`.  __typeof__ does not evaluate its operand, so no symbol is needed.
 */
#define SIG(fn, type)                                                                \
	_Static_assert(__builtin_types_compatible_p(__typeof__(fn), type),          \
		       #fn " does not have the upstream prototype")

SIG(krun_set_log_level, int32_t(uint32_t));
SIG(krun_init_log, int32_t(int, uint32_t, uint32_t, uint32_t));
SIG(krun_create_ctx, int32_t(void));
SIG(krun_free_ctx, int32_t(uint32_t));
SIG(krun_set_vm_config, int32_t(uint32_t, uint8_t, uint32_t));
SIG(krun_set_root, int32_t(uint32_t, const char *));
SIG(krun_set_root_disk, int32_t(uint32_t, const char *));
SIG(krun_set_data_disk, int32_t(uint32_t, const char *));
SIG(krun_add_disk, int32_t(uint32_t, const char *, const char *, bool));
SIG(krun_add_disk2, int32_t(uint32_t, const char *, const char *, uint32_t, bool));
SIG(krun_add_disk3,
    int32_t(uint32_t, const char *, const char *, uint32_t, bool, bool, uint32_t));
SIG(krun_set_mapped_volumes, int32_t(uint32_t, const char *const *));
SIG(krun_add_virtiofs, int32_t(uint32_t, const char *, const char *));
SIG(krun_add_virtiofs2, int32_t(uint32_t, const char *, const char *, uint64_t));
SIG(krun_add_virtiofs3, int32_t(uint32_t, const char *, const char *, uint64_t, bool));
SIG(krun_add_net_unixstream,
    int32_t(uint32_t, const char *, int, uint8_t *, uint32_t, uint32_t));
SIG(krun_add_net_unixgram,
    int32_t(uint32_t, const char *, int, uint8_t *, uint32_t, uint32_t));
SIG(krun_add_net_tap, int32_t(uint32_t, char *, uint8_t *, uint32_t, uint32_t));
SIG(krun_set_passt_fd, int32_t(uint32_t, int));
SIG(krun_set_gvproxy_path, int32_t(uint32_t, char *));
SIG(krun_set_net_mac, int32_t(uint32_t, uint8_t *));
SIG(krun_set_port_map, int32_t(uint32_t, const char *const *));
SIG(krun_set_gpu_options, int32_t(uint32_t, uint32_t));
SIG(krun_set_gpu_options2, int32_t(uint32_t, uint32_t, uint64_t));
SIG(krun_add_display, int32_t(uint32_t, uint32_t, uint32_t));
SIG(krun_display_set_edid, int32_t(uint32_t, uint32_t, const uint8_t *, size_t));
SIG(krun_display_set_dpi, int32_t(uint32_t, uint32_t, uint32_t));
SIG(krun_display_set_physical_size, int32_t(uint32_t, uint32_t, uint16_t, uint16_t));
SIG(krun_display_set_refresh_rate, int32_t(uint32_t, uint32_t, uint32_t));
SIG(krun_set_display_backend, int32_t(uint32_t, const void *, size_t));
SIG(krun_add_input_device, int(uint32_t, const void *, size_t, const void *, size_t));
SIG(krun_add_input_device_fd, int(uint32_t, int));
SIG(krun_add_vhost_user_device,
    int32_t(uint32_t, uint32_t, const char *, const char *, uint16_t, const uint16_t *));
SIG(krun_set_rlimits, int32_t(uint32_t, const char *const *));
SIG(krun_set_smbios_oem_strings, int32_t(uint32_t, const char *const *));
SIG(krun_set_workdir, int32_t(uint32_t, const char *));
SIG(krun_set_exec, int32_t(uint32_t, const char *, const char *const *, const char *const *));
SIG(krun_set_firmware, int32_t(uint32_t, const char *));
SIG(krun_set_kernel, int32_t(uint32_t, const char *, uint32_t, const char *, const char *));
SIG(krun_set_env, int32_t(uint32_t, const char *const *));
SIG(krun_set_tee_config_file, int32_t(uint32_t, const char *));
SIG(krun_add_vsock_port, int32_t(uint32_t, uint32_t, const char *));
SIG(krun_add_vsock_port2, int32_t(uint32_t, uint32_t, const char *, bool));
SIG(krun_add_vsock, int32_t(uint32_t, uint32_t));
SIG(krun_get_shutdown_eventfd, int32_t(uint32_t));
SIG(krun_set_console_output, int32_t(uint32_t, const char *));
SIG(krun_setuid, int32_t(uint32_t, uid_t));
SIG(krun_setgid, int32_t(uint32_t, gid_t));
SIG(krun_set_nested_virt, int32_t(uint32_t, bool));
SIG(krun_check_nested_virt, int32_t(void));
SIG(krun_has_feature, int32_t(uint64_t));
SIG(krun_get_max_vcpus, int32_t(void));
SIG(krun_split_irqchip, int32_t(uint32_t, bool));
SIG(krun_disable_implicit_console, int32_t(uint32_t));
SIG(krun_disable_implicit_init, int32_t(uint32_t));
SIG(krun_get_default_init, int32_t(const uint8_t **, size_t *));
SIG(krun_fs_add_overlay_file,
    int32_t(uint32_t, const char *, const char *, const uint8_t *, size_t, uint32_t, bool));
SIG(krun_fs_add_overlay_dir, int32_t(uint32_t, const char *, const char *, uint32_t));
SIG(krun_disable_implicit_vsock, int32_t(uint32_t));
SIG(krun_set_kernel_console, int32_t(uint32_t, const char *));
SIG(krun_add_virtio_console_default, int32_t(uint32_t, int, int, int));
SIG(krun_add_serial_console_default, int32_t(uint32_t, int, int));
SIG(krun_add_virtio_console_multiport, int32_t(uint32_t));
SIG(krun_add_console_port_tty, int32_t(uint32_t, uint32_t, const char *, int));
SIG(krun_add_console_port_inout, int32_t(uint32_t, uint32_t, const char *, int, int));
SIG(krun_set_root_disk_remount, int32_t(uint32_t, const char *, const char *, const char *));
SIG(krun_start_enter, int32_t(uint32_t));

static void test_log_constants(void)
{
	CHECK_EQ(KRUN_LOG_TARGET_DEFAULT, -1);
	CHECK_EQ(KRUN_LOG_LEVEL_OFF, 0);
	CHECK_EQ(KRUN_LOG_LEVEL_ERROR, 1);
	CHECK_EQ(KRUN_LOG_LEVEL_WARN, 2);
	CHECK_EQ(KRUN_LOG_LEVEL_INFO, 3);
	CHECK_EQ(KRUN_LOG_LEVEL_DEBUG, 4);
	CHECK_EQ(KRUN_LOG_LEVEL_TRACE, 5);
	CHECK_EQ(KRUN_LOG_STYLE_AUTO, 0);
	CHECK_EQ(KRUN_LOG_STYLE_ALWAYS, 1);
	CHECK_EQ(KRUN_LOG_STYLE_NEVER, 2);
	CHECK_EQ(KRUN_LOG_OPTION_NO_ENV, 1);
}

static void test_fs_and_disk_constants(void)
{
	CHECK_STR(KRUN_FS_ROOT_TAG, "/dev/root");
	CHECK_EQ(sizeof(KRUN_FS_ROOT_TAG), 10);
	CHECK_EQ(KRUN_DISK_FORMAT_RAW, 0);
	CHECK_EQ(KRUN_DISK_FORMAT_QCOW2, 1);
	CHECK_EQ(KRUN_DISK_FORMAT_VMDK, 2);
	CHECK_EQ(KRUN_SYNC_NONE, 0);
	CHECK_EQ(KRUN_SYNC_RELAXED, 1);
	CHECK_EQ(KRUN_SYNC_FULL, 2);
}

static void test_net_constants(void)
{
	CHECK_EQ(NET_FLAG_VFKIT, 1);
	CHECK_EQ(NET_FLAG_DHCP_CLIENT, 2);
	CHECK_EQ(KRUN_TSI_HIJACK_INET, 1);
	CHECK_EQ(KRUN_TSI_HIJACK_UNIX, 2);
	CHECK_EQ(NET_FEATURE_CSUM, 1);
	CHECK_EQ(NET_FEATURE_GUEST_CSUM, 2);
	CHECK_EQ(NET_FEATURE_GUEST_TSO4, 128);
	CHECK_EQ(NET_FEATURE_GUEST_TSO6, 256);
	CHECK_EQ(NET_FEATURE_GUEST_UFO, 1024);
	CHECK_EQ(NET_FEATURE_HOST_TSO4, 2048);
	CHECK_EQ(NET_FEATURE_HOST_TSO6, 4096);
	CHECK_EQ(NET_FEATURE_HOST_UFO, 16384);
	/* CSUM | GUEST_CSUM | GUEST_TSO4 | GUEST_UFO | HOST_TSO4 | HOST_UFO */
	CHECK_EQ(COMPAT_NET_FEATURES, 19587);
	/* Parenthesised: usable inside larger expressions. */
	CHECK_EQ(COMPAT_NET_FEATURES & NET_FEATURE_GUEST_TSO6, 0);
	CHECK_EQ(2 * NET_FEATURE_HOST_UFO, 32768);
}

static void test_gpu_constants(void)
{
	CHECK_EQ(VIRGLRENDERER_USE_EGL, 1);
	CHECK_EQ(VIRGLRENDERER_THREAD_SYNC, 2);
	CHECK_EQ(VIRGLRENDERER_USE_GLX, 4);
	CHECK_EQ(VIRGLRENDERER_USE_SURFACELESS, 8);
	CHECK_EQ(VIRGLRENDERER_USE_GLES, 16);
	CHECK_EQ(VIRGLRENDERER_USE_EXTERNAL_BLOB, 32);
	CHECK_EQ(VIRGLRENDERER_VENUS, 64);
	CHECK_EQ(VIRGLRENDERER_NO_VIRGL, 128);
	CHECK_EQ(VIRGLRENDERER_USE_ASYNC_FENCE_CB, 256);
	CHECK_EQ(VIRGLRENDERER_RENDER_SERVER, 512);
	CHECK_EQ(VIRGLRENDERER_DRM, 1024);
	CHECK_EQ(KRUN_MAX_DISPLAYS, 16);
}

#define CHECK_QUEUES(prefix, n, ...)                                                 \
	do {                                                                         \
		static const uint16_t want[] = { __VA_ARGS__ };                      \
		const uint16_t *got = prefix##_QUEUE_SIZES;                          \
		CHECK_EQ(prefix##_NUM_QUEUES, n);                                    \
		CHECK_EQ(sizeof(prefix##_QUEUE_SIZES), sizeof(want));                \
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)          \
			CHECK_EQ(got[i], want[i]);                                   \
	} while (0)

static void test_vhost_user_constants(void)
{
	CHECK_EQ(KRUN_VIRTIO_DEVICE_CONSOLE, 3);
	CHECK_EQ(KRUN_VIRTIO_DEVICE_RNG, 4);
	CHECK_EQ(KRUN_VIRTIO_DEVICE_GPU, 16);
	CHECK_EQ(KRUN_VIRTIO_DEVICE_RTC, 17);
	CHECK_EQ(KRUN_VIRTIO_DEVICE_INPUT, 18);
	CHECK_EQ(KRUN_VIRTIO_DEVICE_VSOCK, 19);
	CHECK_EQ(KRUN_VIRTIO_DEVICE_SND, 25);
	CHECK_EQ(KRUN_VIRTIO_DEVICE_CAN, 36);

	CHECK_QUEUES(KRUN_VHOST_USER_CONSOLE, 4, 128, 128, 64, 64);
	CHECK_QUEUES(KRUN_VHOST_USER_RNG, 1, 256);
	CHECK_QUEUES(KRUN_VHOST_USER_RTC, 2, 1024, 1024);
	CHECK_QUEUES(KRUN_VHOST_USER_INPUT, 2, 1024, 1024);
	CHECK_QUEUES(KRUN_VHOST_USER_SND, 4, 64, 64, 64, 64);
	CHECK_QUEUES(KRUN_VHOST_USER_VSOCK, 3, 128, 128, 128);
	CHECK_QUEUES(KRUN_VHOST_USER_CAN, 3, 64, 64, 64);
	CHECK_QUEUES(KRUN_VHOST_USER_GPU, 2, 1024, 1024);
}

static void test_kernel_and_feature_constants(void)
{
	CHECK_EQ(KRUN_KERNEL_FORMAT_RAW, 0);
	CHECK_EQ(KRUN_KERNEL_FORMAT_ELF, 1);
	CHECK_EQ(KRUN_KERNEL_FORMAT_PE_GZ, 2);
	CHECK_EQ(KRUN_KERNEL_FORMAT_IMAGE_BZ2, 3);
	CHECK_EQ(KRUN_KERNEL_FORMAT_IMAGE_GZ, 4);
	CHECK_EQ(KRUN_KERNEL_FORMAT_IMAGE_ZSTD, 5);

	CHECK_EQ(KRUN_FEATURE_NET, 0);
	CHECK_EQ(KRUN_FEATURE_BLK, 1);
	CHECK_EQ(KRUN_FEATURE_GPU, 2);
	CHECK_EQ(KRUN_FEATURE_INPUT, 4);
	CHECK_EQ(KRUN_FEATURE_TEE, 6);
	CHECK_EQ(KRUN_FEATURE_AMD_SEV, 7);
	CHECK_EQ(KRUN_FEATURE_INTEL_TDX, 8);
	CHECK_EQ(KRUN_FEATURE_AWS_NITRO, 9);
	CHECK_EQ(KRUN_FEATURE_VIRGL_RESOURCE_MAP2, 10);
	CHECK_EQ(KRUN_FEATURE_INIT_BLOB, 11);
}

static void test_header_types(void)
{
	/* uid_t/gid_t come from the header's own includes. */
	probe_uid = (uid_t)0;
	probe_gid = (gid_t)0;
	CHECK_EQ(probe_uid, 0);
	CHECK_EQ(probe_gid, 0);
	CHECK_EQ(sizeof(uint32_t), 4);
}

int main(void)
{
	RUN_TEST(test_log_constants);
	RUN_TEST(test_fs_and_disk_constants);
	RUN_TEST(test_net_constants);
	RUN_TEST(test_gpu_constants);
	RUN_TEST(test_vhost_user_constants);
	RUN_TEST(test_kernel_and_feature_constants);
	RUN_TEST(test_header_types);
	TEST_MAIN_END();
}
