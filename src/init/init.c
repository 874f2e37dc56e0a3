// SPDX-License-Identifier: Apache-2.0
/*
 * init/init.c - the guest's PID 1 ("/init.krun", statically linked).
 *
 * Mounts the pseudo filesystems, reads the job from /.krun_workload (or the
 * upstream kernel-command-line variables) and the container config
 * (/.krun_config.json or $KRUN_CONFIG), runs it as a child on the
 * krun-std* console ports, forwards signals and reaps orphans, then hands
 * the exit status to the host with ioctl 0x7602 and reboots.  PID 1 never
 * returns early: every failure becomes status 125 and still ends in the
 * report and reboot, because an exiting PID 1 would lose the status.
 * With KRUN_INIT_PID1=1 the workload replaces init instead (as upstream):
 * its exit ends the VM and no status is reported.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <poll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "dhcp.h"
#include "init_config.h"
#include "init_lib.h"
#include "workload.h"

/*
 * Handled by the host's FUSE server on any inode: stores arg as the VM's
 * exit code.  _IOC_NONE with size 0, so fs/fuse/ioctl.c (restricted mode)
 * sends no data buffers and passes arg through by value in fuse_ioctl_in.
 */
#define KRUN_EXIT_CODE_IOCTL 0x7602
#define FUSE_SUPER_MAGIC 0x65735546

#define WORKLOAD_PATH "/" WORKLOAD_FILE_NAME
#define CONFIG_DEFAULT_PATH "/.krun_config.json"

extern char **environ;

static int workload_fd = -1;

static void msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("krun-init: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* ---- filesystems ------------------------------------------------------- */

struct mount_point {
	const char *source;
	const char *target;
	const char *fstype;
	unsigned long flags;
	const char *data;
};

#define PSEUDO_FLAGS (MS_NODEV | MS_NOEXEC | MS_NOSUID | MS_RELATIME)

static const struct mount_point mount_points[] = {
	{ "proc", "/proc", "proc", PSEUDO_FLAGS, NULL },
	{ "sysfs", "/sys", "sysfs", PSEUDO_FLAGS, NULL },
	{ "cgroup2", "/sys/fs/cgroup", "cgroup2", PSEUDO_FLAGS, NULL },
	{ "devpts", "/dev/pts", "devpts", MS_NOEXEC | MS_NOSUID | MS_RELATIME,
	  "gid=5,mode=620,ptmxmode=666" },
	{ "tmpfs", "/dev/shm", "tmpfs", MS_NODEV | MS_NOSUID | MS_RELATIME, "mode=1777" },
};

/* A mount that is already there (EBUSY) is as good as a new one. */
static int mount_one(const struct mount_point *m)
{
	if (mkdir(m->target, 0755) && errno != EEXIST && errno != EROFS)
		msg("warning: mkdir %s: %s", m->target, strerror(errno));
	if (mount(m->source, m->target, m->fstype, m->flags, m->data) &&
	    errno != EBUSY) {
		msg("warning: mount %s on %s: %s", m->fstype, m->target, strerror(errno));
		return -1;
	}
	return 0;
}

static bool dir_is_empty(const char *path)
{
	struct dirent *de;
	bool empty = true;
	DIR *d = opendir(path);

	if (!d)
		return false;
	while (empty && (de = readdir(d)))
		empty = init_dirent_is_dot(de->d_name);
	closedir(d);
	return empty;
}

/*
 * /tmp on the root virtio-fs is the host's directory: writes would land
 * on the host and anything already there must stay visible.  So a tmpfs
 * goes on /tmp only when it exists, is a real directory and is empty; we
 * never create it on the host.
 */
static void mount_tmp(void)
{
	static const struct mount_point tmp = {
		"tmpfs", "/tmp", "tmpfs", MS_NODEV | MS_NOSUID | MS_RELATIME, "mode=1777",
	};
	struct stat st;

	if (lstat("/tmp", &st) || !S_ISDIR(st.st_mode) || !dir_is_empty("/tmp"))
		return;
	mount_one(&tmp);
}

static void make_dev_links(void)
{
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
	};

	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][0], links[i][1]) && errno != EEXIST)
			msg("warning: symlink %s: %s", links[i][1], strerror(errno));
}

static void mount_dev(void)
{
	static const struct mount_point dev = {
		"devtmpfs", "/dev", "devtmpfs", MS_NOSUID | MS_RELATIME, NULL,
	};

	mount_one(&dev);
}

static void mount_filesystems(void)
{
	for (size_t i = 0; i < sizeof(mount_points) / sizeof(mount_points[0]); i++)
		mount_one(&mount_points[i]);
	mount_tmp();
	make_dev_links();
	/* Best effort: nested VMs inside the guest want an open /dev/kvm. */
	chmod("/dev/kvm", 0666);
}

/* Only once the root is final: a mount under a shared one cannot be moved. */
static void make_root_shared(void)
{
	/* Container tools in the guest expect shared propagation on /. */
	if (mount(NULL, "/", NULL, MS_REC | MS_SHARED, NULL))
		msg("warning: make / shared: %s", strerror(errno));
}

/* ---- a disk as the root (krun_set_root_disk_remount) ------------------- */

#define NEWROOT "/newroot"

/* Every filesystem type the kernel can mount from a device, in its order. */
static int mount_probing(const char *dev, const char *data)
{
	char line[128];
	int err = -ENODEV;
	FILE *f = fopen("/proc/filesystems", "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		char *type = line + strspn(line, " \t");

		if (strncmp(line, "nodev", 5) == 0)
			continue;
		type[strcspn(type, " \t\n")] = '\0';
		if (!type[0])
			continue;
		if (mount(dev, NEWROOT, type, 0, data) == 0) {
			fclose(f);
			return 0;
		}
		err = -errno;
	}
	fclose(f);
	return err;
}

/*
 * Upstream's sequence: mount the disk on /newroot, move it over / and
 * chroot into it, then mount /dev, /proc and /sys again there.  The
 * workload file stays open across the switch, so the exit status still
 * reaches the host through the old root's virtio-fs.
 */
static int switch_to_block_root(const struct workload_view *job)
{
	const char *type = job->root_fstype;
	int ret;

	if (mkdir(NEWROOT, 0755) && errno != EEXIST && errno != EROFS)
		msg("warning: mkdir %s: %s", NEWROOT, strerror(errno));
	if (type && strcmp(type, "auto"))
		ret = mount(job->root_device, NEWROOT, type, 0, job->root_options) ? -errno : 0;
	else
		ret = mount_probing(job->root_device, job->root_options);
	if (ret) {
		msg("cannot mount the root disk %s%s%s: %s", job->root_device,
		    type ? " as " : "", type ? type : "", strerror(-ret));
		return -1;
	}
	if (chdir(NEWROOT) || mount(".", "/", NULL, MS_MOVE, NULL) || chroot(".") ||
	    chdir("/")) {
		msg("cannot switch to the root disk %s: %s", job->root_device, strerror(errno));
		return -1;
	}
	mount_dev();
	mount_filesystems();
	return 0;
}

/*
 * The kernel opens /dev/console on the root fs for PID 1 before /dev is
 * mounted; a host directory rarely has one, leaving 0/1/2 closed.  Fill
 * them now so no later open() lands on a standard fd by accident.
 */
static void ensure_stdio(void)
{
	int fd = -1;

	for (int i = 0; i < 3; i++) {
		if (fcntl(i, F_GETFD) >= 0)
			continue;
		if (fd < 0)
			fd = open("/dev/console", O_RDWR | O_NOCTTY);
		if (fd < 0)
			fd = open("/dev/null", O_RDWR);
		if (fd < 0)
			return;
		if (fd != i)
			dup2(fd, i);
	}
	if (fd > 2)
		close(fd);
}

/* ---- the job ----------------------------------------------------------- */

/* Reads at most a little over max bytes: enough for the caller to refuse. */
static int read_all(int fd, size_t max, uint8_t **buf, size_t *len)
{
	size_t cap = 64 * 1024, n = 0;
	uint8_t *p = malloc(cap), *q;
	ssize_t r;

	for (;;) {
		if (!p)
			return -ENOMEM;
		if (n > max)
			break;
		if (n == cap) {
			q = realloc(p, cap * 2);
			if (!q)
				free(p);
			p = q;
			cap *= 2;
			continue;
		}
		r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(p);
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*buf = p;
	*len = n;
	return 0;
}

/* Returns 1 when there is no workload file (use the fallback), 0, or -errno. */
static int load_workload_file(struct workload_view *job, uint8_t **blob)
{
	size_t len = 0;
	int ret;

	workload_fd = open(WORKLOAD_PATH, O_RDONLY | O_CLOEXEC);
	if (workload_fd < 0)
		return errno == ENOENT ? 1 : -errno;
	ret = read_all(workload_fd, WORKLOAD_MAX_SIZE, blob, &len);
	if (ret)
		return ret;
	ret = workload_decode(*blob, len, job);
	if (ret == -EINVAL)
		msg("%s is corrupt or of an unsupported version", WORKLOAD_PATH);
	return ret;
}

static int load_job(int argc, char **argv, struct workload_view *job)
{
	uint8_t *blob = NULL;
	int ret = load_workload_file(job, &blob);

	if (ret == 1) {
		ret = init_view_from_env(argc, argv, environ, job);
		if (ret == -EINVAL)
			msg("invalid KRUN_RLIMITS");
	}
	if (ret < 0)
		msg("cannot load the workload: %s", strerror(-ret));
	/* On success blob stays allocated: the job's strings point into it. */
	return ret;
}

/* ---- the container config ---------------------------------------------- */

/*
 * The job's environment, then init's own: on the kernel-command-line path
 * the job's copy has the KRUN_* variables taken out.
 */
static const char *job_env(const struct workload_view *job, const char *key)
{
	const char *v = init_env_get(job->envp, key);

	return v ? v : getenv(key);
}

static void config_error(const char *path, const struct init_config *cfg)
{
	if (cfg->error_key)
		msg("bad container config %s: \"%s\" %s", path, cfg->error_key, cfg->error);
	else if (cfg->error_has_offset)
		msg("bad container config %s: %s (at byte %zu)", path, cfg->error,
		    cfg->error_offset);
	else
		msg("bad container config %s: %s", path, cfg->error);
}

/*
 * 1 when there is no such file, 0 with cfg filled (its strings point into
 * a buffer that stays allocated), -1 after a message.  Only a regular
 * file is read, so a FIFO or a device cannot stall or flood PID 1.
 */
static int load_config(const char *path, struct init_config *cfg)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), ret;
	uint8_t *buf = NULL;
	struct stat st;
	size_t len = 0;

	if (fd < 0 && (errno == ENOENT || errno == ENOTDIR))
		return 1;
	if (fd < 0) {
		msg("cannot open the container config %s: %s", path, strerror(errno));
		return -1;
	}
	ret = fstat(fd, &st) ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
	if (!ret)
		ret = read_all(fd, INIT_CONFIG_MAX_SIZE, &buf, &len);
	close(fd);
	if (ret) {
		msg("cannot read the container config %s: %s", path,
		    ret == -EINVAL ? "not a regular file" : strerror(-ret));
		return -1;
	}
	if (init_config_parse((char *)buf, len, cfg)) {
		config_error(path, cfg);
		free(buf);
		return -1;
	}
	return 0;
}

/* The config's own "hostname" (OCI), for set_hostname: it points into the
 * config buffer, which stays allocated. */
static const char *config_hostname;

/* Upstream's precedence: krun_set_exec's argv, krun_set_workdir and the
 * job's environment win over the config (but for HOME and TERM). */
static int apply_config(struct workload_view *job)
{
	const char *path = job_env(job, "KRUN_CONFIG");
	struct init_config cfg;
	const char **env;
	int ret;

	ret = load_config(path && path[0] ? path : CONFIG_DEFAULT_PATH, &cfg);
	if (ret)
		return ret > 0 ? 0 : -1;
	if ((job->flags & WORKLOAD_F_DEFAULT_EXEC) && cfg.argv) {
		free(job->argv);
		job->argv = cfg.argv;
		job->argc = cfg.argc;
		job->exec_path = cfg.argv[0];
		cfg.argv = NULL;
	}
	if (!job->workdir)
		job->workdir = cfg.cwd;
	config_hostname = cfg.hostname;
	ret = 0;
	if (cfg.envp) {
		env = init_merge_env(job->envp, cfg.envp);
		if (env) {
			free(job->envp);
			job->envp = env;
			for (job->envc = 0; env[job->envc]; job->envc++)
				;
		} else {
			msg("out of memory");
			ret = -1;
		}
	}
	init_config_free(&cfg);
	return ret;
}

/* ---- system identity --------------------------------------------------- */

static void set_hostname(const struct workload_view *job)
{
	const char *name = job->hostname;

	if (!name || !name[0])
		name = init_env_get(job->envp, "HOSTNAME");
	if (!name || !name[0])
		name = config_hostname;
	if (!name || !name[0])
		name = INIT_DEFAULT_HOSTNAME;
	if (sethostname(name, strlen(name)))
		msg("warning: sethostname: %s", strerror(errno));
}

/* An ioctl on any AF_INET socket is all it takes; no netlink needed. */
static void bring_up_loopback(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		msg("warning: loopback: socket: %s", strerror(errno));
		return;
	}
	strcpy(ifr.ifr_name, "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) == 0) {
			close(fd);
			return;
		}
	}
	msg("warning: loopback up: %s", strerror(errno));
	close(fd);
}

/* Whether word is a kernel parameter (a word of /proc/cmdline before any
 * "--": after it the words are init's). */
static bool kernel_param(const char *word)
{
	char buf[4096];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = 0;
	char *save = NULL;
	for (char *w = strtok_r(buf, " \n", &save); w; w = strtok_r(NULL, " \n", &save)) {
		if (strcmp(w, "--") == 0)
			return false;
		if (strcmp(w, word) == 0)
			return true;
	}
	return false;
}

static int set_inet(int fd, struct ifreq *ifr, unsigned long req, const char *addr)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	inet_pton(AF_INET, addr, &sin.sin_addr);
	memcpy(&ifr->ifr_addr, &sin, sizeof(sin));
	return ioctl(fd, req, ifr);
}

/*
 * With TSI (tsi_hijack) the guest has no network card, yet programs look
 * for a configured one before they try to connect: dummy0 gets upstream's
 * 203.0.113.1/24.  There is no default route, so connects to anything
 * outside the guest fail locally and the kernel hands them to TSI.
 */
static void bring_up_tsi_dummy(void)
{
	struct ifreq ifr = { 0 };

	if (!kernel_param("tsi_hijack"))
		return;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	strcpy(ifr.ifr_name, "dummy0");
	/* A kernel without the dummy driver: nothing to configure. */
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) {
		close(fd);
		return;
	}
	short flags = ifr.ifr_flags;
	if (set_inet(fd, &ifr, SIOCSIFADDR, "203.0.113.1") < 0 ||
	    set_inet(fd, &ifr, SIOCSIFNETMASK, "255.255.255.0") < 0) {
		msg("warning: dummy0 address: %s", strerror(errno));
	}
	ifr.ifr_flags = flags | IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		msg("warning: dummy0 up: %s", strerror(errno));
	close(fd);
}

/* ---- console ports ----------------------------------------------------- */

#define PORTS_DIR "/sys/class/virtio-ports"

struct stdio_ports {
	char path[INIT_PORT_SIGNALS + 1][NAME_MAX + 8];
};

static void read_port_name(const char *dev, char *name, size_t size)
{
	char path[sizeof(PORTS_DIR) + NAME_MAX + 8];
	ssize_t n;
	int fd;

	name[0] = '\0';
	snprintf(path, sizeof(path), PORTS_DIR "/%s/name", dev);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, name, size - 1);
	name[n > 0 ? n : 0] = '\0';
	close(fd);
}

/* Ports the host did not create leave the console on that fd. */
static void find_stdio_ports(struct stdio_ports *ports)
{
	struct dirent *de;
	char name[64];
	DIR *d;
	int role;

	memset(ports, 0, sizeof(*ports));
	d = opendir(PORTS_DIR);
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		read_port_name(de->d_name, name, sizeof(name));
		role = init_port_role(name);
		if (role >= 0)
			snprintf(ports->path[role], sizeof(ports->path[role]),
				 "/dev/%s", de->d_name);
	}
	closedir(d);
}

/* ---- the child --------------------------------------------------------- */

enum child_stage { STAGE_SETUP = 1, STAGE_EXEC = 2 };

struct child_report {
	int stage;
	int err;
};

static void child_fail(int pipe_fd, int stage, int err)
{
	struct child_report rep = { stage, err };
	ssize_t r;

	do
		r = write(pipe_fd, &rep, sizeof(rep));
	while (r < 0 && errno == EINTR);
	_exit(stage == STAGE_EXEC ? init_exec_failure_status(err) : INIT_EXIT_SETUP);
}

static int redirect_port(const char *path, int target)
{
	int fd = open(path, (target == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (fd == target)
		return fcntl(fd, F_SETFD, 0);
	if (dup2(fd, target) < 0)
		return -1;
	close(fd);
	return 0;
}

static int redirect_stdio(const struct stdio_ports *ports)
{
	for (int i = 0; i < 3; i++) {
		if (!ports->path[i][0])
			continue;
		if (redirect_port(ports->path[i], i)) {
			msg("cannot open %s: %s", ports->path[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/*
 * The workload leads its own session with the terminal as controlling tty,
 * so ^C and job control reach it (TIOCSCTTY makes its group foreground).
 * Any std fd will do: with stdin on krun-stdin the host still turns its
 * SIGINT into a ^C byte on the console tty.
 */
static void take_terminal(void)
{
	if (setsid() < 0)
		msg("warning: setsid: %s", strerror(errno));
	for (int i = 0; i < 3; i++) {
		if (!isatty(i))
			continue;
		if (ioctl(i, TIOCSCTTY, 1))
			msg("warning: TIOCSCTTY: %s", strerror(errno));
		return;
	}
}

static int apply_rlimits(const struct workload_view *job)
{
	struct rlimit rl;
	int res;

	for (size_t i = 0; i < job->nrlimits; i++) {
		if (parse_rlimit(job->rlimits[i], &res, &rl)) {
			msg("invalid rlimit %s", job->rlimits[i]);
			return -1;
		}
		if (setrlimit(res, &rl)) {
			msg("cannot set rlimit %s: %s", job->rlimits[i], strerror(errno));
			return -1;
		}
	}
	return 0;
}

/* Last, because each step gives up privilege the earlier ones needed. */
static int apply_credentials(const struct workload_view *job)
{
	gid_t gid = (gid_t)job->gid;
	bool set_gid = job->flags & WORKLOAD_F_GID_SET;
	bool set_uid = job->flags & WORKLOAD_F_UID_SET;

	if ((set_gid || set_uid) && setgroups(set_gid ? 1 : 0, &gid)) {
		msg("setgroups: %s", strerror(errno));
		return -1;
	}
	if (set_gid && setgid(gid)) {
		msg("setgid %u: %s", job->gid, strerror(errno));
		return -1;
	}
	if (set_uid && setuid((uid_t)job->uid)) {
		msg("setuid %u: %s", job->uid, strerror(errno));
		return -1;
	}
	return 0;
}

static int child_setup(const struct workload_view *job, const struct stdio_ports *ports)
{
	const char **env;

	if (redirect_stdio(ports))
		return -1;
	take_terminal();
	env = init_build_env(job->envp, isatty(0) || isatty(1));
	if (!env) {
		msg("out of memory");
		return -1;
	}
	if (apply_rlimits(job))
		return -1;
	if (job->workdir && chdir(job->workdir)) {
		msg("cannot change directory to %s: %s", job->workdir, strerror(errno));
		return -1;
	}
	if (apply_credentials(job))
		return -1;
	/* execvp searches the PATH of the environment it runs in: the job's. */
	environ = (char **)env;
	return 0;
}

/* Returns only on failure: the stage that failed, with its errno in *err. */
static int setup_and_exec(const struct workload_view *job, const struct stdio_ports *ports,
			  int *err)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (child_setup(job, ports)) {
		*err = errno;
		return STAGE_SETUP;
	}
	execvp(job->exec_path, (char *const *)job->argv);
	*err = errno;
	msg("%s: %s (%s)", job->exec_path, init_exec_failure_text(*err), strerror(*err));
	return STAGE_EXEC;
}

static void child_main(const struct workload_view *job, const struct stdio_ports *ports,
		       int pipe_fd)
{
	int err, stage = setup_and_exec(job, ports, &err);

	child_fail(pipe_fd, stage, err);
}

/*
 * KRUN_INIT_PID1=1 (upstream's switch): the workload replaces init as PID
 * 1.  Its exit then ends the VM without a status for the host (the caller
 * exits 0), and nothing relays host signals or reaps orphans.  Returns
 * only when setup or exec failed, which is still reported.
 */
static bool exec_as_pid1(const struct workload_view *job)
{
	const char *v = job_env(job, "KRUN_INIT_PID1");

	return v && v[0] == '1';
}

static int exec_in_place(const struct workload_view *job)
{
	struct stdio_ports ports;
	int err;

	find_stdio_ports(&ports);
	fflush(NULL);
	if (setup_and_exec(job, &ports, &err) == STAGE_EXEC)
		return init_exec_failure_status(err);
	return INIT_EXIT_SETUP;
}

/* ---- PID 1's loop ------------------------------------------------------ */

static const int forwarded_signals[] = {
	SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
};

/*
 * Blocked and read from a signalfd: no handler races with waitpid.  PID 1
 * drops signals whose action is SIG_DFL, but never blocked ones
 * (kernel/signal.c sig_ignored), so these are queued for us.
 */
static int setup_signals(void)
{
	sigset_t set;
	int fd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	for (size_t i = 0; i < sizeof(forwarded_signals) / sizeof(forwarded_signals[0]); i++)
		sigaddset(&set, forwarded_signals[i]);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		return -1;
	fd = signalfd(-1, &set, SFD_CLOEXEC);
	if (fd < 0)
		msg("signalfd: %s", strerror(errno));
	return fd;
}

/* Returns the child's exec-failure status, or -1 when exec succeeded. */
static int read_child_report(int pipe_fd)
{
	struct child_report rep;
	ssize_t r;

	do
		r = read(pipe_fd, &rep, sizeof(rep));
	while (r < 0 && errno == EINTR);
	if (r != (ssize_t)sizeof(rep))
		return -1;
	if (rep.stage == STAGE_EXEC)
		return init_exec_failure_status(rep.err);
	return INIT_EXIT_SETUP;
}

/* Returns the workload's status once it is reaped, else -1. */
static int reap(pid_t child)
{
	int ws, status = -1;
	pid_t pid;

	while ((pid = waitpid(-1, &ws, WNOHANG)) > 0)
		if (pid == child)
			status = init_status_from_wait(ws);
	if (pid < 0 && errno == ECHILD && status < 0)
		return INIT_EXIT_SETUP;
	return status;
}

/* Each byte from the host is a signal number (same on host and guest). */
static void relay_host_signals(int port, pid_t child)
{
	uint8_t sigs[64];
	ssize_t n = read(port, sigs, sizeof(sigs));

	for (ssize_t i = 0; i < n; i++)
		if (sigs[i] > 0 && sigs[i] < NSIG)
			kill(child, sigs[i]);
}

static int supervise(pid_t child, int sfd, int sig_port)
{
	struct signalfd_siginfo si;
	struct pollfd pfd[2] = {
		{ .fd = sfd, .events = POLLIN },
		{ .fd = sig_port, .events = POLLIN },
	};
	int status;
	ssize_t r;

	for (;;) {
		if (poll(pfd, sig_port >= 0 ? 2 : 1, -1) < 0)
			continue;
		if (pfd[1].revents & POLLIN)
			relay_host_signals(sig_port, child);
		else if (pfd[1].revents)
			pfd[1].fd = -1; /* host side gone: stop watching */
		if (!(pfd[0].revents & POLLIN))
			continue;
		r = read(sfd, &si, sizeof(si));
		if (r < 0 && errno == EINTR)
			continue;
		if (r != (ssize_t)sizeof(si)) {
			msg("signalfd read: %s", strerror(errno));
			return INIT_EXIT_SETUP;
		}
		if (si.ssi_signo != SIGCHLD) {
			kill(child, (int)si.ssi_signo);
			continue;
		}
		status = reap(child);
		if (status >= 0)
			return status;
	}
}

static int run_workload(const struct workload_view *job)
{
	struct stdio_ports ports;
	int pipefd[2], sfd, status, failed, sig_port;
	pid_t child;

	find_stdio_ports(&ports);
	sfd = setup_signals();
	if (sfd < 0)
		return INIT_EXIT_SETUP;
	if (pipe2(pipefd, O_CLOEXEC)) {
		msg("pipe: %s", strerror(errno));
		return INIT_EXIT_SETUP;
	}
	child = fork();
	if (child < 0) {
		msg("fork: %s", strerror(errno));
		return INIT_EXIT_SETUP;
	}
	if (child == 0) {
		close(pipefd[0]);
		child_main(job, &ports, pipefd[1]);
	}
	close(pipefd[1]);
	/* EOF here means exec succeeded (the write end was close-on-exec). */
	failed = read_child_report(pipefd[0]);
	close(pipefd[0]);
	sig_port = ports.path[INIT_PORT_SIGNALS][0]
			   ? open(ports.path[INIT_PORT_SIGNALS], O_RDONLY | O_NONBLOCK | O_CLOEXEC)
			   : -1;
	status = supervise(child, sfd, sig_port);
	if (sig_port >= 0)
		close(sig_port);
	close(sfd);
	return failed >= 0 ? failed : status;
}

/* ---- the end ----------------------------------------------------------- */

static bool report_on(int fd, int status)
{
	struct statfs sfs;

	/* Outside virtio-fs the number could mean something else entirely. */
	if (fd < 0 || fstatfs(fd, &sfs) || sfs.f_type != FUSE_SUPER_MAGIC)
		return false;
	return ioctl(fd, KRUN_EXIT_CODE_IOCTL, (unsigned long)status) == 0;
}

/*
 * Any file of the root virtio-fs carries the ioctl.  The workload file is
 * already open, so it costs no extra round trip to the host; upstream's
 * target, the root directory, is the fallback (Linux forwards directory
 * ioctls only with FUSE >= 7.18).
 */
static void report_status(int status)
{
	if (report_on(workload_fd, status))
		return;
	int fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	bool ok = report_on(fd, status);

	if (fd >= 0)
		close(fd);
	if (!ok)
		msg("warning: could not report exit status %d to the host", status);
}

static void flush_console(void)
{
	fflush(NULL);
	for (int i = 0; i < 3; i++)
		if (isatty(i))
			tcdrain(i);
}

static __attribute__((noreturn)) void finish(int status)
{
	report_status(status);
	flush_console();
	sync();
	reboot(RB_AUTOBOOT);
	/* Our kernel also restarts when PID 1 exits; panic=-1 covers others. */
	_exit(status);
}

static void report_boot_time(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
		msg("boot to workload: %ld.%06ld s", (long)ts.tv_sec, ts.tv_nsec / 1000);
}

static int run(int argc, char **argv)
{
	struct workload_view job;

	mount_filesystems();
	if (load_job(argc, argv, &job))
		return INIT_EXIT_SETUP;
	if ((job.flags & WORKLOAD_F_BLOCK_ROOT) && switch_to_block_root(&job))
		return INIT_EXIT_SETUP;
	make_root_shared();
	if (apply_config(&job))
		return INIT_EXIT_SETUP;
	set_hostname(&job);
	bring_up_loopback();
	/* The VMM's KRUN_DHCP=1 (virtio-net with NET_FLAG_DHCP_CLIENT). */
	if (getenv("KRUN_DHCP") && strcmp(getenv("KRUN_DHCP"), "1") == 0)
		dhcp_configure("eth0", "/etc/resolv.conf", msg);
	bring_up_tsi_dummy();
	if (job.flags & WORKLOAD_F_REPORT_BOOT_TIME)
		report_boot_time();
	if (exec_as_pid1(&job))
		return exec_in_place(&job);
	return run_workload(&job);
}

int main(int argc, char **argv)
{
	if (getpid() != 1) {
		fprintf(stderr, "krun-init: must run as PID 1 inside a libkrun VM\n");
		return INIT_EXIT_SETUP;
	}
	mount_dev();
	ensure_stdio();
	finish(run(argc, argv));
}
