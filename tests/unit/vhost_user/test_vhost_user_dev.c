// SPDX-License-Identifier: Apache-2.0
/*
 * The vhost-user virtio device against a fake backend thread on a real
 * listening socket: the handshake at creation (features, protocol features
 * with REPLY_ACK, owner, queue count asked for, the virtio-fs tag given by
 * the frontend), what activation sends (memory table with the memfd of
 * guest RAM, each queue's size, base, ring addresses in our address space,
 * kick and call eventfds) and that reset stops the rings.  A backend that
 * is silent or hangs up mid-handshake fails creation without hanging.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <libkrun.h>

#include "test.h"
#include "backends/vhost_user/vhost_user.h"
#include "devices/virtio/vhost_user.h"
#include "vmm/guest_mem.h"
#include "vu_test_msg.h"

#define MAX_LOG 64

enum behaviour { NORMAL, HANG_UP_AFTER_FEATURES };

struct fake {
	int listen_fd;
	enum behaviour how;
	pthread_t thread;
	/* What the frontend sent, in order. */
	uint32_t codes[MAX_LOG];
	uint32_t flags[MAX_LOG];
	uint64_t arg[MAX_LOG];	/* first 8 payload bytes */
	int nfds[MAX_LOG];
	struct stat fd_stat[MAX_LOG];
	uint8_t mem_table[8 + 32];
	atomic_int n;
	char path[108];
};

static void reply(int fd, uint32_t code, const void *p, uint32_t size)
{
	uint8_t buf[64];
	uint32_t h[3] = { code, VU_FLAG_VERSION | VU_FLAG_REPLY, size };
	memcpy(buf, h, 12);
	memcpy(buf + 12, p, size);
	if (write(fd, buf, 12 + size) != (ssize_t)(12 + size))
		return;
}

static void *backend(void *arg)
{
	struct fake *f = arg;
	int fd = accept(f->listen_fd, NULL, NULL);
	for (;;) {
		struct vu_test_msg m;
		if (vu_test_read_msg(fd, MSG_WAITALL, &m))
			break;
		uint32_t code = m.code, flags = m.flags, size = m.size;
		const uint8_t *payload = m.payload;
		int i = atomic_load(&f->n);
		if (i < MAX_LOG) {
			f->codes[i] = code;
			f->flags[i] = flags;
			f->arg[i] = 0;
			memcpy(&f->arg[i], payload, size < 8 ? size : 8);
			f->nfds[i] = m.nfds;
			if (m.nfds)
				fstat(m.fds[0], &f->fd_stat[i]);
			if (code == VU_SET_MEM_TABLE)
				memcpy(f->mem_table, payload, sizeof(f->mem_table));
			atomic_store(&f->n, i + 1);
		}
		for (int k = 0; k < m.nfds; k++)
			close(m.fds[k]);
		uint64_t v;
		switch (code) {
		case VU_GET_FEATURES:
			if (f->how == HANG_UP_AFTER_FEATURES)
				goto out;
			v = (1ull << 32) | (1ull << VU_F_PROTOCOL_FEATURES) | (1ull << 28);
			reply(fd, code, &v, 8);
			break;
		case VU_GET_PROTOCOL_FEATURES:
			v = (1ull << VU_PROTOCOL_F_MQ) | (1ull << VU_PROTOCOL_F_REPLY_ACK) | (1ull << 1);
			reply(fd, code, &v, 8);
			break;
		case VU_GET_QUEUE_NUM:
			v = 2;
			reply(fd, code, &v, 8);
			break;
		case VU_GET_VRING_BASE: {
			uint32_t s[2] = { (uint32_t)f->arg[i < MAX_LOG ? i : 0], 5 };
			reply(fd, code, s, 8);
			break;
		}
		default:
			if (flags & VU_FLAG_NEED_REPLY) {
				v = 0;
				reply(fd, code, &v, 8);
			}
		}
	}
out:
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, enum behaviour how)
{
	memset(f, 0, sizeof(*f));
	f->how = how;
	snprintf(f->path, sizeof(f->path), "/tmp/test-vud-%d.sock", (int)getpid());
	unlink(f->path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, f->path);
	CHECK_EQ(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	CHECK_EQ(listen(f->listen_fd, 1), 0);
	CHECK_EQ(pthread_create(&f->thread, NULL, backend, f), 0);
}

static void fake_stop(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->listen_fd);
	unlink(f->path);
}

static int find(const struct fake *f, int from, uint32_t code)
{
	for (int i = from; i < atomic_load(&f->n); i++)
		if (f->codes[i] == code)
			return i;
	return -1;
}

static void test_handshake_activate_reset(void)
{
	struct fake f;
	fake_start(&f, NORMAL);
	struct vhost_user_dev *vu = NULL;
	CHECK_EQ(vhost_user_create(VIRTIO_ID_FS, f.path, "myshare", 0, NULL, &vu), 0);
	if (!vu) {
		fake_stop(&f);
		return;
	}
	const struct virtio_device_ops *ops = vhost_user_ops(vu);
	CHECK_EQ(ops->device_id, VIRTIO_ID_FS);
	CHECK_EQ(ops->num_queues, 2);		/* asked with GET_QUEUE_NUM */
	CHECK_EQ(ops->queue_max_size, 256);
	CHECK(ops->features & (1ull << 28));
	CHECK(!(ops->features & (1ull << VU_F_PROTOCOL_FEATURES)));
	CHECK_EQ(ops->config_size, 40);
	uint8_t cfg[40];
	ops->read_config(vu, 0, cfg, 40);
	CHECK(memcmp(cfg, "myshare\0", 8) == 0);
	uint32_t nreq;
	memcpy(&nreq, cfg + 36, 4);
	CHECK_EQ(nreq, 1);
	int sp = find(&f, 0, VU_SET_PROTOCOL_FEATURES);
	CHECK(sp >= 0);
	/* Only what we use: MQ and REPLY_ACK, not LOG_SHMFD. */
	if (sp >= 0)
		CHECK(f.arg[sp] == ((1ull << VU_PROTOCOL_F_MQ) | (1ull << VU_PROTOCOL_F_REPLY_ACK)));
	int own = find(&f, 0, VU_SET_OWNER);
	CHECK(own > sp);
	if (own >= 0)
		CHECK(f.flags[own] & VU_FLAG_NEED_REPLY);

	struct guest_mem gm = {0};
	CHECK_EQ(gm_alloc_region_shared(&gm, 0, 1 << 20), 0);
	struct virtio_mmio_dev dev;
	CHECK_EQ(virtio_mmio_init(&dev, ops, vu, &gm, 0xd0000000, 5), 0);
	dev.driver_features = (1ull << 32) | (1ull << 28);
	for (unsigned int q = 0; q < 2; q++) {
		dev.queues[q].size = 64;
		dev.queues[q].ready = true;
		dev.queues[q].desc_gpa = 0x10000 + q * 0x4000;
		dev.queues[q].avail_gpa = 0x11000 + q * 0x4000;
		dev.queues[q].used_gpa = 0x12000 + q * 0x4000;
	}
	int start = atomic_load(&f.n);
	CHECK_EQ(ops->activate(vu, &dev), 0);
	int sf = find(&f, start, VU_SET_FEATURES);
	CHECK(sf >= 0);
	if (sf >= 0)
		CHECK(f.arg[sf] == ((1ull << 32) | (1ull << 28) | (1ull << VU_F_PROTOCOL_FEATURES)));
	int mt = find(&f, start, VU_SET_MEM_TABLE);
	CHECK(mt > sf);
	if (mt >= 0) {
		struct stat st;
		CHECK_EQ(fstat(gm.regions[0].fd, &st), 0);
		CHECK_EQ(f.nfds[mt], 1);
		CHECK(f.fd_stat[mt].st_ino == st.st_ino);
		uint64_t r[4];
		memcpy(r, f.mem_table + 8, 32);
		CHECK(r[0] == 0 && r[1] == 1 << 20 && r[2] == (uint64_t)(uintptr_t)gm.regions[0].host);
	}
	int addr = find(&f, start, VU_SET_VRING_ADDR);
	CHECK(addr > mt);
	int kick = find(&f, start, VU_SET_VRING_KICK), call = find(&f, start, VU_SET_VRING_CALL);
	CHECK(kick > 0 && call > kick);
	if (kick > 0 && call > 0) {
		struct stat a, b;
		CHECK_EQ(f.nfds[kick], 1);
		CHECK_EQ(f.nfds[call], 1);
		fstat(dev.queue_evt[0], &a);
		fstat(dev.irq_evt, &b);
		CHECK(f.fd_stat[kick].st_ino == a.st_ino);
		CHECK(f.fd_stat[call].st_ino == b.st_ino);
	}
	int en = find(&f, start, VU_SET_VRING_ENABLE);
	CHECK(en > call);
	if (en >= 0)
		CHECK(f.arg[en] == (1ull << 32));	/* queue 0, enabled */
	/* Both queues set up. */
	CHECK(find(&f, en + 1, VU_SET_VRING_ENABLE) > en);

	start = atomic_load(&f.n);
	ops->reset(vu);
	int gb = find(&f, start, VU_GET_VRING_BASE);
	CHECK(gb >= 0);
	CHECK(find(&f, gb + 1, VU_GET_VRING_BASE) > gb);

	virtio_mmio_destroy(&dev);
	vhost_user_destroy(vu);
	fake_stop(&f);
	gm_destroy(&gm);
}

/* Seen by the VMM's main loop while the guest runs: the device asks for a
 * reset, and stopping it later sends the dead backend nothing. */
static void test_hang_up_while_running(void)
{
	struct fake f;
	fake_start(&f, NORMAL);
	struct vhost_user_dev *vu = NULL;
	CHECK_EQ(vhost_user_create(4, f.path, "rng", 1, NULL, &vu), 0);
	if (!vu) {
		fake_stop(&f);
		return;
	}
	const struct virtio_device_ops *ops = vhost_user_ops(vu);
	CHECK_EQ(ops->config_size, 0);
	struct guest_mem gm = {0};
	CHECK_EQ(gm_alloc_region_shared(&gm, 0, 1 << 20), 0);
	struct virtio_mmio_dev dev;
	CHECK_EQ(virtio_mmio_init(&dev, ops, vu, &gm, 0xd0000000, 5), 0);
	dev.driver_features = 1ull << 32;
	dev.queues[0] = (struct virtqueue){ .size = 16, .ready = true, .desc_gpa = 0x1000,
					    .avail_gpa = 0x2000, .used_gpa = 0x3000 };
	CHECK_EQ(ops->activate(vu, &dev), 0);
	CHECK(!atomic_load(&dev.needs_reset));
	vhost_user_hung_up(vu);
	CHECK(atomic_load(&dev.needs_reset));
	int before = atomic_load(&f.n);
	ops->reset(vu);
	CHECK_EQ(atomic_load(&f.n), before);
	/* Activating again (after the driver's reset) fails at once. */
	CHECK_EQ(ops->activate(vu, &dev), -EPIPE);
	virtio_mmio_destroy(&dev);
	vhost_user_destroy(vu);
	fake_stop(&f);
	gm_destroy(&gm);
}

static void test_hang_up_mid_handshake(void)
{
	struct fake f;
	fake_start(&f, HANG_UP_AFTER_FEATURES);
	struct vhost_user_dev *vu = NULL;
	CHECK_EQ(vhost_user_create(VIRTIO_ID_FS, f.path, "x", 2, NULL, &vu), -EPIPE);
	CHECK(vu == NULL);
	fake_stop(&f);
}

static void test_no_backend(void)
{
	struct vhost_user_dev *vu = NULL;
	CHECK_EQ(vhost_user_create(4, "/nonexistent/x.sock", NULL, 1, NULL, &vu), -ENOENT);
	CHECK(vu == NULL);
}

static void test_fs_needs_tag(void)
{
	struct fake f;
	fake_start(&f, NORMAL);
	struct vhost_user_dev *vu = NULL;
	CHECK_EQ(vhost_user_create(VIRTIO_ID_FS, f.path, NULL, 2, NULL, &vu), -EINVAL);
	fake_stop(&f);
}

/* What krun_add_vhost_user_device refuses at the call. */
static void test_api_arguments(void)
{
	int c = krun_create_ctx();
	CHECK(c >= 0);
	uint32_t id = (uint32_t)c;
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	const uint16_t bad[] = {3}, ok2[] = {128, 1024}, list[] = {64, 64, 0};
	CHECK_EQ(krun_add_vhost_user_device(id, 26, NULL, "t", 2, NULL), -EINVAL);
	CHECK_EQ(krun_add_vhost_user_device(id, 26, "", "t", 2, NULL), -EINVAL);
	CHECK_EQ(krun_add_vhost_user_device(id, 26, longpath, "t", 2, NULL), -EINVAL);
	CHECK_EQ(krun_add_vhost_user_device(id, 26, "/s", "t", 17, NULL), -EINVAL);
	CHECK_EQ(krun_add_vhost_user_device(id, 26, "/s", "t", 1, bad), -EINVAL);
	CHECK_EQ(krun_add_vhost_user_device(id + 1000, 26, "/s", "t", 2, ok2), -ENOENT);
	CHECK_EQ(krun_add_vhost_user_device(id, 26, "/s", "t", 2, ok2), 0);
	CHECK_EQ(krun_add_vhost_user_device(id, KRUN_VIRTIO_DEVICE_RNG, "/s", NULL,
					    KRUN_VHOST_USER_RNG_NUM_QUEUES,
					    KRUN_VHOST_USER_RNG_QUEUE_SIZES), 0);
	CHECK_EQ(krun_add_vhost_user_device(id, 3, "/s", NULL, 0, list), 0);
	for (int i = 3; i < 8; i++)
		CHECK_EQ(krun_add_vhost_user_device(id, 4, "/s", NULL, 1, NULL), 0);
	CHECK_EQ(krun_add_vhost_user_device(id, 4, "/s", NULL, 1, NULL), -ENOSPC);
	CHECK_EQ(krun_free_ctx(id), 0);
}

int main(void)
{
	RUN_TEST(test_api_arguments);
	RUN_TEST(test_handshake_activate_reset);
	RUN_TEST(test_hang_up_while_running);
	RUN_TEST(test_hang_up_mid_handshake);
	RUN_TEST(test_no_backend);
	RUN_TEST(test_fs_needs_tag);
	TEST_MAIN_END();
}
