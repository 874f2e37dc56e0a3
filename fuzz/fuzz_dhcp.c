// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the guest init's DHCP reply parser on arbitrary bytes,
 * as PID 1 runs it on whatever arrives on UDP port 68.  The first 10 bytes
 * are the xid and MAC the init expects; the rest is the datagram, with the
 * xid and chaddr made to match half the time so the option walk is reached.
 * Besides the sanitizers it checks what dhcp_client.c relies on in a lease
 * it accepts.
 */
#include <stdint.h>
#include <string.h>

#include "init/dhcp.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_lease(int type, const struct dhcp_lease *l)
{
	char text[DHCP_MAX_DNS * 32];

	check(type == l->type);
	check(type == DHCP_OFFER || type == DHCP_ACK || type == DHCP_NAK);
	if (type == DHCP_NAK)
		return;
	check(l->addr != 0);
	check(type != DHCP_OFFER || l->server_id != 0);
	check(l->prefix_len >= 1 && l->prefix_len <= 32);
	check(l->dns_count <= DHCP_MAX_DNS);
	check(l->mtu >= DHCP_MTU_MIN && l->mtu <= DHCP_MTU_MAX);
	size_t n = dhcp_format_resolv(l, text, sizeof(text));
	check(n < sizeof(text) && strlen(text) == n);
	check((n == 0) == (l->dns_count == 0));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reader r = { data, size };
	uint8_t mac[6], pkt[2048];
	struct dhcp_lease lease;
	uint32_t xid = get32(&r);

	for (int i = 0; i < 6; i++)
		mac[i] = get8(&r);
	size_t len = r.left < sizeof(pkt) ? r.left : sizeof(pkt);
	memcpy(pkt, r.p, len);
	/* Odd xid: make the header ours, so the options get parsed. */
	if ((xid & 1) && len >= DHCP_OPTIONS_OFFSET) {
		pkt[4] = (uint8_t)(xid >> 24);
		pkt[5] = (uint8_t)(xid >> 16);
		pkt[6] = (uint8_t)(xid >> 8);
		pkt[7] = (uint8_t)xid;
		memcpy(pkt + 28, mac, 6);
	}
	int type = dhcp_parse_reply(pkt, len, xid, mac, &lease);
	if (type >= 0)
		check_lease(type, &lease);
	return 0;
}
