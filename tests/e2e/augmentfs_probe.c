// SPDX-License-Identifier: Apache-2.0
/*
 * Upstream's "augmentfs" case through our API: a root with no host
 * directory at all, everything the guest needs injected as overlay entries.
 * usage: augmentfs_probe BUSYBOX CONTENT_FILE SCRIPT
 *   /init.krun           the default init, one-shot (implicit init off)
 *   /bin/busybox         BUSYBOX (static), one-shot; runs "sh -c SCRIPT"
 *   /dev /proc /sys      overlay directories the init mounts on
 *   /data/hello.txt      CONTENT_FILE, persistent
 *   /data/empty          empty, persistent
 *   /data/nested/deeper/leaf  "leaf contents\n", persistent
 *   /mnt                 overlay directory
 * and a second share "extra", also without host directory, holding only
 * the overlay file note.txt ("extra note\n").
 * Exits with the workload's status; returns 100 + errno if a call failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <libkrun.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define TAG KRUN_FS_ROOT_TAG

/* The whole file in memory: overlay data is borrowed for the VM's life. */
static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *buf = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0)
		goto out;
	buf = malloc((size_t)st.st_size + 1);
	*len = 0;
	while (buf && *len < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + *len, (size_t)st.st_size - *len);

		if (n <= 0) {
			free(buf);
			buf = NULL;
			break;
		}
		*len += (size_t)n;
	}
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

static int fail(const char *what, int ret)
{
	fprintf(stderr, "augmentfs_probe: %s: %d\n", what, ret);
	return 100 + (ret < 0 ? -ret : ret) % 100;
}

#define TRY(call)                                                                       \
	do {                                                                            \
		int ret_ = (call);                                                      \
		if (ret_)                                                               \
			return fail(#call, ret_);                                       \
	} while (0)

int main(int argc, char **argv)
{
	static const uint8_t leaf[] = "leaf contents\n";
	const uint8_t *init;
	size_t init_len, bb_len, content_len;
	uint8_t *bb, *content;
	int ctx;

	if (argc != 4) {
		fprintf(stderr, "usage: %s BUSYBOX CONTENT_FILE SCRIPT\n", argv[0]);
		return 2;
	}
	bb = slurp(argv[1], &bb_len);
	content = slurp(argv[2], &content_len);
	if (!bb || !content)
		return fail("reading the injected files", -errno);
	/* AUGMENTFS_LOG=N: libkrun log level (4 = debug: the guest kernel's messages). */
	krun_set_log_level(getenv("AUGMENTFS_LOG") ? (uint32_t)atoi(getenv("AUGMENTFS_LOG")) : KRUN_LOG_LEVEL_WARN);
	ctx = krun_create_ctx();
	if (ctx < 0)
		return fail("krun_create_ctx", ctx);
	uint32_t c = (uint32_t)ctx;
	TRY(krun_set_vm_config(c, 1, 256));
	/* AUGMENTFS_KCONSOLE=ttyS0: kernel messages from the first instant. */
	if (getenv("AUGMENTFS_KCONSOLE"))
		TRY(krun_set_kernel_console(c, getenv("AUGMENTFS_KCONSOLE")));
	TRY(krun_disable_implicit_init(c));
	TRY(krun_set_root(c, NULL));
	TRY(krun_get_default_init(&init, &init_len));
	TRY(krun_fs_add_overlay_file(c, TAG, "init.krun", init, init_len, 0100755, true));
	TRY(krun_fs_add_overlay_dir(c, TAG, "dev", 040755));
	TRY(krun_fs_add_overlay_dir(c, TAG, "proc", 040555));
	TRY(krun_fs_add_overlay_dir(c, TAG, "sys", 040555));
	TRY(krun_fs_add_overlay_dir(c, TAG, "bin", 040755));
	TRY(krun_fs_add_overlay_file(c, TAG, "bin/busybox", bb, bb_len, 0755, true));
	TRY(krun_fs_add_overlay_dir(c, TAG, "data", 040755));
	TRY(krun_fs_add_overlay_file(c, TAG, "data/hello.txt", content, content_len, 0644, false));
	TRY(krun_fs_add_overlay_file(c, TAG, "data/empty", NULL, 0, 0644, false));
	TRY(krun_fs_add_overlay_dir(c, TAG, "data/nested", 040750));
	TRY(krun_fs_add_overlay_dir(c, TAG, "/data/nested/deeper", 040755));
	TRY(krun_fs_add_overlay_file(c, TAG, "data/nested/deeper/leaf", leaf, sizeof(leaf) - 1,
				     0444, false));

	static const uint8_t note[] = "extra note\n";
	TRY(krun_fs_add_overlay_dir(c, TAG, "mnt", 040755));
	TRY(krun_add_virtiofs(c, "extra", NULL));
	TRY(krun_fs_add_overlay_file(c, "extra", "note.txt", note, sizeof(note) - 1, 0644, false));

	const char *const args[] = { "sh", "-c", argv[3], NULL };
	const char *const env[] = { "PATH=/bin", "HOME=/", NULL };
	TRY(krun_set_exec(c, "/bin/busybox", args, env));
	return fail("krun_start_enter", krun_start_enter(c));
}
