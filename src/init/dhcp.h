/* SPDX-License-Identifier: Apache-2.0 */
/*
 * init/dhcp.h - the DHCP messages the guest init exchanges to configure
 * eth0 when the VMM asks for it (KRUN_DHCP=1, upstream's
 * NET_FLAG_DHCP_CLIENT).  Pure (no I/O): building DISCOVER/REQUEST into a
 * caller buffer and checking a reply, linked into the guest init, the unit
 * tests and the fuzz target.  dhcp_client.c holds the socket side.
 *
 * A reply is never trusted: it must be a BOOTREPLY for our xid and MAC with
 * the magic cookie, a well-formed option list (every length inside the
 * packet, ending with END) and a message type; anything else is ignored.
 * The sname/file fields are not read (option overload is ignored).
 */
#ifndef KRUN_INIT_DHCP_H
#define KRUN_INIT_DHCP_H

#include <stddef.h>
#include <stdint.h>

#define DHCP_SERVER_PORT 67
#define DHCP_CLIENT_PORT 68

/* op + htype..file: the fixed BOOTP header, then the 4-byte magic cookie. */
#define DHCP_FIXED_LEN 236u
#define DHCP_OPTIONS_OFFSET 240u
/* What we send: padded to BOOTP's 300 bytes, which some servers expect. */
#define DHCP_MIN_SEND_LEN 300u
#define DHCP_SEND_BUF_LEN 576u

/* Message types (option 53). */
#define DHCP_DISCOVER 1
#define DHCP_OFFER 2
#define DHCP_REQUEST 3
#define DHCP_ACK 5
#define DHCP_NAK 6

/* Options we send or read. */
#define DHCP_OPT_PAD 0
#define DHCP_OPT_SUBNET_MASK 1
#define DHCP_OPT_ROUTER 3
#define DHCP_OPT_DNS 6
#define DHCP_OPT_MTU 26
#define DHCP_OPT_REQUESTED_IP 50
#define DHCP_OPT_MSG_TYPE 53
#define DHCP_OPT_SERVER_ID 54
#define DHCP_OPT_PARAM_LIST 55
#define DHCP_OPT_RAPID_COMMIT 80
#define DHCP_OPT_END 255

/* resolv.conf's MAXNS: more servers would be ignored by the resolver. */
#define DHCP_MAX_DNS 3

/*
 * MTU bounds: IPv6's minimum, and 65520, the default when the lease has no
 * option 26 (upstream's value, and what passt expects on its tap side).
 */
#define DHCP_MTU_MIN 1280
#define DHCP_MTU_MAX 65520
#define DHCP_MTU_DEFAULT DHCP_MTU_MAX

/* Addresses are in network byte order, as in struct in_addr. */
struct dhcp_lease {
	int type;		/* DHCP_OFFER, DHCP_ACK or DHCP_NAK */
	uint32_t addr;		/* yiaddr (0 for a NAK) */
	uint32_t server_id;	/* option 54, 0 when absent */
	uint8_t prefix_len;	/* from option 1; 32 when absent or not contiguous */
	uint32_t router;	/* first address of option 3, 0 when absent */
	uint32_t dns[DHCP_MAX_DNS];
	unsigned dns_count;	/* 0 when the lease has no option 6 */
	uint16_t mtu;		/* option 26 clamped, DHCP_MTU_DEFAULT when absent */
};

/*
 * Write a DHCPDISCOVER (with Rapid Commit and our parameter request list)
 * or a DHCPREQUEST for requested_ip from server_id into buf.  Return the
 * length, or 0 when size is below DHCP_SEND_BUF_LEN.
 */
size_t dhcp_build_discover(uint8_t *buf, size_t size, uint32_t xid, const uint8_t mac[6]);
size_t dhcp_build_request(uint8_t *buf, size_t size, uint32_t xid, const uint8_t mac[6],
			  uint32_t requested_ip, uint32_t server_id);

/*
 * Check pkt[0..len) as a reply to our xid/mac.  On success fill *out and
 * return its message type (DHCP_OFFER, DHCP_ACK or DHCP_NAK); otherwise
 * return -1 and leave *out unspecified.  An OFFER or ACK must carry a
 * usable yiaddr, an OFFER also a server identifier (the REQUEST names it).
 */
int dhcp_parse_reply(const uint8_t *pkt, size_t len, uint32_t xid, const uint8_t mac[6],
		     struct dhcp_lease *out);

/* 255.255.255.0 -> 24; -1 for a mask that is not contiguous. */
int dhcp_mask_to_prefix(uint32_t mask);

/*
 * The resolv.conf text for the lease's DNS servers ("nameserver a.b.c.d\n"
 * each) into buf; return its length (0 when the lease has none), or 0 when
 * it does not fit.
 */
size_t dhcp_format_resolv(const struct dhcp_lease *lease, char *buf, size_t size);

/* ---- dhcp_client.c: the socket side, linked into the init only ---------- */

/* Retransmission waits: 250 ms, 500 ms, 1 s, 2.25 s; 4 s in all. */
#define DHCP_TIMEOUT_TEXT "4 s"

typedef void (*dhcp_log_fn)(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Configure ifname by DHCP: bring it up, run DISCOVER (Rapid Commit) or
 * DISCOVER/OFFER/REQUEST/ACK within 4 s, then set the address and prefix,
 * the MTU, the default route (when the lease has a router) and, when the
 * lease has DNS servers, write them to resolv_path.  Failures to apply a
 * part are warnings through log; no lease is one message.  Returns 0 with
 * the lease applied, 1 when there is no such interface (nothing said), -1
 * when there is no lease or the interface cannot be used (a warning says
 * why).
 */
int dhcp_configure(const char *ifname, const char *resolv_path, dhcp_log_fn log);

#endif
