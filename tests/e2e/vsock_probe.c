// SPDX-License-Identifier: Apache-2.0
/*
 * Host half of the vsock end-to-end test: maps guest vsock ports to unix
 * sockets in DIR with krun_add_vsock_port/_port2, runs the host peers in
 * child processes and boots ROOT with COMMAND as the workload.
 *   port 1234 -> DIR/g2h.sock   (we listen) stores what the guest sends
 *                               in DIR/recv.bin, replies "got N bytes"
 *   port 1235 <- DIR/h2g.sock   (libkrun listens, listen=true) we connect,
 *                               send 2 MiB, expect it echoed: "h2g ok"
 *   port 1237 -> DIR/close.sock first client: we send 100000 bytes and
 *                               close; second: we read 64 KiB and close
 * The peers write their verdicts to stdout as "host: ..." lines.
 * usage: vsock_probe ROOT DIR COMMAND [ARGS...]
 * VSOCK_PROBE_DEBUG=1 in the environment: debug log and the kernel's
 * messages on stdout (ttyS0), for a run that hangs.
 * The process ends with the workload's status (krun_start_enter).
 */
#include <errno.h>
#include <libkrun.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define H2G_BYTES (2u << 20)

static char dir[200];

static const char *path_in(const char *name)
{
	static char p[4][256];
	static int i;
	char *s = p[i++ % 4];
	snprintf(s, 256, "%s/%s", dir, name);
	return s;
}

static struct sockaddr_un addr_of(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	return sa;
}

static int listen_at(const char *path)
{
	struct sockaddr_un sa = addr_of(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		fprintf(stderr, "probe: listen %s: %s\n", path, strerror(errno));
		exit(100);
	}
	return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static void child_setup(void)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
}

/* Guest -> host: store everything, reply with the count. */
static void g2h_peer(int l)
{
	int fd = accept(l, NULL, NULL);
	FILE *out = fopen(path_in("recv.bin"), "w");
	if (fd < 0 || !out) {
		printf("host: g2h: accept/open: %s\n", strerror(errno));
		_exit(1);
	}
	static char buf[65536];
	size_t total = 0;
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, out);
		total += (size_t)n;
	}
	fclose(out);
	/* Before the reply: the VM (and with it this process) may end soon after. */
	printf("host: g2h received %zu bytes, then %s\n", total, n == 0 ? "EOF" : "error");
	char reply[64];
	int len = snprintf(reply, sizeof(reply), "got %zu bytes", total);
	write_all(fd, reply, (size_t)len);
	close(fd);
	_exit(0);
}

static void pattern(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 131 + (i >> 12));
}

/* One attempt: 0 echoed correctly, 1 the guest was not listening yet
 * (closed before any byte came back), -1 wrong data. */
static int h2g_attempt(const uint8_t *data, uint8_t *back)
{
	struct sockaddr_un sa = addr_of(path_in("h2g.sock"));
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return 1;
	}
	/* Writer child: the echo comes back while we still send. */
	pid_t w = fork();
	if (w == 0) {
		write_all(fd, data, H2G_BYTES);
		shutdown(fd, SHUT_WR);
		_exit(0);
	}
	size_t got = 0;
	ssize_t n;
	while (got < H2G_BYTES && (n = read(fd, back + got, H2G_BYTES - got)) > 0)
		got += (size_t)n;
	close(fd);
	kill(w, SIGKILL);
	waitpid(w, NULL, 0);
	if (got == 0)
		return 1;
	return got == H2G_BYTES && memcmp(data, back, H2G_BYTES) == 0 ? 0 : -1;
}

static void h2g_peer(void)
{
	static uint8_t data[H2G_BYTES], back[H2G_BYTES];
	pattern(data, sizeof(data));
	time_t end = time(NULL) + 300;
	while (time(NULL) < end) {
		int r = h2g_attempt(data, back);
		if (r == 0) {
			printf("host: h2g ok\n");
			_exit(0);
		}
		if (r < 0) {
			printf("host: h2g echo differs\n");
			_exit(1);
		}
		usleep(200 * 1000);
	}
	printf("host: h2g timed out\n");
	_exit(1);
}

/* The host goes away mid-transfer, once each way. */
static void close_peer(int l)
{
	static uint8_t buf[100000];
	int fd = accept(l, NULL, NULL);
	pattern(buf, sizeof(buf));
	if (fd < 0 || write_all(fd, buf, sizeof(buf))) {
		printf("host: close peer: %s\n", strerror(errno));
		_exit(1);
	}
	close(fd);
	fd = accept(l, NULL, NULL);
	size_t got = 0;
	ssize_t n;
	while (got < 65536 && (n = read(fd, buf, 65536 - got)) > 0)
		got += (size_t)n;
	printf("host: close peer read %zu bytes and closes\n", got);
	close(fd);
	_exit(0);
}

static pid_t spawn(void (*fn)(int), int arg)
{
	fflush(stdout);
	pid_t p = fork();
	if (p == 0) {
		child_setup();
		fn(arg);
		_exit(1);
	}
	return p;
}

static void h2g_entry(int unused)
{
	(void)unused;
	h2g_peer();
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s ROOT DIR COMMAND [ARGS...]\n", argv[0]);
		return 2;
	}
	snprintf(dir, sizeof(dir), "%s", argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Bound before the VM starts: the guest may connect at once. */
	int g2h = listen_at(path_in("g2h.sock"));
	int cl = listen_at(path_in("close.sock"));
	spawn(g2h_peer, g2h);
	spawn(close_peer, cl);
	spawn(h2g_entry, 0);
	close(g2h);
	close(cl);

	if (getenv("VSOCK_PROBE_DEBUG"))
		krun_set_log_level(KRUN_LOG_LEVEL_DEBUG);
	int ctx = krun_create_ctx();
	const char *const env[] = { "PATH=/bin:/sbin", NULL };
	int ret = ctx < 0 ? ctx : krun_set_root((uint32_t)ctx, argv[1]);
	if (!ret)
		ret = krun_set_exec((uint32_t)ctx, argv[3], (const char *const *)argv + 4, env);
	/* Debugging: the kernel's messages on the serial port (our stdout). */
	if (!ret && getenv("VSOCK_PROBE_DEBUG"))
		ret = krun_set_kernel_console((uint32_t)ctx, "ttyS0");
	if (!ret)
		ret = krun_add_vsock_port((uint32_t)ctx, 1234, path_in("g2h.sock"));
	if (!ret)
		ret = krun_add_vsock_port2((uint32_t)ctx, 1235, path_in("h2g.sock"), true);
	if (!ret)
		ret = krun_add_vsock_port2((uint32_t)ctx, 1237, path_in("close.sock"), false);
	/* The path of a listen=true port must not exist yet. */
	if (!ret && krun_add_vsock_port2((uint32_t)ctx, 1299, path_in("g2h.sock"), true) != -EEXIST)
		ret = -EPROTO;
	if (!ret)
		ret = krun_start_enter((uint32_t)ctx);
	printf("probe: start returned %d\n", ret);
	return 100;
}
