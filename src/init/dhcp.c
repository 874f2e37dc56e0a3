// SPDX-License-Identifier: Apache-2.0
/*
 * DHCP messages for the guest init (see dhcp.h): RFC 2131 client messages
 * with RFC 4039 Rapid Commit, and a strict reply parser.  No I/O here.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "dhcp.h"

/* Offsets into the fixed BOOTP header (RFC 2131, figure 1). */
#define OFF_OP 0
#define OFF_HTYPE 1
#define OFF_HLEN 2
#define OFF_XID 4
#define OFF_FLAGS 10
#define OFF_YIADDR 16
#define OFF_CHADDR 28
#define OFF_COOKIE 236

#define BOOTREQUEST 1
#define BOOTREPLY 2
#define HTYPE_ETHER 1
#define ETHER_ADDR_LEN 6
/*
 * Ask for broadcast replies: until the lease is applied eth0 has no
 * address, and the kernel drops unicast IP to an address it does not own.
 */
#define FLAG_BROADCAST 0x8000

static const uint8_t magic_cookie[4] = { 99, 130, 83, 99 };

static const uint8_t param_list[] = {
	DHCP_OPT_SUBNET_MASK, DHCP_OPT_ROUTER, DHCP_OPT_DNS, DHCP_OPT_MTU,
};

static void put32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Network-order address as stored in struct in_addr: the bytes as they are. */
static uint32_t get_addr(const uint8_t *p)
{
	uint32_t a;

	memcpy(&a, p, 4);
	return a;
}

/* ---- building ---------------------------------------------------------- */

/* The header every client message shares; returns the options' offset. */
static size_t put_header(uint8_t *buf, uint32_t xid, const uint8_t mac[6], uint8_t type)
{
	memset(buf, 0, DHCP_SEND_BUF_LEN);
	buf[OFF_OP] = BOOTREQUEST;
	buf[OFF_HTYPE] = HTYPE_ETHER;
	buf[OFF_HLEN] = ETHER_ADDR_LEN;
	put32be(buf + OFF_XID, xid);
	buf[OFF_FLAGS] = FLAG_BROADCAST >> 8;
	memcpy(buf + OFF_CHADDR, mac, ETHER_ADDR_LEN);
	memcpy(buf + OFF_COOKIE, magic_cookie, sizeof(magic_cookie));

	size_t n = DHCP_OPTIONS_OFFSET;
	buf[n++] = DHCP_OPT_MSG_TYPE;
	buf[n++] = 1;
	buf[n++] = type;
	buf[n++] = DHCP_OPT_PARAM_LIST;
	buf[n++] = sizeof(param_list);
	memcpy(buf + n, param_list, sizeof(param_list));
	return n + sizeof(param_list);
}

static size_t put_addr_opt(uint8_t *buf, size_t n, uint8_t code, uint32_t addr)
{
	buf[n++] = code;
	buf[n++] = 4;
	memcpy(buf + n, &addr, 4);
	return n + 4;
}

/* END, then zero padding up to the 300-byte BOOTP minimum. */
static size_t put_end(uint8_t *buf, size_t n)
{
	buf[n++] = DHCP_OPT_END;
	return n < DHCP_MIN_SEND_LEN ? DHCP_MIN_SEND_LEN : n;
}

size_t dhcp_build_discover(uint8_t *buf, size_t size, uint32_t xid, const uint8_t mac[6])
{
	if (size < DHCP_SEND_BUF_LEN)
		return 0;
	size_t n = put_header(buf, xid, mac, DHCP_DISCOVER);
	/* Rapid Commit: a server that supports it (passt does) ACKs at once. */
	buf[n++] = DHCP_OPT_RAPID_COMMIT;
	buf[n++] = 0;
	return put_end(buf, n);
}

size_t dhcp_build_request(uint8_t *buf, size_t size, uint32_t xid, const uint8_t mac[6],
			  uint32_t requested_ip, uint32_t server_id)
{
	if (size < DHCP_SEND_BUF_LEN)
		return 0;
	size_t n = put_header(buf, xid, mac, DHCP_REQUEST);
	n = put_addr_opt(buf, n, DHCP_OPT_REQUESTED_IP, requested_ip);
	n = put_addr_opt(buf, n, DHCP_OPT_SERVER_ID, server_id);
	return put_end(buf, n);
}

/* ---- parsing ----------------------------------------------------------- */

int dhcp_mask_to_prefix(uint32_t mask)
{
	uint32_t m = get32be((const uint8_t *)&mask);
	int prefix = 0;

	while (prefix < 32 && (m & (0x80000000u >> prefix)))
		prefix++;
	/* Every bit after the leading ones must be clear. */
	if (prefix < 32 && (m << prefix) != 0)
		return -1;
	return prefix;
}

/* Where each option's data starts and how long it is (first occurrence). */
struct options {
	const uint8_t *data[256];
	uint8_t len[256];
	bool seen[256];
};

/*
 * Walk the option list: every option's length byte and data inside the
 * packet, and an END before the packet ends.  Returns false otherwise.
 */
static bool walk_options(const uint8_t *p, size_t len, struct options *o)
{
	size_t i = 0;

	memset(o->seen, 0, sizeof(o->seen));
	while (i < len) {
		uint8_t code = p[i++];

		if (code == DHCP_OPT_END)
			return true;
		if (code == DHCP_OPT_PAD)
			continue;
		if (i >= len || p[i] > len - i - 1)
			return false;
		uint8_t olen = p[i++];
		if (!o->seen[code]) {
			o->seen[code] = true;
			o->data[code] = p + i;
			o->len[code] = olen;
		}
		i += olen;
	}
	return false;
}

/* An address a lease may hand us: not 0, broadcast, loopback or multicast. */
static bool usable_addr(uint32_t addr)
{
	uint32_t a = get32be((const uint8_t *)&addr);

	return a != 0 && a != 0xffffffffu && (a >> 24) != 127 && (a >> 28) != 0xe;
}

static uint16_t clamp_mtu(uint32_t mtu)
{
	if (mtu < DHCP_MTU_MIN)
		return DHCP_MTU_MIN;
	if (mtu > DHCP_MTU_MAX)
		return DHCP_MTU_MAX;
	return (uint16_t)mtu;
}

/* Options 1, 3, 6 and 26 into the lease; false when one is malformed. */
static bool read_lease_options(const struct options *o, struct dhcp_lease *out)
{
	out->prefix_len = 32;
	if (o->seen[DHCP_OPT_SUBNET_MASK]) {
		if (o->len[DHCP_OPT_SUBNET_MASK] != 4)
			return false;
		int prefix = dhcp_mask_to_prefix(get_addr(o->data[DHCP_OPT_SUBNET_MASK]));
		/* A non-contiguous or empty mask says nothing usable: /32. */
		if (prefix > 0)
			out->prefix_len = (uint8_t)prefix;
	}

	out->router = 0;
	if (o->seen[DHCP_OPT_ROUTER]) {
		uint8_t rlen = o->len[DHCP_OPT_ROUTER];
		if (rlen < 4 || rlen % 4)
			return false;
		uint32_t r = get_addr(o->data[DHCP_OPT_ROUTER]);
		if (usable_addr(r))
			out->router = r;
	}

	out->dns_count = 0;
	if (o->seen[DHCP_OPT_DNS]) {
		uint8_t dlen = o->len[DHCP_OPT_DNS];
		if (dlen < 4 || dlen % 4)
			return false;
		for (unsigned i = 0; i < dlen / 4u && out->dns_count < DHCP_MAX_DNS; i++) {
			uint32_t d = get_addr(o->data[DHCP_OPT_DNS] + 4 * i);
			if (usable_addr(d))
				out->dns[out->dns_count++] = d;
		}
	}

	out->mtu = DHCP_MTU_DEFAULT;
	if (o->seen[DHCP_OPT_MTU]) {
		if (o->len[DHCP_OPT_MTU] != 2)
			return false;
		const uint8_t *m = o->data[DHCP_OPT_MTU];
		out->mtu = clamp_mtu((uint32_t)m[0] << 8 | m[1]);
	}
	return true;
}

/* The fixed header: a BOOTREPLY over Ethernet to our xid and MAC. */
static bool header_is_ours(const uint8_t *pkt, uint32_t xid, const uint8_t mac[6])
{
	return pkt[OFF_OP] == BOOTREPLY && pkt[OFF_HTYPE] == HTYPE_ETHER &&
	       pkt[OFF_HLEN] == ETHER_ADDR_LEN && get32be(pkt + OFF_XID) == xid &&
	       memcmp(pkt + OFF_CHADDR, mac, ETHER_ADDR_LEN) == 0 &&
	       memcmp(pkt + OFF_COOKIE, magic_cookie, sizeof(magic_cookie)) == 0;
}

int dhcp_parse_reply(const uint8_t *pkt, size_t len, uint32_t xid, const uint8_t mac[6],
		     struct dhcp_lease *out)
{
	struct options o;

	if (len < DHCP_OPTIONS_OFFSET || !header_is_ours(pkt, xid, mac))
		return -1;
	if (!walk_options(pkt + DHCP_OPTIONS_OFFSET, len - DHCP_OPTIONS_OFFSET, &o))
		return -1;
	if (!o.seen[DHCP_OPT_MSG_TYPE] || o.len[DHCP_OPT_MSG_TYPE] != 1)
		return -1;

	memset(out, 0, sizeof(*out));
	out->type = o.data[DHCP_OPT_MSG_TYPE][0];
	if (out->type != DHCP_OFFER && out->type != DHCP_ACK && out->type != DHCP_NAK)
		return -1;
	if (o.seen[DHCP_OPT_SERVER_ID]) {
		if (o.len[DHCP_OPT_SERVER_ID] != 4)
			return -1;
		out->server_id = get_addr(o.data[DHCP_OPT_SERVER_ID]);
	}
	if (out->type == DHCP_NAK)
		return out->type;

	out->addr = get_addr(pkt + OFF_YIADDR);
	if (!usable_addr(out->addr))
		return -1;
	if (out->type == DHCP_OFFER && out->server_id == 0)
		return -1;
	if (!read_lease_options(&o, out))
		return -1;
	return out->type;
}

size_t dhcp_format_resolv(const struct dhcp_lease *lease, char *buf, size_t size)
{
	size_t n = 0;

	if (size)
		buf[0] = 0;
	for (unsigned i = 0; i < lease->dns_count && i < DHCP_MAX_DNS; i++) {
		const uint8_t *a = (const uint8_t *)&lease->dns[i];
		int w = snprintf(buf + n, size - n, "nameserver %u.%u.%u.%u\n", a[0], a[1], a[2],
				 a[3]);
		if (w < 0 || (size_t)w >= size - n) {
			if (size)
				buf[0] = 0;
			return 0;
		}
		n += (size_t)w;
	}
	return n;
}
