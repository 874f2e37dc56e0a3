// SPDX-License-Identifier: Apache-2.0
/*
 * The unix datagram and tap virtio-net backends, driven directly (no VM):
 * unixgram over a socketpair (fd mode) and against a bound test socket
 * (path mode), tap through /dev/net/tun when we may create interfaces
 * (root or CAP_NET_ADMIN; otherwise its cases report SKIP).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <linux/ethtool.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>

#include "test.h"
#include "backends/net/net_backend.h"
#include "util/log.h"

#define HDR NET_VNET_HDR_LEN
#define ETHERTYPE_TEST 0x88b5	/* IEEE local experimental */

/* A frame of len bytes: broadcast, our test ethertype, then seed bytes. */
static void make_frame(uint8_t *f, size_t len, uint8_t seed)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, "\x02\x00\x00\x00\x00\x01", 6);
	f[12] = ETHERTYPE_TEST >> 8;
	f[13] = ETHERTYPE_TEST & 0xff;
	for (size_t i = 14; i < len; i++)
		f[i] = (uint8_t)(seed + i);
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static bool header_is_plain(const uint8_t *h)
{
	static const uint8_t want[HDR] = { [10] = 1 };
	return memcmp(h, want, HDR) == 0;
}

/* ---- unixgram, fd mode --------------------------------------------------- */

struct gram {
	struct net_backend *b;
	int peer;
	int fd;
};

static int gram_pair(struct gram *g)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	struct net_backend_config cfg = { .kind = NET_BACKEND_UNIXGRAM, .fd = sv[0] };
	int ret = net_backend_open(&cfg, &g->b);
	if (ret) {
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	g->fd = sv[0];
	g->peer = sv[1];
	return 0;
}

static void gram_close(struct gram *g)
{
	net_backend_destroy(g->b);
	if (g->peer >= 0)
		close(g->peer);
}

static void test_gram_send_strips_header(void)
{
	struct gram g;
	uint8_t hdr[HDR], frame[60], got[200];

	CHECK_EQ(gram_pair(&g), 0);
	memset(hdr, 0xaa, sizeof(hdr));
	make_frame(frame, sizeof(frame), 1);
	/* The header split across segments, the frame across two more. */
	struct iovec iov[] = {
		{ hdr, 5 }, { hdr + 5, HDR - 5 }, { frame, 20 }, { frame + 20, 40 },
	};
	CHECK_EQ(g.b->ops->send(g.b, iov, 4, HDR + sizeof(frame)), 0);
	CHECK_EQ(g.b->retry_ms, 0);
	ssize_t n = recv(g.peer, got, sizeof(got), MSG_DONTWAIT);
	CHECK_EQ(n, (ssize_t)sizeof(frame));
	CHECK(memcmp(got, frame, sizeof(frame)) == 0);
	/* len is what is sent, even when the iov holds more. */
	CHECK_EQ(g.b->ops->send(g.b, iov, 4, HDR + 30), 0);
	CHECK_EQ(recv(g.peer, got, sizeof(got), MSG_DONTWAIT), 30);
	/* A len beyond the iov is not trusted: nothing is sent. */
	CHECK_EQ(g.b->ops->send(g.b, iov, 4, HDR + sizeof(frame) + 100), 0);
	CHECK_EQ(recv(g.peer, got, sizeof(got), MSG_DONTWAIT), -1);
	CHECK_EQ(g.b->ops->flush(g.b), 0);
	CHECK(!g.b->ops->rx_buffered(g.b));
	CHECK_EQ(g.b->ops->set_features(g.b, ~0ULL), 0);
	gram_close(&g);
}

static void test_gram_recv_prepends_header(void)
{
	struct gram g;
	uint8_t frame[60], a[7], bbuf[2000];

	CHECK_EQ(gram_pair(&g), 0);
	make_frame(frame, sizeof(frame), 7);
	CHECK_EQ(send(g.peer, frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	memset(a, 0xee, sizeof(a));
	memset(bbuf, 0xee, sizeof(bbuf));
	/* The header straddles the two segments. */
	struct iovec iov[] = { { a, sizeof(a) }, { bbuf, sizeof(bbuf) } };
	CHECK_EQ(g.b->ops->recv(g.b, iov, 2), HDR + (ssize_t)sizeof(frame));
	uint8_t flat[HDR + sizeof(frame)];
	memcpy(flat, a, sizeof(a));
	memcpy(flat + sizeof(a), bbuf, sizeof(flat) - sizeof(a));
	CHECK(header_is_plain(flat));
	CHECK(memcmp(flat + HDR, frame, sizeof(frame)) == 0);
	CHECK_EQ(bbuf[sizeof(flat) - sizeof(a)], 0xee);	/* nothing beyond */
	gram_close(&g);
}

static void test_gram_recv_too_large(void)
{
	struct gram g;
	static uint8_t big[3000];
	uint8_t small[60], buf[HDR + 1500];
	struct iovec iov = { buf, sizeof(buf) };

	CHECK_EQ(gram_pair(&g), 0);
	make_frame(big, sizeof(big), 3);
	make_frame(small, sizeof(small), 4);
	CHECK_EQ(send(g.peer, big, sizeof(big), 0), (ssize_t)sizeof(big));
	CHECK_EQ(send(g.peer, small, sizeof(small), 0), (ssize_t)sizeof(small));
	CHECK_EQ(g.b->ops->recv(g.b, &iov, 1), -EMSGSIZE);
	CHECK_EQ(g.b->ops->recv(g.b, &iov, 1), HDR + (ssize_t)sizeof(small));
	CHECK(header_is_plain(buf));
	CHECK(memcmp(buf + HDR, small, sizeof(small)) == 0);

	/* A frame that fills the buffer exactly is whole. */
	CHECK_EQ(send(g.peer, big, 1500, 0), 1500);
	CHECK_EQ(g.b->ops->recv(g.b, &iov, 1), HDR + 1500);
	CHECK(memcmp(buf + HDR, big, 1500) == 0);

	/* Empty and runt datagrams are dropped, the next one arrives. */
	CHECK_EQ(send(g.peer, small, 0, 0), 0);
	CHECK_EQ(send(g.peer, small, 5, 0), 5);
	CHECK_EQ(send(g.peer, small, sizeof(small), 0), (ssize_t)sizeof(small));
	CHECK_EQ(g.b->ops->recv(g.b, &iov, 1), -EMSGSIZE);
	CHECK_EQ(g.b->ops->recv(g.b, &iov, 1), -EMSGSIZE);
	CHECK_EQ(g.b->ops->recv(g.b, &iov, 1), HDR + (ssize_t)sizeof(small));

	/* A buffer without room for the header: the frame is consumed. */
	struct iovec tiny = { buf, HDR - 1 }, exact = { buf, HDR };
	CHECK_EQ(send(g.peer, small, sizeof(small), 0), (ssize_t)sizeof(small));
	CHECK_EQ(send(g.peer, small, sizeof(small), 0), (ssize_t)sizeof(small));
	CHECK_EQ(g.b->ops->recv(g.b, &tiny, 1), -EMSGSIZE);
	CHECK_EQ(g.b->ops->recv(g.b, &exact, 1), -EMSGSIZE);
	CHECK_EQ(g.b->ops->recv(g.b, &iov, 1), -EAGAIN);
	gram_close(&g);
}

static void test_gram_eagain(void)
{
	struct gram g;
	uint8_t hdr[HDR] = { 0 }, frame[1500], buf[HDR + 1500];
	struct iovec rx = { buf, sizeof(buf) };
	struct iovec tx[] = { { hdr, HDR }, { frame, sizeof(frame) } };

	CHECK_EQ(gram_pair(&g), 0);
	/* The caller's fd is not switched to non-blocking. */
	CHECK(!(fcntl(g.fd, F_GETFL) & O_NONBLOCK));
	CHECK_EQ(g.b->ops->recv(g.b, &rx, 1), -EAGAIN);

	make_frame(frame, sizeof(frame), 9);
	int sent = 0, ret = 0;
	while (sent < 100000 && (ret = g.b->ops->send(g.b, tx, 2, sizeof(hdr) + sizeof(frame))) == 0)
		sent++;
	CHECK_EQ(ret, -EAGAIN);
	CHECK(sent > 0);
	CHECK_EQ(g.b->retry_ms, 0);	/* EAGAIN comes with POLLOUT, no timer */
	struct pollfd p = { .fd = g.b->fd, .events = POLLOUT };
	CHECK_EQ(poll(&p, 1, 0), 0);
	/* The peer reads: writable again, and the next frame goes. */
	for (int i = 0; i < sent; i++)
		if (recv(g.peer, buf, sizeof(buf), MSG_DONTWAIT) < 0)
			break;
	CHECK_EQ(poll(&p, 1, 1000), 1);
	CHECK_EQ(g.b->ops->send(g.b, tx, 2, sizeof(hdr) + sizeof(frame)), 0);
	gram_close(&g);
}

static void test_gram_peer_closed(void)
{
	struct gram g;
	uint8_t hdr[HDR] = { 0 }, frame[60], buf[200];
	struct iovec tx[] = { { hdr, HDR }, { frame, sizeof(frame) } };
	struct iovec rx = { buf, sizeof(buf) };

	CHECK_EQ(gram_pair(&g), 0);
	make_frame(frame, sizeof(frame), 2);
	close(g.peer);
	g.peer = -1;
	int ret = g.b->ops->send(g.b, tx, 2, sizeof(hdr) + sizeof(frame));
	CHECK(ret < 0 && ret != -EAGAIN);
	CHECK_EQ(ret, -ECONNREFUSED);
	ret = g.b->ops->send(g.b, tx, 2, sizeof(hdr) + sizeof(frame));
	CHECK(ret < 0 && ret != -EAGAIN);
	/* Linux gives a datagram socket no error on receive for this. */
	CHECK(g.b->ops->recv(g.b, &rx, 1) < 0);
	gram_close(&g);
}

static void test_gram_fd_ownership(void)
{
	struct gram g;

	CHECK_EQ(gram_pair(&g), 0);
	CHECK_EQ(g.b->fd, g.fd);
	gram_close(&g);
	CHECK(!fd_open(g.fd));	/* destroy closed it */

	/* Not a datagram socket: refused, and the fd stays the caller's. */
	int sv[2];
	CHECK_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	struct net_backend_config cfg = { .kind = NET_BACKEND_UNIXGRAM, .fd = sv[0] };
	struct net_backend *b = (struct net_backend *)1;
	CHECK_EQ(net_backend_open(&cfg, &b), -EINVAL);
	CHECK(b == NULL);
	CHECK(fd_open(sv[0]));
	close(sv[0]);
	close(sv[1]);
}

/* ---- unixgram, path mode ------------------------------------------------- */

struct pathenv {
	char dir[64];		/* holds the peer's socket */
	char tmpdir[96];	/* $TMPDIR for the backend */
	char peer_path[128];
	int peer;
};

static char saved_tmpdir[4096];
static bool had_tmpdir;

static int path_setup(struct pathenv *e)
{
	snprintf(e->dir, sizeof(e->dir), "/tmp/krun-net-test-XXXXXX");
	if (!mkdtemp(e->dir))
		return -errno;
	snprintf(e->tmpdir, sizeof(e->tmpdir), "%s/tmp", e->dir);
	if (mkdir(e->tmpdir, 0700) < 0)
		return -errno;
	setenv("TMPDIR", e->tmpdir, 1);
	snprintf(e->peer_path, sizeof(e->peer_path), "%s/peer.sock", e->dir);
	e->peer = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, e->peer_path);
	if (e->peer < 0 || bind(e->peer, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	return 0;
}

static void path_teardown(struct pathenv *e)
{
	if (e->peer >= 0)
		close(e->peer);
	unlink(e->peer_path);
	rmdir(e->tmpdir);	/* fails if the backend left a file: checked */
	rmdir(e->dir);
	if (had_tmpdir)
		setenv("TMPDIR", saved_tmpdir, 1);
	else
		unsetenv("TMPDIR");
}

static void local_path(const struct pathenv *e, unsigned int index, char *out, size_t size)
{
	snprintf(out, size, "%s/krun-net-%ld-%u.sock", e->tmpdir, (long)getpid(), index);
}

static bool is_socket(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0 && S_ISSOCK(st.st_mode);
}

static bool dir_empty(const char *dir)
{
	return rmdir(dir) == 0 && mkdir(dir, 0700) == 0;
}

static void test_gram_path_vfkit(void)
{
	struct pathenv e;
	struct net_backend *b = NULL;
	char local[256], buf[HDR + 200];
	struct sockaddr_un from;
	socklen_t fromlen = sizeof(from);

	CHECK_EQ(path_setup(&e), 0);
	local_path(&e, 3, local, sizeof(local));
	struct net_backend_config cfg = { .kind = NET_BACKEND_UNIXGRAM, .path = e.peer_path,
					  .fd = -1, .vfkit_magic = true, .index = 3 };
	CHECK_EQ(net_backend_open(&cfg, &b), 0);
	if (!b) {
		path_teardown(&e);
		return;
	}
	CHECK(is_socket(local));
	/* The greeting first, from our bound address. */
	ssize_t n = recvfrom(e.peer, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
			     &fromlen);
	CHECK_EQ(n, 4);
	CHECK(memcmp(buf, "VFKT", 4) == 0);
	CHECK_STR(from.sun_path, local);

	/* Frames both ways through the peer's own socket. */
	uint8_t hdr[HDR] = { 0 }, frame[60];
	make_frame(frame, sizeof(frame), 5);
	struct iovec tx[] = { { hdr, HDR }, { frame, sizeof(frame) } };
	CHECK_EQ(b->ops->send(b, tx, 2, HDR + sizeof(frame)), 0);
	CHECK_EQ(recv(e.peer, buf, sizeof(buf), MSG_DONTWAIT), (ssize_t)sizeof(frame));
	CHECK(memcmp(buf, frame, sizeof(frame)) == 0);
	CHECK_EQ(sendto(e.peer, frame, sizeof(frame), 0, (struct sockaddr *)&from, fromlen),
		 (ssize_t)sizeof(frame));
	struct iovec rx = { buf, sizeof(buf) };
	CHECK_EQ(b->ops->recv(b, &rx, 1), HDR + (ssize_t)sizeof(frame));
	CHECK(header_is_plain((uint8_t *)buf));

	/* Only the peer may send to us: a stranger is refused. */
	int stranger = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	CHECK(stranger >= 0);
	CHECK(sendto(stranger, frame, sizeof(frame), 0, (struct sockaddr *)&from, fromlen) < 0);
	close(stranger);

	net_backend_destroy(b);
	CHECK(!is_socket(local));
	CHECK(dir_empty(e.tmpdir));
	path_teardown(&e);
}

static void test_gram_path_no_greeting(void)
{
	struct pathenv e;
	struct net_backend *b = NULL;
	char local[256], buf[200];

	CHECK_EQ(path_setup(&e), 0);
	local_path(&e, 0, local, sizeof(local));
	/* A stale socket from an earlier process with our pid is replaced. */
	int stale = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, local);
	CHECK_EQ(bind(stale, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(stale);
	CHECK(is_socket(local));

	struct net_backend_config cfg = { .kind = NET_BACKEND_UNIXGRAM, .path = e.peer_path,
					  .fd = -1, .vfkit_magic = false, .index = 0 };
	CHECK_EQ(net_backend_open(&cfg, &b), 0);
	if (!b) {
		unlink(local);
		path_teardown(&e);
		return;
	}
	CHECK(is_socket(local));
	CHECK_EQ(recv(e.peer, buf, sizeof(buf), MSG_DONTWAIT), -1);	/* no greeting */
	uint8_t hdr[HDR] = { 0 }, frame[60];
	make_frame(frame, sizeof(frame), 6);
	struct iovec tx[] = { { hdr, HDR }, { frame, sizeof(frame) } };
	CHECK_EQ(b->ops->send(b, tx, 2, HDR + sizeof(frame)), 0);
	CHECK_EQ(recv(e.peer, buf, sizeof(buf), MSG_DONTWAIT), (ssize_t)sizeof(frame));
	CHECK(memcmp(buf, frame, sizeof(frame)) == 0);
	net_backend_destroy(b);
	CHECK(!is_socket(local));
	CHECK(dir_empty(e.tmpdir));
	path_teardown(&e);
}

static void test_gram_path_not_ours(void)
{
	struct pathenv e;
	struct net_backend *b = NULL;
	char local[256];

	/* Something that is not a socket at our path is left alone. */
	CHECK_EQ(path_setup(&e), 0);
	local_path(&e, 1, local, sizeof(local));
	int fd = open(local, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	close(fd);
	struct net_backend_config cfg = { .kind = NET_BACKEND_UNIXGRAM, .path = e.peer_path,
					  .fd = -1, .index = 1 };
	CHECK_EQ(net_backend_open(&cfg, &b), -EADDRINUSE);
	struct stat st;
	CHECK(lstat(local, &st) == 0 && S_ISREG(st.st_mode));
	unlink(local);
	path_teardown(&e);
}

static void test_gram_path_errors(void)
{
	struct pathenv e;
	struct net_backend *b = NULL;
	char missing[160], dead[160], longdir[300];

	CHECK_EQ(path_setup(&e), 0);
	/* Nobody at the path. */
	snprintf(missing, sizeof(missing), "%s/nope.sock", e.dir);
	struct net_backend_config cfg = { .kind = NET_BACKEND_UNIXGRAM, .path = missing,
					  .fd = -1, .vfkit_magic = true };
	CHECK_EQ(net_backend_open(&cfg, &b), -ENOENT);
	CHECK(dir_empty(e.tmpdir));
	/* A socket file nobody listens on. */
	snprintf(dead, sizeof(dead), "%s/dead.sock", e.dir);
	int s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, dead);
	CHECK_EQ(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(s);
	cfg.path = dead;
	CHECK_EQ(net_backend_open(&cfg, &b), -ECONNREFUSED);
	CHECK(dir_empty(e.tmpdir));
	unlink(dead);

	/* Our own path would not fit sun_path. */
	memset(longdir, 'd', sizeof(longdir) - 1);
	longdir[0] = '/';
	longdir[sizeof(longdir) - 1] = '\0';
	setenv("TMPDIR", longdir, 1);
	cfg.path = e.peer_path;
	CHECK_EQ(net_backend_open(&cfg, &b), -ENAMETOOLONG);
	setenv("TMPDIR", e.tmpdir, 1);
	/* Nor the peer's. */
	cfg.path = longdir;
	CHECK_EQ(net_backend_open(&cfg, &b), -ENAMETOOLONG);
	/* Neither path nor fd. */
	cfg.path = NULL;
	CHECK_EQ(net_backend_open(&cfg, &b), -EINVAL);
	CHECK(dir_empty(e.tmpdir));
	path_teardown(&e);
}

static void test_gram_tmpdir_default(void)
{
	struct pathenv e;
	struct net_backend *b = NULL;
	char local[128];

	CHECK_EQ(path_setup(&e), 0);
	unsetenv("TMPDIR");
	snprintf(local, sizeof(local), "/tmp/krun-net-%ld-%u.sock", (long)getpid(), 4242u);
	struct net_backend_config cfg = { .kind = NET_BACKEND_UNIXGRAM, .path = e.peer_path,
					  .fd = -1, .index = 4242 };
	CHECK_EQ(net_backend_open(&cfg, &b), 0);
	CHECK(is_socket(local));
	net_backend_destroy(b);
	CHECK(!is_socket(local));
	path_teardown(&e);
}

/* ---- tap ------------------------------------------------------------------ */

static char tap_skip_reason[128];

/* Whether this process may create tap interfaces. */
static bool tap_available(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(tap_skip_reason, sizeof(tap_skip_reason), "cannot open /dev/net/tun: %s",
			 strerror(errno));
		return false;
	}
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	strcpy(ifr.ifr_name, "krunp%d");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	int ok = ioctl(fd, TUNSETIFF, &ifr);
	int err = errno;
	close(fd);
	if (ok < 0 && err == EPERM) {
		snprintf(tap_skip_reason, sizeof(tap_skip_reason), "cannot create a tap: %s",
			 strerror(err));
		return false;
	}
	return true;	/* any other failure is the tap cases' to report */
}

static int open_tap(struct net_backend **b)
{
	struct net_backend_config cfg = { .kind = NET_BACKEND_TAP, .fd = -1,
					  .tap_name = "krunt%d" };
	return net_backend_open(&cfg, b);
}

static int set_up(const char *name, bool up)
{
	struct ifreq ifr;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	int ret = ioctl(s, SIOCGIFFLAGS, &ifr);
	if (ret == 0) {
		if (up)
			ifr.ifr_flags |= IFF_UP;
		else
			ifr.ifr_flags &= ~IFF_UP;
		ret = ioctl(s, SIOCSIFFLAGS, &ifr);
	}
	ret = ret < 0 ? -errno : 0;
	close(s);
	return ret;
}

/* No IPv6 autoconfiguration traffic on the test tap (best effort). */
static void quiet(const char *name)
{
	char p[128];
	snprintf(p, sizeof(p), "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
	int fd = open(p, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0) {
			/* best effort */
		}
		close(fd);
	}
}

/* A packet socket on the tap: sees what the guest writes, injects what
 * the guest reads. */
static int packet_socket(const char *name, int *ifindex)
{
	*ifindex = (int)if_nametoindex(name);
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	if (s < 0 || *ifindex == 0)
		return -1;
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL),
				   .sll_ifindex = *ifindex };
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

static int inject(int ps, int ifindex, const uint8_t *frame, size_t len)
{
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_ifindex = ifindex,
				   .sll_halen = 6 };
	memcpy(sll.sll_addr, frame, 6);
	return (int)sendto(ps, frame, len, 0, (struct sockaddr *)&sll, sizeof(sll));
}

/* Next frame of the test ethertype from the tap backend, skipping others. */
static ssize_t recv_test_frame(struct net_backend *b, const struct iovec *iov, unsigned int cnt,
			       uint8_t *flat)
{
	for (int i = 0; i < 50; i++) {
		struct pollfd p = { .fd = b->fd, .events = POLLIN };
		if (poll(&p, 1, 1000) != 1)
			return -ETIMEDOUT;
		ssize_t n = b->ops->recv(b, iov, cnt);
		if (n == -EMSGSIZE || n < 0)
			return n;
		size_t off = 0;
		for (unsigned int k = 0; k < cnt && off < (size_t)n; k++) {
			size_t c = iov[k].iov_len < (size_t)n - off ? iov[k].iov_len : (size_t)n - off;
			memcpy(flat + off, iov[k].iov_base, c);
			off += c;
		}
		if (n >= HDR + 14 && flat[HDR + 12] == (ETHERTYPE_TEST >> 8) &&
		    flat[HDR + 13] == (ETHERTYPE_TEST & 0xff))
			return n;
	}
	return -ETIMEDOUT;
}

static void test_tap_open_and_offloads(void)
{
	struct net_backend *b = NULL;

	CHECK_EQ(open_tap(&b), 0);
	if (!b)
		return;
	CHECK(strncmp(b->name, "krunt", 5) == 0 && !strchr(b->name, '%'));
	CHECK(if_nametoindex(b->name) != 0);
	CHECK(fcntl(b->fd, F_GETFL) & O_NONBLOCK);
	CHECK(fcntl(b->fd, F_GETFD) & FD_CLOEXEC);
	struct ifreq ifr;
	memset(&ifr, 0, sizeof(ifr));
	CHECK_EQ(ioctl(b->fd, TUNGETIFF, &ifr), 0);
	CHECK((ifr.ifr_flags & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)) ==
	      (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR));
	int hdr = 0;
	CHECK_EQ(ioctl(b->fd, TUNGETVNETHDRSZ, &hdr), 0);
	CHECK_EQ(hdr, HDR);

	/* Offloads follow the guest's features; the interface shows them. */
	uint64_t all = 1ull << 1 | 1ull << 7 | 1ull << 8 | 1ull << 9 | 1ull << 10;
	CHECK_EQ(b->ops->set_features(b, all), 0);
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	struct ethtool_value ev = { .cmd = ETHTOOL_GTSO };
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", b->name);
	ifr.ifr_data = (char *)&ev;
	CHECK_EQ(ioctl(s, SIOCETHTOOL, &ifr), 0);
	CHECK_EQ(ev.data, 1);
	/* Segmentation without checksum offload is not asked for. */
	CHECK_EQ(b->ops->set_features(b, 1ull << 7 | 1ull << 8), 0);
	ev = (struct ethtool_value){ .cmd = ETHTOOL_GTSO };
	CHECK_EQ(ioctl(s, SIOCETHTOOL, &ifr), 0);
	CHECK_EQ(ev.data, 0);
	CHECK_EQ(b->ops->set_features(b, 1ull << 1), 0);
	CHECK_EQ(b->ops->set_features(b, 0), 0);
	close(s);
	CHECK_EQ(b->ops->flush(b), 0);
	CHECK(!b->ops->rx_buffered(b));

	char name[IFNAMSIZ];
	snprintf(name, sizeof(name), "%s", b->name);
	net_backend_destroy(b);
	CHECK(if_nametoindex(name) == 0);	/* gone with its fd */
}

static void test_tap_send(void)
{
	struct net_backend *b = NULL;
	uint8_t frame[14 + 20 + 8 + 32], buf[2048];
	int ifindex;

	CHECK_EQ(open_tap(&b), 0);
	if (!b)
		return;
	quiet(b->name);
	CHECK_EQ(b->ops->set_features(b, 1ull << 1), 0);
	/* An IPv4/UDP frame whose checksum the "guest" left to the host. */
	memset(frame, 0, sizeof(frame));
	memset(frame, 0xff, 6);
	memcpy(frame + 6, "\x02\x00\x00\x00\x00\x01", 6);
	frame[12] = 0x08;
	frame[14] = 0x45;
	frame[17] = sizeof(frame) - 14;
	frame[22] = 64;
	frame[23] = 17;
	memcpy(frame + 42, "krun tap test payload, 32 bytes", 32);
	uint8_t hdr[HDR] = { 0 };
	hdr[0] = 1;				/* VIRTIO_NET_HDR_F_NEEDS_CSUM */
	hdr[6] = 34;				/* csum_start: the UDP header */
	hdr[8] = 6;				/* csum_offset: its checksum */
	struct iovec tx[] = { { hdr, 4 }, { hdr + 4, HDR - 4 }, { frame, 30 },
			      { frame + 30, sizeof(frame) - 30 } };
	size_t len = HDR + sizeof(frame);

	/* Down: the frame is dropped, the backend is not gone. */
	CHECK_EQ(b->ops->send(b, tx, 4, len), 0);
	CHECK_EQ(set_up(b->name, true), 0);
	int ps = packet_socket(b->name, &ifindex);
	CHECK(ps >= 0);
	CHECK_EQ(b->ops->send(b, tx, 4, len), 0);
	/* A header the kernel refuses drops that frame only. */
	uint8_t bad[HDR] = { 0 };
	bad[1] = 0x77;				/* no such gso_type */
	struct iovec badtx[] = { { bad, HDR }, { frame, sizeof(frame) } };
	CHECK_EQ(b->ops->send(b, badtx, 2, len), 0);

	bool seen = false;
	for (int i = 0; ps >= 0 && i < 50 && !seen; i++) {
		struct pollfd p = { .fd = ps, .events = POLLIN };
		if (poll(&p, 1, 1000) != 1)
			break;
		ssize_t n = recv(ps, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == (ssize_t)sizeof(frame) && memcmp(buf + 42, frame + 42, 32) == 0) {
			CHECK(memcmp(buf, frame, 34) == 0);
			seen = true;
		}
	}
	CHECK(seen);
	if (ps >= 0)
		close(ps);
	net_backend_destroy(b);
}

static void test_tap_recv(void)
{
	struct net_backend *b = NULL;
	static uint8_t big[1400], flat[HDR + 2048];
	uint8_t small[60], a[5], rest[HDR + 200 - 5], wide[HDR + 1600];
	int ifindex;

	CHECK_EQ(open_tap(&b), 0);
	if (!b)
		return;
	quiet(b->name);
	struct iovec wide_iov = { wide, sizeof(wide) };
	CHECK_EQ(b->ops->recv(b, &wide_iov, 1), -EAGAIN);
	CHECK_EQ(set_up(b->name, true), 0);
	int ps = packet_socket(b->name, &ifindex);
	CHECK(ps >= 0);
	if (ps < 0) {
		net_backend_destroy(b);
		return;
	}
	make_frame(small, sizeof(small), 11);
	make_frame(big, sizeof(big), 12);

	/* A small frame, the header straddling two segments. */
	CHECK_EQ(inject(ps, ifindex, small, sizeof(small)), (int)sizeof(small));
	memset(a, 0xee, sizeof(a));
	memset(rest, 0xee, sizeof(rest));
	struct iovec two[] = { { a, sizeof(a) }, { rest, sizeof(rest) } };
	CHECK_EQ(recv_test_frame(b, two, 2, flat), HDR + (ssize_t)sizeof(small));
	CHECK(header_is_plain(flat));
	CHECK(memcmp(flat + HDR, small, sizeof(small)) == 0);

	/* Larger than the buffer: dropped, the next one arrives. */
	CHECK_EQ(inject(ps, ifindex, big, sizeof(big)), (int)sizeof(big));
	CHECK_EQ(inject(ps, ifindex, small, sizeof(small)), (int)sizeof(small));
	CHECK_EQ(recv_test_frame(b, two, 2, flat), -EMSGSIZE);
	CHECK_EQ(recv_test_frame(b, two, 2, flat), HDR + (ssize_t)sizeof(small));

	/* Exactly the buffer's size: whole, not taken for a truncated one. */
	CHECK_EQ(inject(ps, ifindex, big, 200), 200);
	CHECK_EQ(recv_test_frame(b, two, 2, flat), HDR + 200);
	CHECK(memcmp(flat + HDR, big, 200) == 0);
	CHECK_EQ(flat[10], 1);
	CHECK_EQ(flat[11], 0);

	/* A buffer without room for a header still consumes the frame. */
	CHECK_EQ(inject(ps, ifindex, small, sizeof(small)), (int)sizeof(small));
	struct pollfd p = { .fd = b->fd, .events = POLLIN };
	CHECK_EQ(poll(&p, 1, 1000), 1);
	struct iovec tiny = { a, sizeof(a) };
	CHECK_EQ(b->ops->recv(b, &tiny, 1), -EMSGSIZE);
	CHECK_EQ(inject(ps, ifindex, big, sizeof(big)), (int)sizeof(big));
	CHECK_EQ(recv_test_frame(b, &wide_iov, 1, flat), HDR + (ssize_t)sizeof(big));
	close(ps);
	net_backend_destroy(b);
}

static void test_tap_errors(void)
{
	struct net_backend *b = (struct net_backend *)1;
	struct net_backend_config cfg = { .kind = NET_BACKEND_TAP, .fd = -1,
					  .tap_name = "a-name-far-too-long-for-ifnamsiz" };
	CHECK_EQ(net_backend_open(&cfg, &b), -ENAMETOOLONG);
	CHECK(b == NULL);
	cfg.tap_name = "";
	CHECK_EQ(net_backend_open(&cfg, &b), -EINVAL);
	cfg.tap_name = NULL;
	CHECK_EQ(net_backend_open(&cfg, &b), -EINVAL);
	/* An existing interface that is no tap. */
	cfg.tap_name = "lo";
	CHECK(net_backend_open(&cfg, &b) < 0);
}

#define RUN_TAP_TEST(fn)                                                        \
	do {                                                                    \
		if (tap_ok)                                                     \
			RUN_TEST(fn);                                           \
		else                                                            \
			printf("SKIP %s (%s)\n", #fn, tap_skip_reason);         \
	} while (0)

int main(void)
{
	krun_log_configure(2, LOG_LVL_OFF);
	const char *t = getenv("TMPDIR");
	had_tmpdir = t != NULL;
	if (t)
		snprintf(saved_tmpdir, sizeof(saved_tmpdir), "%s", t);

	RUN_TEST(test_gram_send_strips_header);
	RUN_TEST(test_gram_recv_prepends_header);
	RUN_TEST(test_gram_recv_too_large);
	RUN_TEST(test_gram_eagain);
	RUN_TEST(test_gram_peer_closed);
	RUN_TEST(test_gram_fd_ownership);
	RUN_TEST(test_gram_path_vfkit);
	RUN_TEST(test_gram_path_no_greeting);
	RUN_TEST(test_gram_path_not_ours);
	RUN_TEST(test_gram_path_errors);
	RUN_TEST(test_gram_tmpdir_default);

	RUN_TEST(test_tap_errors);
	bool tap_ok = tap_available();
	RUN_TAP_TEST(test_tap_open_and_offloads);
	RUN_TAP_TEST(test_tap_send);
	RUN_TAP_TEST(test_tap_recv);
	TEST_MAIN_END();
}
