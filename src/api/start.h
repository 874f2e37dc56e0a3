/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KRUN_START_H
#define KRUN_START_H

#include "api/ctx.h"

/*
 * Builds and runs the VM described by ctx (which it takes ownership of).
 * Returns -errno if the VM could not be started; once the guest has run,
 * the process exits with the guest's status, as upstream does.
 */
int start_enter(struct krun_ctx *ctx);

/* start_enter() without the exit: the guest's status, or -errno if the VM
 * could not be started.  For tests that run many VMs in one process. */
int start_run(struct krun_ctx *ctx);

/* Validates "RESOURCE=CUR:MAX" entries; -EINVAL with a log line if bad. */
int start_check_rlimits(const char *const *rlimits);

#endif
