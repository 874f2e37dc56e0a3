// SPDX-License-Identifier: Apache-2.0
/*
 * The guest init's DHCP client (see dhcp.h): the sockets, timers and
 * netlink/ioctl calls around the pure messages of dhcp.c.  It runs once,
 * before the workload, with a fixed 4-second budget, and never stops the
 * boot: with no lease the workload starts without an address.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netpacket/packet.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dhcp.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The wait after each transmission; the last one ends the exchange. */
static const int retransmit_ms[] = { 250, 500, 1000, 2250 };

/* Larger replies are cut short and then fail the END check: ignored. */
#define RECV_BUF_LEN 4096

/* ---- interface --------------------------------------------------------- */

static void set_ifname(struct ifreq *ifr, const char *ifname)
{
	memset(ifr, 0, sizeof(*ifr));
	strncpy(ifr->ifr_name, ifname, IFNAMSIZ - 1);
}

/*
 * Bring ifname up and read its MAC and index.  Returns 0, 1 when there is
 * no such interface (a VM without virtio-net), -1 on another error.
 */
static int link_up(const char *ifname, uint8_t mac[6], int *ifindex, dhcp_log_fn log)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret = -1;

	if (fd < 0) {
		log("warning: %s: socket: %s", ifname, strerror(errno));
		return -1;
	}
	set_ifname(&ifr, ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		ret = errno == ENODEV ? 1 : -1;
		if (ret < 0)
			log("warning: %s: %s", ifname, strerror(errno));
		goto out;
	}
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0) {
		log("warning: %s up: %s", ifname, strerror(errno));
		goto out;
	}
	if (ioctl(fd, SIOCGIFHWADDR, &ifr) < 0) {
		log("warning: %s: hardware address: %s", ifname, strerror(errno));
		goto out;
	}
	memcpy(mac, ifr.ifr_hwaddr.sa_data, 6);
	if (ioctl(fd, SIOCGIFINDEX, &ifr) < 0) {
		log("warning: %s: index: %s", ifname, strerror(errno));
		goto out;
	}
	*ifindex = ifr.ifr_ifindex;
	ret = 0;
out:
	close(fd);
	return ret;
}

static int set_mtu(const char *ifname, unsigned mtu)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret;

	if (fd < 0)
		return -errno;
	set_ifname(&ifr, ifname);
	ifr.ifr_mtu = (int)mtu;
	ret = ioctl(fd, SIOCSIFMTU, &ifr) < 0 ? -errno : 0;
	close(fd);
	return ret;
}

/* ---- the exchange ------------------------------------------------------ */

/*
 * Port 68 on ifname only, allowed to broadcast: the interface has no
 * address yet, so the device binding is what routes 255.255.255.255 out
 * of it (with source 0.0.0.0) and keeps other interfaces' traffic out.
 */
static int open_socket(const char *ifname, dhcp_log_fn log)
{
	struct sockaddr_in any = {
		.sin_family = AF_INET,
		.sin_port = htons(DHCP_CLIENT_PORT),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int one = 1;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		log("warning: DHCP socket: %s", strerror(errno));
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname)) < 0 ||
	    bind(fd, (const struct sockaddr *)&any, sizeof(any)) < 0) {
		log("warning: DHCP socket on %s: %s", ifname, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/* Random when the kernel has entropy (it has, on 6.1), else still unique per boot. */
static uint32_t new_xid(const uint8_t mac[6])
{
	struct timespec ts;
	uint32_t xid;

	if (getrandom(&xid, sizeof(xid), GRND_NONBLOCK) == sizeof(xid))
		return xid;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_nsec ^ (uint32_t)mac[2] << 24 ^ (uint32_t)mac[3] << 16 ^
	       (uint32_t)mac[4] << 8 ^ mac[5];
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct exchange {
	int fd;
	int rx_fd;		/* packet socket replies are read from, or -1 */
	uint32_t xid;
	uint8_t mac[6];
	bool requesting;	/* an OFFER was taken: REQUEST sent, waiting for ACK */
	struct dhcp_lease offer;
};

/* DISCOVER, or the REQUEST for the offer taken, to 255.255.255.255:67. */
static void send_current(const struct exchange *x)
{
	uint8_t buf[DHCP_SEND_BUF_LEN];
	struct sockaddr_in to = {
		.sin_family = AF_INET,
		.sin_port = htons(DHCP_SERVER_PORT),
		.sin_addr.s_addr = htonl(INADDR_BROADCAST),
	};
	size_t n = x->requesting ? dhcp_build_request(buf, sizeof(buf), x->xid, x->mac,
						      x->offer.addr, x->offer.server_id)
				 : dhcp_build_discover(buf, sizeof(buf), x->xid, x->mac);

	/* A failure (the link not ready yet) is what retransmission is for. */
	(void)sendto(x->fd, buf, n, 0, (const struct sockaddr *)&to, sizeof(to));
}

/* One datagram: true when it is the ACK that ends the exchange (in *lease). */
static bool handle_reply(struct exchange *x, const uint8_t *pkt, size_t len,
			 struct dhcp_lease *lease)
{
	struct dhcp_lease r;
	int type = dhcp_parse_reply(pkt, len, x->xid, x->mac, &r);

	if (type < 0)
		return false;
	if (!x->requesting) {
		/* An ACK to a DISCOVER is a Rapid Commit (RFC 4039). */
		if (type == DHCP_ACK) {
			*lease = r;
			return true;
		}
		if (type == DHCP_OFFER) {
			x->offer = r;
			x->requesting = true;
			send_current(x);
		}
		return false;
	}
	/* Once an offer is taken, only its server's answers count. */
	if (r.server_id && r.server_id != x->offer.server_id)
		return false;
	if (type == DHCP_ACK) {
		*lease = r;
		return true;
	}
	if (type == DHCP_NAK) {
		/* The offer is gone: start over (RFC 2131 3.1.5). */
		x->requesting = false;
		send_current(x);
	}
	return false;
}

/*
 * Send, then read replies until the current wait runs out; retransmit
 * (DISCOVER or REQUEST, whichever is current) with the next wait.  A
 * transition (OFFER -> REQUEST, NAK -> DISCOVER) sends at once but keeps
 * the schedule, so the whole exchange stays within the sum of the waits.
 */
/*
 * Servers may answer by unicast to the address they offer (passt does,
 * whatever the broadcast flag says), which the IP layer drops while eth0
 * has no address: replies are read from a packet socket instead, as
 * udhcpc does.  NULL unless pkt is an IPv4 UDP datagram to port 68.
 */
static const uint8_t *dhcp_payload(const uint8_t *pkt, size_t len, size_t *out_len)
{
	if (len < 20 || pkt[0] >> 4 != 4 || pkt[9] != IPPROTO_UDP)
		return NULL;
	size_t ihl = (size_t)(pkt[0] & 0xf) * 4;
	uint16_t frag = (uint16_t)(pkt[6] << 8 | pkt[7]);
	size_t total = (size_t)(pkt[2] << 8 | pkt[3]);
	/* Fragments are not reassembled: DHCP replies fit one packet. */
	if (ihl < 20 || total > len || total < ihl + 8 || (frag & 0x3fff))
		return NULL;
	const uint8_t *udp = pkt + ihl;
	size_t udp_len = (size_t)(udp[4] << 8 | udp[5]);
	if ((udp[2] << 8 | udp[3]) != DHCP_CLIENT_PORT || udp_len < 8 || udp_len > total - ihl)
		return NULL;
	*out_len = udp_len - 8;
	return udp + 8;
}

static int open_packet_socket(int ifindex)
{
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_IP));
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_IP), .sll_ifindex = ifindex,
	};

	if (fd >= 0 && bind(fd, (const struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static ssize_t read_reply(const struct exchange *x, uint8_t *buf, size_t size,
			  const uint8_t **payload)
{
	ssize_t n = recv(x->rx_fd >= 0 ? x->rx_fd : x->fd, buf, size, MSG_DONTWAIT);
	if (n <= 0 || x->rx_fd < 0) {
		*payload = buf;
		return n;
	}
	size_t len = 0;
	*payload = dhcp_payload(buf, (size_t)n, &len);
	return *payload ? (ssize_t)len : 0;
}

static int run_exchange(struct exchange *x, struct dhcp_lease *lease)
{
	static uint8_t pkt[RECV_BUF_LEN];
	size_t sent = 0;
	long long next = now_ms();

	for (;;) {
		long long now = now_ms();
		if (now >= next) {
			if (sent == ARRAY_SIZE(retransmit_ms))
				return -1;
			send_current(x);
			next = now + retransmit_ms[sent++];
			continue;
		}
		struct pollfd p = { .fd = x->rx_fd >= 0 ? x->rx_fd : x->fd, .events = POLLIN };
		int r = poll(&p, 1, (int)(next - now));
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			continue;
		const uint8_t *payload;
		ssize_t n = read_reply(x, pkt, sizeof(pkt), &payload);
		if (n > 0 && handle_reply(x, payload, (size_t)n, lease))
			return 0;
	}
}

/* ---- applying the lease ------------------------------------------------ */

struct nl_request {
	struct nlmsghdr h;
	union {
		struct ifaddrmsg ifa;
		struct rtmsg rt;
	};
	/* Room for three 4-byte address attributes. */
	uint8_t attrs[64];
};

static void nl_put_addr(struct nl_request *req, unsigned short type, uint32_t addr)
{
	struct rtattr *rta = (struct rtattr *)((char *)req + NLMSG_ALIGN(req->h.nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = RTA_LENGTH(sizeof(addr));
	memcpy(RTA_DATA(rta), &addr, sizeof(addr));
	req->h.nlmsg_len = NLMSG_ALIGN(req->h.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Send one rtnetlink request and wait (at most 1 s) for its ack: 0 or -errno. */
static int nl_transact(struct nl_request *req)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct timeval tv = { .tv_sec = 1 };
	union {
		struct nlmsghdr h;
		uint8_t buf[1024];
	} ack;
	int ret = -EIO;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	if (fd < 0)
		return -errno;
	req->h.nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	req->h.nlmsg_seq = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    sendto(fd, req, req->h.nlmsg_len, 0, (const struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0) {
		ret = -errno;
		goto out;
	}
	ssize_t n = recv(fd, &ack, sizeof(ack), 0);
	if (n < 0)
		ret = -errno;
	else if (NLMSG_OK(&ack.h, (size_t)n) && ack.h.nlmsg_type == NLMSG_ERROR &&
		 ack.h.nlmsg_len >= NLMSG_LENGTH(sizeof(struct nlmsgerr)))
		ret = ((const struct nlmsgerr *)NLMSG_DATA(&ack.h))->error;
out:
	close(fd);
	return ret;
}

/* addr/prefix on the interface, replacing what an earlier lease left. */
static int add_address(int ifindex, const struct dhcp_lease *l)
{
	struct nl_request req = {
		.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg)),
		.h.nlmsg_type = RTM_NEWADDR,
		.h.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE,
		.ifa.ifa_family = AF_INET,
		.ifa.ifa_prefixlen = l->prefix_len,
		.ifa.ifa_scope = RT_SCOPE_UNIVERSE,
		.ifa.ifa_index = (unsigned)ifindex,
	};

	nl_put_addr(&req, IFA_LOCAL, l->addr);
	nl_put_addr(&req, IFA_ADDRESS, l->addr);
	/* /31 and /32 have no broadcast address. */
	if (l->prefix_len < 31)
		nl_put_addr(&req, IFA_BROADCAST, l->addr | htonl(0xffffffffu >> l->prefix_len));
	return nl_transact(&req);
}

/*
 * Default route via the router, marked on-link: a server may hand out a
 * router outside the subnet it gives (a /32 lease, say) and the route must
 * still work.
 */
static int add_default_route(int ifindex, uint32_t router)
{
	struct nl_request req = {
		.h.nlmsg_len = NLMSG_LENGTH(sizeof(struct rtmsg)),
		.h.nlmsg_type = RTM_NEWROUTE,
		.h.nlmsg_flags = NLM_F_CREATE | NLM_F_REPLACE,
		.rt.rtm_family = AF_INET,
		.rt.rtm_table = RT_TABLE_MAIN,
		.rt.rtm_protocol = RTPROT_DHCP,
		.rt.rtm_scope = RT_SCOPE_UNIVERSE,
		.rt.rtm_type = RTN_UNICAST,
		.rt.rtm_flags = RTNH_F_ONLINK,
	};

	nl_put_addr(&req, RTA_GATEWAY, router);
	nl_put_addr(&req, RTA_OIF, (uint32_t)ifindex);
	return nl_transact(&req);
}

static int write_resolv(const char *path, const struct dhcp_lease *l)
{
	char text[DHCP_MAX_DNS * sizeof("nameserver 255.255.255.255\n")];
	size_t len = dhcp_format_resolv(l, text, sizeof(text));
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int ret = 0;

	if (fd < 0)
		return -errno;
	errno = 0;
	if (write(fd, text, len) != (ssize_t)len)
		ret = errno ? -errno : -EIO;
	if (close(fd) < 0 && ret == 0)
		ret = -errno;
	return ret;
}

/* Each part on its own: one that fails is a warning, the rest still applies. */
static void apply_lease(const char *ifname, int ifindex, const struct dhcp_lease *l,
			const char *resolv_path, dhcp_log_fn log)
{
	int err;

	if ((err = set_mtu(ifname, l->mtu)) < 0)
		log("warning: %s MTU %u: %s", ifname, l->mtu, strerror(-err));
	if ((err = add_address(ifindex, l)) < 0) {
		log("warning: %s address: %s", ifname, strerror(-err));
		return;
	}
	if (l->router && (err = add_default_route(ifindex, l->router)) < 0)
		log("warning: %s default route: %s", ifname, strerror(-err));
	/* Without DNS servers in the lease the root's own resolv.conf stays. */
	if (l->dns_count && (err = write_resolv(resolv_path, l)) < 0)
		log("warning: cannot write %s: %s", resolv_path, strerror(-err));
}

int dhcp_configure(const char *ifname, const char *resolv_path, dhcp_log_fn log)
{
	struct exchange x = { .fd = -1, .rx_fd = -1 };
	struct dhcp_lease lease;
	int ifindex = 0;
	int ret = link_up(ifname, x.mac, &ifindex, log);

	if (ret != 0)
		return ret;
	x.fd = open_socket(ifname, log);
	if (x.fd < 0)
		return -1;
	x.rx_fd = open_packet_socket(ifindex);
	x.xid = new_xid(x.mac);
	ret = run_exchange(&x, &lease);
	close(x.fd);
	if (x.rx_fd >= 0)
		close(x.rx_fd);
	if (ret < 0) {
		log("no DHCP lease on %s after " DHCP_TIMEOUT_TEXT
		    "; starting the workload without an address", ifname);
		return -1;
	}
	apply_lease(ifname, ifindex, &lease, resolv_path, log);
	return 0;
}
