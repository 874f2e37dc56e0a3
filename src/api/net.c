// SPDX-License-Identifier: Apache-2.0
/*
 * Network-card entry points: krun_add_net_{unixstream,unixgram,tap} and the
 * legacy single card of krun_set_passt_fd / krun_set_gvproxy_path /
 * krun_set_net_mac.  Only the configuration is recorded; sockets are
 * connected and taps attached by krun_start_enter(), so that a missing
 * peer is reported there, before the VM starts, and not inside the guest.
 */
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "libkrun.h"

#include "api/api.h"
#include "devices/virtio/net.h"

#define NET_FEATURES_ALL                                                           \
	(NET_FEATURE_CSUM | NET_FEATURE_GUEST_CSUM | NET_FEATURE_GUEST_TSO4 |      \
	 NET_FEATURE_GUEST_TSO6 | NET_FEATURE_GUEST_UFO | NET_FEATURE_HOST_TSO4 | \
	 NET_FEATURE_HOST_TSO6 | NET_FEATURE_HOST_UFO)
#define GUEST_OFFLOADS (NET_FEATURE_GUEST_TSO4 | NET_FEATURE_GUEST_TSO6 | NET_FEATURE_GUEST_UFO)

_Static_assert(NET_FEATURES_ALL == VIRTIO_NET_CALLER_FEATURES, "one list of feature bits");

static int check_socket_args(const char *fn, const char *path, int fd, const uint8_t *mac)
{
	if (!mac)
		return api_refuse(fn, "MAC address is NULL");
	if ((path != NULL) == (fd >= 0))
		return api_refuse(fn, "give either a socket path or an fd, not both or neither");
	if (path && (!*path || strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
		return api_refuse(fn, "socket path is empty or does not fit in sockaddr_un");
	if (fd >= 0 && fcntl(fd, F_GETFD) < 0)
		return api_refuse(fn, "fd is not an open descriptor");
	return 0;
}

static int check_bits(const char *fn, uint32_t features, uint32_t flags, uint32_t known_flags)
{
	if (features & ~(uint32_t)NET_FEATURES_ALL) {
		log_error("%s: unknown feature bits 0x%x", fn, features & ~(uint32_t)NET_FEATURES_ALL);
		return -EINVAL;
	}
	if (flags & ~known_flags) {
		log_error("%s: unknown or unsupported flag bits 0x%x", fn, flags & ~known_flags);
		return -EINVAL;
	}
	return 0;
}

/* Records the card in the context: place() decides where, or refuses it
 * (the copied path is then freed). */
static int store_card(uint32_t ctx_id, const char *fn, struct ctx_net card, const char *path,
		      int (*place)(struct krun_ctx *c, const char *fn, struct ctx_net *card))
{
	if (path && !(card.path = strdup(path)))
		return -ENOMEM;
	struct krun_ctx *c = ctx_lock(ctx_id);
	if (!c) {
		free(card.path);
		log_error("%s: unknown context %u", fn, ctx_id);
		return -ENOENT;
	}
	int ret = place(c, fn, &card);
	ctx_unlock();
	if (ret)
		free(card.path);
	return ret;
}

static int append_card(struct krun_ctx *c, const char *fn, struct ctx_net *card)
{
	if (c->nr_nets >= CTX_MAX_NETS) {
		log_error("%s: at most %d network cards", fn, CTX_MAX_NETS);
		return -ENOSPC;
	}
	c->nets[c->nr_nets++] = *card;
	return 0;
}

static int add_card(uint32_t ctx_id, const char *fn, struct ctx_net card, const char *path)
{
	return store_card(ctx_id, fn, card, path, append_card);
}

static struct ctx_net card_of(enum ctx_net_kind kind, int fd, const uint8_t *mac,
			      uint32_t features, uint32_t flags)
{
	struct ctx_net card = { .kind = kind, .fd = fd, .features = features, .flags = flags };

	memcpy(card.mac, mac, sizeof(card.mac));
	return card;
}

KRUN_API int32_t krun_add_net_unixstream(uint32_t ctx_id, const char *c_path, int fd,
					 uint8_t *const c_mac, uint32_t features, uint32_t flags)
{
	int ret = check_socket_args(__func__, c_path, fd, c_mac);
	if (!ret)
		ret = check_bits(__func__, features, flags, NET_FLAG_DHCP_CLIENT);
	if (ret)
		return ret;
	return add_card(ctx_id, __func__,
			card_of(CTX_NET_UNIXSTREAM, c_path ? -1 : fd, c_mac, features, flags),
			c_path);
}

KRUN_API int32_t krun_add_net_unixgram(uint32_t ctx_id, const char *c_path, int fd,
				       uint8_t *const c_mac, uint32_t features, uint32_t flags)
{
	int ret = check_socket_args(__func__, c_path, fd, c_mac);
	if (!ret)
		ret = check_bits(__func__, features, flags, NET_FLAG_DHCP_CLIENT | NET_FLAG_VFKIT);
	if (ret)
		return ret;
	if ((flags & NET_FLAG_VFKIT) && !c_path)
		log_warn("%s: NET_FLAG_VFKIT only applies to a socket path: ignored", __func__);
	return add_card(ctx_id, __func__,
			card_of(CTX_NET_UNIXGRAM, c_path ? -1 : fd, c_mac, features, flags),
			c_path);
}

KRUN_API int32_t krun_add_net_tap(uint32_t ctx_id, char *c_tap_name, uint8_t *const c_mac,
				  uint32_t features, uint32_t flags)
{
	if (!c_mac)
		return api_refuse(__func__, "MAC address is NULL");
	if (!c_tap_name || !*c_tap_name || strlen(c_tap_name) >= IFNAMSIZ)
		return api_refuse(__func__, "tap name is NULL, empty or longer than IFNAMSIZ");
	int ret = check_bits(__func__, features, flags, NET_FLAG_DHCP_CLIENT);
	if (ret)
		return ret;
	/* The kernel refuses these offloads on a tap without checksum offload. */
	if ((features & GUEST_OFFLOADS) && !(features & NET_FEATURE_GUEST_CSUM))
		return api_refuse(__func__, "GUEST_TSO4/TSO6/UFO need GUEST_CSUM");
	return add_card(ctx_id, __func__, card_of(CTX_NET_TAP, -1, c_mac, features, flags),
			c_tap_name);
}

/* The legacy card: replaced by each call, refused next to krun_add_net_*. */
static int replace_legacy(struct krun_ctx *c, const char *fn, struct ctx_net *card)
{
	if (c->nr_nets) {
		log_error("%s: cannot be combined with krun_add_net_*", fn);
		return -EINVAL;
	}
	if (c->has_legacy_net)
		ctx_net_release(&c->legacy_net);
	c->legacy_net = *card;
	c->has_legacy_net = true;
	return 0;
}

static int set_legacy(uint32_t ctx_id, const char *fn, struct ctx_net card, const char *path)
{
	return store_card(ctx_id, fn, card, path, replace_legacy);
}

KRUN_API int32_t krun_set_passt_fd(uint32_t ctx_id, int fd)
{
	if (fd < 0)
		return api_refuse(__func__, "fd is negative");
	struct ctx_net card = { .kind = CTX_NET_UNIXSTREAM, .fd = fd,
				.features = COMPAT_NET_FEATURES };
	return set_legacy(ctx_id, __func__, card, NULL);
}

KRUN_API int32_t krun_set_gvproxy_path(uint32_t ctx_id, char *c_path)
{
	if (!c_path || !*c_path || strlen(c_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return api_refuse(__func__, "socket path is NULL, empty or too long");
	struct ctx_net card = { .kind = CTX_NET_UNIXGRAM, .fd = -1,
				.features = COMPAT_NET_FEATURES, .flags = NET_FLAG_VFKIT };
	return set_legacy(ctx_id, __func__, card, c_path);
}

KRUN_API int32_t krun_set_net_mac(uint32_t ctx_id, uint8_t *const c_mac)
{
	if (!c_mac)
		return api_refuse(__func__, "MAC address is NULL");
	LOCK_CTX(c, ctx_id);
	int ret = 0;
	if (c->nr_nets) {
		log_error("%s: only for the legacy card; krun_add_net_* take their own MAC",
			  __func__);
		ret = -EINVAL;
	} else {
		memcpy(c->legacy_mac, c_mac, sizeof(c->legacy_mac));
	}
	ctx_unlock();
	return ret;
}
