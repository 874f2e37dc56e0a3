// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-balloon.  Queue use:
 *   inflate, deflate, free page hint: chains are completed (used length 0)
 *     and their pages left alone.  num_pages stays 0 and the hint command id
 *     stays STOP, so a Linux driver never sends any; completing them anyway
 *     keeps a driver that does from waiting forever (upstream never answers).
 *   stats: the driver's buffer stays with the device, which is how a device
 *     that never asks for statistics behaves (5.5.6.3); upstream ignores it.
 *   reporting: every buffer of a chain is a range of free guest pages; the
 *     whole host pages inside it are discarded, then the chain is completed.
 *
 * Queue indices follow the negotiated features: a queue whose feature is
 * off does not exist and the next one takes its index, which is how Linux
 * (and QEMU) number them.
 *
 * What may be discarded: the chain walk already confines each buffer to one
 * guest memory region (anything else is a malformed chain and marks the
 * device broken).  Of those, only regions of anonymous RAM are discarded;
 * a range in the kernel image's copy-on-write file mapping (the guest frees
 * its init sections there) is completed untouched.  A range is shrunk to
 * the host pages wholly inside it, so an unaligned or sub-page range never
 * loses a byte the guest did not report (a 4 KiB guest page on a host with
 * larger pages just stays).
 */
#include "balloon.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../util/log.h"

enum role { R_INFLATE, R_DEFLATE, R_STATS, R_HINT, R_REPORT, NR_ROLES };

/* The roles' feature bits; 0: always present. */
static const unsigned int role_feature[NR_ROLES] = {
	[R_STATS] = VIRTIO_BALLOON_F_STATS_VQ,
	[R_HINT] = VIRTIO_BALLOON_F_FREE_PAGE_HINT,
	[R_REPORT] = VIRTIO_BALLOON_F_REPORTING,
};

/* struct virtio_balloon_config, little-endian. */
#define CFG_ACTUAL 4
#define CFG_SIZE 16

struct virtio_balloon {
	int stop_evt;
	/* Checked between ranges: a chain may report gigabytes, and reset
	 * must not wait for all of it. */
	_Atomic bool stopping;
	bool running;
	pthread_t thread;
	struct virtio_mmio_dev *dev;	/* valid while running */
	int queue[NR_ROLES];		/* index, or -1 when not negotiated */
	uintptr_t page_mask;
	/* Config space; only touched under the transport's lock. */
	uint32_t actual;
	_Atomic uint64_t discarded;
	bool warned;	/* a host that refuses (locked RAM) is said once */
	struct vq_chain chain;
};

static const struct gm_region *region_of(const struct guest_mem *gm, const struct iovec *iov)
{
	uintptr_t p = (uintptr_t)iov->iov_base;

	for (unsigned int i = 0; i < gm->nr_regions; i++) {
		const struct gm_region *r = &gm->regions[i];
		uintptr_t host = (uintptr_t)r->host;
		if (p >= host && p - host < r->size && iov->iov_len <= r->size - (p - host))
			return r;
	}
	return NULL;
}

/* MADV_REMOVE frees shared (memfd) RAM; private anonymous RAM refuses it
 * with EINVAL and is freed by MADV_DONTNEED.  Both read back as zeros. */
static int give_back(void *p, size_t len)
{
	if (madvise(p, len, MADV_REMOVE) == 0)
		return 0;
	if (errno != EINVAL && errno != EOPNOTSUPP)
		return -errno;
	return madvise(p, len, MADV_DONTNEED) ? -errno : 0;
}

static void discard(struct virtio_balloon *b, const struct iovec *iov)
{
	const struct gm_region *r = region_of(b->dev->gm, iov);

	if (!r || !r->ram)
		return;
	uintptr_t start = ((uintptr_t)iov->iov_base + b->page_mask) & ~b->page_mask;
	uintptr_t end = ((uintptr_t)iov->iov_base + iov->iov_len) & ~b->page_mask;
	if (start >= end)
		return;
	int ret = give_back((void *)start, end - start);
	if (ret) {
		if (!b->warned)
			log_warn("balloon: cannot give guest RAM back to the host: %s",
				 strerror(-ret));
		b->warned = true;
		return;
	}
	atomic_fetch_add(&b->discarded, end - start);
}

/* false: stopped in the middle (the chain is abandoned with the rings). */
static bool report(struct virtio_balloon *b, const struct vq_chain *c)
{
	for (unsigned int i = 0; i < c->nr_readable + c->nr_writable; i++) {
		if (atomic_load(&b->stopping))
			return false;
		discard(b, &c->iov[i]);
	}
	return true;
}

static void serve(struct virtio_balloon *b, enum role role)
{
	unsigned int q = (unsigned int)b->queue[role];
	bool pushed = false;

	while (!atomic_load(&b->stopping)) {
		if (virtio_mmio_pop(b->dev, q, &b->chain) <= 0)
			break;
		if (role == R_REPORT && !report(b, &b->chain))
			break;
		vq_push(&b->dev->queues[q], b->chain.head, 0);
		pushed = true;
	}
	if (pushed)
		virtio_mmio_notify_queue(b->dev, q);
}

/* The queues the worker serves; the stats queue is left alone. */
static const enum role served[] = { R_INFLATE, R_DEFLATE, R_HINT, R_REPORT };
#define NR_SERVED (sizeof(served) / sizeof(served[0]))

static void *worker(void *arg)
{
	struct virtio_balloon *b = arg;
	struct pollfd pfd[1 + NR_SERVED];
	enum role role_of[1 + NR_SERVED];
	nfds_t n = 0;

	pfd[n++] = (struct pollfd){ .fd = b->stop_evt, .events = POLLIN };
	for (size_t i = 0; i < NR_SERVED; i++) {
		if (b->queue[served[i]] < 0)
			continue;
		role_of[n] = served[i];
		pfd[n++] = (struct pollfd){ .fd = b->dev->queue_evt[b->queue[served[i]]],
					    .events = POLLIN };
	}
	for (;;) {
		if (poll(pfd, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("balloon: poll: %s", strerror(errno));
			return NULL;
		}
		if (pfd[0].revents)
			return NULL;
		for (nfds_t i = 1; i < n; i++) {
			if (!pfd[i].revents)
				continue;
			eventfd_t v;
			(void)eventfd_read(pfd[i].fd, &v);
			serve(b, role_of[i]);
		}
	}
}

static void assign_queues(struct virtio_balloon *b, const struct virtio_mmio_dev *dev)
{
	int next = 0;

	for (int r = 0; r < NR_ROLES; r++) {
		bool present = !role_feature[r] || virtio_mmio_has_feature(dev, role_feature[r]);
		b->queue[r] = present ? next++ : -1;
	}
}

static int balloon_activate(void *opaque, struct virtio_mmio_dev *dev)
{
	struct virtio_balloon *b = opaque;
	eventfd_t v;

	if (b->running)
		return -EBUSY;
	b->dev = dev;
	assign_queues(b, dev);
	atomic_store(&b->stopping, false);
	(void)eventfd_read(b->stop_evt, &v);
	int ret = virtio_start_worker(dev, &b->thread, KRUN_THREAD_BALLOON, worker, b, "balloon");
	if (ret)
		return ret;
	b->running = true;
	return 0;
}

static void balloon_reset(void *opaque)
{
	struct virtio_balloon *b = opaque;

	b->actual = 0;
	if (!b->running)
		return;
	atomic_store(&b->stopping, true);
	(void)eventfd_write(b->stop_evt, 1);
	pthread_join(b->thread, NULL);
	b->running = false;
	b->dev = NULL;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* num_pages 0, the driver's actual, hint command id 0 (STOP), poison 0. */
static void balloon_read_config(void *opaque, uint32_t offset, void *data, uint32_t len)
{
	const struct virtio_balloon *b = opaque;
	uint8_t cfg[CFG_SIZE] = { 0 };

	put_le32(cfg + CFG_ACTUAL, b->actual);
	memcpy(data, cfg + offset, len);
}

/* Only actual is the driver's to write (poison_val needs PAGE_POISON,
 * which is not offered). */
static void balloon_write_config(void *opaque, uint32_t offset, const void *data, uint32_t len)
{
	struct virtio_balloon *b = opaque;

	if (offset != CFG_ACTUAL || len != 4) {
		log_debug("balloon: config write at %u/%u ignored", offset, len);
		return;
	}
	const uint8_t *p = data;
	b->actual = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 24;
}

static const struct virtio_device_ops balloon_ops = {
	.name = "virtio-balloon",
	.device_id = VIRTIO_ID_BALLOON_DEV,
	.num_queues = BALLOON_NUM_QUEUES,
	.queue_max_size = BALLOON_QUEUE_SIZE,
	.features = 1ull << VIRTIO_BALLOON_F_STATS_VQ | 1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT |
		    1ull << VIRTIO_BALLOON_F_REPORTING,
	.config_size = CFG_SIZE,
	.read_config = balloon_read_config,
	.write_config = balloon_write_config,
	.activate = balloon_activate,
	.reset = balloon_reset,
};

const struct virtio_device_ops *virtio_balloon_ops(void)
{
	return &balloon_ops;
}

struct virtio_balloon *virtio_balloon_create(void)
{
	struct virtio_balloon *b = calloc(1, sizeof(*b));

	if (!b)
		return NULL;
	long page = sysconf(_SC_PAGESIZE);
	b->page_mask = (uintptr_t)(page > 0 ? page : 4096) - 1;
	b->stop_evt = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->stop_evt < 0) {
		free(b);
		return NULL;
	}
	return b;
}

void virtio_balloon_destroy(struct virtio_balloon *b)
{
	if (!b)
		return;
	balloon_reset(b);
	close(b->stop_evt);
	free(b);
}

uint64_t virtio_balloon_discarded(const struct virtio_balloon *b)
{
	return atomic_load(&b->discarded);
}
