/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A virtio-mmio device whose virtqueues an external vhost-user backend
 * serves: the guest's kicks reach the backend through the queues'
 * ioeventfds and the backend's completions the guest through the device's
 * irqfd, so the data path never passes through this process.
 */
#ifndef KRUN_VIRTIO_VHOST_USER_H
#define KRUN_VIRTIO_VHOST_USER_H

#include <stdint.h>

#include "virtio_mmio.h"

#define VIRTIO_ID_FS 26

struct vhost_user_dev;

/*
 * Connects to socket_path and negotiates (features, protocol features,
 * owner, queue count, config space).  num_queues 0 asks the backend;
 * sizes[i] is queue i's maximum size (0: 256).  For virtio-fs (type 26)
 * without a backend config space, name is the tag the guest mounts.
 */
int vhost_user_create(uint32_t type, const char *socket_path, const char *name,
		      uint16_t num_queues, const uint16_t *sizes, struct vhost_user_dev **out);
const struct virtio_device_ops *vhost_user_ops(struct vhost_user_dev *vu);
void vhost_user_destroy(struct vhost_user_dev *vu);
/* The backend's socket, to watch for a hang-up (vm_watch_hangup), and what
 * to call then: the device asks the driver for a reset (NEEDS_RESET) and
 * the backend is not asked for anything any more. */
int vhost_user_fd(const struct vhost_user_dev *vu);
void vhost_user_hung_up(void *vu);

#endif
