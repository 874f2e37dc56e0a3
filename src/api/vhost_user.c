// SPDX-License-Identifier: Apache-2.0
/*
 * krun_add_vhost_user_device: records the device; krun_start_enter()
 * connects to the backend and negotiates with it (devices/virtio/vhost_user.c).
 * Unlike upstream, what can be checked here is: the path fits sockaddr_un,
 * at most 16 queues (the transport's), sizes are powers of two up to 32768.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "libkrun.h"

#include "api/api.h"

static int copy_sizes(struct ctx_vhost_user *d, uint16_t num_queues, const uint16_t *sizes)
{
	if (!sizes)
		return 0;
	/* num_queues 0: the list ends at a 0 entry. */
	unsigned int n = num_queues;
	if (n == 0)
		while (n <= CTX_MAX_VHOST_USER_QUEUES && sizes[n])
			n++;
	if (n > CTX_MAX_VHOST_USER_QUEUES)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		if (sizes[i] == 0 || (sizes[i] & (sizes[i] - 1)) || sizes[i] > 32768)
			return -EINVAL;
		d->sizes[i] = sizes[i];
	}
	return 0;
}

KRUN_API int32_t krun_add_vhost_user_device(uint32_t ctx_id, uint32_t device_type,
					    const char *socket_path, const char *name,
					    uint16_t num_queues, const uint16_t *queue_sizes)
{
	if (!socket_path || !*socket_path)
		return api_refuse(__func__, "socket path is NULL or empty");
	if (strlen(socket_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return api_refuse(__func__, "socket path does not fit in sockaddr_un");
	if (num_queues > CTX_MAX_VHOST_USER_QUEUES)
		return api_refuse(__func__, "more than 16 queues");

	struct ctx_vhost_user d = { .type = device_type, .num_queues = num_queues };
	if (copy_sizes(&d, num_queues, queue_sizes))
		return api_refuse(__func__, "queue sizes must be powers of two from 1 to 32768 "
					    "(at most 16 of them)");
	LOCK_CTX(c, ctx_id);
	if (c->nr_vhost_users >= CTX_MAX_VHOST_USER) {
		ctx_unlock();
		log_error("%s: at most %d vhost-user devices", __func__, CTX_MAX_VHOST_USER);
		return -ENOSPC;
	}
	d.path = strdup(socket_path);
	d.name = name ? strdup(name) : NULL;
	if (!d.path || (name && !d.name)) {
		ctx_unlock();
		free(d.path);
		free(d.name);
		return -ENOMEM;
	}
	c->vhost_users[c->nr_vhost_users++] = d;
	ctx_unlock();
	return 0;
}
