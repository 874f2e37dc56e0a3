// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests for the guest init's DHCP client: the messages it builds, the
 * reply parser (well-formed leases and every way a reply is refused), and
 * dhcp_configure() itself against a scripted server over a veth pair in a
 * private user+network namespace (skipped where those cannot be made).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "init/dhcp.h"
#include "../test.h"

static const uint8_t mac[6] = { 0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee };
static const uint8_t cookie[4] = { 99, 130, 83, 99 };
#define XID 0x12345678u

static uint32_t ip(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		abort();
	return a.s_addr;
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Option code's data in a message (from its option area), or NULL. */
static const uint8_t *find_opt(const uint8_t *pkt, size_t len, uint8_t code, uint8_t *olen)
{
	size_t i = DHCP_OPTIONS_OFFSET;

	while (i < len && pkt[i] != DHCP_OPT_END) {
		if (pkt[i] == DHCP_OPT_PAD) {
			i++;
			continue;
		}
		if (i + 1 >= len || i + 2 + pkt[i + 1] > len)
			return NULL;
		if (pkt[i] == code) {
			*olen = pkt[i + 1];
			return pkt + i + 2;
		}
		i += 2 + pkt[i + 1];
	}
	return NULL;
}

static int msg_type(const uint8_t *pkt, size_t len)
{
	uint8_t olen;
	const uint8_t *t = find_opt(pkt, len, DHCP_OPT_MSG_TYPE, &olen);

	return t && olen == 1 ? t[0] : -1;
}

/* ---- building replies -------------------------------------------------- */

struct pkt {
	uint8_t b[1024];
	size_t n;
};

static void header(struct pkt *p, uint8_t op, uint32_t xid, const uint8_t *hw, const char *yiaddr)
{
	memset(p, 0, sizeof(*p));
	p->b[0] = op;
	p->b[1] = 1;
	p->b[2] = 6;
	p->b[4] = (uint8_t)(xid >> 24);
	p->b[5] = (uint8_t)(xid >> 16);
	p->b[6] = (uint8_t)(xid >> 8);
	p->b[7] = (uint8_t)xid;
	uint32_t y = ip(yiaddr);
	memcpy(p->b + 16, &y, 4);
	memcpy(p->b + 28, hw, 6);
	memcpy(p->b + 236, cookie, 4);
	p->n = DHCP_OPTIONS_OFFSET;
}

static void opt(struct pkt *p, uint8_t code, uint8_t len, const void *data)
{
	p->b[p->n++] = code;
	p->b[p->n++] = len;
	memcpy(p->b + p->n, data, len);
	p->n += len;
}

static void opt8(struct pkt *p, uint8_t code, uint8_t v)
{
	opt(p, code, 1, &v);
}

static void opt_addr(struct pkt *p, uint8_t code, const char *a)
{
	uint32_t v = ip(a);

	opt(p, code, 4, &v);
}

static void opt_mtu(struct pkt *p, unsigned mtu)
{
	uint8_t v[2] = { (uint8_t)(mtu >> 8), (uint8_t)mtu };

	opt(p, DHCP_OPT_MTU, 2, v);
}

static void end(struct pkt *p)
{
	p->b[p->n++] = DHCP_OPT_END;
}

/* A full lease of the given type for xid/hw, as passt would send it. */
static void lease_reply(struct pkt *p, uint8_t type, uint32_t xid, const uint8_t *hw,
			unsigned mtu, bool dns)
{
	uint32_t servers[2] = { ip("10.0.2.3"), ip("8.8.8.8") };

	header(p, 2, xid, hw, "10.0.2.15");
	opt8(p, DHCP_OPT_MSG_TYPE, type);
	opt_addr(p, DHCP_OPT_SERVER_ID, "10.0.2.2");
	opt_addr(p, DHCP_OPT_SUBNET_MASK, "255.255.255.0");
	opt_addr(p, DHCP_OPT_ROUTER, "10.0.2.1");
	if (dns)
		opt(p, DHCP_OPT_DNS, 8, servers);
	if (mtu)
		opt_mtu(p, mtu);
	end(p);
}

static int parse(const struct pkt *p, struct dhcp_lease *l)
{
	return dhcp_parse_reply(p->b, p->n, XID, mac, l);
}

/* ---- client messages --------------------------------------------------- */

static void check_client_header(const uint8_t *b, size_t n)
{
	CHECK_EQ(n, DHCP_MIN_SEND_LEN);
	CHECK_EQ(b[0], 1);
	CHECK_EQ(b[1], 1);
	CHECK_EQ(b[2], 6);
	CHECK_EQ(be32(b + 4), XID);
	CHECK_EQ(b[10], 0x80); /* broadcast replies: eth0 has no address yet */
	CHECK(memcmp(b + 28, mac, 6) == 0);
	CHECK(memcmp(b + 236, cookie, 4) == 0);
}

static void test_discover(void)
{
	uint8_t b[DHCP_SEND_BUF_LEN], olen = 0;
	size_t n = dhcp_build_discover(b, sizeof(b), XID, mac);
	const uint8_t *o;

	check_client_header(b, n);
	CHECK_EQ(msg_type(b, n), DHCP_DISCOVER);
	CHECK(find_opt(b, n, DHCP_OPT_RAPID_COMMIT, &olen) != NULL);
	CHECK_EQ(olen, 0);
	o = find_opt(b, n, DHCP_OPT_PARAM_LIST, &olen);
	CHECK(o && olen == 4 && o[0] == 1 && o[1] == 3 && o[2] == 6 && o[3] == 26);
	CHECK(find_opt(b, n, DHCP_OPT_REQUESTED_IP, &olen) == NULL);
	CHECK_EQ(dhcp_build_discover(b, DHCP_SEND_BUF_LEN - 1, XID, mac), 0);
}

static void test_request(void)
{
	uint8_t b[DHCP_SEND_BUF_LEN], olen = 0;
	size_t n = dhcp_build_request(b, sizeof(b), XID, mac, ip("10.0.2.15"), ip("10.0.2.2"));
	const uint8_t *o;

	check_client_header(b, n);
	CHECK_EQ(msg_type(b, n), DHCP_REQUEST);
	o = find_opt(b, n, DHCP_OPT_REQUESTED_IP, &olen);
	CHECK(o && olen == 4 && memcmp(o, (uint8_t[]){ 10, 0, 2, 15 }, 4) == 0);
	o = find_opt(b, n, DHCP_OPT_SERVER_ID, &olen);
	CHECK(o && olen == 4 && memcmp(o, (uint8_t[]){ 10, 0, 2, 2 }, 4) == 0);
	CHECK(find_opt(b, n, DHCP_OPT_PARAM_LIST, &olen) != NULL);
	CHECK(find_opt(b, n, DHCP_OPT_RAPID_COMMIT, &olen) == NULL);
	CHECK_EQ(dhcp_build_request(b, 10, XID, mac, 1, 2), 0);
}

/* Our own DISCOVER (op=1) is not a reply, whatever it carries. */
static void test_own_message_refused(void)
{
	uint8_t b[DHCP_SEND_BUF_LEN];
	struct dhcp_lease l;
	size_t n = dhcp_build_discover(b, sizeof(b), XID, mac);

	CHECK_EQ(dhcp_parse_reply(b, n, XID, mac, &l), -1);
}

/* ---- parsing ----------------------------------------------------------- */

static void check_full_lease(const struct dhcp_lease *l, int type)
{
	CHECK_EQ(l->type, type);
	CHECK_EQ(l->addr, ip("10.0.2.15"));
	CHECK_EQ(l->server_id, ip("10.0.2.2"));
	CHECK_EQ(l->prefix_len, 24);
	CHECK_EQ(l->router, ip("10.0.2.1"));
	CHECK_EQ(l->dns_count, 2);
	CHECK_EQ(l->dns[0], ip("10.0.2.3"));
	CHECK_EQ(l->dns[1], ip("8.8.8.8"));
	CHECK_EQ(l->mtu, 1500);
}

static void test_parse_offer_and_ack(void)
{
	struct pkt p;
	struct dhcp_lease l;

	lease_reply(&p, DHCP_OFFER, XID, mac, 1500, true);
	CHECK_EQ(parse(&p, &l), DHCP_OFFER);
	check_full_lease(&l, DHCP_OFFER);
	lease_reply(&p, DHCP_ACK, XID, mac, 1500, true);
	CHECK_EQ(parse(&p, &l), DHCP_ACK);
	check_full_lease(&l, DHCP_ACK);
	/* Trailing padding after END, as BOOTP's 300-byte minimum gives. */
	p.n = 400;
	CHECK_EQ(parse(&p, &l), DHCP_ACK);
}

static void test_parse_nak(void)
{
	struct pkt p;
	struct dhcp_lease l;

	header(&p, 2, XID, mac, "0.0.0.0");
	opt8(&p, DHCP_OPT_MSG_TYPE, DHCP_NAK);
	opt_addr(&p, DHCP_OPT_SERVER_ID, "10.0.2.2");
	end(&p);
	CHECK_EQ(parse(&p, &l), DHCP_NAK);
	CHECK_EQ(l.server_id, ip("10.0.2.2"));
}

/* Pads between options are skipped; a repeated option: the first counts. */
static void test_parse_pad_and_repeat(void)
{
	struct pkt p;
	struct dhcp_lease l;

	header(&p, 2, XID, mac, "192.168.1.7");
	p.b[p.n++] = DHCP_OPT_PAD;
	opt8(&p, DHCP_OPT_MSG_TYPE, DHCP_ACK);
	p.b[p.n++] = DHCP_OPT_PAD;
	opt_addr(&p, DHCP_OPT_ROUTER, "192.168.1.1");
	opt_addr(&p, DHCP_OPT_ROUTER, "192.168.1.254");
	opt8(&p, 200, 42); /* unknown: skipped */
	end(&p);
	CHECK_EQ(parse(&p, &l), DHCP_ACK);
	CHECK_EQ(l.addr, ip("192.168.1.7"));
	CHECK_EQ(l.router, ip("192.168.1.1"));
	CHECK_EQ(l.server_id, 0); /* optional in an ACK */
	CHECK_EQ(l.prefix_len, 32); /* no mask */
	CHECK_EQ(l.dns_count, 0);
	CHECK_EQ(l.mtu, DHCP_MTU_DEFAULT);
}

static void check_refused(const struct pkt *p, const char *why)
{
	struct dhcp_lease l;

	if (parse(p, &l) != -1) {
		fprintf(stderr, "  accepted: %s\n", why);
		test_failures_in_case++;
	}
}

static void test_parse_refused_header(void)
{
	static const uint8_t other_mac[6] = { 0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xef };
	struct pkt p;

	lease_reply(&p, DHCP_ACK, XID + 1, mac, 0, true);
	check_refused(&p, "wrong xid");
	lease_reply(&p, DHCP_ACK, XID, other_mac, 0, true);
	check_refused(&p, "wrong chaddr");
	lease_reply(&p, DHCP_ACK, XID, mac, 0, true);
	p.b[0] = 1;
	check_refused(&p, "op=1");
	lease_reply(&p, DHCP_ACK, XID, mac, 0, true);
	p.b[2] = 16;
	check_refused(&p, "hlen 16");
	lease_reply(&p, DHCP_ACK, XID, mac, 0, true);
	p.b[239] = 0;
	check_refused(&p, "no magic cookie");
	lease_reply(&p, DHCP_ACK, XID, mac, 0, true);
	p.n = DHCP_OPTIONS_OFFSET - 1;
	check_refused(&p, "shorter than header and cookie");
	p.n = DHCP_OPTIONS_OFFSET;
	check_refused(&p, "no options at all");
	p.n = 0;
	check_refused(&p, "empty");
}

static void test_parse_refused_options(void)
{
	struct pkt p, full;

	lease_reply(&full, DHCP_ACK, XID, mac, 1500, true);
	p = full;
	p.n--;
	check_refused(&p, "no END");
	p = full;
	p.n = full.n - 2; /* inside the MTU option's data */
	check_refused(&p, "option data cut off");
	p = full;
	p.n = full.n - 4; /* the MTU option's code only */
	check_refused(&p, "option code without length");
	p = full;
	p.b[p.n - 4] = 200; /* the MTU option's length: past the end */
	check_refused(&p, "option length past the end");

	header(&p, 2, XID, mac, "10.0.2.15");
	opt_addr(&p, DHCP_OPT_SERVER_ID, "10.0.2.2");
	end(&p);
	check_refused(&p, "no message type");
	header(&p, 2, XID, mac, "10.0.2.15");
	opt(&p, DHCP_OPT_MSG_TYPE, 2, (uint8_t[]){ DHCP_ACK, 0 });
	end(&p);
	check_refused(&p, "message type of length 2");
	header(&p, 2, XID, mac, "10.0.2.15");
	opt8(&p, DHCP_OPT_MSG_TYPE, DHCP_REQUEST);
	end(&p);
	check_refused(&p, "a REQUEST as reply");
	header(&p, 2, XID, mac, "10.0.2.15");
	opt8(&p, DHCP_OPT_MSG_TYPE, DHCP_OFFER);
	end(&p);
	check_refused(&p, "OFFER without server id");
	lease_reply(&p, DHCP_ACK, XID, mac, 0, false);
	memset(p.b + 16, 0, 4);
	check_refused(&p, "yiaddr 0.0.0.0");
	lease_reply(&p, DHCP_ACK, XID, mac, 0, false);
	memset(p.b + 16, 0xff, 4);
	check_refused(&p, "yiaddr broadcast");
}

/* A known option of the wrong size makes the whole lease untrustworthy. */
static void test_parse_refused_bad_sizes(void)
{
	static const uint8_t five[5] = { 10, 0, 2, 1, 0 };
	static const struct {
		uint8_t code, len;
	} bad[] = {
		{ DHCP_OPT_SUBNET_MASK, 3 }, { DHCP_OPT_ROUTER, 5 }, { DHCP_OPT_ROUTER, 0 },
		{ DHCP_OPT_DNS, 5 },	     { DHCP_OPT_DNS, 0 },    { DHCP_OPT_MTU, 4 },
		{ DHCP_OPT_SERVER_ID, 2 },
	};
	struct pkt p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		header(&p, 2, XID, mac, "10.0.2.15");
		opt8(&p, DHCP_OPT_MSG_TYPE, DHCP_ACK);
		opt(&p, bad[i].code, bad[i].len, five);
		end(&p);
		check_refused(&p, "option of the wrong size");
	}
}

static unsigned mtu_of(unsigned mtu)
{
	struct pkt p;
	struct dhcp_lease l;

	lease_reply(&p, DHCP_ACK, XID, mac, mtu, true);
	return parse(&p, &l) == DHCP_ACK ? l.mtu : 0;
}

static void test_mtu_clamp(void)
{
	CHECK_EQ(mtu_of(0), 65520); /* absent: upstream's default */
	CHECK_EQ(mtu_of(1), 1280);
	CHECK_EQ(mtu_of(576), 1280);
	CHECK_EQ(mtu_of(1279), 1280);
	CHECK_EQ(mtu_of(1280), 1280);
	CHECK_EQ(mtu_of(9000), 9000);
	CHECK_EQ(mtu_of(65520), 65520);
	CHECK_EQ(mtu_of(65521), 65520);
	CHECK_EQ(mtu_of(65535), 65520);
}

static void test_dns(void)
{
	struct pkt p;
	struct dhcp_lease l;
	char text[128];
	uint32_t five[5] = { ip("1.1.1.1"), ip("0.0.0.0"), ip("1.0.0.1"), ip("9.9.9.9"),
			     ip("8.8.8.8") };

	lease_reply(&p, DHCP_ACK, XID, mac, 0, false);
	CHECK_EQ(parse(&p, &l), DHCP_ACK);
	CHECK_EQ(l.dns_count, 0);
	CHECK_EQ(dhcp_format_resolv(&l, text, sizeof(text)), 0);
	CHECK_STR(text, "");

	lease_reply(&p, DHCP_ACK, XID, mac, 0, true);
	CHECK_EQ(parse(&p, &l), DHCP_ACK);
	CHECK(dhcp_format_resolv(&l, text, sizeof(text)) > 0);
	CHECK_STR(text, "nameserver 10.0.2.3\nnameserver 8.8.8.8\n");
	CHECK_EQ(dhcp_format_resolv(&l, text, 25), 0); /* does not fit */
	CHECK_STR(text, "");

	/* 0.0.0.0 skipped, at most DHCP_MAX_DNS kept. */
	header(&p, 2, XID, mac, "10.0.2.15");
	opt8(&p, DHCP_OPT_MSG_TYPE, DHCP_ACK);
	opt(&p, DHCP_OPT_DNS, sizeof(five), five);
	end(&p);
	CHECK_EQ(parse(&p, &l), DHCP_ACK);
	CHECK_EQ(l.dns_count, 3);
	CHECK_EQ(l.dns[0], ip("1.1.1.1"));
	CHECK_EQ(l.dns[1], ip("1.0.0.1"));
	CHECK_EQ(l.dns[2], ip("9.9.9.9"));
}

static void test_prefix(void)
{
	struct pkt p;
	struct dhcp_lease l;

	CHECK_EQ(dhcp_mask_to_prefix(ip("255.255.255.0")), 24);
	CHECK_EQ(dhcp_mask_to_prefix(ip("255.255.0.0")), 16);
	CHECK_EQ(dhcp_mask_to_prefix(ip("255.255.255.252")), 30);
	CHECK_EQ(dhcp_mask_to_prefix(ip("255.255.255.255")), 32);
	CHECK_EQ(dhcp_mask_to_prefix(ip("128.0.0.0")), 1);
	CHECK_EQ(dhcp_mask_to_prefix(ip("0.0.0.0")), 0);
	CHECK_EQ(dhcp_mask_to_prefix(ip("255.0.255.0")), -1);
	CHECK_EQ(dhcp_mask_to_prefix(ip("0.255.255.255")), -1);

	header(&p, 2, XID, mac, "10.0.2.15");
	opt8(&p, DHCP_OPT_MSG_TYPE, DHCP_ACK);
	opt_addr(&p, DHCP_OPT_SUBNET_MASK, "255.0.255.0");
	end(&p);
	CHECK_EQ(parse(&p, &l), DHCP_ACK);
	CHECK_EQ(l.prefix_len, 32); /* not contiguous: ignored */
}

/* ---- dhcp_configure() against a scripted server ------------------------- */

enum script {
	SERVE_RAPID,	 /* ACK the DISCOVER (Rapid Commit) */
	SERVE_FULL,	 /* OFFER, then ACK the REQUEST; no DNS, MTU 9000 */
	SERVE_NAK_ONCE,	 /* NAK the first REQUEST */
	SERVE_NOISY,	 /* junk and foreign replies before each real one */
	SERVE_LOSSY,	 /* drop the first two DISCOVERs */
	SERVE_SILENT,	 /* never answer */
};

struct server {
	enum script script;
	int fd;
	volatile bool stop;
	int discovers, requests, naks;
};

static void server_send(struct server *s, const struct pkt *p)
{
	struct sockaddr_in to = {
		.sin_family = AF_INET,
		.sin_port = htons(DHCP_CLIENT_PORT),
		.sin_addr.s_addr = htonl(INADDR_BROADCAST),
	};

	sendto(s->fd, p->b, p->n, 0, (const struct sockaddr *)&to, sizeof(to));
}

static void server_noise(struct server *s, uint32_t xid, const uint8_t *hw)
{
	static const uint8_t foreign[6] = { 2, 0, 0, 0, 0, 1 };
	struct pkt p;

	lease_reply(&p, DHCP_ACK, xid + 1, hw, 0, true);
	server_send(s, &p);
	lease_reply(&p, DHCP_ACK, xid, foreign, 0, true);
	server_send(s, &p);
	lease_reply(&p, DHCP_ACK, xid, hw, 0, true);
	p.n -= 3;
	server_send(s, &p);
}

static void server_answer(struct server *s, const uint8_t *b, size_t n)
{
	struct pkt p;
	uint32_t xid = be32(b + 4);
	const uint8_t *hw = b + 28;
	uint8_t olen;
	int type = msg_type(b, n);
	bool full = s->script == SERVE_FULL;

	if (b[0] != 1 || memcmp(b + 236, cookie, 4) != 0)
		return;
	if (s->script == SERVE_NOISY)
		server_noise(s, xid, hw);
	if (type == DHCP_DISCOVER) {
		if (s->discovers++ < 2 && s->script == SERVE_LOSSY)
			return;
		bool rapid = s->script == SERVE_RAPID &&
			     find_opt(b, n, DHCP_OPT_RAPID_COMMIT, &olen);
		lease_reply(&p, rapid ? DHCP_ACK : DHCP_OFFER, xid, hw, full ? 9000 : 1500,
			    !full);
		server_send(s, &p);
	} else if (type == DHCP_REQUEST) {
		const uint8_t *req = find_opt(b, n, DHCP_OPT_REQUESTED_IP, &olen);
		const uint8_t *sid = find_opt(b, n, DHCP_OPT_SERVER_ID, &olen);
		s->requests++;
		if (!req || !sid || memcmp(req, (uint8_t[]){ 10, 0, 2, 15 }, 4) != 0 ||
		    memcmp(sid, (uint8_t[]){ 10, 0, 2, 2 }, 4) != 0)
			return;
		if (s->script == SERVE_NAK_ONCE && s->naks++ == 0) {
			header(&p, 2, xid, hw, "0.0.0.0");
			opt8(&p, DHCP_OPT_MSG_TYPE, DHCP_NAK);
			opt_addr(&p, DHCP_OPT_SERVER_ID, "10.0.2.2");
			end(&p);
		} else {
			lease_reply(&p, DHCP_ACK, xid, hw, full ? 9000 : 1500, !full);
		}
		server_send(s, &p);
	}
}

static void *server_main(void *arg)
{
	struct server *s = arg;
	uint8_t b[2048];

	while (!s->stop) {
		struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
		if (poll(&pfd, 1, 50) <= 0)
			continue;
		ssize_t n = recv(s->fd, b, sizeof(b), 0);
		if (n >= (ssize_t)DHCP_OPTIONS_OFFSET && s->script != SERVE_SILENT)
			server_answer(s, b, (size_t)n);
		else if (n > 0 && msg_type(b, (size_t)n) == DHCP_DISCOVER)
			s->discovers++;
	}
	return NULL;
}

static char logged[1024];

static void capture(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void capture(const char *fmt, ...)
{
	size_t used = strlen(logged);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(logged + used, sizeof(logged) - used, fmt, ap);
	va_end(ap);
	used = strlen(logged);
	if (used + 1 < sizeof(logged))
		strcpy(logged + used, "\n");
}

static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* Root of a fresh user+network namespace, or false where that is refused. */
static bool enter_namespaces(void)
{
	char map[64];
	uid_t uid = getuid();
	gid_t gid = getgid();

	if (unshare(CLONE_NEWUSER | CLONE_NEWNET) < 0)
		return false;
	write_file("/proc/self/setgroups", "deny");
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
	write_file("/proc/self/uid_map", map);
	snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
	write_file("/proc/self/gid_map", map);
	/* eth0 for the client, srv0 for the server, no address on either. */
	return system("ip link add eth0 type veth peer name srv0 2>/dev/null && "
		      "ip link set srv0 up") == 0;
}

static int server_socket(void)
{
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(DHCP_SERVER_PORT) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, "srv0", 4) < 0 ||
	    bind(fd, (const struct sockaddr *)&any, sizeof(any)) < 0)
		return -1;
	return fd;
}

static uint32_t if_addr(unsigned long req)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint32_t a = 0;

	strcpy(ifr.ifr_name, "eth0");
	if (ioctl(fd, req, &ifr) == 0) {
		if (req == SIOCGIFMTU)
			a = (uint32_t)ifr.ifr_mtu;
		else
			a = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
	}
	close(fd);
	return a;
}

/* The default route's gateway on eth0 from /proc/net/route, or 0. */
static uint32_t default_gateway(void)
{
	char line[256], dev[32];
	unsigned dst, gw;
	uint32_t found = 0;
	FILE *f = fopen("/proc/net/route", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%31s %x %x", dev, &dst, &gw) == 3 && dst == 0 &&
		    strcmp(dev, "eth0") == 0)
			found = gw;
	fclose(f);
	return found;
}

static char *read_text(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n = 0;

	buf[0] = 0;
	if (f) {
		n = fread(buf, 1, size - 1, f);
		fclose(f);
	}
	buf[n] = 0;
	return buf;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) + (double)(t.tv_nsec - t0->tv_nsec) / 1e9;
}

#define CHILD_SKIP 77

/* In the child: one scripted exchange, then what it left on eth0. */
static int run_scripted(enum script script)
{
	struct server s = { .script = script };
	struct timespec t0;
	pthread_t th;
	char resolv[] = "/tmp/krun-test-resolv-XXXXXX", text[256];
	int fd = mkstemp(resolv);

	if (fd < 0)
		return 1;
	close(fd);
	write_file(resolv, "nameserver 192.0.2.53\n");
	if (!enter_namespaces() || (s.fd = server_socket()) < 0) {
		unlink(resolv);
		return CHILD_SKIP;
	}
	pthread_create(&th, NULL, server_main, &s);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int ret = dhcp_configure("eth0", resolv, capture);
	double took = seconds_since(&t0);
	s.stop = true;
	pthread_join(th, NULL);
	read_text(resolv, text, sizeof(text));
	unlink(resolv);

	if (script == SERVE_SILENT) {
		CHECK_EQ(ret, -1);
		CHECK_STR(logged, "no DHCP lease on eth0 after 4 s; starting the workload "
				  "without an address\n");
		CHECK(took > 3.9 && took < 4.6);
		CHECK_EQ(s.discovers, 4); /* 250 ms, 500 ms, 1 s, 2.25 s */
		CHECK_EQ(if_addr(SIOCGIFADDR), 0);
		CHECK_STR(text, "nameserver 192.0.2.53\n");
		return test_failures_in_case ? 1 : 0;
	}
	CHECK_EQ(ret, 0);
	CHECK_STR(logged, "");
	CHECK_EQ(if_addr(SIOCGIFADDR), ip("10.0.2.15"));
	CHECK_EQ(if_addr(SIOCGIFNETMASK), ip("255.255.255.0"));
	CHECK_EQ(default_gateway(), ip("10.0.2.1"));
	if (script == SERVE_FULL) {
		/* No DNS in the lease: the root's resolv.conf is left alone. */
		CHECK_EQ(if_addr(SIOCGIFMTU), 9000);
		CHECK_STR(text, "nameserver 192.0.2.53\n");
		CHECK_EQ(s.requests, 1);
	} else {
		CHECK_EQ(if_addr(SIOCGIFMTU), 1500);
		CHECK_STR(text, "nameserver 10.0.2.3\nnameserver 8.8.8.8\n");
	}
	if (script == SERVE_RAPID)
		CHECK_EQ(s.requests, 0);
	if (script == SERVE_NAK_ONCE) {
		CHECK_EQ(s.requests, 2);
		CHECK_EQ(s.discovers, 2);
	}
	if (script == SERVE_LOSSY) {
		/* Third DISCOVER answered: after 250 + 500 ms. */
		CHECK_EQ(s.discovers, 3);
		CHECK(took > 0.7 && took < 1.5);
	} else if (script != SERVE_SILENT) {
		CHECK(took < 0.5);
	}
	return test_failures_in_case ? 1 : 0;
}

static bool skipped;

static void check_scripted(enum script script)
{
	int status = 0;
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0)
		_exit(run_scripted(script));
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_SKIP) {
		if (!skipped)
			printf("  (no user+network namespace with veth here: client exchanges "
			       "skipped)\n");
		skipped = true;
		return;
	}
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_client_rapid_commit(void)
{
	check_scripted(SERVE_RAPID);
}

static void test_client_offer_request_ack(void)
{
	check_scripted(SERVE_FULL);
}

static void test_client_nak_starts_over(void)
{
	check_scripted(SERVE_NAK_ONCE);
}

static void test_client_ignores_junk(void)
{
	check_scripted(SERVE_NOISY);
}

static void test_client_retransmits(void)
{
	check_scripted(SERVE_LOSSY);
}

static void test_client_no_lease(void)
{
	check_scripted(SERVE_SILENT);
}

/* No eth0 at all (a VM without virtio-net): nothing done, nothing said. */
static void test_client_no_interface(void)
{
	logged[0] = 0;
	CHECK_EQ(dhcp_configure("krun-no-such-if", "/nonexistent/resolv.conf", capture), 1);
	CHECK_STR(logged, "");
}

int main(void)
{
	RUN_TEST(test_discover);
	RUN_TEST(test_request);
	RUN_TEST(test_own_message_refused);
	RUN_TEST(test_parse_offer_and_ack);
	RUN_TEST(test_parse_nak);
	RUN_TEST(test_parse_pad_and_repeat);
	RUN_TEST(test_parse_refused_header);
	RUN_TEST(test_parse_refused_options);
	RUN_TEST(test_parse_refused_bad_sizes);
	RUN_TEST(test_mtu_clamp);
	RUN_TEST(test_dns);
	RUN_TEST(test_prefix);
	RUN_TEST(test_client_no_interface);
	RUN_TEST(test_client_rapid_commit);
	RUN_TEST(test_client_offer_request_ack);
	RUN_TEST(test_client_nak_starts_over);
	RUN_TEST(test_client_ignores_junk);
	RUN_TEST(test_client_retransmits);
	RUN_TEST(test_client_no_lease);
	TEST_MAIN_END();
}
