// SPDX-License-Identifier: Apache-2.0
/*
 * Guest half of the vsock end-to-end test, built static on the host and
 * copied into the busybox root.  Each mode prints one "guest: ..." line
 * the test greps for and exits 0 only if what it saw is what it expects.
 *   send PORT FILE         connect to (2, PORT), send FILE, shut down
 *                          writing, print the host's reply
 *   echo PORT              listen on vsock PORT, echo one connection
 *   refused PORT           a connect must fail with ECONNRESET/ECONNREFUSED
 *   read-eof PORT          read until EOF: the host closes mid-transfer
 *   write-error PORT       write until the host's close makes it fail
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

static int vsock_connect(unsigned int port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = 2, .svm_port = port };
	int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (fd < 0) {
		printf("guest: socket(AF_VSOCK): %s\n", strerror(errno));
		exit(1);
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

static int connect_or_die(unsigned int port)
{
	int fd = vsock_connect(port);

	if (fd < 0) {
		printf("guest: connect to port %u: %s\n", port, strerror(-fd));
		exit(1);
	}
	return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int do_send(unsigned int port, const char *file)
{
	int in = open(file, O_RDONLY);
	if (in < 0) {
		printf("guest: %s: %s\n", file, strerror(errno));
		return 1;
	}
	int fd = connect_or_die(port);
	static char buf[65536];
	size_t total = 0;
	ssize_t n;
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write_all(fd, buf, (size_t)n)) {
			printf("guest: send: %s\n", strerror(errno));
			return 1;
		}
		total += (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	size_t got = 0;
	while (got < sizeof(buf) - 1 && (n = read(fd, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = 0;
	printf("guest: sent %zu bytes, reply: %s\n", total, buf);
	close(fd);
	return n < 0;
}

static int do_echo(unsigned int port)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY,
				  .svm_port = port };
	int l = socket(AF_VSOCK, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 4) < 0) {
		printf("guest: listen on %u: %s\n", port, strerror(errno));
		return 1;
	}
	printf("guest: listening on %u\n", port);
	fflush(stdout);
	int fd = accept(l, NULL, NULL);
	if (fd < 0) {
		printf("guest: accept: %s\n", strerror(errno));
		return 1;
	}
	static char buf[65536];
	size_t total = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (write_all(fd, buf, (size_t)n))
			break;
		total += (size_t)n;
	}
	printf("guest: echoed %zu bytes\n", total);
	close(fd);
	close(l);
	return n != 0;
}

static int do_refused(unsigned int port)
{
	int fd = vsock_connect(port);
	if (fd >= 0) {
		printf("guest: connect to unmapped port %u succeeded\n", port);
		return 1;
	}
	printf("guest: connect to unmapped port %u: %s\n", port, strerror(-fd));
	return fd != -ECONNRESET && fd != -ECONNREFUSED;
}

static int do_read_eof(unsigned int port)
{
	int fd = connect_or_die(port);
	static char buf[65536];
	size_t total = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		total += (size_t)n;
	printf("guest: read %zu bytes, then %s\n", total, n == 0 ? "EOF" : strerror(errno));
	close(fd);
	return !(total > 0 && (n == 0 || errno == ECONNRESET));
}

static int do_write_error(unsigned int port)
{
	int fd = connect_or_die(port);
	static char buf[65536];
	size_t total = 0;
	memset(buf, 'w', sizeof(buf));
	signal(SIGPIPE, SIG_IGN);
	while (total < (256u << 20)) {
		ssize_t w = write(fd, buf, sizeof(buf));
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			int err = errno;
			printf("guest: wrote %zu bytes, then %s\n", total, strerror(err));
			close(fd);
			return err != EPIPE && err != ECONNRESET;
		}
		total += (size_t)w;
	}
	printf("guest: wrote %zu bytes without an error\n", total);
	return 1;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: %s MODE PORT [FILE]\n", argv[0]);
		return 2;
	}
	unsigned int port = (unsigned int)strtoul(argv[2], NULL, 10);
	if (!strcmp(argv[1], "send") && argc > 3)
		return do_send(port, argv[3]);
	if (!strcmp(argv[1], "echo"))
		return do_echo(port);
	if (!strcmp(argv[1], "refused"))
		return do_refused(port);
	if (!strcmp(argv[1], "read-eof"))
		return do_read_eof(port);
	if (!strcmp(argv[1], "write-error"))
		return do_write_error(port);
	fprintf(stderr, "%s: unknown mode %s\n", argv[0], argv[1]);
	return 2;
}
