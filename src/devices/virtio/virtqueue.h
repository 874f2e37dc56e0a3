/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Split virtqueue (virtio 1.2, 2.7), device side.
 *
 * The guest owns the rings and may change them at any time from another
 * vCPU, so every index and descriptor is read once, copied, and validated
 * before use.  A chain that loops, leaves guest memory, overflows a length,
 * or puts a device-readable buffer after a device-writable one marks the
 * queue broken; the device then stops using it (no crash, no partial use).
 */
#ifndef KRUN_VIRTQUEUE_H
#define KRUN_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "../../vmm/guest_mem.h"

#define VQ_MAX_SIZE 1024
/* A chain may not have more segments than this (indirect tables included). */
#define VQ_MAX_SEGS 260

struct vq_chain {
	uint16_t head;
	/* iov[0 .. nr_readable) are driver->device, the rest device->driver. */
	unsigned int nr_readable;
	unsigned int nr_writable;
	uint32_t readable_len;
	uint32_t writable_len;
	struct iovec iov[VQ_MAX_SEGS];
};

struct virtqueue {
	/* Set by the transport before activation. */
	uint16_t size;
	bool ready;
	uint64_t desc_gpa;
	uint64_t avail_gpa;
	uint64_t used_gpa;

	/* Device-side state, valid after vq_activate(). */
	const struct guest_mem *gm;
	bool event_idx;
	bool broken;
	uint16_t last_avail_idx;
	uint16_t used_idx;
	uint16_t signalled_used;
	bool signalled_used_valid;
	void *desc;	/* host pointers into guest memory, range-checked */
	void *avail;
	void *used;
};

/* Checks size (power of two, <= max) and that the three rings lie in guest
 * memory with their required alignment. 0 or -EINVAL. */
int vq_activate(struct virtqueue *vq, const struct guest_mem *gm, uint16_t max_size,
		bool event_idx);
void vq_reset(struct virtqueue *vq);

/* 1: a chain was taken, 0: none available, -EIO: malformed (queue now broken). */
int vq_pop(struct virtqueue *vq, struct vq_chain *chain);
/* Gives back the chain vq_pop() just took, unused: the next vq_pop()
 * returns it again (a device that found nothing to fill it with). */
void vq_unpop(struct virtqueue *vq);
/* Puts a chain back on the used ring with the number of bytes written. */
void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written);
/* After pushes: must the driver be interrupted? (EVENT_IDX aware). */
bool vq_needs_interrupt(struct virtqueue *vq);
/* Re-arm guest notifications (avail_event / flags); returns true if new
 * buffers arrived meanwhile and the caller should poll again. */
bool vq_enable_notify(struct virtqueue *vq);
void vq_disable_notify(struct virtqueue *vq);

/* Copy helpers over a chain's readable / writable segments. They return the
 * number of bytes copied (short if the chain is shorter). */
size_t vq_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len);
size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len);

#endif
