// SPDX-License-Identifier: Apache-2.0
#include "rng.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "../../util/log.h"

struct virtio_rng {
	int stop_evt;
	/* Checked between getrandom() calls: a guest can queue ~4 GiB per
	 * chain on every slot, and reset (teardown too) must not wait for it. */
	_Atomic bool stopping;
	bool running;
	pthread_t thread;
	struct virtio_mmio_dev *dev;	/* valid while running */
	struct vq_chain chain;
};

static size_t fill(struct virtio_rng *rng, struct iovec *iov, unsigned int n)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n; i++) {
		size_t off = 0;
		while (off < iov[i].iov_len && !atomic_load(&rng->stopping)) {
			ssize_t r = getrandom((uint8_t *)iov[i].iov_base + off,
					      iov[i].iov_len - off, 0);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				return done + off;
			off += (size_t)r;
		}
		done += off;
	}
	return done;
}

static void serve(struct virtio_rng *rng)
{
	struct virtqueue *vq = &rng->dev->queues[0];
	bool pushed = false;

	while (!atomic_load(&rng->stopping)) {
		int ret = vq_pop(vq, &rng->chain);
		if (ret < 0) {
			virtio_mmio_set_broken(rng->dev);
			break;
		}
		if (ret == 0) {
			if (vq_enable_notify(vq))
				continue;
			break;
		}
		size_t n = fill(rng, rng->chain.iov + rng->chain.nr_readable,
				rng->chain.nr_writable);
		if (atomic_load(&rng->stopping))
			break;	/* the rings go away with the reset */
		vq_push(vq, rng->chain.head, (uint32_t)n);
		pushed = true;
	}
	if (pushed)
		virtio_mmio_notify_queue(rng->dev, 0);
}

static void *worker(void *arg)
{
	struct virtio_rng *rng = arg;
	struct pollfd pfd[2] = {
		{ .fd = rng->stop_evt, .events = POLLIN },
		{ .fd = rng->dev->queue_evt[0], .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("rng: poll: %s", strerror(errno));
			return NULL;
		}
		if (pfd[0].revents)
			return NULL;
		if (pfd[1].revents) {
			eventfd_t v;
			(void)eventfd_read(pfd[1].fd, &v);
			serve(rng);
		}
	}
}

static int rng_activate(void *opaque, struct virtio_mmio_dev *dev)
{
	struct virtio_rng *rng = opaque;
	eventfd_t v;

	if (rng->running)
		return -EBUSY;
	rng->dev = dev;
	atomic_store(&rng->stopping, false);
	(void)eventfd_read(rng->stop_evt, &v);
	int ret = virtio_start_worker(dev, &rng->thread, KRUN_THREAD_RNG, worker, rng, "rng");
	if (ret)
		return ret;
	rng->running = true;
	return 0;
}

static void rng_reset(void *opaque)
{
	struct virtio_rng *rng = opaque;

	if (!rng->running)
		return;
	/* The flag ends a long batch; the eventfd wakes an idle worker. */
	atomic_store(&rng->stopping, true);
	(void)eventfd_write(rng->stop_evt, 1);
	pthread_join(rng->thread, NULL);
	rng->running = false;
	rng->dev = NULL;
}

static const struct virtio_device_ops rng_ops = {
	.name = "virtio-rng",
	.device_id = VIRTIO_ID_RNG_DEV,
	.num_queues = 1,
	.queue_max_size = RNG_QUEUE_SIZE,
	.activate = rng_activate,
	.reset = rng_reset,
};

const struct virtio_device_ops *virtio_rng_ops(void)
{
	return &rng_ops;
}

struct virtio_rng *virtio_rng_create(void)
{
	struct virtio_rng *rng = calloc(1, sizeof(*rng));

	if (!rng)
		return NULL;
	rng->stop_evt = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (rng->stop_evt < 0) {
		free(rng);
		return NULL;
	}
	return rng;
}

void virtio_rng_destroy(struct virtio_rng *rng)
{
	if (!rng)
		return;
	rng_reset(rng);
	close(rng->stop_evt);
	free(rng);
}
