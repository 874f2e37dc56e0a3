/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TSI host side (tsi.c) and the few mux services it uses (mux.c): private
 * to backends/vsock.  Everything runs on the vsock device's one worker
 * thread, like the mux.
 */
#ifndef KRUN_VSOCK_TSI_H
#define KRUN_VSOCK_TSI_H

#include "mux.h"

/* The guest's proxied streams connect to this host port (upstream's). */
#define TSI_PROXY_PORT 620
#define TSI_OP_FIRST 1024
#define TSI_OP_LAST 1031

/* What sits in the mux's epoll set; tsi.c's items are EP_TSI. */
enum ep_kind { EP_LISTENER, EP_CONN, EP_TSI };

struct ep_item {
	enum ep_kind kind;
};

struct vsock_tsi;

/* ---- tsi.c, called by the mux ---- */
/* stats: the mux's counters, which TSI adds to. */
int vsock_tsi_create(struct vsock_mux *m, const struct vsock_tsi_config *cfg,
		     struct vsock_stats *stats, struct vsock_tsi **out);
/* NULL is fine. */
void vsock_tsi_destroy(struct vsock_tsi *t);
/* Device reset: every proxy and listener goes. */
void vsock_tsi_reset(struct vsock_tsi *t);
void vsock_tsi_guest_dgram(struct vsock_tsi *t, const struct vsock_hdr *h,
			   const struct iovec *payload, unsigned int nr);
void vsock_tsi_host_event(struct vsock_tsi *t, struct ep_item *it, uint32_t events);
/* The guest's OP_REQUEST to (2, TSI_PROXY_PORT) from svm_port: the host
 * socket its CONNECT opened, handed over to the caller; -errno if none. */
int vsock_tsi_take_stream(struct vsock_tsi *t, uint32_t svm_port);
/* The guest accepted (OP_RESPONSE) a host client of its listener vm_port. */
void vsock_tsi_accepted(struct vsock_tsi *t, uint32_t vm_port);
bool vsock_tsi_rx_pending(const struct vsock_tsi *t);
bool vsock_tsi_rx_fill(struct vsock_tsi *t, struct vsock_hdr *h, const struct iovec *buf,
		       unsigned int nr, size_t max);
/* The guest CID packets to the guest carry. */
uint64_t vsock_mux_guest_cid(const struct vsock_mux *m);

/* ---- mux.c, called by tsi.c ---- */
int vsock_mux_epfd(const struct vsock_mux *m);
/* A host client of a TSI listener: a new connection (fd taken over on
 * success) that sends OP_REQUEST to (guest, vm_port). 0 or -errno. */
int vsock_mux_conn_in(struct vsock_mux *m, int fd, uint32_t vm_port);
/* The host socket of stream (host_port, guest_port), or -1. */
int vsock_mux_conn_fd(const struct vsock_mux *m, uint32_t host_port, uint32_t guest_port);

#endif
