// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-fs device.  The worker thread waits on both queue eventfds and a
 * stop eventfd; it never takes the transport lock (reset joins it while
 * holding that lock).
 */
#include "fs.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "../../backends/fs/fuse_server.h"
#include "../../util/log.h"

#define FS_QUEUE_SIZE 1024
#define FS_NUM_QUEUES 2	/* hiprio + one request queue */
#define STOP_TOKEN UINT32_MAX

struct virtio_fs_config {
	char tag[VIRTIO_FS_TAG_MAX];
	uint32_t num_request_queues;	/* little endian; x86 only */
} __attribute__((packed));

struct virtio_fs {
	struct virtio_fs_config config;
	struct fuse_server *srv;
	struct virtio_mmio_dev *dev;
	int stop_evt;
	bool running;
	pthread_t thread;
	/* Only the worker touches it; too big for a thread stack frame. */
	struct vq_chain chain;
};

static void fs_read_config(void *opaque, uint32_t offset, void *data, uint32_t len)
{
	struct virtio_fs *fs = opaque;

	memcpy(data, (const char *)&fs->config + offset, len);
}

static void fs_write_config(void *opaque, uint32_t offset, const void *data, uint32_t len)
{
	/* The configuration space is read-only for the driver. */
}

static void drain_evt(int fd)
{
	uint64_t v;

	if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_debug("virtio-fs: eventfd read: %d", errno);
}

static void serve_queue(struct virtio_fs *fs, unsigned int q)
{
	struct virtqueue *vq = &fs->dev->queues[q];
	int ret;

	if (!vq->ready || vq->broken)
		return;
	do {
		vq_disable_notify(vq);
		while ((ret = vq_pop(vq, &fs->chain)) == 1) {
			struct vq_chain *c = &fs->chain;
			size_t len = 0;

			/* A request we cannot answer still returns its buffers. */
			fuse_server_handle(fs->srv, c->iov, c->nr_readable, c->iov + c->nr_readable,
					   c->nr_writable, &len);
			vq_push(vq, c->head, (uint32_t)len);
			virtio_mmio_notify_queue(fs->dev, q);
		}
		if (ret < 0) {
			virtio_mmio_set_broken(fs->dev);
			return;
		}
	} while (vq_enable_notify(vq));
}

static int watch(int ep, int fd, uint32_t token)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = token };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void *fs_worker(void *arg)
{
	struct virtio_fs *fs = arg;
	struct epoll_event evs[FS_NUM_QUEUES + 1];
	int ep = epoll_create1(EPOLL_CLOEXEC);
	bool stop = false;

	if (ep < 0 || watch(ep, fs->stop_evt, STOP_TOKEN) < 0) {
		log_error("virtio-fs: worker setup failed: %d", errno);
		virtio_mmio_set_broken(fs->dev);
		stop = true;
	}
	for (unsigned int q = 0; !stop && q < FS_NUM_QUEUES; q++) {
		if (watch(ep, fs->dev->queue_evt[q], q) < 0) {
			log_error("virtio-fs: cannot watch queue %u: %d", q, errno);
			virtio_mmio_set_broken(fs->dev);
			stop = true;
		}
	}
	/* Buffers may have been queued before the driver kicked us. */
	for (unsigned int q = 0; !stop && q < FS_NUM_QUEUES; q++)
		serve_queue(fs, q);
	while (!stop) {
		int n = epoll_wait(ep, evs, FS_NUM_QUEUES + 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			uint32_t tok = evs[i].data.u32;

			if (tok == STOP_TOKEN) {
				stop = true;
				break;
			}
			drain_evt(fs->dev->queue_evt[tok]);
			serve_queue(fs, tok);
		}
	}
	if (ep >= 0)
		close(ep);
	return NULL;
}

static int fs_activate(void *opaque, struct virtio_mmio_dev *dev)
{
	struct virtio_fs *fs = opaque;
	int ret;

	if (fs->running)
		return -EBUSY;
	fs->dev = dev;
	ret = virtio_start_worker(dev, &fs->thread, KRUN_THREAD_FS, fs_worker, fs, "fs worker");
	if (ret) {
		log_error("virtio-fs: cannot start worker: %s", strerror(-ret));
		return ret;
	}
	fs->running = true;
	return 0;
}

static void fs_reset(void *opaque)
{
	struct virtio_fs *fs = opaque;
	uint64_t one = 1;

	if (!fs->running)
		return;
	if (write(fs->stop_evt, &one, sizeof(one)) < 0)
		log_error("virtio-fs: cannot stop worker: %d", errno);
	pthread_join(fs->thread, NULL);
	drain_evt(fs->stop_evt);
	fs->running = false;
	fs->dev = NULL;
}

static const struct virtio_device_ops fs_ops = {
	.name = "virtio-fs",
	.device_id = VIRTIO_ID_FS_DEVICE,
	.num_queues = FS_NUM_QUEUES,
	.queue_max_size = FS_QUEUE_SIZE,
	.features = 1ull << VIRTIO_F_RING_EVENT_IDX,
	.config_size = sizeof(struct virtio_fs_config),
	.read_config = fs_read_config,
	.write_config = fs_write_config,
	.activate = fs_activate,
	.reset = fs_reset,
};

const struct virtio_device_ops *virtio_fs_ops(void)
{
	return &fs_ops;
}

struct virtio_fs *virtio_fs_create(const char *tag, const char *root_dir, bool read_only,
				   int *err)
{
	struct virtio_fs *fs;
	size_t tag_len = tag ? strlen(tag) : 0;
	int ret = -EINVAL;

	if (tag_len == 0 || tag_len > VIRTIO_FS_TAG_MAX)
		goto fail;
	ret = -ENOMEM;
	fs = calloc(1, sizeof(*fs));
	if (!fs)
		goto fail;
	memcpy(fs->config.tag, tag, tag_len);
	fs->config.num_request_queues = 1;
	fs->stop_evt = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fs->stop_evt < 0) {
		ret = -errno;
		free(fs);
		goto fail;
	}
	fs->srv = fuse_server_create(root_dir, read_only, &ret);
	if (!fs->srv) {
		close(fs->stop_evt);
		free(fs);
		goto fail;
	}
	return fs;
fail:
	if (err)
		*err = ret;
	return NULL;
}

struct fuse_server *virtio_fs_server(struct virtio_fs *fs)
{
	return fs->srv;
}

void virtio_fs_destroy(struct virtio_fs *fs)
{
	if (!fs)
		return;
	fs_reset(fs);
	fuse_server_destroy(fs->srv);
	close(fs->stop_evt);
	free(fs);
}
