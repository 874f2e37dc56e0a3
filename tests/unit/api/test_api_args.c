// SPDX-License-Identifier: Apache-2.0
/* API argument checking: every bad input is a negative errno, never a crash. */
#include "../test.h"

#include <errno.h>
#include <fcntl.h>
#include <libkrun.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/krun-api-XXXXXX";

static char *tmp_file(const char *name, const void *data, size_t len)
{
	static char path[256];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, data, len) != (ssize_t)len)
			CHECK(0);
		close(fd);
	}
	return path;
}

static void test_contexts(void)
{
	int a = krun_create_ctx(), b = krun_create_ctx();
	CHECK(a >= 0);
	CHECK(b >= 0);
	CHECK(a != b);
	CHECK_EQ(krun_free_ctx((uint32_t)a), 0);
	CHECK_EQ(krun_free_ctx((uint32_t)a), -ENOENT);
	CHECK_EQ(krun_free_ctx(999999), -ENOENT);
	CHECK_EQ(krun_set_vm_config(999999, 1, 128), -ENOENT);
	CHECK_EQ(krun_start_enter(999999), -ENOENT);
	CHECK_EQ(krun_free_ctx((uint32_t)b), 0);
}

static void test_vm_config(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_set_vm_config(c, 0, 128), -EINVAL);
	CHECK_EQ(krun_set_vm_config(c, 255, 128), -EINVAL);	/* the MP table's limit */
	int max = krun_get_max_vcpus();
	if (max > 0 && max < 254)
		CHECK_EQ(krun_set_vm_config(c, (uint8_t)(max + 1), 128), -EINVAL);
	CHECK_EQ(krun_set_vm_config(c, 1, 0), -EINVAL);
	CHECK_EQ(krun_set_vm_config(c, 1, 16), -EINVAL);
	CHECK_EQ(krun_set_vm_config(c, 1, UINT32_MAX), -EINVAL);
	CHECK_EQ(krun_set_vm_config(c, 4, 256), 0);
	CHECK_EQ(krun_set_vm_config(c, 16, 128), 0);
	if (max < 0 || max >= 32)
		CHECK_EQ(krun_set_vm_config(c, 32, 128), 0);	/* muvm asks for the host's count */
	krun_free_ctx(c);
}

static void test_kernel_files(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_set_kernel(c, NULL, KRUN_KERNEL_FORMAT_ELF, NULL, NULL), -EINVAL);
	CHECK_EQ(krun_set_kernel(c, "/nonexistent/vmlinux", KRUN_KERNEL_FORMAT_ELF, NULL, NULL),
		 -ENOENT);
	CHECK_EQ(krun_set_kernel(c, tmpdir, KRUN_KERNEL_FORMAT_ELF, NULL, NULL), -EINVAL);
	char *garbage = tmp_file("garbage", "this is not a kernel at all, honestly", 37);
	CHECK_EQ(krun_set_kernel(c, garbage, KRUN_KERNEL_FORMAT_ELF, NULL, NULL), -ENOEXEC);
	CHECK_EQ(krun_set_kernel(c, garbage, 99, NULL, NULL), -EINVAL);
	/* No zstd stream in it; a PE_GZ needs an MZ header. */
	CHECK_EQ(krun_set_kernel(c, garbage, KRUN_KERNEL_FORMAT_IMAGE_ZSTD, NULL, NULL),
		 -ENOEXEC);
	CHECK_EQ(krun_set_kernel(c, garbage, KRUN_KERNEL_FORMAT_PE_GZ, NULL, NULL), -ENOEXEC);
	/* RAW: any bytes are a flat image (loaded at 2 GiB at start). */
	CHECK_EQ(krun_set_kernel(c, garbage, KRUN_KERNEL_FORMAT_RAW, NULL, NULL), 0);
	/* Upstream's rule: an initramfs it cannot read is -EINVAL. */
	CHECK_EQ(krun_set_kernel(c, garbage, KRUN_KERNEL_FORMAT_RAW, "/nonexistent/initrd", NULL),
		 -EINVAL);
	CHECK_EQ(krun_set_kernel(c, garbage, KRUN_KERNEL_FORMAT_RAW, tmpdir, NULL), -EINVAL);
	CHECK_EQ(krun_set_kernel(c, garbage, KRUN_KERNEL_FORMAT_RAW, garbage, NULL), 0);
	char *empty = tmp_file("empty", "", 0);
	CHECK(krun_set_kernel(c, empty, KRUN_KERNEL_FORMAT_ELF, NULL, NULL) < 0);
	CHECK_EQ(krun_set_kernel_console(c, NULL), -EINVAL);
	CHECK_EQ(krun_set_kernel_console(c, "ttyS0 quiet"), -EINVAL);
	CHECK_EQ(krun_set_kernel_console(c, "hvc0"), 0);
	krun_free_ctx(c);
}

static void test_logging_and_features(void)
{
	CHECK_EQ(krun_init_log(0, 1, 0, 0), -EINVAL);
	CHECK_EQ(krun_init_log(-5, 1, 0, 0), -EINVAL);
	CHECK_EQ(krun_init_log(-1, 1, 7, 0), -EINVAL);
	CHECK_EQ(krun_init_log(-1, 1, 0, 0x100), -EINVAL);
	CHECK_EQ(krun_init_log(-1, KRUN_LOG_LEVEL_OFF, 0, 0), 0);
	CHECK_EQ(krun_set_log_level(99), 0);
	krun_set_log_level(KRUN_LOG_LEVEL_OFF);
	CHECK_EQ(krun_has_feature(KRUN_FEATURE_INIT_BLOB), 1);
	CHECK_EQ(krun_has_feature(KRUN_FEATURE_BLK), 1);
	CHECK_EQ(krun_has_feature(KRUN_FEATURE_NET), 1);
	CHECK_EQ(krun_has_feature(KRUN_FEATURE_AMD_SEV), 0);
	CHECK_EQ(krun_has_feature(12345), -EINVAL);
}

static void test_workload_arguments(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	const char *args[] = {"-c", "true", NULL};
	CHECK_EQ(krun_set_exec(c, NULL, args, NULL), -EINVAL);
	CHECK_EQ(krun_set_exec(c, "/bin/sh", args, NULL), 0);
	CHECK_EQ(krun_set_exec(c, "/bin/sh", NULL, NULL), 0);
	CHECK_EQ(krun_set_workdir(c, NULL), -EINVAL);
	CHECK_EQ(krun_set_rlimits(c, NULL), -EINVAL);
	const char *bad_rl[] = {"RLIMIT_NOFILE", NULL};
	CHECK_EQ(krun_set_rlimits(c, bad_rl), -EINVAL);
	const char *inverted_rl[] = {"RLIMIT_NOFILE=4096:1024", NULL};
	CHECK_EQ(krun_set_rlimits(c, inverted_rl), -EINVAL);
	const char *unknown_rl[] = {"RLIMIT_BOGUS=1:2", NULL};
	CHECK_EQ(krun_set_rlimits(c, unknown_rl), -EINVAL);
	const char *good_rl[] = {"RLIMIT_NOFILE=1024:2048", "7=64:unlimited", NULL};
	CHECK_EQ(krun_set_rlimits(c, good_rl), 0);
	CHECK_EQ(krun_set_root(c, "/nonexistent-root"), -ENOENT);
	char *file = tmp_file("plain", "x", 1);
	CHECK_EQ(krun_set_root(c, file), -ENOTDIR);
	CHECK_EQ(krun_set_root(c, tmpdir), 0);
	CHECK_EQ(krun_set_root(c, tmpdir), -EEXIST);
	CHECK_EQ(krun_add_virtiofs(c, NULL, tmpdir), -EINVAL);
	CHECK_EQ(krun_add_virtiofs(c, "a-tag-that-is-much-longer-than-thirty-six-bytes", tmpdir),
		 -EINVAL);
	CHECK_EQ(krun_add_virtiofs3(c, "data", tmpdir, 0, true), 0);
	CHECK_EQ(krun_set_console_output(c, NULL), -EINVAL);
	CHECK_EQ(krun_add_virtio_console_default(c, 12345, 1, 2), -EBADF);
	krun_free_ctx(c);
}

static void test_disks(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	char *img = tmp_file("disk.img", "0123456789abcdef", 16);
	char name[32];

	CHECK_EQ(krun_add_disk(c, NULL, img, false), -EINVAL);
	CHECK_EQ(krun_add_disk(c, "", img, false), -EINVAL);
	CHECK_EQ(krun_add_disk(c, "d", NULL, false), -EINVAL);
	CHECK_EQ(krun_add_disk(c, "d", "/nonexistent.img", false), -ENOENT);
	CHECK_EQ(krun_add_disk(c, "d", tmpdir, false), -EINVAL);	/* a directory */
	CHECK_EQ(krun_add_disk(12345, "d", img, false), -ENOENT);
	/* The format is the caller's word: krun_start_enter() opens and checks
	 * the image (tests/unit/block, tests/e2e/test_qcow2.sh). */
	uint32_t c2 = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_add_disk2(c2, "q", img, KRUN_DISK_FORMAT_QCOW2, false), 0);
	CHECK_EQ(krun_add_disk2(c2, "v", img, KRUN_DISK_FORMAT_VMDK, true), 0);
	krun_free_ctx(c2);
	CHECK_EQ(krun_add_disk2(c, "d", img, 3, false), -EINVAL);
	CHECK_EQ(krun_add_disk3(c, "d", img, KRUN_DISK_FORMAT_RAW, false, false, 3), -EINVAL);
	CHECK_EQ(krun_add_disk(c, "d", img, false), 0);
	CHECK_EQ(krun_add_disk(c, "d", img, true), -EEXIST);
	CHECK_EQ(krun_add_disk2(c, "e", img, KRUN_DISK_FORMAT_RAW, true), 0);
	CHECK_EQ(krun_add_disk3(c, "f", img, KRUN_DISK_FORMAT_RAW, false, true, KRUN_SYNC_NONE),
		 0);
	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "more-%d", i);
		CHECK_EQ(krun_add_disk(c, name, img, true), 0);
	}
	CHECK_EQ(krun_add_disk(c, "one-too-many", img, true), -ENOSPC);
	CHECK_EQ(krun_set_root_disk(c, NULL), -EINVAL);
	CHECK_EQ(krun_set_root_disk(c, "/nonexistent.img"), -ENOENT);
	CHECK_EQ(krun_set_data_disk(c, tmpdir), -EINVAL);
	CHECK_EQ(krun_set_root_disk(c, img), 0);
	CHECK_EQ(krun_set_root_disk(c, img), 0);	/* replaces, as upstream */
	CHECK_EQ(krun_set_data_disk(c, img), 0);
	CHECK_EQ(krun_set_data_disk(12345, img), -ENOENT);
	krun_free_ctx(c);
}

static void test_root_disk_remount(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	char *img = tmp_file("root.img", "0123456789abcdef", 16);

	CHECK_EQ(krun_set_root_disk_remount(12345, "/dev/vda", NULL, NULL), -ENOENT);
	CHECK_EQ(krun_set_root_disk_remount(c, NULL, NULL, NULL), -EINVAL);
	CHECK_EQ(krun_set_root_disk_remount(c, "vda", NULL, NULL), -EINVAL);
	CHECK_EQ(krun_set_root_disk_remount(c, "/dev/vda", NULL, NULL), -EINVAL); /* no disk */
	CHECK_EQ(krun_add_disk(c, "root", img, false), 0);
	CHECK_EQ(krun_set_root_disk_remount(c, "/dev/vda", "ext4", "noatime"), 0);
	/* It made the root filesystem: a second root of either kind is refused. */
	CHECK(krun_set_root(c, tmpdir) < 0);
	CHECK_EQ(krun_set_root_disk_remount(c, "/dev/vda", NULL, NULL), -EINVAL);
	krun_free_ctx(c);

	c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_add_disk(c, "root", img, false), 0);
	CHECK_EQ(krun_set_root(c, tmpdir), 0);
	CHECK_EQ(krun_set_root_disk_remount(c, "/dev/vda", "auto", NULL), -EINVAL);
	krun_free_ctx(c);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

/* A terminal the tty port can take, or -1 where there are no ptys. */
static int open_pty_slave(int *master)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY);
	if (*master < 0 || grantpt(*master) || unlockpt(*master)) {
		if (*master >= 0)
			close(*master);
		return -1;
	}
	const char *name = ptsname(*master);
	int fd = name ? open(name, O_RDWR | O_NOCTTY) : -1;
	if (fd < 0)
		close(*master);
	return fd;
}

static void test_multiport_consoles(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	int sp[2], pp[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	CHECK_EQ(pipe(pp), 0);

	CHECK_EQ(krun_add_virtio_console_multiport(12345), -ENOENT);
	CHECK_EQ(krun_add_console_port_inout(12345, 0, "p", sp[0], sp[0]), -ENOENT);
	/* No console yet; then console ids count the consoles added through
	 * the API: the default console is one, the implicit one is not. */
	CHECK_EQ(krun_add_console_port_inout(c, 0, "p", sp[0], sp[0]), -EINVAL);
	CHECK_EQ(krun_add_virtio_console_default(c, -1, 1, 2), 0);
	CHECK_EQ(krun_add_virtio_console_multiport(c), 1);
	CHECK_EQ(krun_add_virtio_console_multiport(c), 2);
	CHECK_EQ(krun_add_console_port_inout(c, 0, "p", sp[0], sp[0]), -EINVAL); /* default */
	CHECK_EQ(krun_add_console_port_inout(c, 3, "p", sp[0], sp[0]), -EINVAL);
	CHECK_EQ(krun_add_console_port_inout(c, 1, "p", -1, -1), -EINVAL);
	CHECK_EQ(krun_add_console_port_inout(c, 1, "p", 12345, -1), -EBADF);
	char long_name[80];
	memset(long_name, 'n', sizeof(long_name) - 1);
	long_name[sizeof(long_name) - 1] = '\0';
	CHECK_EQ(krun_add_console_port_inout(c, 1, long_name, sp[0], sp[0]), -EINVAL);
	long_name[63] = '\0';	/* the longest name the device carries */
	CHECK_EQ(krun_add_console_port_tty(c, 1, "t", -1), -EINVAL);
	CHECK_EQ(krun_add_console_port_tty(c, 1, "t", 12345), -EBADF);
	CHECK_EQ(krun_add_console_port_tty(c, 1, "t", pp[0]), -ENOTTY);
	/* Refused calls took nothing. */
	CHECK(fd_open(sp[0]) && fd_open(pp[0]));

	/* Accepted ones take the fds over: freeing the context closes them. */
	CHECK_EQ(krun_add_console_port_inout(c, 1, long_name, sp[0], sp[0]), 0);
	CHECK_EQ(krun_add_console_port_inout(c, 1, "", pp[0], -1), 0);
	CHECK_EQ(krun_add_console_port_inout(c, 1, "again", pp[0], -1), -EINVAL);
	CHECK_EQ(krun_add_console_port_inout(c, 1, "out", -1, pp[1]), 0);
	for (int i = 0; i < 4; i++) {
		int fd = dup(STDERR_FILENO);
		/* NULL is an unnamed port, as upstream. */
		CHECK_EQ(krun_add_console_port_inout(c, 2, i ? "x" : NULL, -1, fd), 0);
	}
	int master, tty = open_pty_slave(&master);
	if (tty >= 0) {
		CHECK_EQ(krun_add_console_port_tty(c, 5, "t", tty), -EINVAL);
		CHECK_EQ(krun_add_console_port_tty(c, 2, "term", tty), 0);
		close(master);
	} else {
		CHECK_EQ(krun_add_console_port_inout(c, 2, "x", -1, dup(STDERR_FILENO)), 0);
	}
	CHECK_EQ(krun_add_console_port_inout(c, 2, "x", -1, dup(STDERR_FILENO)), 0);
	CHECK_EQ(krun_add_console_port_inout(c, 2, "x", -1, dup(STDERR_FILENO)), 0);
	int extra = dup(STDERR_FILENO);
	CHECK_EQ(krun_add_console_port_inout(c, 2, "x", -1, extra), -ENOSPC);	/* 8th port */
	CHECK(fd_open(extra));
	close(extra);
	for (int i = 3; i <= 8; i++)
		CHECK_EQ(krun_add_virtio_console_multiport(c), i);
	CHECK_EQ(krun_add_virtio_console_multiport(c), -ENOSPC);
	CHECK_EQ(krun_free_ctx(c), 0);
	CHECK(!fd_open(sp[0]) && !fd_open(pp[0]) && !fd_open(pp[1]));
	if (tty >= 0)
		CHECK(!fd_open(tty));
	close(sp[1]);

	/* Ids follow call order: a default console added later takes the next. */
	c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_add_virtio_console_multiport(c), 0);
	CHECK_EQ(krun_add_virtio_console_default(c, -1, 1, 2), 0);
	CHECK_EQ(krun_add_virtio_console_multiport(c), 2);
	int fd = dup(STDERR_FILENO);
	CHECK_EQ(krun_add_console_port_inout(c, 1, "p", -1, fd), -EINVAL);
	/* A multiport console without ports is refused at start, and the
	 * refused start still closes what the context took. */
	CHECK_EQ(krun_add_console_port_inout(c, 0, "p", -1, fd), 0);
	CHECK_EQ(krun_start_enter(c), -EINVAL);
	CHECK(!fd_open(fd));
	CHECK_EQ(krun_free_ctx(c), -ENOENT);
}

static void test_unimplemented_say_so(void)
{
	uint32_t c = (uint32_t)krun_create_ctx();
	CHECK_EQ(krun_add_display(c, 800, 600), -ENOSYS);
	CHECK_EQ(krun_set_mapped_volumes(c, NULL), -EINVAL);
	CHECK_EQ(krun_set_snd_device(c, true), -ENOTSUP);
	CHECK_EQ(krun_set_snd_device(c, false), 0);
	CHECK_EQ(krun_set_snd_device(12345, false), -ENOENT);
	krun_free_ctx(c);
}

int main(void)
{
	if (!mkdtemp(tmpdir))
		return 1;
	krun_set_log_level(KRUN_LOG_LEVEL_OFF);
	RUN_TEST(test_contexts);
	RUN_TEST(test_vm_config);
	RUN_TEST(test_kernel_files);
	RUN_TEST(test_logging_and_features);
	RUN_TEST(test_workload_arguments);
	RUN_TEST(test_disks);
	RUN_TEST(test_root_disk_remount);
	RUN_TEST(test_multiport_consoles);
	RUN_TEST(test_unimplemented_say_so);
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		return 1;
	TEST_MAIN_END();
}
