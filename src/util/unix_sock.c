// SPDX-License-Identifier: Apache-2.0
#include "unix_sock.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

int unix_stream_connect(const char *path, const char *who)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		log_error("%s: socket path %s is too long", who, path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		log_error("%s: cannot connect to %s: %s", who, path, strerror(err));
		close(fd);
		return -err;
	}
	return fd;
}
