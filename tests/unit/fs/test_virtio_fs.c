// SPDX-License-Identifier: Apache-2.0
/* virtio-fs device shell: creation checks, config space, idle reset. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "test.h"
#include "backends/fs/fuse_server.h"
#include "devices/virtio/fs.h"

static void test_tag_validation(void)
{
	int err = 0;

	CHECK(virtio_fs_create("0123456789012345678901234567890123456", "/tmp", false, &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	err = 0;
	CHECK(virtio_fs_create("", "/tmp", false, &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	err = 0;
	CHECK(virtio_fs_create(NULL, "/tmp", false, &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	err = 0;
	CHECK(virtio_fs_create("/dev/root", "/nonexistent/dir", false, &err) == NULL);
	CHECK_EQ(err, -ENOENT);
}

static void test_config_space(void)
{
	const struct virtio_device_ops *ops = virtio_fs_ops();
	const char *tag36 = "012345678901234567890123456789012345";
	struct virtio_fs *fs;
	char cfg[40];
	uint32_t nq;
	int err = 0;

	CHECK_EQ(ops->device_id, 26);
	CHECK_EQ(ops->num_queues, 2);
	CHECK_EQ(ops->queue_max_size, 1024);
	CHECK_EQ(ops->config_size, 40);
	CHECK(ops->features & (1ull << VIRTIO_F_RING_EVENT_IDX));

	fs = virtio_fs_create("/dev/root", "/tmp", true, &err);
	CHECK(fs != NULL);
	if (!fs)
		return;
	CHECK(virtio_fs_server(fs) != NULL);
	memset(cfg, 0x55, sizeof(cfg));
	ops->read_config(fs, 0, cfg, sizeof(cfg));
	CHECK(memcmp(cfg, "/dev/root", 9) == 0);
	for (int i = 9; i < 36; i++)
		CHECK_EQ(cfg[i], 0);
	memcpy(&nq, cfg + 36, 4);
	CHECK_EQ(nq, 1);
	ops->write_config(fs, 0, "xx", 2);
	ops->read_config(fs, 0, cfg, 2);
	CHECK(memcmp(cfg, "/d", 2) == 0);
	/* Reset before any activation is harmless (the transport always calls it). */
	ops->reset(fs);
	ops->reset(fs);
	virtio_fs_destroy(fs);

	/* A tag of exactly 36 bytes fills the field without a terminator. */
	fs = virtio_fs_create(tag36, "/tmp", false, &err);
	CHECK(fs != NULL);
	if (fs) {
		ops->read_config(fs, 0, cfg, 36);
		CHECK(memcmp(cfg, tag36, 36) == 0);
		virtio_fs_destroy(fs);
	}
	virtio_fs_destroy(NULL);
}

int main(void)
{
	RUN_TEST(test_tag_validation);
	RUN_TEST(test_config_space);
	TEST_MAIN_END();
}
