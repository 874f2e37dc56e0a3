// SPDX-License-Identifier: Apache-2.0
#include "net_backend.h"

#include <errno.h>
#include <stddef.h>

int net_backend_open(const struct net_backend_config *cfg, struct net_backend **out)
{
	*out = NULL;
	switch (cfg->kind) {
	case NET_BACKEND_UNIXSTREAM:
		return net_unixstream_open(cfg, out);
	case NET_BACKEND_UNIXGRAM:
		return net_unixgram_open(cfg, out);
	case NET_BACKEND_TAP:
		return net_tap_open(cfg, out);
	}
	return -EINVAL;
}

void net_backend_destroy(struct net_backend *b)
{
	if (b)
		b->ops->destroy(b);
}
