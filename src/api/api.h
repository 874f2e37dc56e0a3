/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the files that implement the public entry points: every one
 * returns 0 or a negative errno and logs why it refused.
 */
#ifndef KRUN_API_PRIV_H
#define KRUN_API_PRIV_H

#include <errno.h>

#include "api/ctx.h"
#include "util/log.h"

#define KRUN_API __attribute__((visibility("default")))

/* Declares c and takes the context table lock; returns -ENOENT for an unknown id. */
#define LOCK_CTX(c, id)                                                                    \
	struct krun_ctx *c = ctx_lock(id);                                                 \
	if (!c) {                                                                          \
		log_error("%s: unknown context %u", __func__, (unsigned int)(id));         \
		return -ENOENT;                                                            \
	}

static inline int api_refuse(const char *fn, const char *why)
{
	log_error("%s: %s", fn, why);
	return -EINVAL;
}

#endif
