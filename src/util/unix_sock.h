/* SPDX-License-Identifier: Apache-2.0 */
#ifndef KRUN_UNIX_SOCK_H
#define KRUN_UNIX_SOCK_H

/* A connected SOCK_STREAM|SOCK_CLOEXEC AF_UNIX socket to path, or -errno
 * (logged as "<who>: cannot connect to <path>: ..."). */
int unix_stream_connect(const char *path, const char *who);

#endif
