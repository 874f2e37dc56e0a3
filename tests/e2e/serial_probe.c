// SPDX-License-Identifier: Apache-2.0
/*
 * The serial console through the public API, as a client would use it: the
 * implicit virtio console off, krun_add_serial_console_default on two pipes
 * and krun_set_kernel_console(ctx, "ttyS0").  The workload's stdio is then
 * the kernel's console, ttyS0.  The child process runs the VM; the parent
 * plays the host side: it keeps reading the output pipe into OUTFILE and
 * answers the guest's markers on the input pipe:
 *   @@READY@@ -> a line, which the guest echoes back as "GOT:<line>"
 *   @@RAW@@   -> 5 bytes without a newline (the guest's tty is raw now), echoed
 *             back as "GOT5:<bytes>"
 *   @@BIG@@   -> PAYLOAD_LEN bytes (also written to PAYLOADFILE), of which the
 *             guest prints the sha256sum
 * Extra arguments after PAYLOADFILE are OEM strings for
 * krun_set_smbios_oem_strings; the guest then prints them from its DMI
 * sysfs ("OEM:<string>" per string of /sys/firmware/dmi/entries/11-0/raw).
 * Prints "probe: ..." lines and exits with the VM's status.
 *
 * usage: serial_probe ROOTDIR OUTFILE PAYLOADFILE [OEM-STRING...]
 */
#include <errno.h>
#include <fcntl.h>
#include <libkrun.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TIMEOUT_S 300
#define PAYLOAD_LEN 3000
#define OUT_MAX (4 * 1024 * 1024)

static const char guest_script[] =
	/* Markers split in two: the script's own text never matches. */
	"echo '@@REA''DY@@'\n"
	"read -r line\n"
	"echo \"GOT:$line\"\n"
	"stty raw -echo\n"
	"echo '@@R''AW@@'\n"
	"five=$(head -c 5)\n"
	"echo \"GOT5:$five\"\n"
	"echo '@@B''IG@@'\n"
	"sum=$(head -c 3000 | sha256sum)\n"
	"stty sane\n"
	"echo \"SUM:${sum%% *}\"\n"
	"if [ -r /sys/firmware/dmi/entries/11-0/raw ]; then\n"
	/* The structure's strings follow its 5-byte formatted area. */
	"  tail -c +6 /sys/firmware/dmi/entries/11-0/raw | tr '\\0' '\\n' |\n"
	"    while read -r s; do [ -n \"$s\" ] && echo \"OEM:$s\"; done\n"
	"else\n"
	"  echo 'NO-DMI-OEM'\n"
	"fi\n"
	"exit 7\n";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void run_vm(const char *root, int in_fd, int out_fd, char **oem)
{
	int ctx = krun_create_ctx();
	int ret = ctx < 0 ? ctx : 0;
	uint32_t c = (uint32_t)ctx;
	/* Info level: no "quiet", so the kernel's boot messages are there. */
	if (!ret)
		ret = krun_set_log_level(KRUN_LOG_LEVEL_INFO);
	if (!ret)
		ret = krun_set_vm_config(c, 1, 256);
	if (!ret)
		ret = krun_set_root(c, root);
	if (!ret)
		ret = krun_disable_implicit_console(c);
	if (!ret)
		ret = krun_add_serial_console_default(c, in_fd, out_fd);
	if (!ret)
		ret = krun_set_kernel_console(c, "ttyS0");
	if (!ret && oem[0])
		ret = krun_set_smbios_oem_strings(c, (const char *const *)oem);
	const char *const args[] = {"-c", guest_script, NULL};
	const char *const env[] = {"PATH=/bin:/sbin:/usr/bin", NULL};
	if (!ret)
		ret = krun_set_exec(c, "/bin/sh", args, env);
	if (!ret)
		ret = krun_start_enter(c);
	fprintf(stderr, "probe: VM setup failed: %d\n", ret);
	_exit(100);
}

struct host {
	char *out;
	size_t len;
	int step;
};

static bool seen(const struct host *h, const char *marker)
{
	return memmem(h->out, h->len, marker, strlen(marker)) != NULL;
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

/* Answers the guest's next marker once it has appeared. */
static void answer(struct host *h, int in_fd, const char *payload)
{
	static const char *const markers[] = {"@@READY@@", "@@RAW@@", "@@BIG@@"};
	if (h->step >= 3 || !seen(h, markers[h->step]))
		return;
	int ret;
	if (h->step == 0)
		ret = write_all(in_fd, "hello-serial\n", 13);
	else if (h->step == 1)
		ret = write_all(in_fd, "abcde", 5);
	else
		ret = write_all(in_fd, payload, PAYLOAD_LEN);
	printf("probe: answered marker %d: %s\n", h->step, ret ? "write failed" : "ok");
	h->step++;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: serial_probe ROOTDIR OUTFILE PAYLOADFILE [OEM...]\n");
		return 2;
	}
	char payload[PAYLOAD_LEN];
	for (size_t i = 0; i < PAYLOAD_LEN; i++)
		payload[i] = (char)('a' + (i * 7 + i / 26) % 26);
	FILE *pf = fopen(argv[3], "w");
	if (!pf || fwrite(payload, 1, PAYLOAD_LEN, pf) != PAYLOAD_LEN || fclose(pf))
		return 2;

	int in[2], out[2];
	if (pipe(in) || pipe(out))
		return 2;
	signal(SIGPIPE, SIG_IGN);
	pid_t pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		close(in[1]);
		close(out[0]);
		run_vm(argv[1], in[0], out[1], argv + 4);
	}
	close(in[0]);
	close(out[1]);

	struct host h = {.out = malloc(OUT_MAX)};
	if (!h.out)
		return 2;
	double end = now_s() + TIMEOUT_S;
	bool eof = false;
	while (!eof && now_s() < end) {
		struct pollfd p = {.fd = out[0], .events = POLLIN};
		if (poll(&p, 1, 1000) <= 0)
			continue;
		ssize_t n = read(out[0], h.out + h.len, OUT_MAX - h.len);
		if (n <= 0) {
			eof = true;
			break;
		}
		h.len += (size_t)n;
		answer(&h, in[1], payload);
		if (h.len == OUT_MAX)
			break;
	}
	if (!eof) {
		printf("probe: the serial output did not end in %d s\n", TIMEOUT_S);
		kill(pid, SIGKILL);
	}
	int status = 0;
	waitpid(pid, &status, 0);
	FILE *of = fopen(argv[2], "w");
	if (of) {
		fwrite(h.out, 1, h.len, of);
		fclose(of);
	}
	printf("probe: markers answered %d\n", h.step);
	if (WIFEXITED(status)) {
		printf("probe: VM exit status %d\n", WEXITSTATUS(status));
		return WEXITSTATUS(status);
	}
	printf("probe: VM killed by signal %d\n", WTERMSIG(status));
	return 1;
}
