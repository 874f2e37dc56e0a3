/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-vsock (device id 19, virtio 1.2, 5.10): guest CID 3, rx/tx/event
 * queues of 256, VERSION_1 and VIRTIO_VSOCK_F_DGRAM (as upstream; only a
 * TSI-patched guest uses it).  This file is the guest-facing half: it owns
 * the queues and checks every header the guest writes; connections and
 * host sockets are backends/vsock/mux.c.  One worker thread serves both,
 * from DRIVER_OK until reset.
 */
#ifndef KRUN_VIRTIO_VSOCK_H
#define KRUN_VIRTIO_VSOCK_H

#include "virtio_mmio.h"
#include "../../backends/vsock/mux.h"

#define VIRTIO_ID_VSOCK_DEV 19
#define VSOCK_QUEUE_SIZE 256
#define VSOCK_GUEST_CID 3
#define VIRTIO_VSOCK_F_DGRAM 3

struct virtio_vsock;

struct virtio_vsock_stats {
	struct vsock_stats mux;
	uint64_t malformed;	/* short header, len beyond the chain or 64 KiB */
	uint64_t wrong_cid;	/* not from CID 3 or not to CID 2 */
	uint64_t bad_type;
	uint64_t bad_op;
};

/* Binds the listen=true ports now.  limits may be NULL (defaults).  NULL
 * and *err = -errno on failure. */
struct virtio_vsock *virtio_vsock_create(const struct vsock_port *ports, unsigned int nr_ports,
					 const struct vsock_limits *limits, int *err);
/* Call after virtio_mmio_destroy() of its device; removes the socket files. */
void virtio_vsock_destroy(struct virtio_vsock *v);
const struct virtio_device_ops *virtio_vsock_ops(void);
/* Only while the device is not running (before activation, after reset). */
void virtio_vsock_stats(const struct virtio_vsock *v, struct virtio_vsock_stats *out);

/* For fuzzing: no worker thread is started at activation; instead each
 * virtio_vsock_poll() serves the queues and host sockets once on the
 * caller's thread.  Call before the device is activated. */
void virtio_vsock_set_manual(struct virtio_vsock *v);
/* Switches TSI on (before the guest runs); see backends/vsock/tsi.c. */
int virtio_vsock_set_tsi(struct virtio_vsock *v, const struct vsock_tsi_config *cfg);
void virtio_vsock_poll(struct virtio_vsock *v);

#endif
