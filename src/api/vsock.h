/* SPDX-License-Identifier: Apache-2.0 */
/* What krun_start_enter() needs from the recorded vsock configuration. */
#ifndef KRUN_API_VSOCK_H
#define KRUN_API_VSOCK_H

#include "api/ctx.h"
#include "devices/virtio/vsock.h"

/* The vsock device the context asks for, with its listeners bound; *out
 * is NULL when it asks for none.  0 or -errno. */
int vsock_device_for(const struct krun_ctx *c, struct virtio_vsock **out);
/* The KRUN_TSI_HIJACK_* families TSI serves for this context (0: off);
 * what the kernel command line has to switch on. */
uint32_t vsock_tsi_flags(const struct krun_ctx *c);

#endif
