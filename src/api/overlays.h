/* SPDX-License-Identifier: Apache-2.0 */
/* Overlay files and directories recorded by krun_fs_add_overlay_*. */
#ifndef KRUN_API_OVERLAYS_H
#define KRUN_API_OVERLAYS_H

#include "api/ctx.h"

struct fuse_server;

/* Adds the overlays recorded for share tag to its server, in call order.
 * Returns 0 or the server's -errno. */
int overlays_apply(const struct krun_ctx *c, const char *tag, struct fuse_server *srv);

#endif
