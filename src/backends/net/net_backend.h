/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a virtio-net card's Ethernet frames go: passt or socket_vmnet over
 * a unix stream, gvproxy or vmnet-helper over unix datagrams, or a tap.
 *
 * The device thread is a backend's only user.  Every call is non-blocking:
 * a backend that cannot take a frame says so (-EAGAIN) and the device
 * stops taking frames from the guest until the backend's fd is writable,
 * which is how back-pressure reaches the guest instead of silent drops.
 */
#ifndef KRUN_NET_BACKEND_H
#define KRUN_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* virtio_net_hdr_v1: what precedes every frame on both queues. */
#define NET_VNET_HDR_LEN 12
/* The largest Ethernet frame either side may send: a 64 KiB IP packet
 * (what TSO/GSO produce) behind an Ethernet header and one VLAN tag. */
#define NET_MAX_FRAME (14 + 4 + 65535)

enum net_backend_kind { NET_BACKEND_UNIXSTREAM, NET_BACKEND_UNIXGRAM, NET_BACKEND_TAP };

struct net_backend_config {
	enum net_backend_kind kind;
	const char *path;	/* unix socket to connect to, or NULL with fd */
	/* Connected socket handed over by the caller, or -1; the backend owns
	 * it only once open has returned 0. */
	int fd;
	const char *tap_name;
	bool vfkit_magic;	/* unixgram with path: send "VFKT" once connected */
	unsigned int index;	/* eth<index>: names our bound unixgram socket */
};

struct net_backend;

struct net_backend_ops {
	/*
	 * Takes one frame.  The iov holds the guest's virtio_net_hdr_v1 and
	 * then the Ethernet frame (len bytes in all); a backend that does not
	 * carry the header skips it.  0: taken (sent, or queued inside the
	 * backend); -EAGAIN: not taken, retry once the fd is writable (or after
	 * retry_ms when the kernel gives no such signal); other -errno: the
	 * backend is gone.
	 */
	int (*send)(struct net_backend *b, const struct iovec *iov, unsigned int cnt, size_t len);
	/* Pushes out what send() queued: 0 nothing left, -EAGAIN, -errno gone. */
	int (*flush)(struct net_backend *b);
	/*
	 * Delivers the next frame into iov (the guest's receive buffer, room
	 * for the header first) and returns the bytes written, header
	 * included.  -EAGAIN: nothing to read; -EMSGSIZE: a frame that did not
	 * fit the buffer, or is no frame (empty, runt), was consumed and
	 * dropped; other -errno:
	 * the backend is gone.
	 */
	ssize_t (*recv)(struct net_backend *b, const struct iovec *iov, unsigned int cnt);
	/* Whether frames are already buffered inside the backend, so the
	 * device must not wait for the fd to become readable first. */
	bool (*rx_buffered)(const struct net_backend *b);
	/* The guest acked these virtio-net features (tap: offloads). */
	int (*set_features)(struct net_backend *b, uint64_t acked);
	void (*destroy)(struct net_backend *b);
};

struct net_backend {
	const struct net_backend_ops *ops;
	int fd;			/* polled by the device */
	const char *name;	/* for log lines: "passt socket", "tap0", ... */
	/* Set by the send() that just returned -EAGAIN when the kernel gives
	 * no writability signal for it (unix datagram ENOBUFS). */
	int retry_ms;
};

/* Opens (connects, binds) the backend; 0 and *out, or -errno with a log
 * line naming what failed. */
int net_backend_open(const struct net_backend_config *cfg, struct net_backend **out);
void net_backend_destroy(struct net_backend *b);

/* Backend constructors (one file each). */
int net_unixstream_open(const struct net_backend_config *cfg, struct net_backend **out);
int net_unixgram_open(const struct net_backend_config *cfg, struct net_backend **out);
int net_tap_open(const struct net_backend_config *cfg, struct net_backend **out);

#endif
