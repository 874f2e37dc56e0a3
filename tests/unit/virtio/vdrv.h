/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake virtio-mmio guest driver for unit tests: it plays the Linux driver
 * against a device over fake guest memory, through the register file, the
 * queue eventfds (kick) and the irq eventfd.
 */
#ifndef KRUN_TEST_VDRV_H
#define KRUN_TEST_VDRV_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "devices/virtio/virtio_mmio.h"
#include "vmm/guest_mem.h"

#define VDRV_GPA 0x100000ull
#define VDRV_MEM (4ull << 20)
#define VDRV_TIMEOUT_MS 5000

struct vdrv_queue {
	uint16_t size;
	uint64_t desc, avail, used;
	uint16_t avail_idx;
	uint16_t last_used;
	uint16_t next_desc;
};

struct vdrv {
	struct guest_mem gm;
	struct virtio_mmio_dev dev;
	struct vdrv_queue q[VIRTIO_MMIO_MAX_QUEUES];
	uint64_t brk;
};

struct vdrv_buf {
	uint64_t gpa;
	uint32_t len;
	bool writable;
};

static inline void vdrv_w(struct vdrv *d, uint64_t off, uint32_t v)
{
	virtio_mmio_write(&d->dev, off, &v, 4);
}

static inline uint32_t vdrv_r(struct vdrv *d, uint64_t off)
{
	uint32_t v = 0xdeadbeef;

	virtio_mmio_read(&d->dev, off, &v, 4);
	return v;
}

static inline void *vdrv_ptr(struct vdrv *d, uint64_t gpa)
{
	return gm_ptr(&d->gm, gpa, 1);
}

static inline uint64_t vdrv_alloc(struct vdrv *d, uint64_t size, uint64_t align)
{
	uint64_t a = (d->brk + align - 1) & ~(align - 1);

	d->brk = a + size;
	return a;
}

static inline int vdrv_init(struct vdrv *d, const struct virtio_device_ops *ops, void *opaque)
{
	memset(d, 0, sizeof(*d));
	int ret = gm_alloc_region(&d->gm, VDRV_GPA, VDRV_MEM);
	if (ret)
		return ret;
	d->brk = VDRV_GPA + 0x1000;
	return virtio_mmio_init(&d->dev, ops, opaque, &d->gm, 0xd0000000, 5);
}

static inline void vdrv_fini(struct vdrv *d)
{
	virtio_mmio_destroy(&d->dev);
	gm_destroy(&d->gm);
}

static inline void vdrv_status_add(struct vdrv *d, uint32_t bits)
{
	vdrv_w(d, VIRTIO_MMIO_STATUS, vdrv_r(d, VIRTIO_MMIO_STATUS) | bits);
}

static inline uint64_t vdrv_device_features(struct vdrv *d)
{
	vdrv_w(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	uint64_t f = (uint64_t)vdrv_r(d, VIRTIO_MMIO_DEVICE_FEATURES) << 32;
	vdrv_w(d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	return f | vdrv_r(d, VIRTIO_MMIO_DEVICE_FEATURES);
}

static inline void vdrv_write_features(struct vdrv *d, uint64_t f)
{
	vdrv_w(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	vdrv_w(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)f);
	vdrv_w(d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	vdrv_w(d, VIRTIO_MMIO_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

/* Reset, ACK, DRIVER, features (want & offered), FEATURES_OK; true if the
 * device kept FEATURES_OK. */
static inline bool vdrv_negotiate(struct vdrv *d, uint64_t want)
{
	vdrv_w(d, VIRTIO_MMIO_STATUS, 0);
	vdrv_status_add(d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_status_add(d, VIRTIO_CONFIG_S_DRIVER);
	vdrv_write_features(d, want & vdrv_device_features(d));
	vdrv_status_add(d, VIRTIO_CONFIG_S_FEATURES_OK);
	return vdrv_r(d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_FEATURES_OK;
}

static inline void vdrv_setup_queue(struct vdrv *d, unsigned int q, uint16_t size)
{
	struct vdrv_queue *vq = &d->q[q];

	vdrv_w(d, VIRTIO_MMIO_QUEUE_SEL, q);
	vq->size = size;
	vq->desc = vdrv_alloc(d, 16ull * size, 16);
	vq->avail = vdrv_alloc(d, 6 + 2ull * size, 2);
	vq->used = vdrv_alloc(d, 6 + 8ull * size, 4);
	vdrv_w(d, VIRTIO_MMIO_QUEUE_NUM, size);
	vdrv_w(d, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)vq->desc);
	vdrv_w(d, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(vq->desc >> 32));
	vdrv_w(d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)vq->avail);
	vdrv_w(d, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(vq->avail >> 32));
	vdrv_w(d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)vq->used);
	vdrv_w(d, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(vq->used >> 32));
	vdrv_w(d, VIRTIO_MMIO_QUEUE_READY, 1);
}

static inline struct vring_desc *vdrv_desc(struct vdrv *d, unsigned int q, uint16_t i)
{
	return (struct vring_desc *)vdrv_ptr(d, d->q[q].desc) + i;
}

static inline struct vring_avail *vdrv_avail(struct vdrv *d, unsigned int q)
{
	return vdrv_ptr(d, d->q[q].avail);
}

static inline struct vring_used *vdrv_used(struct vdrv *d, unsigned int q)
{
	return vdrv_ptr(d, d->q[q].used);
}

/* Publishes head on the avail ring (release, like virtio_wmb + idx store). */
static inline void vdrv_publish(struct vdrv *d, unsigned int q, uint16_t head)
{
	struct vdrv_queue *vq = &d->q[q];
	struct vring_avail *a = vdrv_avail(d, q);

	a->ring[vq->avail_idx % vq->size] = head;
	vq->avail_idx++;
	__atomic_store_n(&a->idx, vq->avail_idx, __ATOMIC_RELEASE);
}

/* Writes a chain of n descriptors (descriptor slots are used round-robin,
 * tests never have more than size outstanding) and publishes it. */
static inline uint16_t vdrv_post(struct vdrv *d, unsigned int q, const struct vdrv_buf *b,
				 unsigned int n)
{
	struct vdrv_queue *vq = &d->q[q];
	uint16_t head = vq->next_desc % vq->size;

	for (unsigned int i = 0; i < n; i++) {
		uint16_t idx = (uint16_t)((head + i) % vq->size);
		struct vring_desc *desc = vdrv_desc(d, q, idx);
		desc->addr = b[i].gpa;
		desc->len = b[i].len;
		desc->flags = (b[i].writable ? VRING_DESC_F_WRITE : 0) |
			      (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		desc->next = (uint16_t)((idx + 1) % vq->size);
	}
	vq->next_desc = (uint16_t)(vq->next_desc + n);
	vdrv_publish(d, q, head);
	return head;
}

static inline void vdrv_kick(struct vdrv *d, unsigned int q)
{
	vdrv_w(d, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static inline bool vdrv_get_used(struct vdrv *d, unsigned int q, uint32_t *id, uint32_t *len)
{
	struct vdrv_queue *vq = &d->q[q];
	struct vring_used *u = vdrv_used(d, q);

	if (__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) == vq->last_used)
		return false;
	struct vring_used_elem *e = &u->ring[vq->last_used % vq->size];
	*id = e->id;
	*len = e->len;
	vq->last_used++;
	return true;
}

static inline int64_t vdrv_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for the irq eventfd (acking like the Linux ISR); false on timeout. */
static inline bool vdrv_wait_irq(struct vdrv *d, int timeout_ms)
{
	struct pollfd pfd = { .fd = d->dev.irq_evt, .events = POLLIN };

	if (poll(&pfd, 1, timeout_ms) != 1)
		return false;
	eventfd_t v;
	eventfd_read(d->dev.irq_evt, &v);
	vdrv_w(d, VIRTIO_MMIO_INTERRUPT_ACK, vdrv_r(d, VIRTIO_MMIO_INTERRUPT_STATUS));
	return true;
}

static inline bool vdrv_wait_used(struct vdrv *d, unsigned int q, uint32_t *id, uint32_t *len)
{
	int64_t end = vdrv_now_ms() + VDRV_TIMEOUT_MS;

	while (!vdrv_get_used(d, q, id, len)) {
		int64_t left = end - vdrv_now_ms();
		if (left <= 0)
			return false;
		vdrv_wait_irq(d, (int)left);
	}
	return true;
}

#endif
