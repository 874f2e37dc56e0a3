/* SPDX-License-Identifier: Apache-2.0 */
/* The fake backends' side of the wire: one frontend message with its fds. */
#ifndef VU_TEST_MSG_H
#define VU_TEST_MSG_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct vu_test_msg {
	uint32_t code, flags, size;
	uint8_t payload[512];
	int fds[8];
	int nfds;
};

/* Header (received with recv_flags), descriptors, payload: 0 or -1. */
static inline int vu_test_read_msg(int fd, int recv_flags, struct vu_test_msg *m)
{
	uint8_t hdr[12];
	union {
		char b[CMSG_SPACE(8 * sizeof(int))];
		struct cmsghdr a;
	} ctl;
	struct iovec iov = { hdr, sizeof(hdr) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
			     .msg_controllen = sizeof(ctl.b) };
	if (recvmsg(fd, &mh, recv_flags) != 12)
		return -1;
	memcpy(&m->code, hdr, 4);
	memcpy(&m->flags, hdr + 4, 4);
	memcpy(&m->size, hdr + 8, 4);
	m->nfds = 0;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	if (cm && cm->cmsg_type == SCM_RIGHTS) {
		m->nfds = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		memcpy(m->fds, CMSG_DATA(cm), (size_t)m->nfds * sizeof(int));
	}
	if (m->size > sizeof(m->payload))
		return -1;
	for (size_t got = 0; got < m->size;) {
		ssize_t r = read(fd, m->payload + got, m->size - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

#endif
