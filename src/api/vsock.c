// SPDX-License-Identifier: Apache-2.0
/*
 * vsock entry points: krun_add_vsock_port{,2}, krun_disable_implicit_vsock
 * and krun_add_vsock.  Only the configuration is recorded here; listeners
 * are bound by krun_start_enter().
 *
 * Upstream's rule: there is a vsock device unless the implicit one was
 * disabled, and then only if krun_add_vsock() added one.  The implicit
 * device carries TSI for inet sockets (the VM's network when it has no
 * network card; with one it is there only for krun_add_vsock_port*); an explicit one
 * serves the TSI families its krun_add_vsock() bits name.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "libkrun.h"

#include "api/api.h"
#include "api/vsock.h"

#define TSI_KNOWN (KRUN_TSI_HIJACK_INET | KRUN_TSI_HIJACK_UNIX)

_Static_assert(CTX_MAX_VSOCK_PORTS == VSOCK_MAX_PORTS, "one limit for the API and the mux");
_Static_assert(CTX_MAX_PORT_MAP == VSOCK_TSI_MAX_PORT_MAP, "one limit for the API and TSI");

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

/* One decimal u16, digits only (no sign, no blanks), ending at end. */
static bool parse_u16(const char *s, const char *end, uint16_t *out)
{
	uint32_t v = 0;

	if (s == end || end - s > 5)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (uint32_t)(*s - '0');
	}
	if (v > UINT16_MAX)
		return false;
	*out = (uint16_t)v;
	return true;
}

static int parse_port_map(const char *const map[], struct ctx_port_map out[CTX_MAX_PORT_MAP],
			  unsigned int *nr)
{
	*nr = 0;
	for (size_t i = 0; map[i]; i++) {
		const char *colon = strchr(map[i], ':');
		uint16_t host, guest;
		if (!colon || !parse_u16(map[i], colon, &host) ||
		    !parse_u16(colon + 1, colon + 1 + strlen(colon + 1), &guest)) {
			log_error("krun_set_port_map: \"%s\" is not HOST_PORT:GUEST_PORT", map[i]);
			return -EINVAL;
		}
		for (unsigned int j = 0; j < *nr; j++) {
			if (out[j].host == host || out[j].guest == guest) {
				log_error("krun_set_port_map: \"%s\" repeats a port", map[i]);
				return -EINVAL;
			}
		}
		if (*nr == CTX_MAX_PORT_MAP) {
			log_error("krun_set_port_map: at most %d entries", CTX_MAX_PORT_MAP);
			return -ENOSPC;
		}
		out[(*nr)++] = (struct ctx_port_map){ host, guest };
	}
	return 0;
}

KRUN_API int32_t krun_set_port_map(uint32_t ctx_id, const char *const port_map[])
{
	struct ctx_port_map map[CTX_MAX_PORT_MAP];
	unsigned int nr = 0;
	int ret = port_map ? parse_port_map(port_map, map, &nr) : 0;
	if (ret)
		return ret;
	LOCK_CTX(c, ctx_id);
	if (vsock_disabled(c)) {
		log_error("krun_set_port_map: the vsock device is disabled");
		ret = -ENODEV;
	} else if (ctx_has_net(c) && !c->vsock_explicit) {
		log_error("krun_set_port_map: the port map is TSI's, and a network card "
			  "turned TSI off");
		ret = -EINVAL;
	} else {
		c->has_port_map = port_map != NULL;
		c->nr_port_map = nr;
		memcpy(c->port_map, map, nr * sizeof(map[0]));
	}
	ctx_unlock();
	return ret;
}

/* A guest unix path names the same file on the host only when the guest's
 * root is the host's. */
static bool root_is_host_root(const struct krun_ctx *c)
{
	for (unsigned int i = 0; i < c->nr_shares; i++) {
		if (strcmp(c->shares[i].tag, "/dev/root") || !c->shares[i].path)
			continue;
		char real[PATH_MAX];
		return realpath(c->shares[i].path, real) && strcmp(real, "/") == 0;
	}
	return false;
}

uint32_t vsock_tsi_flags(const struct krun_ctx *c)
{
	if (vsock_disabled(c))
		return 0;
	/* A network card is the guest's network instead of TSI, as upstream. */
	uint32_t flags = c->vsock_explicit ? c->tsi_features
			 : ctx_has_net(c) ? 0 : KRUN_TSI_HIJACK_INET;
	if ((flags & KRUN_TSI_HIJACK_UNIX) && !root_is_host_root(c)) {
		log_warn("TSI for unix sockets needs the host's / as the guest root; "
			 "guest unix sockets stay local");
		flags &= ~(uint32_t)KRUN_TSI_HIJACK_UNIX;
	}
	return flags;
}

static int set_tsi(const struct krun_ctx *c, struct virtio_vsock *v, uint32_t flags)
{
	struct vsock_port_map map[CTX_MAX_PORT_MAP];

	for (unsigned int i = 0; i < c->nr_port_map; i++)
		map[i] = (struct vsock_port_map){ c->port_map[i].host, c->port_map[i].guest };
	struct vsock_tsi_config cfg = {
		.inet = flags & KRUN_TSI_HIJACK_INET,
		.unix_ = flags & KRUN_TSI_HIJACK_UNIX,
		.has_map = c->has_port_map,
		.map = map,
		.nr_map = c->nr_port_map,
	};
	return virtio_vsock_set_tsi(v, &cfg);
}

int vsock_device_for(const struct krun_ctx *c, struct virtio_vsock **out)
{
	*out = NULL;
	if (vsock_disabled(c)) {
		if (c->nr_vsock_ports)
			log_warn("vsock ports are ignored: the vsock device is disabled");
		return 0;
	}
	uint32_t tsi = vsock_tsi_flags(c);
	if (!c->vsock_explicit && !c->nr_vsock_ports && !tsi)
		return 0;
	struct vsock_port ports[CTX_MAX_VSOCK_PORTS];
	for (unsigned int i = 0; i < c->nr_vsock_ports; i++)
		ports[i] = (struct vsock_port){ c->vsock_ports[i].port, c->vsock_ports[i].path,
						c->vsock_ports[i].listen };
	int err = 0;
	*out = virtio_vsock_create(ports, c->nr_vsock_ports, NULL, &err);
	if (*out && tsi)
		err = set_tsi(c, *out, tsi);
	if (err) {
		log_error("cannot set up the vsock device: %s", strerror(-err));
		virtio_vsock_destroy(*out);
		*out = NULL;
	}
	return err;
}
