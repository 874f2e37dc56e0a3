/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Host side of virtio-vsock: the connection table, the stream protocol
 * (virtio 1.2, 5.10.6) with credit flow control both ways, and the host
 * sockets behind it, all driven from one epoll set.
 *
 * The device (devices/virtio/vsock.c) validates what the guest wrote and
 * hands stream packets in with vsock_mux_guest_stream(); it asks for
 * packets to the guest with vsock_mux_rx_fill() whenever it holds an rx
 * buffer and vsock_mux_rx_pending() says there is something to send.  The
 * device's single worker thread calls everything here, so nothing locks.
 */
#ifndef KRUN_VSOCK_MUX_H
#define KRUN_VSOCK_MUX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VSOCK_HOST_CID 2
#define VSOCK_HDR_SIZE 44
/* Largest payload in one packet, either way (as Linux and upstream). */
#define VSOCK_MAX_PAYLOAD (64u * 1024)

#define VSOCK_TYPE_STREAM 1
/* Datagrams of the TSI-patched guest kernel (libkrunfw patches 0003-0008). */
#define VSOCK_TYPE_DGRAM 3

/* A packet header in host byte order (the wire form is 44 bytes LE). */
struct vsock_hdr {
	uint64_t src_cid;
	uint64_t dst_cid;
	uint32_t src_port;
	uint32_t dst_port;
	uint32_t len;
	uint16_t type;
	uint16_t op;
	uint32_t flags;
	uint32_t buf_alloc;
	uint32_t fwd_cnt;
};

/* A krun_add_vsock_port2() entry. */
struct vsock_port {
	uint32_t port;
	const char *path;	/* AF_UNIX path; copied */
	bool listen;		/* host connects to path, guest listens on port */
};

/* Bounds the guest cannot lift; 0 fields take the defaults below. */
struct vsock_limits {
	unsigned int max_conns;		/* open connections, both directions */
	uint32_t buf_alloc;		/* our receive credit per connection */
	size_t buffer_budget;		/* all connections' guest->host buffers */
};

#define VSOCK_DEFAULT_MAX_CONNS 1024
#define VSOCK_DEFAULT_BUF_ALLOC (256u * 1024)
#define VSOCK_DEFAULT_BUFFER_BUDGET (64u << 20)
#define VSOCK_MAX_PORTS 64

/* Counters for logs and tests (monotonic; read with vsock_mux_stats()). */
struct vsock_stats {
	uint64_t conns_opened;
	uint64_t conns_refused;		/* RST to a REQUEST: unknown port, cap, error */
	uint64_t resets_sent;
	uint64_t credit_violations;
	uint64_t bytes_to_host;
	uint64_t bytes_to_guest;
	uint64_t dropped;		/* stream packets that matched nothing */
	uint64_t dgram_dropped;		/* DGRAM packets TSI refused or had no use for */
	uint64_t tsi_requests;		/* TSI control requests taken */
	uint64_t tsi_refused;		/* malformed or refused TSI control requests */
};

/* krun_set_port_map: guest port -> host port for TSI listeners. */
struct vsock_port_map {
	uint16_t host;
	uint16_t guest;
};

#define VSOCK_TSI_MAX_PORT_MAP 256
#define VSOCK_TSI_DEFAULT_MAX_PROXIES 256
#define VSOCK_TSI_MAX_LISTENERS 64

/* TSI (transparent socket impersonation): the guest's inet/unix sockets
 * proxied through host sockets.  Off unless inet or unix_ is set. */
struct vsock_tsi_config {
	bool inet;			/* KRUN_TSI_HIJACK_INET */
	bool unix_;			/* KRUN_TSI_HIJACK_UNIX */
	bool has_map;			/* krun_set_port_map called: only map[] is exposed */
	const struct vsock_port_map *map;
	unsigned int nr_map;
	unsigned int max_proxies;	/* 0: VSOCK_TSI_DEFAULT_MAX_PROXIES */
};

struct vsock_mux;

/* Binds and listens on every listen=true path now (so the caller sees
 * EADDRINUSE etc. before the VM starts).  0 or -errno. */
int vsock_mux_create(const struct vsock_port *ports, unsigned int nr_ports,
		     const struct vsock_limits *limits, uint64_t guest_cid,
		     struct vsock_mux **out);
/* Closes everything and removes the socket files it created. */
void vsock_mux_destroy(struct vsock_mux *m);

/* Readable when host sockets need service: then call vsock_mux_host_events(). */
int vsock_mux_fd(const struct vsock_mux *m);
void vsock_mux_host_events(struct vsock_mux *m);

/* The guest's driver went away (device reset): every connection is closed
 * on the host side without telling the guest.  Listeners stay. */
void vsock_mux_reset(struct vsock_mux *m);

/*
 * A STREAM packet from the guest, header already checked by the device
 * (CIDs, type, len against the chain and VSOCK_MAX_PAYLOAD).  payload
 * describes exactly h->len bytes of guest memory, used only during the call.
 */
void vsock_mux_guest_stream(struct vsock_mux *m, const struct vsock_hdr *h,
			    const struct iovec *payload, unsigned int nr);

/* Switches TSI on (before the guest runs).  0 or -errno. */
int vsock_mux_set_tsi(struct vsock_mux *m, const struct vsock_tsi_config *cfg);

/* A DGRAM packet (type 3, F_DGRAM negotiated): the TSI control channel and
 * TSI's UDP payloads; counted and dropped when TSI is off. */
void vsock_mux_guest_dgram(struct vsock_mux *m, const struct vsock_hdr *h,
			   const struct iovec *payload, unsigned int nr);

bool vsock_mux_rx_pending(const struct vsock_mux *m);
/*
 * Produces the next packet for the guest: header in *h, payload (h->len
 * bytes) read straight into buf (at most max bytes).  Returns true if a
 * packet was produced; false means nothing to send now (keep the buffer).
 */
bool vsock_mux_rx_fill(struct vsock_mux *m, struct vsock_hdr *h, const struct iovec *buf,
		       unsigned int nr, size_t max);

void vsock_mux_stats(const struct vsock_mux *m, struct vsock_stats *out);

#endif
