// SPDX-License-Identifier: Apache-2.0
/*
 * vsock entry points: krun_add_vsock_port{,2}, krun_disable_implicit_vsock
 * and krun_add_vsock.  Only the configuration is recorded here; listeners
 * are bound by krun_start_enter().
 *
 * Upstream's rule, minus TSI: there is a vsock device unless the implicit
 * one was disabled, and then only if krun_add_vsock() added one.  Until
 * the TSI host side exists the implicit device is created only when it has
 * ports to serve (a device without ports and without TSI does nothing).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "libkrun.h"

#include "api/api.h"
#include "api/vsock.h"

#define TSI_KNOWN (KRUN_TSI_HIJACK_INET | KRUN_TSI_HIJACK_UNIX)

_Static_assert(CTX_MAX_VSOCK_PORTS == VSOCK_MAX_PORTS, "one limit for the API and the mux");

static bool vsock_disabled(const struct krun_ctx *c)
{
	return c->vsock_implicit_disabled && !c->vsock_explicit;
}

static int check_path(const char *fn, const char *path, bool listen)
{
	struct stat st;

	if (!path || !*path)
		return api_refuse(fn, "socket path is NULL or empty");
	if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return api_refuse(fn, "socket path does not fit in sockaddr_un");
	/* We create the socket: a file already there would be in the way. */
	if (listen && lstat(path, &st) == 0) {
		log_error("%s: %s already exists", fn, path);
		return -EEXIST;
	}
	return 0;
}

static int add_port(struct krun_ctx *c, const char *fn, uint32_t port, const char *path,
		    bool listen)
{
	if (vsock_disabled(c)) {
		log_error("%s: the vsock device is disabled", fn);
		return -ENODEV;
	}
	for (unsigned int i = 0; i < c->nr_vsock_ports; i++) {
		if (c->vsock_ports[i].port == port) {
			log_error("%s: vsock port %u is already mapped", fn, port);
			return -EEXIST;
		}
	}
	if (c->nr_vsock_ports >= CTX_MAX_VSOCK_PORTS) {
		log_error("%s: at most %d vsock ports", fn, CTX_MAX_VSOCK_PORTS);
		return -ENOSPC;
	}
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	c->vsock_ports[c->nr_vsock_ports++] =
		(struct ctx_vsock_port){ .port = port, .path = copy, .listen = listen };
	return 0;
}

KRUN_API int32_t krun_add_vsock_port2(uint32_t ctx_id, uint32_t port, const char *c_filepath,
				      bool listen)
{
	int ret = check_path(__func__, c_filepath, listen);
	if (ret)
		return ret;
	LOCK_CTX(c, ctx_id);
	ret = add_port(c, __func__, port, c_filepath, listen);
	ctx_unlock();
	return ret;
}

KRUN_API int32_t krun_add_vsock_port(uint32_t ctx_id, uint32_t port, const char *c_filepath)
{
	return krun_add_vsock_port2(ctx_id, port, c_filepath, false);
}

KRUN_API int32_t krun_disable_implicit_vsock(uint32_t ctx_id)
{
	LOCK_CTX(c, ctx_id);
	c->vsock_implicit_disabled = true;
	ctx_unlock();
	return 0;
}

KRUN_API int32_t krun_add_vsock(uint32_t ctx_id, uint32_t tsi_features)
{
	if (tsi_features & ~TSI_KNOWN) {
		log_error("%s: unknown TSI feature bits 0x%x", __func__, tsi_features & ~TSI_KNOWN);
		return -EINVAL;
	}
	LOCK_CTX(c, ctx_id);
	int ret = 0;
	if (!c->vsock_implicit_disabled) {
		log_error("%s: call krun_disable_implicit_vsock first", __func__);
		ret = -EEXIST;
	} else if (c->vsock_explicit) {
		log_error("%s: only one vsock device is supported", __func__);
		ret = -EEXIST;
	} else {
		c->vsock_explicit = true;
		c->tsi_features = tsi_features;
	}
	ctx_unlock();
	return ret;
}

int vsock_device_for(const struct krun_ctx *c, struct virtio_vsock **out)
{
	*out = NULL;
	if (vsock_disabled(c)) {
		if (c->nr_vsock_ports)
			log_warn("vsock ports are ignored: the vsock device is disabled");
		return 0;
	}
	if (!c->vsock_explicit && !c->nr_vsock_ports)
		return 0;
	if (c->tsi_features)
		log_warn("krun_add_vsock: TSI is not implemented yet; the guest's inet/unix "
			 "sockets stay local");
	struct vsock_port ports[CTX_MAX_VSOCK_PORTS];
	for (unsigned int i = 0; i < c->nr_vsock_ports; i++)
		ports[i] = (struct vsock_port){ c->vsock_ports[i].port, c->vsock_ports[i].path,
						c->vsock_ports[i].listen };
	int err = 0;
	*out = virtio_vsock_create(ports, c->nr_vsock_ports, NULL, &err);
	if (!*out)
		log_error("cannot set up the vsock device: %s", strerror(-err));
	return *out ? 0 : err;
}
