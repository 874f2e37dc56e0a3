// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk device.  A request is a header {type, reserved, sector} the
 * device reads, data, and one status byte the device writes: the last byte
 * of the chain.  Every request is checked in full (direction and length of
 * its data, sector range against the capacity) before any I/O reaches the
 * backend.  A failed request's device-writable data is zeroed, so the used
 * length is always every device-writable byte of the chain.  A chain
 * without a status byte cannot be answered: the device then needs reset.
 *
 * The worker thread never takes the transport lock (reset joins it while
 * holding that lock).
 */
#include "block.h"

#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_blk.h>
#include <linux/virtio_ring.h>

#include "../../backends/block/image.h"
#include "../../util/iov.h"
#include "../../util/log.h"

#define BLK_QUEUE_SIZE 256
#define BLK_SECTOR_SHIFT 9
#define BLK_SECTOR (1u << BLK_SECTOR_SHIFT)
/* Per DISCARD / WRITE_ZEROES segment: 1 GiB; one segment per request. */
#define BLK_MAX_RANGE_SECTORS (1u << 21)
#define BLK_MAX_RANGE_SEGS 1
/* Discard granularity the guest should use: 4 KiB (a host page / fs block). */
#define BLK_DISCARD_ALIGN_SECTORS 8

struct virtio_blk {
	/* Per disk: the offered features depend on it. */
	struct virtio_device_ops ops;
	struct virtio_blk_config config;	/* little endian, fixed at create */
	struct blk_backend *disk;
	enum virtio_blk_sync sync;
	uint64_t capacity;	/* bytes the guest may address: sectors * 512 */

	struct virtio_mmio_dev *dev;	/* valid while running */
	int stop_evt;
	_Atomic bool stopping;
	bool running;
	/* Worker only: */
	bool broken;	/* a chain could not be answered; wait for reset */
	bool io_error_logged;
	pthread_t thread;
	struct vq_chain chain;	/* too big for a thread stack frame */
	struct iovec data[VQ_MAX_SEGS];
};

static void blk_read_config(void *opaque, uint32_t offset, void *data, uint32_t len)
{
	struct virtio_blk *blk = opaque;

	memcpy(data, (const char *)&blk->config + offset, len);
}

static void blk_write_config(void *opaque, uint32_t offset, const void *data, uint32_t len)
{
	/* No writable field is offered (CONFIG_WCE is not). */
	log_debug("virtio-blk: config write at %u/%u ignored", offset, len);
}

/* [sector, sector + len bytes) within the disk?  *off: its byte offset. */
static bool range_ok(const struct virtio_blk *blk, uint64_t sector, uint64_t len,
		     uint64_t *off)
{
	if (sector > blk->capacity >> BLK_SECTOR_SHIFT)
		return false;
	*off = sector << BLK_SECTOR_SHIFT;
	return len <= blk->capacity - *off;
}

static uint8_t io_status(struct virtio_blk *blk, int ret, const char *what, uint64_t off)
{
	if (!ret)
		return VIRTIO_BLK_S_OK;
	/* A failing host disk fails every request: say it once. */
	if (!blk->io_error_logged)
		log_error("virtio-blk: %s at byte %llu: %s", what, (unsigned long long)off,
			  strerror(-ret));
	else
		log_debug("virtio-blk: %s at byte %llu: %s", what, (unsigned long long)off,
			  strerror(-ret));
	blk->io_error_logged = true;
	return VIRTIO_BLK_S_IOERR;
}

static uint8_t guest_error(const char *why, uint32_t type)
{
	log_debug("virtio-blk: request type %u: %s", type, why);
	return VIRTIO_BLK_S_IOERR;
}

/* Zeroes device-writable bytes [off, end) of the chain's data. */
static void zero_data(const struct vq_chain *c, size_t off, size_t end)
{
	static const uint8_t zeros[4096];

	while (off < end) {
		size_t n = end - off < sizeof(zeros) ? end - off : sizeof(zeros);
		vq_chain_write(c, off, zeros, n);
		off += n;
	}
}

/* rd: readable bytes after the header; wr: writable bytes before the status. */
struct blk_req {
	const struct vq_chain *c;
	uint32_t type;
	uint64_t sector;
	size_t rd;
	size_t wr;
};

static uint8_t do_rw(struct virtio_blk *blk, const struct blk_req *r)
{
	const struct vq_chain *c = r->c;
	bool in = r->type == VIRTIO_BLK_T_IN;
	size_t len = in ? r->wr : r->rd, got;
	uint64_t off;

	if (in ? r->rd : r->wr)
		return guest_error("data in the wrong direction", r->type);
	if (!in && blk->disk->read_only)
		return guest_error("write to a read-only disk", r->type);
	if (len % BLK_SECTOR)
		return guest_error("length not a multiple of 512", r->type);
	if (!range_ok(blk, r->sector, len, &off))
		return guest_error("beyond the end of the disk", r->type);

	unsigned int n = in ? iov_slice(c->iov + c->nr_readable, c->nr_writable, 0, len,
					blk->data, VQ_MAX_SEGS, &got)
			    : iov_slice(c->iov, c->nr_readable, sizeof(struct virtio_blk_outhdr),
					len, blk->data, VQ_MAX_SEGS, &got);
	int ret = in ? blk->disk->ops->preadv(blk->disk, blk->data, n, off)
		     : blk->disk->ops->pwritev(blk->disk, blk->data, n, off);
	return io_status(blk, ret, in ? "read" : "write", off);
}

static uint8_t do_flush(struct virtio_blk *blk, const struct blk_req *r)
{
	if (blk->sync == VIRTIO_BLK_SYNC_NONE)
		return VIRTIO_BLK_S_UNSUPP;	/* not offered */
	if (r->rd || r->wr)
		return guest_error("flush with data", r->type);
	int ret = blk->disk->ops->flush(blk->disk, blk->sync == VIRTIO_BLK_SYNC_FULL);
	return io_status(blk, ret, "flush", 0);
}

static uint8_t do_get_id(struct virtio_blk *blk, const struct blk_req *r)
{
	if (r->rd || r->wr < BLK_ID_LEN)
		return guest_error("id buffer", r->type);
	vq_chain_write(r->c, 0, blk->disk->id, BLK_ID_LEN);
	zero_data(r->c, BLK_ID_LEN, r->wr);
	return VIRTIO_BLK_S_OK;
}

static uint8_t do_range(struct virtio_blk *blk, const struct blk_req *r)
{
	bool wz = r->type == VIRTIO_BLK_T_WRITE_ZEROES;
	struct virtio_blk_discard_write_zeroes seg;
	uint64_t off;

	if (blk->disk->read_only)
		return guest_error("write to a read-only disk", r->type);
	if (r->wr || !r->rd || r->rd % sizeof(seg) || r->rd / sizeof(seg) > BLK_MAX_RANGE_SEGS)
		return guest_error("bad segment list", r->type);
	vq_chain_read(r->c, sizeof(struct virtio_blk_outhdr), &seg, sizeof(seg));

	uint64_t sector = le64toh(seg.sector);
	uint32_t num = le32toh(seg.num_sectors), flags = le32toh(seg.flags);
	uint32_t allowed = wz ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;

	if (flags & ~allowed)
		return VIRTIO_BLK_S_UNSUPP;
	if (num > BLK_MAX_RANGE_SECTORS)
		return guest_error("segment too long", r->type);
	uint64_t len = (uint64_t)num << BLK_SECTOR_SHIFT;
	if (!range_ok(blk, sector, len, &off))
		return guest_error("beyond the end of the disk", r->type);
	if (wz) {
		int ret = blk->disk->ops->write_zeroes(blk->disk, off, len,
						       flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP);
		return io_status(blk, ret, "write zeroes", off);
	}
	int ret = blk->disk->ops->discard(blk->disk, off, len);
	/* Discard is a hint: data the host cannot drop simply stays. */
	return io_status(blk, ret == -EOPNOTSUPP ? 0 : ret, "discard", off);
}

/* Carries out the request in c (which has a status byte); returns the status. */
static uint8_t execute(struct virtio_blk *blk, const struct vq_chain *c)
{
	struct virtio_blk_outhdr hdr;
	struct blk_req r = { .c = c, .wr = c->writable_len - 1 };

	if (c->readable_len < sizeof(hdr))
		return guest_error("short header", UINT32_MAX);
	vq_chain_read(c, 0, &hdr, sizeof(hdr));
	r.type = le32toh(hdr.type);
	r.sector = le64toh(hdr.sector);
	r.rd = c->readable_len - sizeof(hdr);

	switch (r.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		return do_rw(blk, &r);
	case VIRTIO_BLK_T_FLUSH:
		return do_flush(blk, &r);
	case VIRTIO_BLK_T_GET_ID:
		return do_get_id(blk, &r);
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		return do_range(blk, &r);
	default:
		log_debug("virtio-blk: unsupported request type %u", r.type);
		return VIRTIO_BLK_S_UNSUPP;
	}
}

/* Answers one chain; returns the used length (every writable byte). */
static uint32_t complete(struct virtio_blk *blk, const struct vq_chain *c)
{
	uint8_t status = execute(blk, c);
	size_t wr = c->writable_len - 1;

	if (status != VIRTIO_BLK_S_OK)
		zero_data(c, 0, wr);
	vq_chain_write(c, wr, &status, 1);
	return c->writable_len;
}

static void fail(struct virtio_blk *blk, const char *why)
{
	log_warn("virtio-blk: guest driver error (%s)", why);
	blk->broken = true;
	virtio_mmio_set_broken(blk->dev);
}

static void serve(struct virtio_blk *blk)
{
	struct virtqueue *vq = &blk->dev->queues[0];

	if (!vq->ready || blk->broken)
		return;
	vq_disable_notify(vq);
	while (!atomic_load(&blk->stopping)) {
		int ret = vq_pop(vq, &blk->chain);

		if (ret < 0) {
			fail(blk, "malformed chain");
			return;
		}
		if (ret == 0) {
			if (!vq_enable_notify(vq))
				return;
			vq_disable_notify(vq);
			continue;
		}
		if (blk->chain.writable_len == 0) {
			fail(blk, "request without a status byte");
			return;
		}
		vq_push(vq, blk->chain.head, complete(blk, &blk->chain));
		virtio_mmio_notify_queue(blk->dev, 0);
	}
}

static void drain_evt(int fd)
{
	eventfd_t v;

	(void)eventfd_read(fd, &v);
}

static void *blk_worker(void *arg)
{
	struct virtio_blk *blk = arg;
	struct pollfd pfd[2] = {
		{ .fd = blk->stop_evt, .events = POLLIN },
		{ .fd = blk->dev->queue_evt[0], .events = POLLIN },
	};

	/* Buffers may have been queued before the driver kicked us. */
	serve(blk);
	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("virtio-blk: poll: %s", strerror(errno));
			virtio_mmio_set_broken(blk->dev);
			return NULL;
		}
		if (pfd[0].revents)
			return NULL;
		if (pfd[1].revents) {
			drain_evt(pfd[1].fd);
			serve(blk);
		}
	}
}

static int blk_activate(void *opaque, struct virtio_mmio_dev *dev)
{
	struct virtio_blk *blk = opaque;

	if (blk->running)
		return -EBUSY;
	blk->dev = dev;
	blk->broken = false;
	atomic_store(&blk->stopping, false);
	drain_evt(blk->stop_evt);
	int ret = virtio_start_worker(dev, &blk->thread, KRUN_THREAD_BLOCK, blk_worker, blk,
				      "blk worker");
	if (ret) {
		log_error("virtio-blk: cannot start worker: %s", strerror(-ret));
		blk->dev = NULL;
		return ret;
	}
	blk->running = true;
	return 0;
}

static void blk_reset(void *opaque)
{
	struct virtio_blk *blk = opaque;

	if (!blk->running)
		return;
	/* The flag ends a long batch; the eventfd wakes an idle worker. */
	atomic_store(&blk->stopping, true);
	if (eventfd_write(blk->stop_evt, 1) < 0)
		log_error("virtio-blk: cannot stop worker: %s", strerror(errno));
	pthread_join(blk->thread, NULL);
	drain_evt(blk->stop_evt);
	blk->running = false;
	blk->dev = NULL;
}

static const struct virtio_device_ops blk_ops_template = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.num_queues = 1,
	.queue_max_size = BLK_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_blk_config),
	.read_config = blk_read_config,
	.write_config = blk_write_config,
	.activate = blk_activate,
	.reset = blk_reset,
};

const struct virtio_device_ops *virtio_blk_ops(const struct virtio_blk *blk)
{
	return &blk->ops;
}

static uint64_t offered_features(const struct virtio_blk *blk)
{
	uint64_t f = (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
		     (1ull << VIRTIO_F_RING_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC);

	if (blk->sync != VIRTIO_BLK_SYNC_NONE)
		f |= 1ull << VIRTIO_BLK_F_FLUSH;
	if (blk->disk->read_only)
		f |= 1ull << VIRTIO_BLK_F_RO;
	else
		f |= (1ull << VIRTIO_BLK_F_DISCARD) | (1ull << VIRTIO_BLK_F_WRITE_ZEROES);
	return f;
}

static void init_config(struct virtio_blk *blk, const char *path)
{
	struct virtio_blk_config *cfg = &blk->config;
	uint64_t sectors = blk->disk->size >> BLK_SECTOR_SHIFT;

	if (blk->disk->size % BLK_SECTOR)
		log_warn("virtio-blk: %s: size %llu is not a multiple of 512; "
			 "the last %llu bytes are not used",
			 path, (unsigned long long)blk->disk->size,
			 (unsigned long long)(blk->disk->size % BLK_SECTOR));
	blk->capacity = sectors << BLK_SECTOR_SHIFT;
	cfg->capacity = htole64(sectors);
	cfg->seg_max = htole32(BLK_QUEUE_SIZE - 2);
	cfg->blk_size = htole32(blk->disk->block_size);
	cfg->max_discard_sectors = htole32(BLK_MAX_RANGE_SECTORS);
	cfg->max_discard_seg = htole32(BLK_MAX_RANGE_SEGS);
	cfg->discard_sector_alignment = htole32(BLK_DISCARD_ALIGN_SECTORS);
	cfg->max_write_zeroes_sectors = htole32(BLK_MAX_RANGE_SECTORS);
	cfg->max_write_zeroes_seg = htole32(BLK_MAX_RANGE_SEGS);
	cfg->write_zeroes_may_unmap = 1;
}

struct virtio_blk *virtio_blk_create(const char *path, bool read_only, bool direct_io,
				     enum virtio_blk_sync sync, int *err)
{
	return virtio_blk_create_format(path, BLK_FORMAT_RAW, read_only, direct_io, sync, err);
}

struct virtio_blk *virtio_blk_create_format(const char *path, int format, bool read_only,
					    bool direct_io, enum virtio_blk_sync sync, int *err)
{
	struct virtio_blk *blk = NULL;
	int ret = -EINVAL;

	if (!path || (sync != VIRTIO_BLK_SYNC_NONE && sync != VIRTIO_BLK_SYNC_RELAXED &&
		      sync != VIRTIO_BLK_SYNC_FULL))
		goto fail;
	ret = -ENOMEM;
	blk = calloc(1, sizeof(*blk));
	if (!blk)
		goto fail;
	blk->stop_evt = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (blk->stop_evt < 0) {
		ret = -errno;
		goto fail;
	}
	ret = blk_image_open(path, (enum blk_format)format, read_only, direct_io, &blk->disk);
	if (ret)
		goto fail;
	blk->sync = sync;
	init_config(blk, path);
	blk->ops = blk_ops_template;
	blk->ops.features = offered_features(blk);
	return blk;
fail:
	if (blk && blk->stop_evt >= 0)
		close(blk->stop_evt);
	free(blk);
	if (err)
		*err = ret;
	return NULL;
}

void virtio_blk_destroy(struct virtio_blk *blk)
{
	if (!blk)
		return;
	blk_reset(blk);
	blk->disk->ops->close(blk->disk);
	close(blk->stop_evt);
	free(blk);
}
