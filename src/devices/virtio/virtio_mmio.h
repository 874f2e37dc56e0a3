/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-mmio transport, version 2 registers (virtio 1.2, 4.2.2).
 *
 * The VMM registers queue_evt[i] with KVM_IOEVENTFD on QueueNotify (datamatch
 * i) and irq_evt with KVM_IRQFD on the device's GSI, so the hot paths never
 * exit to this code; register accesses that do trap land in
 * virtio_mmio_read/write.
 */
#ifndef KRUN_VIRTIO_MMIO_H
#define KRUN_VIRTIO_MMIO_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtqueue.h"
#include "vmm/seccomp.h"

#define VIRTIO_MMIO_MAX_QUEUES 16
#define VIRTIO_MMIO_WINDOW 0x1000

#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_RING_EVENT_IDX 29

struct virtio_mmio_dev;

struct virtio_device_ops {
	const char *name;
	uint32_t device_id;
	uint16_t num_queues;
	uint16_t queue_max_size;
	/* Feature bits the device offers (VERSION_1 is added by the transport). */
	uint64_t features;
	/* Used-buffer interrupts come from another process straight through
	 * irq_evt (vhost-user), so InterruptStatus always shows that bit. */
	bool external_irq;
	/* Config space access; offset/len already checked against config_size. */
	uint32_t config_size;
	void (*read_config)(void *opaque, uint32_t offset, void *data, uint32_t len);
	void (*write_config)(void *opaque, uint32_t offset, const void *data, uint32_t len);
	/* DRIVER_OK: all ready queues are activated; the device starts serving
	 * them (polling dev->queue_evt[]). Non-zero marks the device failed. */
	int (*activate)(void *opaque, struct virtio_mmio_dev *dev);
	/* Driver wrote 0 to Status, or VM teardown: stop serving the queues;
	 * on return no device thread touches guest memory. */
	void (*reset)(void *opaque);
};

struct virtio_mmio_dev {
	const struct virtio_device_ops *ops;
	void *opaque;
	const struct guest_mem *gm;
	uint64_t base;
	uint32_t irq;

	pthread_mutex_t lock;
	uint32_t status;
	uint32_t device_features_sel;
	uint32_t driver_features_sel;
	uint64_t driver_features;
	uint32_t queue_sel;
	uint32_t config_generation;
	uint32_t shm_sel;
	bool activated;
	_Atomic uint32_t interrupt_status;
	/* Set by device threads (virtio_mmio_set_broken), which never take
	 * dev->lock: reset joins them while holding it.  Read as status bit 0x40. */
	_Atomic bool needs_reset;

	/* Creates the device's worker (filtered); NULL: plain threads. */
	struct krun_launcher *launcher;

	int irq_evt;
	int queue_evt[VIRTIO_MMIO_MAX_QUEUES];
	struct virtqueue queues[VIRTIO_MMIO_MAX_QUEUES];
};

int virtio_mmio_init(struct virtio_mmio_dev *dev, const struct virtio_device_ops *ops,
		     void *opaque, const struct guest_mem *gm, uint64_t base, uint32_t irq);
void virtio_mmio_destroy(struct virtio_mmio_dev *dev);

/* Trapped register accesses; offset is relative to base. */
void virtio_mmio_read(struct virtio_mmio_dev *dev, uint64_t offset, void *data, uint32_t len);
void virtio_mmio_write(struct virtio_mmio_dev *dev, uint64_t offset, const void *data,
		       uint32_t len);

bool virtio_mmio_has_feature(const struct virtio_mmio_dev *dev, unsigned int bit);
/* Raise the used-buffer interrupt if the queue's event-idx logic allows it. */
void virtio_mmio_notify_queue(struct virtio_mmio_dev *dev, unsigned int q);
/* Raise a configuration-change interrupt. */
void virtio_mmio_notify_config(struct virtio_mmio_dev *dev);
/* A guest protocol violation: set DEVICE_NEEDS_RESET and tell the driver.
 * Safe from device threads (lock-free). */
void virtio_mmio_set_broken(struct virtio_mmio_dev *dev);
/*
 * Takes the next chain of queue q, re-arming notifications (and looking
 * again) when the queue is empty, so no buffer added meanwhile is missed.
 * 1: chain taken, 0: queue empty and notifications re-armed, <0: malformed
 * chain (the device is then marked broken).
 */
int virtio_mmio_pop(struct virtio_mmio_dev *dev, unsigned int q, struct vq_chain *c);

/*
 * Starts a device's worker thread with every signal blocked: process
 * signals (SIGTERM, SIGPIPE, SIGWINCH...) belong to the VMM's own loop.
 * Through dev->launcher (set by the VMM; NULL in unit tests) the thread
 * runs under kind's seccomp filter.  Returns 0 or -errno.
 */
int virtio_start_worker(struct virtio_mmio_dev *dev, pthread_t *thread, enum krun_thread_kind kind,
			void *(*fn)(void *), void *arg, const char *name);

#endif
