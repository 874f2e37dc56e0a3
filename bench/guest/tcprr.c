// SPDX-License-Identifier: Apache-2.0
/*
 * TCP request/response latency: one connection, N round trips of one byte
 * each (TCP_NODELAY both ends), what netperf's TCP_RR measures, without
 * netperf (not in Debian main) or shared libraries (the benchmark root is
 * busybox only).  Static, so the same binary serves on the host side too.
 *   tcprr server ADDR PORT          echo every byte back, one client at a time
 *   tcprr client ADDR PORT COUNT    prints "mean_us median_us p99_us min_us max_us"
 * The client retries its connect for up to 10 s (a guest whose network is
 * still coming up) and does 20 untimed round trips first.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 20
#define MAX_COUNT 1000000

static int parse_addr(const char *addr, const char *port, struct sockaddr_in *sa)
{
	char *end;
	long p = strtol(port, &end, 10);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (*end || p <= 0 || p > 65535 || inet_pton(AF_INET, addr, &sa->sin_addr) != 1) {
		fprintf(stderr, "tcprr: bad address %s:%s\n", addr, port);
		return -1;
	}
	sa->sin_port = htons((unsigned short)p);
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int serve(const struct sockaddr_in *sa)
{
	int one = 1;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(l, (const struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(l, 16) < 0) {
		perror("tcprr: listen");
		return 1;
	}
	for (;;) {
		int c = accept(l, NULL, NULL);
		char buf[256];
		ssize_t n;

		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("tcprr: accept");
			return 1;
		}
		nodelay(c);
		while ((n = read(c, buf, sizeof(buf))) > 0) {
			if (write(c, buf, (size_t)n) != n)
				break;
		}
		close(c);
	}
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int round_trip(int fd)
{
	char c = 'x';

	if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1)
		return -1;
	return 0;
}

static int client(const struct sockaddr_in *sa, long count)
{
	int fd = -1;

	for (int tries = 0; tries < 100; tries++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			perror("tcprr: socket");
			return 1;
		}
		if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0)
			break;
		close(fd);
		fd = -1;
		usleep(100 * 1000);
	}
	if (fd < 0) {
		perror("tcprr: connect");
		return 1;
	}
	nodelay(fd);
	for (int i = 0; i < WARMUP; i++) {
		if (round_trip(fd) < 0) {
			perror("tcprr: warm-up round trip");
			return 1;
		}
	}
	double *t = malloc(sizeof(*t) * (size_t)count);
	double sum = 0;

	if (!t)
		return 1;
	for (long i = 0; i < count; i++) {
		double a = now_us();

		if (round_trip(fd) < 0) {
			fprintf(stderr, "tcprr: round trip %ld: %s\n", i, strerror(errno));
			return 1;
		}
		t[i] = now_us() - a;
		sum += t[i];
	}
	close(fd);
	qsort(t, (size_t)count, sizeof(*t), cmp_double);
	long p99 = count * 99 / 100;

	printf("%.1f %.1f %.1f %.1f %.1f\n", sum / (double)count, t[count / 2], t[p99], t[0],
	       t[count - 1]);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;

	if (argc == 4 && strcmp(argv[1], "server") == 0) {
		if (parse_addr(argv[2], argv[3], &sa) < 0)
			return 2;
		return serve(&sa);
	}
	if (argc == 5 && strcmp(argv[1], "client") == 0) {
		char *end;
		long count = strtol(argv[4], &end, 10);

		if (*end || count <= 0 || count > MAX_COUNT || parse_addr(argv[2], argv[3], &sa) < 0) {
			fprintf(stderr, "tcprr: bad arguments\n");
			return 2;
		}
		return client(&sa, count);
	}
	fprintf(stderr, "usage: tcprr server ADDR PORT | tcprr client ADDR PORT COUNT\n");
	return 2;
}
