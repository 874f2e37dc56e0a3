// SPDX-License-Identifier: Apache-2.0
/*
 * Multiport virtio-console through the public API, as a client would use it:
 * the implicit console off, the default console on our stdio, a multiport
 * console with three named in/out ports on socketpairs, and a second one
 * with a terminal port on a pty.  The guest finds each port by name, reads
 * "PING <name>" and answers "PONG <name>"; on the terminal it reports the
 * window size it sees, and again after we resize the terminal and send the
 * VM SIGWINCH (the terminal is not its controlling one).  The child process runs the VM (krun_start_enter does
 * not return; its exit status is the guest's); the parent plays the host
 * side and prints one "probe: ..." line per result.
 *
 * usage: console_probe ROOTDIR [ports|empty]
 *   ports  the exchange above; exit 0 only if everything was as expected
 *   empty  a multiport console without ports: krun_start_enter must refuse
 *          with -EINVAL (exit 0 if it did)
 */
#include <errno.h>
#include <fcntl.h>
#include <libkrun.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define NR_PORTS 3
#define TIMEOUT_S 300
#define TTY_ROWS 40
#define TTY_COLS 100
#define TTY_ROWS2 50
#define TTY_COLS2 120

static const char *const port_names[NR_PORTS] = {"alpha", "beta", "gamma"};

/* Each port by name, then the terminal. */
static const char guest_script[] =
	"find_port() {\n"
	"  for d in /sys/class/virtio-ports/*; do\n"
	"    [ \"$(cat \"$d/name\" 2>/dev/null)\" = \"$1\" ] && { echo \"${d##*/}\"; return 0; }\n"
	"  done\n"
	"  return 1\n"
	"}\n"
	"wait_port() {\n"
	"  i=0\n"
	"  while ! find_port \"$1\"; do\n"
	"    i=$((i + 1)); [ $i -ge 30 ] && return 1; sleep 1\n"
	"  done\n"
	"}\n"
	"for n in alpha beta gamma; do\n"
	"  dev=$(wait_port $n) || { echo \"guest: no port named $n\"; exit 3; }\n"
	"  echo \"guest: port $n $dev\"\n"
	"  exec 3<>/dev/$dev\n"
	"  read -r line <&3\n"
	"  [ \"$line\" = \"PING $n\" ] || { echo \"guest: $n read '$line'\"; exit 4; }\n"
	"  echo \"PONG $n\" >&3\n"
	"  exec 3>&-\n"
	"done\n"
	"dev=$(wait_port term) || { echo 'guest: no port named term'; exit 5; }\n"
	"echo \"guest: port term $dev\"\n"
	/* Found by its size (only the terminal port has one), so that the
	 * shell script can check which hvc it became. */
	"tty= i=0\n"
	"while [ -z \"$tty\" ] && [ $i -lt 30 ]; do\n"
	"  for h in /dev/hvc[0-7]; do\n"
	"    size=$( { stty size <$h; } 2>/dev/null )\n"
	"    [ -n \"$size\" ] && [ \"$size\" != '0 0' ] && { tty=$h; break; }\n"
	"  done\n"
	"  [ -n \"$tty\" ] || { i=$((i + 1)); sleep 1; }\n"
	"done\n"
	"[ -n \"$tty\" ] || { echo 'guest: no hvc with a window size'; exit 6; }\n"
	"echo \"guest: term size $size on $tty\"\n"
	"echo \"TTY $size\" >$tty\n"
	"i=0\n"
	"while [ \"$(stty size <$tty)\" = \"$size\" ] && [ $i -lt 60 ]; do\n"
	"  i=$((i + 1)); sleep 1\n"
	"done\n"
	"size=$(stty size <$tty)\n"
	"echo \"guest: term size after resize $size\"\n"
	"echo \"TTY2 $size\" >$tty\n";

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One write per line: the guest's output shares our stdout. */
static void say(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDOUT_FILENO, line, (size_t)n) < 0)
		return;
}

static int common_setup(const char *root)
{
	int ctx = krun_create_ctx();
	if (ctx < 0)
		return ctx;
	int ret = krun_set_vm_config((uint32_t)ctx, 1, 128);
	if (!ret)
		ret = krun_set_root((uint32_t)ctx, root);
	if (!ret)
		ret = krun_disable_implicit_console((uint32_t)ctx);
	if (!ret)
		ret = krun_add_virtio_console_default((uint32_t)ctx, STDIN_FILENO, STDOUT_FILENO,
						      STDERR_FILENO);
	return ret ? ret : ctx;
}

static int run_empty(const char *root)
{
	int ctx = common_setup(root);
	int id = ctx < 0 ? ctx : krun_add_virtio_console_multiport((uint32_t)ctx);
	if (id < 0) {
		say("probe: setup failed: %s", strerror(-id));
		return 1;
	}
	int ret = krun_start_enter((uint32_t)ctx);
	say("probe: start returned %d", ret);
	return ret == -EINVAL ? 0 : 1;
}

/* The VM side: configures and enters; returns only if that failed. */
static int child(const char *root, int socks[NR_PORTS], int tty)
{
	int ctx = common_setup(root);
	if (ctx < 0) {
		say("probe: setup failed: %s", strerror(-ctx));
		return 90;
	}
	uint32_t c = (uint32_t)ctx;
	int data_id = krun_add_virtio_console_multiport(c);
	int tty_id = krun_add_virtio_console_multiport(c);
	say("probe: multiport ids %d %d", data_id, tty_id);
	if (data_id < 0 || tty_id < 0)
		return 91;
	for (int i = 0; i < NR_PORTS; i++) {
		int ret = krun_add_console_port_inout(c, (uint32_t)data_id, port_names[i], socks[i],
						      socks[i]);
		if (ret) {
			say("probe: port %s refused: %s", port_names[i], strerror(-ret));
			return 92;
		}
	}
	int ret = krun_add_console_port_tty(c, (uint32_t)tty_id, "term", tty);
	if (ret) {
		say("probe: tty port refused: %s", strerror(-ret));
		return 93;
	}
	const char *const args[] = {"-c", guest_script, NULL};
	const char *const env[] = {"PATH=/bin:/sbin:/usr/bin:/usr/sbin", NULL};
	ret = krun_set_exec(c, "/bin/sh", args, env);
	if (!ret)
		ret = krun_start_enter(c);
	say("probe: krun_start_enter returned %d", ret);
	return 94;
}

static int remaining_ms(const struct timespec *deadline)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (deadline->tv_sec - now.tv_sec) * 1000LL +
		       (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (int)ms;
}

/* Reads from fd until buf holds want (or a newline when want is NULL). */
static bool read_until(int fd, char *buf, size_t size, const char *want,
		       const struct timespec *deadline)
{
	size_t len = 0;
	buf[0] = '\0';
	while (len + 1 < size) {
		if (want ? strstr(buf, want) != NULL : strchr(buf, '\n') != NULL)
			return true;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int ms = remaining_ms(deadline);
		if (ms == 0 || poll(&p, 1, ms) <= 0)
			return false;
		ssize_t n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		len += (size_t)n;
		buf[len] = '\0';
	}
	return false;
}

static bool tty_raw(int fd)
{
	struct termios t;
	return tcgetattr(fd, &t) == 0 && !(t.c_lflag & (ICANON | ECHO));
}

static int open_pty(int *master, int *slave)
{
	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (*master < 0 || grantpt(*master) || unlockpt(*master))
		return -1;
	const char *name = ptsname(*master);
	*slave = name ? open(name, O_RDWR | O_NOCTTY) : -1;
	struct winsize ws = {.ws_row = TTY_ROWS, .ws_col = TTY_COLS};
	return *slave < 0 ? -1 : ioctl(*master, TIOCSWINSZ, &ws);
}

static bool wait_child(pid_t pid, const struct timespec *deadline, int *status)
{
	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid)
			return true;
		if (r < 0 || remaining_ms(deadline) == 0)
			break;
		usleep(100 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, status, 0);
	return false;
}

static int run_ports(const char *root)
{
	int pairs[NR_PORTS][2], socks[NR_PORTS];
	int master, slave;
	for (int i = 0; i < NR_PORTS; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pairs[i]) < 0) {
			say("probe: socketpair: %s", strerror(errno));
			return 1;
		}
		socks[i] = pairs[i][1];
	}
	if (open_pty(&master, &slave) < 0) {
		say("probe: cannot open a pty: %s", strerror(errno));
		return 1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		say("probe: fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		for (int i = 0; i < NR_PORTS; i++)
			close(pairs[i][0]);
		close(master);
		_exit(child(root, socks, slave));
	}
	/* Our slave fd keeps the terminal's modes readable after the VM. */
	for (int i = 0; i < NR_PORTS; i++)
		close(pairs[i][1]);

	struct timespec deadline;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += TIMEOUT_S;
	bool ok = true;
	char buf[256];
	for (int i = 0; i < NR_PORTS; i++) {
		int n = snprintf(buf, sizeof(buf), "PING %s\n", port_names[i]);
		if (write(pairs[i][0], buf, (size_t)n) != n) {
			say("probe: write to port %s: %s", port_names[i], strerror(errno));
			ok = false;
		}
	}
	for (int i = 0; i < NR_PORTS; i++) {
		char want[64];
		snprintf(want, sizeof(want), "PONG %s\n", port_names[i]);
		bool got = read_until(pairs[i][0], buf, sizeof(buf), NULL, &deadline);
		if (got && strcmp(buf, want) == 0) {
			say("probe: exchange %s ok", port_names[i]);
		} else {
			buf[strcspn(buf, "\n")] = '\0';
			say("probe: exchange %s failed: read '%s'%s", port_names[i], buf,
			    got ? "" : " (no full line before the timeout or EOF)");
			ok = false;
		}
	}
	char want[64];
	snprintf(want, sizeof(want), "TTY %d %d", TTY_ROWS, TTY_COLS);
	if (read_until(master, buf, sizeof(buf), want, &deadline)) {
		say("probe: tty ok");
		say("probe: tty raw while the VM runs: %s", tty_raw(slave) ? "yes" : "no");
		struct winsize ws = {.ws_row = TTY_ROWS2, .ws_col = TTY_COLS2};
		ioctl(master, TIOCSWINSZ, &ws);
		kill(pid, SIGWINCH);
		snprintf(want, sizeof(want), "TTY2 %d %d", TTY_ROWS2, TTY_COLS2);
		if (read_until(master, buf, sizeof(buf), want, &deadline)) {
			say("probe: tty resize ok");
		} else {
			buf[strcspn(buf, "\r\n")] = '\0';
			say("probe: tty resize failed: read '%s'", buf);
			ok = false;
		}
	} else {
		buf[strcspn(buf, "\r\n")] = '\0';
		say("probe: tty failed: read '%s'", buf);
		ok = false;
	}
	int status = 0;
	if (!wait_child(pid, &deadline, &status)) {
		say("probe: the VM did not end in time (killed)");
		return 1;
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	say("probe: guest status %d", code);
	say("probe: tty raw after the VM: %s", tty_raw(slave) ? "yes" : "no");
	return ok && code == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s ROOTDIR [ports|empty]\n", argv[0]);
		return 2;
	}
	const char *mode = argc > 2 ? argv[2] : "ports";
	if (strcmp(mode, "empty") == 0)
		return run_empty(argv[1]);
	if (strcmp(mode, "ports") == 0)
		return run_ports(argv[1]);
	fprintf(stderr, "%s: unknown mode %s\n", argv[0], mode);
	return 2;
}
