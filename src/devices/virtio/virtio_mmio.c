// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-mmio version 2 register file.
 *
 * Locking: vCPU threads serialise on dev->lock.  Device threads never take
 * it (ops->reset joins them while the lock is held); they only touch their
 * own queues, interrupt_status, needs_reset and the eventfds.
 */
#include "virtio_mmio.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "../../util/log.h"

#define MMIO_MAGIC 0x74726976u
#define MMIO_VENDOR 0x4b52554eu	/* "KRUN" */

/* Bits 24..41 belong to the transport; only these are implemented. */
#define TRANSPORT_BITS (((1ull << 42) - 1) & ~((1ull << 24) - 1))
#define TRANSPORT_SUPPORTED ((1ull << VIRTIO_RING_F_INDIRECT_DESC) | \
			     (1ull << VIRTIO_F_RING_EVENT_IDX) | \
			     (1ull << VIRTIO_F_VERSION_1))

static uint64_t offered_features(const struct virtio_mmio_dev *dev)
{
	uint64_t f = dev->ops->features;

	f &= ~TRANSPORT_BITS | TRANSPORT_SUPPORTED;
	return f | (1ull << VIRTIO_F_VERSION_1);
}

static void close_evts(struct virtio_mmio_dev *dev)
{
	if (dev->irq_evt >= 0)
		close(dev->irq_evt);
	dev->irq_evt = -1;
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		if (dev->queue_evt[i] >= 0)
			close(dev->queue_evt[i]);
		dev->queue_evt[i] = -1;
	}
}

static void reset_queues(struct virtio_mmio_dev *dev)
{
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++) {
		vq_reset(&dev->queues[i]);
		if (i < dev->ops->num_queues)
			dev->queues[i].size = dev->ops->queue_max_size;
	}
}

int virtio_mmio_init(struct virtio_mmio_dev *dev, const struct virtio_device_ops *ops,
		     void *opaque, const struct guest_mem *gm, uint64_t base, uint32_t irq)
{
	int ret;

	if (!ops || ops->num_queues == 0 || ops->num_queues > VIRTIO_MMIO_MAX_QUEUES ||
	    ops->queue_max_size == 0 || ops->queue_max_size > VQ_MAX_SIZE ||
	    (ops->queue_max_size & (ops->queue_max_size - 1)) ||
	    !ops->activate || !ops->reset)
		return -EINVAL;

	memset(dev, 0, sizeof(*dev));
	dev->ops = ops;
	dev->opaque = opaque;
	dev->gm = gm;
	dev->base = base;
	dev->irq = irq;
	dev->irq_evt = -1;
	for (unsigned int i = 0; i < VIRTIO_MMIO_MAX_QUEUES; i++)
		dev->queue_evt[i] = -1;

	dev->irq_evt = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (dev->irq_evt < 0)
		goto fail;
	for (unsigned int i = 0; i < ops->num_queues; i++) {
		dev->queue_evt[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (dev->queue_evt[i] < 0)
			goto fail;
	}
	ret = pthread_mutex_init(&dev->lock, NULL);
	if (ret) {
		close_evts(dev);
		return -ret;
	}
	reset_queues(dev);
	return 0;
fail:
	ret = -errno;
	close_evts(dev);
	return ret;
}

void virtio_mmio_destroy(struct virtio_mmio_dev *dev)
{
	if (!dev->ops)
		return;
	pthread_mutex_lock(&dev->lock);
	dev->ops->reset(dev->opaque);
	dev->activated = false;
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_destroy(&dev->lock);
	close_evts(dev);
	dev->ops = NULL;
}

bool virtio_mmio_has_feature(const struct virtio_mmio_dev *dev, unsigned int bit)
{
	return bit < 64 && (dev->driver_features >> bit) & 1;
}

static void raise_irq(struct virtio_mmio_dev *dev, uint32_t bit)
{
	atomic_fetch_or(&dev->interrupt_status, bit);
	/* EAGAIN means the counter is saturated: the interrupt is pending. */
	if (eventfd_write(dev->irq_evt, 1) < 0 && errno != EAGAIN)
		log_debug("%s: irq eventfd write failed", dev->ops->name);
}

void virtio_mmio_notify_queue(struct virtio_mmio_dev *dev, unsigned int q)
{
	if (q >= dev->ops->num_queues)
		return;
	if (vq_needs_interrupt(&dev->queues[q]))
		raise_irq(dev, VIRTIO_MMIO_INT_VRING);
}

void virtio_mmio_notify_config(struct virtio_mmio_dev *dev)
{
	__atomic_fetch_add(&dev->config_generation, 1, __ATOMIC_RELEASE);
	raise_irq(dev, VIRTIO_MMIO_INT_CONFIG);
}

void virtio_mmio_set_broken(struct virtio_mmio_dev *dev)
{
	if (atomic_exchange(&dev->needs_reset, true))
		return;
	log_warn("%s: device needs reset", dev->ops->name);
	raise_irq(dev, VIRTIO_MMIO_INT_CONFIG);
}

int virtio_mmio_pop(struct virtio_mmio_dev *dev, unsigned int q, struct vq_chain *c)
{
	struct virtqueue *vq = &dev->queues[q];

	for (;;) {
		int ret = vq_pop(vq, c);
		if (ret < 0)
			virtio_mmio_set_broken(dev);
		if (ret != 0)
			return ret;
		if (!vq_enable_notify(vq))
			return 0;
	}
}

static struct virtqueue *sel_queue(struct virtio_mmio_dev *dev)
{
	if (dev->queue_sel >= dev->ops->num_queues)
		return NULL;
	return &dev->queues[dev->queue_sel];
}

static uint32_t features_page(uint64_t f, uint32_t sel)
{
	if (sel == 0)
		return (uint32_t)f;
	if (sel == 1)
		return (uint32_t)(f >> 32);
	return 0;
}

static uint32_t read_status(struct virtio_mmio_dev *dev)
{
	uint32_t s = dev->status;

	if (atomic_load(&dev->needs_reset))
		s |= VIRTIO_CONFIG_S_NEEDS_RESET;
	return s;
}

static uint32_t reg_read(struct virtio_mmio_dev *dev, uint64_t off)
{
	struct virtqueue *vq = sel_queue(dev);

	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		return MMIO_MAGIC;
	case VIRTIO_MMIO_VERSION:
		return 2;
	case VIRTIO_MMIO_DEVICE_ID:
		return dev->ops->device_id;
	case VIRTIO_MMIO_VENDOR_ID:
		return MMIO_VENDOR;
	case VIRTIO_MMIO_DEVICE_FEATURES:
		return features_page(offered_features(dev), dev->device_features_sel);
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		return vq ? dev->ops->queue_max_size : 0;
	case VIRTIO_MMIO_QUEUE_READY:
		return vq ? vq->ready : 0;
	case VIRTIO_MMIO_INTERRUPT_STATUS:
		return atomic_load(&dev->interrupt_status) | (dev->ops->external_irq ? 1u : 0u);
	case VIRTIO_MMIO_STATUS:
		return read_status(dev);
	case VIRTIO_MMIO_SHM_LEN_LOW:
	case VIRTIO_MMIO_SHM_LEN_HIGH:
	case VIRTIO_MMIO_SHM_BASE_LOW:
	case VIRTIO_MMIO_SHM_BASE_HIGH:
		return 0xffffffffu;	/* no shared memory regions */
	case VIRTIO_MMIO_CONFIG_GENERATION:
		return __atomic_load_n(&dev->config_generation, __ATOMIC_ACQUIRE);
	default:
		log_debug("%s: read of write-only/unknown register 0x%llx",
			  dev->ops->name, (unsigned long long)off);
		return 0;
	}
}

static void reset_device(struct virtio_mmio_dev *dev)
{
	/* Always: a device may hold state from before a failed activation. */
	dev->ops->reset(dev->opaque);
	reset_queues(dev);
	dev->status = 0;
	dev->device_features_sel = 0;
	dev->driver_features_sel = 0;
	dev->driver_features = 0;
	dev->queue_sel = 0;
	dev->shm_sel = 0;
	dev->activated = false;
	atomic_store(&dev->interrupt_status, 0);
	atomic_store(&dev->needs_reset, false);
}

static bool activate_queues(struct virtio_mmio_dev *dev)
{
	bool event_idx = virtio_mmio_has_feature(dev, VIRTIO_F_RING_EVENT_IDX);

	for (unsigned int i = 0; i < dev->ops->num_queues; i++) {
		struct virtqueue *vq = &dev->queues[i];
		if (!vq->ready)
			continue;
		if (vq_activate(vq, dev->gm, dev->ops->queue_max_size, event_idx)) {
			log_warn("%s: queue %u: invalid size or ring address",
				 dev->ops->name, i);
			return false;
		}
	}
	return true;
}

static void driver_ok(struct virtio_mmio_dev *dev)
{
	int ret = -EINVAL;

	if (activate_queues(dev))
		ret = dev->ops->activate(dev->opaque, dev);
	if (ret) {
		log_warn("%s: activation failed (%d)", dev->ops->name, ret);
		atomic_store(&dev->needs_reset, true);
		return;
	}
	dev->activated = true;
}

/* The driver may only add bits, in the order of virtio 1.2, 3.1.1. */
static bool status_step_ok(uint32_t old, uint32_t val)
{
	if ((val & old) != old)
		return false;
	if ((val & VIRTIO_CONFIG_S_DRIVER) && !(val & VIRTIO_CONFIG_S_ACKNOWLEDGE))
		return false;
	if ((val & VIRTIO_CONFIG_S_FEATURES_OK) && !(val & VIRTIO_CONFIG_S_DRIVER))
		return false;
	if ((val & VIRTIO_CONFIG_S_DRIVER_OK) && !(val & VIRTIO_CONFIG_S_FEATURES_OK))
		return false;
	return true;
}

static void write_status(struct virtio_mmio_dev *dev, uint32_t val)
{
	if (val == 0) {
		reset_device(dev);
		return;
	}
	/* NEEDS_RESET is the device's to set; ignore it from the driver. */
	val &= ~(uint32_t)VIRTIO_CONFIG_S_NEEDS_RESET;

	uint32_t old = dev->status;
	if (!status_step_ok(old, val)) {
		log_debug("%s: invalid status transition 0x%x -> 0x%x", dev->ops->name,
			  old, val);
		return;
	}
	uint32_t added = val & ~old;

	if ((added & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !virtio_mmio_has_feature(dev, VIRTIO_F_VERSION_1)) {
		log_warn("%s: driver did not accept VIRTIO_F_VERSION_1", dev->ops->name);
		val &= ~(uint32_t)(VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
		added &= val;
	}
	dev->status = val;
	if (added & VIRTIO_CONFIG_S_DRIVER_OK)
		driver_ok(dev);
}

static void write_driver_features(struct virtio_mmio_dev *dev, uint32_t val)
{
	if (!(dev->status & VIRTIO_CONFIG_S_DRIVER) ||
	    (dev->status & VIRTIO_CONFIG_S_FEATURES_OK)) {
		log_debug("%s: driver features written in wrong state", dev->ops->name);
		return;
	}
	uint64_t offered = offered_features(dev);
	if (dev->driver_features_sel == 0)
		dev->driver_features = (dev->driver_features & ~0xffffffffull) |
				       (val & offered & 0xffffffffull);
	else if (dev->driver_features_sel == 1)
		dev->driver_features = (dev->driver_features & 0xffffffffull) |
				       (((uint64_t)val << 32) & offered);
}

static bool queue_writable(const struct virtio_mmio_dev *dev)
{
	uint32_t s = dev->status;

	return (s & VIRTIO_CONFIG_S_FEATURES_OK) &&
	       !(s & (VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_FAILED));
}

static void set_lo(uint64_t *v, uint32_t lo)
{
	*v = (*v & ~0xffffffffull) | lo;
}

static void set_hi(uint64_t *v, uint32_t hi)
{
	*v = (*v & 0xffffffffull) | ((uint64_t)hi << 32);
}

static void write_queue_reg(struct virtio_mmio_dev *dev, uint64_t off, uint32_t val)
{
	struct virtqueue *vq = sel_queue(dev);

	if (!vq || !queue_writable(dev)) {
		log_debug("%s: queue register 0x%llx written in wrong state",
			  dev->ops->name, (unsigned long long)off);
		return;
	}
	switch (off) {
	case VIRTIO_MMIO_QUEUE_NUM:
		/* 0 never validates, so an oversized value fails activation. */
		vq->size = val <= VQ_MAX_SIZE ? (uint16_t)val : 0;
		break;
	case VIRTIO_MMIO_QUEUE_READY:
		vq->ready = val & 1;
		break;
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
		set_lo(&vq->desc_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
		set_hi(&vq->desc_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
		set_lo(&vq->avail_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
		set_hi(&vq->avail_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_LOW:
		set_lo(&vq->used_gpa, val);
		break;
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		set_hi(&vq->used_gpa, val);
		break;
	}
}

static void queue_notify(struct virtio_mmio_dev *dev, uint32_t q)
{
	if (q >= dev->ops->num_queues) {
		log_debug("%s: notify of unknown queue %u", dev->ops->name, q);
		return;
	}
	if (eventfd_write(dev->queue_evt[q], 1) < 0 && errno != EAGAIN)
		log_debug("%s: queue eventfd write failed", dev->ops->name);
}

static void reg_write(struct virtio_mmio_dev *dev, uint64_t off, uint32_t val)
{
	switch (off) {
	case VIRTIO_MMIO_DEVICE_FEATURES_SEL:
		dev->device_features_sel = val;
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES:
		write_driver_features(dev, val);
		break;
	case VIRTIO_MMIO_DRIVER_FEATURES_SEL:
		dev->driver_features_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_SEL:
		dev->queue_sel = val;
		break;
	case VIRTIO_MMIO_QUEUE_NUM:
	case VIRTIO_MMIO_QUEUE_READY:
	case VIRTIO_MMIO_QUEUE_DESC_LOW:
	case VIRTIO_MMIO_QUEUE_DESC_HIGH:
	case VIRTIO_MMIO_QUEUE_AVAIL_LOW:
	case VIRTIO_MMIO_QUEUE_AVAIL_HIGH:
	case VIRTIO_MMIO_QUEUE_USED_LOW:
	case VIRTIO_MMIO_QUEUE_USED_HIGH:
		write_queue_reg(dev, off, val);
		break;
	case VIRTIO_MMIO_QUEUE_NOTIFY:
		queue_notify(dev, val);
		break;
	case VIRTIO_MMIO_INTERRUPT_ACK:
		atomic_fetch_and(&dev->interrupt_status, ~val);
		break;
	case VIRTIO_MMIO_STATUS:
		write_status(dev, val);
		break;
	case VIRTIO_MMIO_SHM_SEL:
		dev->shm_sel = val;
		break;
	default:
		log_debug("%s: write to read-only/unknown register 0x%llx",
			  dev->ops->name, (unsigned long long)off);
		break;
	}
}

static bool config_access_ok(const struct virtio_mmio_dev *dev, uint64_t off, uint32_t len)
{
	if (len != 1 && len != 2 && len != 4 && len != 8)
		return false;
	return off < dev->ops->config_size && len <= dev->ops->config_size - off;
}

void virtio_mmio_read(struct virtio_mmio_dev *dev, uint64_t offset, void *data, uint32_t len)
{
	if (offset >= VIRTIO_MMIO_CONFIG) {
		uint64_t off = offset - VIRTIO_MMIO_CONFIG;
		if (!config_access_ok(dev, off, len) || !dev->ops->read_config) {
			log_debug("%s: bad config read at 0x%llx/%u", dev->ops->name,
				  (unsigned long long)offset, len);
			memset(data, 0, len);
			return;
		}
		pthread_mutex_lock(&dev->lock);
		dev->ops->read_config(dev->opaque, (uint32_t)off, data, len);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	if (len != 4 || (offset & 3)) {
		log_debug("%s: bad register read at 0x%llx/%u", dev->ops->name,
			  (unsigned long long)offset, len);
		memset(data, 0, len);
		return;
	}
	pthread_mutex_lock(&dev->lock);
	uint32_t val = reg_read(dev, offset);
	pthread_mutex_unlock(&dev->lock);
	memcpy(data, &val, 4);
}

void virtio_mmio_write(struct virtio_mmio_dev *dev, uint64_t offset, const void *data,
		       uint32_t len)
{
	if (offset >= VIRTIO_MMIO_CONFIG) {
		uint64_t off = offset - VIRTIO_MMIO_CONFIG;
		if (!config_access_ok(dev, off, len)) {
			log_debug("%s: bad config write at 0x%llx/%u", dev->ops->name,
				  (unsigned long long)offset, len);
			return;
		}
		pthread_mutex_lock(&dev->lock);
		if (dev->ops->write_config)
			dev->ops->write_config(dev->opaque, (uint32_t)off, data, len);
		pthread_mutex_unlock(&dev->lock);
		return;
	}
	if (len != 4 || (offset & 3)) {
		log_debug("%s: bad register write at 0x%llx/%u", dev->ops->name,
			  (unsigned long long)offset, len);
		return;
	}
	uint32_t val;
	memcpy(&val, data, 4);
	pthread_mutex_lock(&dev->lock);
	reg_write(dev, offset, val);
	pthread_mutex_unlock(&dev->lock);
}

int virtio_start_worker(struct virtio_mmio_dev *dev, pthread_t *thread, enum krun_thread_kind kind,
			void *(*fn)(void *), void *arg, const char *name)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int ret = krun_spawn(dev->launcher, thread, kind, name, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}
