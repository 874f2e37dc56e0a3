// SPDX-License-Identifier: Apache-2.0
/*
 * Both halves of the TSI connection test, built static so the same binary
 * runs on the host and in the guest's busybox root.
 *
 *   tsi_stress server PORT     (host) listens on 127.0.0.1:PORT; each client
 *       sends 12 bytes (seed, mode, length: u32 little-endian) and gets
 *       `length` bytes of the seed's stream; mode 1: the server closes after
 *       half of them.  One line per finished connection on stdout.
 *   tsi_stress client PORT N   (guest) opens N connections at once, each with
 *       its own seed, and checks every byte; then one where the host closes
 *       mid-transfer, one the guest closes mid-transfer, and one more full
 *       one to show the VMM still serves.  One result line per case.
 *
 *   tsi_stress userver PATH    listens on the unix socket PATH and answers
 *       each connection's message with "pong:" and the message.
 *   tsi_stress uclient PATH MSG  connects to PATH, sends MSG and prints the
 *       answer (or the connect error).
 *
 * Every wait is bounded by poll timeouts: a stuck transfer is reported, not
 * waited for.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_CONN 256
#define FULL_LEN (256 * 1024)
#define BIG_LEN (8 * 1024 * 1024)
#define IDLE_MS 60000

struct stream {
	uint32_t state;
	uint32_t word;
	unsigned int left;	/* bytes of word not yet used */
};

static void stream_init(struct stream *s, uint32_t seed)
{
	s->state = seed ? seed : 0x9e3779b9u;
	s->left = 0;
}

static uint8_t stream_next(struct stream *s)
{
	if (!s->left) {
		s->state ^= s->state << 13;
		s->state ^= s->state >> 17;
		s->state ^= s->state << 5;
		s->word = s->state;
		s->left = 4;
	}
	uint8_t b = (uint8_t)s->word;
	s->word >>= 8;
	s->left--;
	return b;
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* ---- server ------------------------------------------------------------ */

struct sconn {
	int fd;
	uint8_t req[12];
	unsigned int got;
	struct stream s;
	uint32_t seed, mode, len, sent;
};

static void sconn_end(struct sconn *c, const char *how)
{
	printf("server: seed %u mode %u sent %u of %u: %s\n", c->seed, c->mode, c->sent, c->len,
	       how);
	fflush(stdout);
	close(c->fd);
	c->fd = -1;
}

static void sconn_step(struct sconn *c)
{
	if (c->got < sizeof(c->req)) {
		ssize_t n = read(c->fd, c->req + c->got, sizeof(c->req) - c->got);
		if (n <= 0) {
			sconn_end(c, "no request");
			return;
		}
		c->got += (unsigned int)n;
		if (c->got < sizeof(c->req))
			return;
		c->seed = get32(c->req);
		c->mode = get32(c->req + 4);
		c->len = get32(c->req + 8);
		if (c->len > BIG_LEN)
			c->len = BIG_LEN;
		stream_init(&c->s, c->seed);
	}
	uint32_t stop = c->mode == 1 ? c->len / 2 : c->len;
	uint8_t buf[16384];
	uint32_t n = stop - c->sent < sizeof(buf) ? stop - c->sent : (uint32_t)sizeof(buf);
	for (uint32_t i = 0; i < n; i++)
		buf[i] = stream_next(&c->s);
	ssize_t w = n ? write(c->fd, buf, n) : 0;
	if (w < 0) {
		sconn_end(c, errno == EPIPE || errno == ECONNRESET ? "peer gone" : strerror(errno));
		return;
	}
	/* Bytes generated but not written are regenerated: rewind the stream. */
	if ((uint32_t)w < n) {
		stream_init(&c->s, c->seed);
		for (uint32_t i = 0; i < c->sent + (uint32_t)w; i++)
			stream_next(&c->s);
	}
	c->sent += (uint32_t)w;
	if (c->sent == stop)
		sconn_end(c, c->mode == 1 ? "closed early" : "done");
}

static int run_server(int port)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	struct sockaddr_in a = loopback(port);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) || listen(lfd, MAX_CONN)) {
		perror("server: bind/listen");
		return 1;
	}
	printf("server: listening\n");
	fflush(stdout);
	static struct sconn conns[MAX_CONN];
	for (int i = 0; i < MAX_CONN; i++)
		conns[i].fd = -1;
	for (;;) {
		struct pollfd pfd[MAX_CONN + 1];
		int idx[MAX_CONN + 1], n = 0;
		pfd[n++] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < MAX_CONN; i++) {
			if (conns[i].fd < 0)
				continue;
			bool sending = conns[i].got == sizeof(conns[i].req);
			idx[n] = i;
			pfd[n++] = (struct pollfd){ .fd = conns[i].fd,
						    .events = sending ? POLLOUT : POLLIN };
		}
		if (poll(pfd, (nfds_t)n, -1) < 0 && errno != EINTR)
			return 1;
		if (pfd[0].revents & POLLIN) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
			int slot = -1;
			for (int i = 0; fd >= 0 && i < MAX_CONN && slot < 0; i++)
				if (conns[i].fd < 0)
					slot = i;
			if (slot < 0 && fd >= 0)
				close(fd);
			else if (fd >= 0)
				conns[slot] = (struct sconn){ .fd = fd };
		}
		for (int k = 1; k < n; k++)
			if (pfd[k].revents)
				sconn_step(&conns[idx[k]]);
	}
}

/* ---- client ------------------------------------------------------------ */

struct cconn {
	int fd;
	struct stream s;
	uint32_t seed, got, want;
	bool bad, eof;
};

static int connect_to(int port)
{
	struct sockaddr_in a = loopback(port);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static bool send_request(int fd, uint32_t seed, uint32_t mode, uint32_t len)
{
	uint8_t req[12];
	put32(req, seed);
	put32(req + 4, mode);
	put32(req + 8, len);
	return write(fd, req, sizeof(req)) == (ssize_t)sizeof(req);
}

static void cconn_read(struct cconn *c, uint32_t limit)
{
	uint8_t buf[16384];
	uint32_t room = limit - c->got < sizeof(buf) ? limit - c->got : (uint32_t)sizeof(buf);
	ssize_t n = read(c->fd, buf, room ? room : 1);
	if (n <= 0) {
		c->eof = true;
		return;
	}
	for (ssize_t i = 0; i < n; i++)
		c->bad |= buf[i] != stream_next(&c->s);
	c->got += (uint32_t)n;
}

/* Reads until every connection has `limit` bytes or EOF; false on a stall. */
static bool drain(struct cconn *cs, int nr, uint32_t limit)
{
	for (;;) {
		struct pollfd pfd[MAX_CONN];
		int idx[MAX_CONN], n = 0;
		for (int i = 0; i < nr; i++) {
			if (cs[i].fd < 0 || cs[i].eof || cs[i].got >= limit)
				continue;
			idx[n] = i;
			pfd[n++] = (struct pollfd){ .fd = cs[i].fd, .events = POLLIN };
		}
		if (!n)
			return true;
		int r = poll(pfd, (nfds_t)n, IDLE_MS);
		if (r == 0)
			return false;
		for (int k = 0; k < n; k++)
			if (pfd[k].revents)
				cconn_read(&cs[idx[k]], limit);
	}
}

static int open_all(struct cconn *cs, int nr, int port, uint32_t first_seed, uint32_t mode,
		    uint32_t len)
{
	int opened = 0;
	for (int i = 0; i < nr; i++) {
		cs[i] = (struct cconn){ .seed = first_seed + (uint32_t)i, .want = len };
		stream_init(&cs[i].s, cs[i].seed);
		cs[i].fd = connect_to(port);
		if (cs[i].fd < 0) {
			printf("client: connect %d: %s\n", i, strerror(errno));
			continue;
		}
		if (!send_request(cs[i].fd, cs[i].seed, mode, len)) {
			close(cs[i].fd);
			cs[i].fd = -1;
			continue;
		}
		opened++;
	}
	return opened;
}

static int verified(const struct cconn *cs, int nr, uint32_t want)
{
	int ok = 0;
	for (int i = 0; i < nr; i++)
		ok += cs[i].fd >= 0 && !cs[i].bad && cs[i].got == want;
	return ok;
}

static void close_all(struct cconn *cs, int nr)
{
	for (int i = 0; i < nr; i++)
		if (cs[i].fd >= 0)
			close(cs[i].fd);
}

static int run_client(int port, int nr)
{
	static struct cconn cs[MAX_CONN];
	if (nr < 1 || nr > MAX_CONN)
		return 2;
	/* All at once: every connection is open before any is read. */
	int opened = open_all(cs, nr, port, 1000, 0, FULL_LEN);
	bool done = drain(cs, nr, FULL_LEN);
	printf("client: %d connections opened, %d verified%s\n", opened,
	       verified(cs, nr, FULL_LEN), done ? "" : " (stalled)");
	close_all(cs, nr);

	/* The host closes after half: the guest reads exactly half, then EOF. */
	open_all(cs, 1, port, 5000, 1, BIG_LEN);
	done = drain(cs, 1, BIG_LEN);
	printf("client: host close mid-transfer: %s\n",
	       done && cs[0].eof && !cs[0].bad && cs[0].got == BIG_LEN / 2 ? "clean EOF after half"
									 : "wrong");
	close_all(cs, 1);

	/* The guest closes after a quarter of a transfer the host keeps pushing. */
	open_all(cs, 1, port, 6000, 0, BIG_LEN);
	done = drain(cs, 1, BIG_LEN / 4);
	printf("client: guest close mid-transfer: %s\n",
	       done && !cs[0].bad && cs[0].got == BIG_LEN / 4 ? "closed after a quarter" : "wrong");
	close_all(cs, 1);

	open_all(cs, 1, port, 7000, 0, FULL_LEN);
	done = drain(cs, 1, FULL_LEN);
	printf("client: afterwards: %s\n", done && verified(cs, 1, FULL_LEN) == 1 ? "ok" : "wrong");
	close_all(cs, 1);
	fflush(stdout);
	return 0;
}

/* ---- unix sockets ------------------------------------------------------ */

static socklen_t unix_addr(const char *path, struct sockaddr_un *a)
{
	*a = (struct sockaddr_un){ .sun_family = AF_UNIX };
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", path);
	return (socklen_t)sizeof(*a);
}

static int run_userver(const char *path)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(path, &a);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(lfd, (struct sockaddr *)&a, len) || listen(lfd, 8)) {
		printf("userver: bind/listen %s: %s\n", path, strerror(errno));
		return 1;
	}
	printf("userver: listening\n");
	fflush(stdout);
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		char msg[256] = "pong:";
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n = poll(&p, 1, IDLE_MS) == 1 ? read(fd, msg + 5, sizeof(msg) - 6) : -1;
		if (n > 0 && write(fd, msg, 5 + (size_t)n) == 5 + n)
			printf("userver: answered %.*s\n", (int)n, msg + 5);
		fflush(stdout);
		close(fd);
	}
}

static int run_uclient(const char *path, const char *msg)
{
	struct sockaddr_un a;
	socklen_t len = unix_addr(path, &a);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&a, len)) {
		printf("uclient: connect: %s\n", strerror(errno));
		return 1;
	}
	char buf[256];
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ssize_t n = -1;
	if (write(fd, msg, strlen(msg)) == (ssize_t)strlen(msg) && poll(&p, 1, IDLE_MS) == 1)
		n = read(fd, buf, sizeof(buf));
	printf("uclient: reply %.*s\n", n > 0 ? (int)n : 0, buf);
	return n > 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && strcmp(argv[1], "server") == 0)
		return run_server(atoi(argv[2]));
	if (argc == 4 && strcmp(argv[1], "client") == 0)
		return run_client(atoi(argv[2]), atoi(argv[3]));
	if (argc == 3 && strcmp(argv[1], "userver") == 0)
		return run_userver(argv[2]);
	if (argc == 4 && strcmp(argv[1], "uclient") == 0)
		return run_uclient(argv[2], argv[3]);
	fprintf(stderr, "usage: tsi_stress server PORT | client PORT N | userver PATH | "
			"uclient PATH MSG\n");
	return 2;
}
