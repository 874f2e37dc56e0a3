// SPDX-License-Identifier: Apache-2.0
#include "vhost_user.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../backends/vhost_user/vhost_user.h"
#include "../../util/log.h"
#include "../../vmm/guest_mem.h"

/* A reply later than this is a dead backend: a vCPU waits at most this long
 * per request (activation, reset, config writes run on the vCPU that wrote
 * the register), and only once, since a broken connection answers at once. */
#define VU_TIMEOUT_MS 5000
#define VU_DEFAULT_QUEUE_SIZE 256
#define FS_TAG_LEN 36

struct vhost_user_dev {
	struct vu_conn conn;
	struct virtio_device_ops ops;
	char name[64];
	uint32_t config_size;
	bool backend_config;	/* CONFIG negotiated: writes go to the backend */
	bool protocol;		/* VHOST_USER_F_PROTOCOL_FEATURES offered */
	bool started[VIRTIO_MMIO_MAX_QUEUES];
	/* While activated; read by the thread that sees the backend hang up. */
	_Atomic(struct virtio_mmio_dev *) dev;
	uint8_t config[VU_MAX_CONFIG];
};

/* Config space sizes of the device types upstream names, for GET_CONFIG. */
static uint32_t config_size_of(uint32_t type)
{
	switch (type) {
	case 3: return 12;	/* console: cols, rows, max_nr_ports, emerg_wr */
	case 16: return 24;	/* gpu */
	case 18: return 136;	/* input: select, subsel, size, 5 reserved, union */
	case 19: return 8;	/* vsock: guest_cid */
	case 25: return 16;	/* snd: jacks, streams, chmaps, controls */
	case VIRTIO_ID_FS: return FS_TAG_LEN + 4;
	default: return 0;	/* rng, rtc, can: none we know of */
	}
}

static void read_config(void *opaque, uint32_t offset, void *data, uint32_t len)
{
	struct vhost_user_dev *vu = opaque;
	memcpy(data, vu->config + offset, len);
}

static void write_config(void *opaque, uint32_t offset, const void *data, uint32_t len)
{
	struct vhost_user_dev *vu = opaque;
	if (!vu->backend_config)
		return;
	struct virtio_mmio_dev *dev = atomic_load(&vu->dev);
	if (vu_set_config(&vu->conn, offset, data, len) == 0)
		memcpy(vu->config + offset, data, len);
	else if (dev)
		virtio_mmio_set_broken(dev);
}

static uint64_t host_addr(const struct guest_mem *gm, uint64_t gpa)
{
	return (uint64_t)(uintptr_t)gm_ptr(gm, gpa, 1);
}

static int send_mem_table(struct vhost_user_dev *vu, const struct guest_mem *gm)
{
	struct vu_region r[VU_MAX_REGIONS];
	unsigned int n = 0;

	for (unsigned int i = 0; i < gm->nr_regions && n < VU_MAX_REGIONS; i++) {
		const struct gm_region *g = &gm->regions[i];
		if (g->fd < 0) {
			log_error("vhost-user %s: guest memory at 0x%llx is not shareable",
				  vu->name, (unsigned long long)g->gpa);
			return -EINVAL;
		}
		r[n++] = (struct vu_region){ .gpa = g->gpa, .size = g->size,
					     .uaddr = (uint64_t)(uintptr_t)g->host, .fd = g->fd };
	}
	return vu_set_mem_table(&vu->conn, r, n);
}

static int start_queue(struct vhost_user_dev *vu, struct virtio_mmio_dev *dev, unsigned int i)
{
	const struct virtqueue *vq = &dev->queues[i];
	struct vu_conn *c = &vu->conn;
	/* vq_activate checked the rings lie in guest memory. */
	struct vu_vring_addr a = {
		.index = i,
		.desc = host_addr(dev->gm, vq->desc_gpa),
		.avail = host_addr(dev->gm, vq->avail_gpa),
		.used = host_addr(dev->gm, vq->used_gpa),
	};
	int ret = vu_set_vring_state(c, VU_SET_VRING_NUM, i, vq->size);
	if (!ret)
		ret = vu_set_vring_state(c, VU_SET_VRING_BASE, i, 0);
	if (!ret)
		ret = vu_set_vring_addr(c, &a);
	if (!ret)
		ret = vu_set_vring_fd(c, VU_SET_VRING_KICK, i, dev->queue_evt[i]);
	if (!ret)
		ret = vu_set_vring_fd(c, VU_SET_VRING_CALL, i, dev->irq_evt);
	/* With protocol features a ring starts disabled. */
	if (!ret && vu->protocol)
		ret = vu_set_vring_state(c, VU_SET_VRING_ENABLE, i, 1);
	if (!ret)
		vu->started[i] = true;
	return ret;
}

static void stop_queues(struct vhost_user_dev *vu)
{
	for (unsigned int i = 0; i < vu->ops.num_queues; i++) {
		if (!vu->started[i])
			continue;
		uint32_t base;
		if (vu->protocol)
			vu_set_vring_state(&vu->conn, VU_SET_VRING_ENABLE, i, 0);
		/* Stops the ring: afterwards the backend leaves it alone. */
		vu_get_vring_base(&vu->conn, i, &base);
		vu->started[i] = false;
	}
}

static int activate(void *opaque, struct virtio_mmio_dev *dev)
{
	struct vhost_user_dev *vu = opaque;
	uint64_t features = dev->driver_features;

	if (vu->protocol)
		features |= 1ull << VU_F_PROTOCOL_FEATURES;
	int ret = vu_set_u64(&vu->conn, VU_SET_FEATURES, features);
	if (!ret)
		ret = send_mem_table(vu, dev->gm);
	for (unsigned int i = 0; !ret && i < vu->ops.num_queues; i++)
		if (dev->queues[i].ready)
			ret = start_queue(vu, dev, i);
	if (ret) {
		stop_queues(vu);
		return ret;
	}
	atomic_store(&vu->dev, dev);
	/* It may have hung up while we set up. */
	if (atomic_load(&vu->conn.broken))
		virtio_mmio_set_broken(dev);
	return 0;
}

static void reset(void *opaque)
{
	struct vhost_user_dev *vu = opaque;
	stop_queues(vu);
	atomic_store(&vu->dev, NULL);
}

int vhost_user_fd(const struct vhost_user_dev *vu)
{
	return vu->conn.fd;
}

void vhost_user_hung_up(void *opaque)
{
	struct vhost_user_dev *vu = opaque;
	vu_hung_up(&vu->conn);
	struct virtio_mmio_dev *dev = atomic_load(&vu->dev);
	if (dev)
		virtio_mmio_set_broken(dev);
}

static int negotiate_protocol(struct vhost_user_dev *vu, bool want_mq)
{
	uint64_t offered;
	int ret = vu_get_u64(&vu->conn, VU_GET_PROTOCOL_FEATURES, &offered);
	if (ret)
		return ret;
	uint64_t want = offered & ((1ull << VU_PROTOCOL_F_MQ) | (1ull << VU_PROTOCOL_F_REPLY_ACK) |
				   (1ull << VU_PROTOCOL_F_CONFIG));
	ret = vu_set_u64(&vu->conn, VU_SET_PROTOCOL_FEATURES, want);
	if (ret)
		return ret;
	/* Acknowledgements only from the next request on. */
	vu->conn.protocol_features = want;
	if (want_mq && !(want & (1ull << VU_PROTOCOL_F_MQ))) {
		log_error("vhost-user %s: num_queues 0 needs a backend with multi-queue "
			  "support", vu->name);
		return -ENOTSUP;
	}
	return 0;
}

static int queue_count(struct vhost_user_dev *vu, uint16_t num_queues, uint16_t *out)
{
	if (num_queues) {
		*out = num_queues;
	} else {
		uint64_t n;
		int ret = vu_get_u64(&vu->conn, VU_GET_QUEUE_NUM, &n);
		if (ret)
			return ret;
		*out = n > UINT16_MAX ? UINT16_MAX : (uint16_t)n;
	}
	if (*out == 0 || *out > VIRTIO_MMIO_MAX_QUEUES) {
		log_error("vhost-user %s: %u queues (1-%u supported)", vu->name, *out,
			  VIRTIO_MMIO_MAX_QUEUES);
		return -EINVAL;
	}
	return 0;
}

static int setup_config(struct vhost_user_dev *vu, uint32_t type, const char *name)
{
	vu->config_size = config_size_of(type);
	vu->backend_config = vu->conn.protocol_features & (1ull << VU_PROTOCOL_F_CONFIG);
	if (vu->backend_config && vu->config_size)
		return vu_get_config(&vu->conn, 0, vu->config, vu->config_size);
	if (type == VIRTIO_ID_FS) {
		/* QEMU's virtiofsd has no config space: the frontend gives the tag. */
		size_t len = name ? strlen(name) : 0;
		if (len == 0 || len > FS_TAG_LEN) {
			log_error("vhost-user fs: a tag of 1-%d bytes is needed as the name",
				  FS_TAG_LEN);
			return -EINVAL;
		}
		memcpy(vu->config, name, len);
		uint32_t nreq = vu->ops.num_queues - 1u;
		memcpy(vu->config + FS_TAG_LEN, &nreq, 4);
		if (vu->ops.num_queues < 2) {
			log_error("vhost-user fs: needs at least 2 queues (hiprio and a request queue)");
			return -EINVAL;
		}
	}
	return 0;
}

static int handshake(struct vhost_user_dev *vu, uint32_t type, const char *name,
		     uint16_t num_queues, const uint16_t *sizes)
{
	uint64_t features;
	int ret = vu_get_u64(&vu->conn, VU_GET_FEATURES, &features);
	if (ret)
		return ret;
	if (!(features & (1ull << VIRTIO_F_VERSION_1))) {
		log_error("vhost-user %s: the backend does not offer VIRTIO_F_VERSION_1", vu->name);
		return -ENOTSUP;
	}
	vu->protocol = features & (1ull << VU_F_PROTOCOL_FEATURES);
	if (vu->protocol)
		ret = negotiate_protocol(vu, num_queues == 0);
	else if (num_queues == 0)
		ret = -ENOTSUP;
	if (!ret)
		ret = vu_set_owner(&vu->conn);
	uint16_t nq = 0;
	if (!ret)
		ret = queue_count(vu, num_queues, &nq);
	if (ret)
		return ret;

	uint16_t max = 0;
	for (unsigned int i = 0; i < nq; i++) {
		uint16_t s = sizes && sizes[i] ? sizes[i] : VU_DEFAULT_QUEUE_SIZE;
		if (s & (s - 1)) {
			log_error("vhost-user %s: queue size %u is not a power of two", vu->name, s);
			return -EINVAL;
		}
		max = s > max ? s : max;
	}
	vu->ops = (struct virtio_device_ops){
		.name = vu->name,
		.device_id = type,
		.num_queues = nq,
		.queue_max_size = max,
		.features = features & ~(1ull << VU_F_PROTOCOL_FEATURES),
		.external_irq = true,
		.read_config = read_config,
		.write_config = write_config,
		.activate = activate,
		.reset = reset,
	};
	ret = setup_config(vu, type, name);
	vu->ops.config_size = vu->config_size;
	return ret;
}

int vhost_user_create(uint32_t type, const char *socket_path, const char *name,
		      uint16_t num_queues, const uint16_t *sizes, struct vhost_user_dev **out)
{
	struct vhost_user_dev *vu = calloc(1, sizeof(*vu));
	if (!vu)
		return -ENOMEM;
	if (name && *name)
		snprintf(vu->name, sizeof(vu->name), "vhost-user-%s", name);
	else
		snprintf(vu->name, sizeof(vu->name), "vhost-user-%u", type);
	vu->conn.fd = -1;
	int ret = vu_connect(&vu->conn, socket_path, vu->name, VU_TIMEOUT_MS);
	if (!ret)
		ret = handshake(vu, type, name, num_queues, sizes);
	if (ret) {
		vhost_user_destroy(vu);
		return ret;
	}
	*out = vu;
	return 0;
}

const struct virtio_device_ops *vhost_user_ops(struct vhost_user_dev *vu)
{
	return &vu->ops;
}

void vhost_user_destroy(struct vhost_user_dev *vu)
{
	if (!vu)
		return;
	vu_close(&vu->conn);
	free(vu);
}
