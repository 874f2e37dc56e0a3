/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vhost-user frontend: the socket protocol (QEMU's docs/interop/vhost-user.rst).
 *
 * The backend is another process and every byte it sends is untrusted:
 * replies are read with a deadline, their header (request code, flags,
 * size) is checked against what was asked and their payload against a
 * fixed bound before anything is copied out; descriptors a backend passes
 * with a reply are closed.  Any violation, timeout or hang-up marks the
 * connection broken and every later call fails with -EPIPE at once, so a
 * dead backend costs one log line, not a timeout per request.
 */
#ifndef KRUN_VHOST_USER_H
#define KRUN_VHOST_USER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum vu_request {
	VU_GET_FEATURES = 1,
	VU_SET_FEATURES = 2,
	VU_SET_OWNER = 3,
	VU_SET_MEM_TABLE = 5,
	VU_SET_VRING_NUM = 8,
	VU_SET_VRING_ADDR = 9,
	VU_SET_VRING_BASE = 10,
	VU_GET_VRING_BASE = 11,
	VU_SET_VRING_KICK = 12,
	VU_SET_VRING_CALL = 13,
	VU_GET_PROTOCOL_FEATURES = 15,
	VU_SET_PROTOCOL_FEATURES = 16,
	VU_GET_QUEUE_NUM = 17,
	VU_SET_VRING_ENABLE = 18,
	VU_GET_CONFIG = 24,
	VU_SET_CONFIG = 25,
};

#define VU_F_PROTOCOL_FEATURES 30
#define VU_PROTOCOL_F_MQ 0
#define VU_PROTOCOL_F_REPLY_ACK 3
#define VU_PROTOCOL_F_CONFIG 9

#define VU_FLAG_VERSION 0x1u
#define VU_FLAG_REPLY 0x4u
#define VU_FLAG_NEED_REPLY 0x8u

#define VU_HDR_SIZE 12
#define VU_MAX_REGIONS 8
#define VU_MAX_CONFIG 256
/* The largest payload either side sends: SET_MEM_TABLE with 8 regions. */
#define VU_MAX_PAYLOAD (8 + VU_MAX_REGIONS * 32)
#define VU_MAX_QUEUES 16

struct vu_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;		/* where the frontend maps it (ring addresses use it) */
	uint64_t mmap_offset;
	int fd;
};

struct vu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;		/* frontend virtual addresses */
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vu_conn {
	int fd;
	int timeout_ms;
	const char *name;	/* for log lines; owned by the caller */
	uint64_t protocol_features;	/* negotiated */
	/* Also set from the thread that sees the backend hang up. */
	atomic_bool broken;
};

/*
 * Checks a received message against the request it answers and copies its
 * payload out: 0 with *payload_len set, or -EPROTO (wrong code, flags or a
 * size that disagrees with the bytes received or exceeds payload_max).
 */
int vu_parse_reply(const uint8_t *buf, size_t len, uint32_t request, void *payload,
		   size_t payload_max, size_t *payload_len);

/* Connects to a listening backend socket; fails with the connect's -errno. */
int vu_connect(struct vu_conn *c, const char *path, const char *name, int timeout_ms);
/* Uses an already-connected socket (tests); takes ownership of fd. */
void vu_conn_init(struct vu_conn *c, int fd, const char *name, int timeout_ms);
void vu_close(struct vu_conn *c);
/* The backend hung up (seen by another thread): logged unless the
 * connection already failed; every later request fails at once. */
void vu_hung_up(struct vu_conn *c);

/* Requests with a u64 answer (GET_FEATURES, GET_PROTOCOL_FEATURES, GET_QUEUE_NUM). */
int vu_get_u64(struct vu_conn *c, uint32_t request, uint64_t *val);
/* Requests carrying a u64 (SET_FEATURES, SET_PROTOCOL_FEATURES) or nothing (SET_OWNER). */
int vu_set_u64(struct vu_conn *c, uint32_t request, uint64_t val);
int vu_set_owner(struct vu_conn *c);
int vu_set_mem_table(struct vu_conn *c, const struct vu_region *r, unsigned int n);
/* SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ENABLE. */
int vu_set_vring_state(struct vu_conn *c, uint32_t request, uint32_t index, uint32_t num);
int vu_get_vring_base(struct vu_conn *c, uint32_t index, uint32_t *base);
int vu_set_vring_addr(struct vu_conn *c, const struct vu_vring_addr *a);
/* SET_VRING_KICK / SET_VRING_CALL with fd (passed with SCM_RIGHTS). */
int vu_set_vring_fd(struct vu_conn *c, uint32_t request, uint32_t index, int fd);
int vu_get_config(struct vu_conn *c, uint32_t offset, void *data, uint32_t len);
int vu_set_config(struct vu_conn *c, uint32_t offset, const void *data, uint32_t len);

#endif
