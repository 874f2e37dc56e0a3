// SPDX-License-Identifier: Apache-2.0
/*
 * Runs as root inside the guest, on the virtio-fs root: does what a
 * package manager or a container runtime does there (a set-uid binary, a
 * device node, a file capability / trusted.* xattr) and reports whether
 * each works for the guest.  The host side of the test then checks what
 * the host got.  Built static by test_privilege.sh.
 *
 *   privilege_guest setup      make /suid-euid, /dev-null-node, /xattr-file
 *   privilege_guest euid       print the effective uid (the set-uid check)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

static int copy_self(const char *to)
{
	char buf[65536];
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ssize_t n = 0;

	while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	if (in >= 0)
		close(in);
	if (out < 0 || close(out) < 0)
		return -1;
	return in < 0 || n < 0 ? -1 : 0;
}

/* The copy, run as uid 1000, must come up with euid 0 in the guest. */
static void check_setuid(void)
{
	struct stat st;

	if (copy_self("/suid-euid") || chown("/suid-euid", 0, 0) || chmod("/suid-euid", 04755)) {
		printf("guest: setuid setup failed: %s\n", strerror(errno));
		return;
	}
	if (stat("/suid-euid", &st) == 0 && (st.st_mode & 07777) == 04755)
		printf("guest: mode 4755 seen\n");
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		if (setgid(1000) || setuid(1000))
			_exit(1);
		execl("/suid-euid", "suid-euid", "euid", (char *)NULL);
		_exit(2);
	}
	int status;
	waitpid(pid, &status, 0);
}

/* mknod c 1 3 on the share: the guest's node reaches the guest's /dev/null. */
static void check_mknod(void)
{
	struct stat st;
	int fd;

	if (mknod("/dev-null-node", S_IFCHR | 0666, makedev(1, 3))) {
		printf("guest: mknod failed: %s\n", strerror(errno));
		return;
	}
	if (stat("/dev-null-node", &st) == 0 && S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 &&
	    minor(st.st_rdev) == 3)
		printf("guest: char 1:3 seen\n");
	fd = open("/dev-null-node", O_RDWR);
	if (fd >= 0 && write(fd, "discarded", 9) == 9 && read(fd, &st, 1) == 0)
		printf("guest: node behaves as /dev/null\n");
	if (fd >= 0)
		close(fd);
}

static void check_xattr(void)
{
	char value[64];
	ssize_t n;
	int fd = open("/xattr-file", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd >= 0)
		close(fd);
	if (setxattr("/xattr-file", "trusted.krun-test", "guest-value", 11, 0)) {
		printf("guest: setxattr trusted failed: %s\n", strerror(errno));
		return;
	}
	n = getxattr("/xattr-file", "trusted.krun-test", value, sizeof(value) - 1);
	if (n == 11 && memcmp(value, "guest-value", 11) == 0)
		printf("guest: trusted xattr read back\n");
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "euid") == 0) {
		printf("guest: euid %d uid %d\n", (int)geteuid(), (int)getuid());
		return 0;
	}
	if (argc > 1 && strcmp(argv[1], "setup") == 0) {
		setvbuf(stdout, NULL, _IOLBF, 0);
		check_setuid();
		check_mknod();
		check_xattr();
		sync();
		return 0;
	}
	fprintf(stderr, "usage: privilege_guest setup|euid\n");
	return 2;
}
