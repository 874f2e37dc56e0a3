/* SPDX-License-Identifier: Apache-2.0 */
/*
 * krun - run a command inside a microVM whose root filesystem is a host
 * directory.
 *
 * A thin front end over the public libkrun API (and nothing else from the
 * library): parse the command line, describe the VM with krun_* calls, then
 * hand the process over to krun_start_enter().  Exit status is the
 * workload's, or 125 when the VM could not be set up.
 */
#include <libkrun.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef KRUN_TOOL_VERSION
#define KRUN_TOOL_VERSION "unknown"
#endif

/* Exit status for failures of krun itself (as container engines do). */
#define EXIT_SETUP 125

extern char **environ;

struct strv {
	const char **v;
	size_t len;
	size_t cap;
};

struct volume {
	char *tag;
	char *path;
	bool read_only;
};

struct disk {
	char *path;
	bool read_only;
	uint32_t format;	/* KRUN_DISK_FORMAT_* */
};

struct options {
	unsigned int cpus;
	unsigned int memory_mib;
	bool have_vm_config;
	int log_level;
	bool inherit_env;
	struct strv env_args;
	const char *workdir;
	struct volume *volumes;
	size_t n_volumes;
	struct disk *disks;
	size_t n_disks;
	struct strv rlimits;
	struct strv ports;
	bool no_network;
	bool nested_virt;
	bool split_irqchip;
	struct strv nets;	/* --net SPECs, in card order */
	bool have_user;
	uid_t uid;
	bool have_group;
	gid_t gid;
	const char *kernel;
	const char *kernel_format;
	const char *initramfs;
	const char *kernel_cmdline;
	const char *console_output;
	const char *rootdir;
	const char *command;
	char **args;
};

static const char *progname = "krun";

static void __attribute__((format(printf, 1, 2))) warnx_(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void __attribute__((format(printf, 1, 2), noreturn)) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_SETUP);
}

/* Report a failed libkrun call (negative errno) and exit. */
static void check(int32_t ret, const char *call)
{
	if (ret < 0)
		die("%s: %s", call, strerror((int)-ret));
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		die("out of memory");
	return p;
}

static void strv_push(struct strv *s, const char *str)
{
	if (s->len + 2 > s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->v = xrealloc(s->v, s->cap * sizeof(*s->v));
	}
	s->v[s->len++] = str;
	s->v[s->len] = NULL;
}

/* Index of the entry whose name (text before '=') equals that of @kv. */
static long strv_find_key(const struct strv *s, const char *kv)
{
	size_t klen = strcspn(kv, "=");

	for (size_t i = 0; i < s->len; i++) {
		if (strncmp(s->v[i], kv, klen) == 0 && s->v[i][klen] == '=')
			return (long)i;
	}
	return -1;
}

static void strv_set(struct strv *s, const char *kv)
{
	long i = strv_find_key(s, kv);

	if (i >= 0)
		s->v[i] = kv;
	else
		strv_push(s, kv);
}

static void usage(FILE *out)
{
	fprintf(out,
"Usage: %s [OPTIONS] ROOTDIR COMMAND [ARGS...]\n"
"\n"
"Run COMMAND inside a lightweight KVM microVM whose root filesystem is the\n"
"host directory ROOTDIR (shared with virtio-fs).  COMMAND is looked up inside\n"
"the guest.  Options must come before ROOTDIR; everything after it belongs to\n"
"the command.\n"
"\n"
"Options:\n"
"  -c, --cpus N               number of vCPUs (1-255, default 1)\n"
"  -m, --memory MIB           guest RAM in MiB (default 128)\n"
"  -e, --env KEY=VALUE        set an environment variable for COMMAND; repeatable.\n"
"                             A bare KEY copies the value from krun's environment\n"
"      --inherit-env          start from krun's whole environment instead of the\n"
"                             minimal default (PATH, TERM, HOME)\n"
"  -w, --workdir DIR          working directory inside the guest\n"
"  -v, --volume TAG:DIR[:ro]  also share host DIR with the guest as virtio-fs TAG\n"
"                             (mount it in the guest: mount -t virtiofs TAG /mnt)\n"
"  -d, --disk IMAGE[:ro][:FMT] attach a disk image as a virtio-block device;\n"
"                             FMT is raw (default), qcow2 or vmdk (read-only);\n"
"                             repeatable: the guest sees /dev/vda, /dev/vdb, ...\n"
"  -u, --user UID[:GID]       run COMMAND as UID/GID in the guest; krun itself\n"
"                             also drops to UID/GID on the host before the VM\n"
"                             starts (it must then be able to open /dev/kvm)\n"
"  -r, --rlimit RES=CUR:MAX   resource limit for COMMAND; RES is a number or a\n"
"                             name such as NOFILE or RLIMIT_NPROC; repeatable\n"
"  -p, --port HOST:GUEST      expose guest TCP port GUEST on host port HOST;\n"
"                             repeatable.  Without it every port the guest\n"
"                             listens on is exposed under its own number\n"
"      --no-network           no TSI: the guest's sockets stay inside it\n"
"                             (by default they reach the host's network)\n"
"      --net SPEC             a virtio-net card instead of TSI; repeatable\n"
"                             (eth0, eth1, ...).  SPEC is one of\n"
"                               passt            start passt for it (DHCP; each\n"
"                                                -p HOST:GUEST is forwarded)\n"
"                               unixstream:PATH  passt/socket_vmnet socket (DHCP)\n"
"                               unixgram:PATH    gvproxy/vmnet-helper socket (DHCP)\n"
"                               vfkit:PATH       the same with the VFKT greeting\n"
"                               tap:NAME         host tap device (no DHCP)\n"
"      --nested-virt          offer the CPU's virtualization extensions (VMX or\n"
"                             SVM) to the guest, so it has a /dev/kvm of its\n"
"                             own; needs a host whose KVM allows nesting\n"
"      --split-irqchip        the IOAPIC in the VMM, only the local APICs in\n"
"                             KVM (no PIC, no PIT)\n"
"  -l, --log-level N          library log level 0-5 (off, error, warn, info,\n"
"                             debug, trace; default 1)\n"
"      --kernel PATH          boot this kernel instead of the bundled one\n"
"      --kernel-format FMT    auto (default), elf, bzimage, raw, pe-gz,\n"
"                             image-bz2, image-gz, image-zstd, or a number\n"
"      --initramfs PATH       initramfs for --kernel\n"
"      --kernel-cmdline STR   kernel command line for --kernel\n"
"      --console-output FILE  write the guest console to FILE instead of the\n"
"                             terminal (stdin is not forwarded)\n"
"  -h, --help                 show this help and exit\n"
"      --version              show the version and exit\n"
"\n"
"Exit status:\n"
"  the exit status of COMMAND, or\n"
"  125  krun could not set up or start the VM (also for usage errors)\n"
"  126  COMMAND was found but could not be executed\n"
"  127  COMMAND was not found in the guest\n"
"\n"
"Examples:\n"
"  %s -c 2 -m 512 ./rootfs /bin/sh -c 'echo hello'\n"
"  %s -e FOO=bar -v data:/srv/data ./rootfs /usr/bin/env\n",
		progname, progname, progname);
}

static unsigned long parse_ulong(const char *s, unsigned long min, unsigned long max,
				 const char *what)
{
	char *end;
	unsigned long v;

	errno = 0;
	if (!*s || *s == '-' || *s == '+')
		die("invalid %s '%s'", what, s);
	v = strtoul(s, &end, 10);
	if (errno || *end || v < min || v > max)
		die("invalid %s '%s' (expected %lu-%lu)", what, s, min, max);
	return v;
}

static void parse_user(struct options *o, const char *s)
{
	char *copy = strdup(s);
	char *colon;

	if (!copy)
		die("out of memory");
	colon = strchr(copy, ':');
	if (colon) {
		*colon = '\0';
		o->gid = (gid_t)parse_ulong(colon + 1, 0, UINT32_MAX - 1, "group id");
		o->have_group = true;
	}
	o->uid = (uid_t)parse_ulong(copy, 0, UINT32_MAX - 1, "user id");
	o->have_user = true;
	free(copy);
}

static void parse_volume(struct options *o, const char *s)
{
	char *copy = strdup(s);
	char *tag, *path, *mode;
	struct volume *v;

	if (!copy)
		die("out of memory");
	tag = copy;
	path = strchr(copy, ':');
	if (!path || path == tag || !path[1])
		die("invalid volume '%s' (expected TAG:HOSTDIR[:ro])", s);
	*path++ = '\0';
	mode = strrchr(path, ':');
	if (mode && (strcmp(mode, ":ro") == 0 || strcmp(mode, ":rw") == 0)) {
		*mode++ = '\0';
	} else {
		mode = NULL;
	}
	if (!*path)
		die("invalid volume '%s' (empty host directory)", s);

	o->volumes = xrealloc(o->volumes, (o->n_volumes + 1) * sizeof(*o->volumes));
	v = &o->volumes[o->n_volumes++];
	v->tag = tag;
	v->path = path;
	v->read_only = mode && strcmp(mode, "ro") == 0;
}

static void parse_disk(struct options *o, const char *s)
{
	char *path = strdup(s);
	struct disk *d;

	if (!path)
		die("out of memory");
	o->disks = xrealloc(o->disks, (o->n_disks + 1) * sizeof(*o->disks));
	d = &o->disks[o->n_disks++];
	d->read_only = false;
	d->format = KRUN_DISK_FORMAT_RAW;
	/* Suffixes, last first: the format is always the user's word. */
	for (int pass = 0; pass < 2; pass++) {
		char *colon = strrchr(path, ':');
		if (!colon)
			break;
		if (!strcmp(colon, ":ro") || !strcmp(colon, ":rw"))
			d->read_only = colon[2] == 'o';
		else if (!strcmp(colon, ":raw"))
			d->format = KRUN_DISK_FORMAT_RAW;
		else if (!strcmp(colon, ":qcow2"))
			d->format = KRUN_DISK_FORMAT_QCOW2;
		else if (!strcmp(colon, ":vmdk"))
			d->format = KRUN_DISK_FORMAT_VMDK;
		else
			break;
		*colon = '\0';
	}
	if (!*path)
		die("invalid disk '%s' (expected IMAGE[:ro][:raw|:qcow2|:vmdk])", s);
	d->path = path;
}

static const struct {
	const char *name;
	int id;
} rlimit_names[] = {
	{ "CPU", RLIMIT_CPU },
	{ "FSIZE", RLIMIT_FSIZE },
	{ "DATA", RLIMIT_DATA },
	{ "STACK", RLIMIT_STACK },
	{ "CORE", RLIMIT_CORE },
	{ "RSS", RLIMIT_RSS },
	{ "NPROC", RLIMIT_NPROC },
	{ "NOFILE", RLIMIT_NOFILE },
	{ "MEMLOCK", RLIMIT_MEMLOCK },
	{ "AS", RLIMIT_AS },
	{ "LOCKS", RLIMIT_LOCKS },
	{ "SIGPENDING", RLIMIT_SIGPENDING },
	{ "MSGQUEUE", RLIMIT_MSGQUEUE },
	{ "NICE", RLIMIT_NICE },
	{ "RTPRIO", RLIMIT_RTPRIO },
	{ "RTTIME", RLIMIT_RTTIME },
};

/* Turn RES=CUR:MAX (RES numeric or a name) into the numeric form libkrun takes. */
static const char *parse_rlimit(const char *s)
{
	const char *eq = strchr(s, '=');
	const char *colon = eq ? strchr(eq + 1, ':') : NULL;
	char name[32];
	size_t nlen;
	char *out;
	int id = -1;

	if (!eq || eq == s || !colon || colon == eq + 1 || !colon[1])
		die("invalid rlimit '%s' (expected RES=CUR:MAX)", s);
	nlen = (size_t)(eq - s);
	if (nlen >= sizeof(name))
		die("invalid rlimit resource in '%s'", s);
	memcpy(name, s, nlen);
	name[nlen] = '\0';

	if (name[0] >= '0' && name[0] <= '9') {
		id = (int)parse_ulong(name, 0, RLIM_NLIMITS - 1, "rlimit resource");
	} else {
		const char *n = name;

		if (strncasecmp(n, "RLIMIT_", 7) == 0)
			n += 7;
		for (size_t i = 0; i < sizeof(rlimit_names) / sizeof(rlimit_names[0]); i++) {
			if (strcasecmp(n, rlimit_names[i].name) == 0)
				id = rlimit_names[i].id;
		}
		if (id < 0)
			die("unknown rlimit resource '%s'", name);
	}
	if (asprintf(&out, "%d%s", id, eq) < 0)
		die("out of memory");
	return out;
}

static const struct {
	const char *name;
	uint32_t format;
} kernel_formats[] = {
	{ "raw", KRUN_KERNEL_FORMAT_RAW },
	/* This implementation's loader recognises a bzImage passed as RAW. */
	{ "bzimage", KRUN_KERNEL_FORMAT_RAW },
	{ "elf", KRUN_KERNEL_FORMAT_ELF },
	{ "pe-gz", KRUN_KERNEL_FORMAT_PE_GZ },
	{ "image-bz2", KRUN_KERNEL_FORMAT_IMAGE_BZ2 },
	{ "image-gz", KRUN_KERNEL_FORMAT_IMAGE_GZ },
	{ "image-zstd", KRUN_KERNEL_FORMAT_IMAGE_ZSTD },
};

/* Guess the format of a kernel file from its contents. */
static uint32_t detect_kernel_format(const char *path)
{
	static const struct {
		const unsigned char magic[4];
		size_t len;
		uint32_t format;
	} compressed[] = {
		{ { 0x1f, 0x8b, 0x08 }, 3, KRUN_KERNEL_FORMAT_IMAGE_GZ },
		{ { 'B', 'Z', 'h' }, 3, KRUN_KERNEL_FORMAT_IMAGE_BZ2 },
		{ { 0x28, 0xb5, 0x2f, 0xfd }, 4, KRUN_KERNEL_FORMAT_IMAGE_ZSTD },
	};
	unsigned char buf[65536];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		die("cannot open kernel '%s': %s", path, strerror(errno));
	n = read(fd, buf, sizeof(buf));
	if (n < 0)
		die("cannot read kernel '%s': %s", path, strerror(errno));
	close(fd);

	if (n >= 4 && memcmp(buf, "\177ELF", 4) == 0)
		return KRUN_KERNEL_FORMAT_ELF;
	/* x86 boot protocol: "HdrS" at offset 0x202 marks a bzImage. */
	if (n >= 0x206 && memcmp(buf + 0x202, "HdrS", 4) == 0)
		return KRUN_KERNEL_FORMAT_RAW;
	/* A bare compressed image: the earliest known magic wins. */
	for (ssize_t off = 0; off + 4 <= n; off++) {
		for (size_t i = 0; i < sizeof(compressed) / sizeof(compressed[0]); i++) {
			if (memcmp(buf + off, compressed[i].magic, compressed[i].len) == 0)
				return compressed[i].format;
		}
	}
	die("cannot detect the format of kernel '%s'; use --kernel-format", path);
}

static uint32_t kernel_format(const struct options *o)
{
	const char *f = o->kernel_format;

	if (!f || strcasecmp(f, "auto") == 0)
		return detect_kernel_format(o->kernel);
	if (f[0] >= '0' && f[0] <= '9')
		return (uint32_t)parse_ulong(f, 0, KRUN_KERNEL_FORMAT_IMAGE_ZSTD, "kernel format");
	for (size_t i = 0; i < sizeof(kernel_formats) / sizeof(kernel_formats[0]); i++) {
		if (strcasecmp(f, kernel_formats[i].name) == 0)
			return kernel_formats[i].format;
	}
	die("unknown kernel format '%s'", f);
}

enum {
	OPT_INHERIT_ENV = 0x100,
	OPT_KERNEL,
	OPT_KERNEL_FORMAT,
	OPT_INITRAMFS,
	OPT_KERNEL_CMDLINE,
	OPT_CONSOLE_OUTPUT,
	OPT_VERSION,
	OPT_NO_NETWORK,
	OPT_NET,
	OPT_NESTED_VIRT,
	OPT_SPLIT_IRQCHIP,
};

static const struct option long_options[] = {
	{ "cpus", required_argument, NULL, 'c' },
	{ "memory", required_argument, NULL, 'm' },
	{ "env", required_argument, NULL, 'e' },
	{ "inherit-env", no_argument, NULL, OPT_INHERIT_ENV },
	{ "workdir", required_argument, NULL, 'w' },
	{ "volume", required_argument, NULL, 'v' },
	{ "disk", required_argument, NULL, 'd' },
	{ "user", required_argument, NULL, 'u' },
	{ "rlimit", required_argument, NULL, 'r' },
	{ "port", required_argument, NULL, 'p' },
	{ "no-network", no_argument, NULL, OPT_NO_NETWORK },
	{ "net", required_argument, NULL, OPT_NET },
	{ "nested-virt", no_argument, NULL, OPT_NESTED_VIRT },
	{ "split-irqchip", no_argument, NULL, OPT_SPLIT_IRQCHIP },
	{ "log-level", required_argument, NULL, 'l' },
	{ "kernel", required_argument, NULL, OPT_KERNEL },
	{ "kernel-format", required_argument, NULL, OPT_KERNEL_FORMAT },
	{ "initramfs", required_argument, NULL, OPT_INITRAMFS },
	{ "kernel-cmdline", required_argument, NULL, OPT_KERNEL_CMDLINE },
	{ "console-output", required_argument, NULL, OPT_CONSOLE_OUTPUT },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

static void parse_args(struct options *o, int argc, char **argv)
{
	int c;

	o->cpus = 1;
	o->memory_mib = 128;
	o->log_level = -1;

	/* '+': stop at the first non-option (ROOTDIR); ':': report missing args. */
	while ((c = getopt_long(argc, argv, "+:c:m:e:w:v:d:u:r:p:l:h", long_options, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->cpus = (unsigned int)parse_ulong(optarg, 1, UINT8_MAX, "cpu count");
			o->have_vm_config = true;
			break;
		case 'm':
			o->memory_mib = (unsigned int)parse_ulong(optarg, 1, UINT32_MAX, "memory size");
			o->have_vm_config = true;
			break;
		case 'e':
			if (!*optarg || *optarg == '=')
				die("invalid environment variable '%s'", optarg);
			strv_push(&o->env_args, optarg);
			break;
		case OPT_INHERIT_ENV:
			o->inherit_env = true;
			break;
		case 'w':
			o->workdir = optarg;
			break;
		case 'v':
			parse_volume(o, optarg);
			break;
		case 'd':
			parse_disk(o, optarg);
			break;
		case 'u':
			parse_user(o, optarg);
			break;
		case 'r':
			strv_push(&o->rlimits, parse_rlimit(optarg));
			break;
		case 'p':
			strv_push(&o->ports, optarg);
			break;
		case OPT_NO_NETWORK:
			o->no_network = true;
			break;
		case OPT_NET:
			strv_push(&o->nets, optarg);
			break;
		case OPT_NESTED_VIRT:
			o->nested_virt = true;
			break;
		case OPT_SPLIT_IRQCHIP:
			o->split_irqchip = true;
			break;
		case 'l':
			o->log_level = (int)parse_ulong(optarg, 0, KRUN_LOG_LEVEL_TRACE, "log level");
			break;
		case OPT_KERNEL:
			o->kernel = optarg;
			break;
		case OPT_KERNEL_FORMAT:
			o->kernel_format = optarg;
			break;
		case OPT_INITRAMFS:
			o->initramfs = optarg;
			break;
		case OPT_KERNEL_CMDLINE:
			o->kernel_cmdline = optarg;
			break;
		case OPT_CONSOLE_OUTPUT:
			o->console_output = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case OPT_VERSION:
			printf("krun (libkrun C implementation) %s\n", KRUN_TOOL_VERSION);
			exit(0);
		case ':':
			warnx_("option '%s' needs an argument", argv[optind - 1]);
			fprintf(stderr, "Try '%s --help' for more information.\n", progname);
			exit(EXIT_SETUP);
		default:
			if (optopt && optopt < 0x100)
				warnx_("unknown option '-%c'", optopt);
			else
				warnx_("unknown option '%s'", argv[optind - 1]);
			fprintf(stderr, "Try '%s --help' for more information.\n", progname);
			exit(EXIT_SETUP);
		}
	}

	if (argc - optind < 2) {
		warnx_("%s", argc - optind < 1 ? "missing ROOTDIR and COMMAND" : "missing COMMAND");
		usage(stderr);
		exit(EXIT_SETUP);
	}
	if ((o->kernel_format || o->initramfs || o->kernel_cmdline) && !o->kernel)
		die("--kernel-format, --initramfs and --kernel-cmdline need --kernel");
	o->rootdir = argv[optind];
	o->command = argv[optind + 1];
	o->args = &argv[optind + 2];
}

/*
 * passt on one end of a socket pair, as crun and muvm start it; the VM gets
 * the other end.  passt ends when the VM closes its end, and with us.
 */
static int start_passt(const struct options *o)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair: %s", strerror(errno));
	struct strv argv = { 0 };
	strv_push(&argv, "passt");
	strv_push(&argv, "-f");
	strv_push(&argv, "-q");
	strv_push(&argv, "--fd");
	strv_push(&argv, "3");
	for (size_t i = 0; i < o->ports.len; i++) {
		strv_push(&argv, "-t");
		strv_push(&argv, o->ports.v[i]);
	}
	pid_t pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (dup2(sv[1], 3) < 0)
			_exit(127);
		execvp("passt", (char *const *)argv.v);
		fprintf(stderr, "%s: cannot run passt: %s\n", progname, strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	return sv[0];
}

static void add_net(uint32_t ctx, const struct options *o, size_t index)
{
	const char *spec = o->nets.v[index];
	/* Upstream's default MAC, one apart per card. */
	uint8_t mac[6] = { 0x5a, 0x94, 0xef, 0xe4, 0x0c, (uint8_t)(0xee + index) };
	int32_t ret;

	if (strcmp(spec, "passt") == 0)
		ret = krun_add_net_unixstream(ctx, NULL, start_passt(o), mac, COMPAT_NET_FEATURES,
					      NET_FLAG_DHCP_CLIENT);
	else if (strncmp(spec, "unixstream:", 11) == 0)
		ret = krun_add_net_unixstream(ctx, spec + 11, -1, mac, COMPAT_NET_FEATURES,
					      NET_FLAG_DHCP_CLIENT);
	else if (strncmp(spec, "unixgram:", 9) == 0)
		ret = krun_add_net_unixgram(ctx, spec + 9, -1, mac, COMPAT_NET_FEATURES,
					    NET_FLAG_DHCP_CLIENT);
	else if (strncmp(spec, "vfkit:", 6) == 0)
		ret = krun_add_net_unixgram(ctx, spec + 6, -1, mac, COMPAT_NET_FEATURES,
					    NET_FLAG_DHCP_CLIENT | NET_FLAG_VFKIT);
	else if (strncmp(spec, "tap:", 4) == 0)
		ret = krun_add_net_tap(ctx, (char *)spec + 4, mac, COMPAT_NET_FEATURES, 0);
	else
		die("--net %s: expected passt, unixstream:PATH, unixgram:PATH, vfkit:PATH or "
		    "tap:NAME", spec);
	if (ret < 0)
		die("--net %s: %s", spec, strerror((int)-ret));
}

/* The environment handed to the workload. */
static const char *const *build_env(const struct options *o)
{
	static struct strv env;
	const char *term = getenv("TERM");

	if (o->inherit_env) {
		for (char **e = environ; *e; e++) {
			if (strchr(*e, '='))
				strv_set(&env, *e);
		}
	} else {
		strv_push(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
		if (term && *term) {
			char *t;

			if (asprintf(&t, "TERM=%s", term) < 0)
				die("out of memory");
			strv_push(&env, t);
		} else {
			strv_push(&env, "TERM=xterm");
		}
		strv_push(&env, "HOME=/root");
	}

	for (size_t i = 0; i < o->env_args.len; i++) {
		const char *kv = o->env_args.v[i];

		if (!strchr(kv, '=')) {
			/* Bare KEY: copy krun's own value, or skip if unset. */
			const char *val = getenv(kv);
			char *t;

			if (!val)
				continue;
			if (asprintf(&t, "%s=%s", kv, val) < 0)
				die("out of memory");
			kv = t;
		}
		strv_set(&env, kv);
	}
	if (!env.v)
		strv_push(&env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	return env.v;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	struct stat st;
	int32_t ctx, ret;

	if (argv[0] && *argv[0]) {
		const char *slash = strrchr(argv[0], '/');

		progname = slash ? slash + 1 : argv[0];
	}
	parse_args(&o, argc, argv);

	if (stat(o.rootdir, &st) < 0)
		die("root directory '%s': %s", o.rootdir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		die("root directory '%s': %s", o.rootdir, strerror(ENOTDIR));
	for (size_t i = 0; i < o.n_volumes; i++) {
		if (stat(o.volumes[i].path, &st) < 0)
			die("volume '%s': %s", o.volumes[i].path, strerror(errno));
		if (!S_ISDIR(st.st_mode))
			die("volume '%s': %s", o.volumes[i].path, strerror(ENOTDIR));
	}

	if (o.log_level >= 0)
		check(krun_set_log_level((uint32_t)o.log_level), "krun_set_log_level");

	ctx = krun_create_ctx();
	check(ctx, "krun_create_ctx");

	if (o.have_vm_config)
		check(krun_set_vm_config((uint32_t)ctx, (uint8_t)o.cpus, o.memory_mib),
		      "krun_set_vm_config");
	if (o.nested_virt)
		check(krun_set_nested_virt((uint32_t)ctx, true), "krun_set_nested_virt");
	if (o.split_irqchip)
		check(krun_split_irqchip((uint32_t)ctx, true), "krun_split_irqchip");
	check(krun_set_root((uint32_t)ctx, o.rootdir), "krun_set_root");
	for (size_t i = 0; i < o.n_volumes; i++) {
		ret = krun_add_virtiofs3((uint32_t)ctx, o.volumes[i].tag, o.volumes[i].path, 0,
					 o.volumes[i].read_only);
		if (ret < 0)
			die("volume '%s': krun_add_virtiofs3: %s", o.volumes[i].tag,
			    strerror((int)-ret));
	}
	for (size_t i = 0; i < o.n_disks; i++) {
		char id[32];

		snprintf(id, sizeof(id), "disk%zu", i);
		ret = krun_add_disk2((uint32_t)ctx, id, o.disks[i].path, o.disks[i].format,
				     o.disks[i].read_only);
		if (ret < 0)
			die("disk '%s': krun_add_disk2: %s", o.disks[i].path, strerror((int)-ret));
	}
	if (o.workdir)
		check(krun_set_workdir((uint32_t)ctx, o.workdir), "krun_set_workdir");
	/* Upstream convention: the argument list excludes argv[0]. */
	check(krun_set_exec((uint32_t)ctx, o.command, (const char *const *)o.args, build_env(&o)),
	      "krun_set_exec");
	if (o.rlimits.len)
		check(krun_set_rlimits((uint32_t)ctx, o.rlimits.v), "krun_set_rlimits");
	if (o.no_network && (o.ports.len || o.nets.len))
		die("--port and --net need the network that --no-network turns off");
	if (o.no_network)
		check(krun_disable_implicit_vsock((uint32_t)ctx), "krun_disable_implicit_vsock");
	bool passt = false;
	for (size_t i = 0; i < o.nets.len; i++)
		passt |= strcmp(o.nets.v[i], "passt") == 0;
	if (o.ports.len && o.nets.len && !passt)
		die("--port forwards through TSI or --net passt, not through other cards");
	for (size_t i = 0; i < o.nets.len; i++)
		add_net((uint32_t)ctx, &o, i);
	if (o.ports.len && !o.nets.len)
		check(krun_set_port_map((uint32_t)ctx, (const char *const *)o.ports.v),
		      "krun_set_port_map");
	if (o.console_output)
		check(krun_set_console_output((uint32_t)ctx, o.console_output),
		      "krun_set_console_output");
	if (o.kernel)
		check(krun_set_kernel((uint32_t)ctx, o.kernel, kernel_format(&o), o.initramfs,
				      o.kernel_cmdline),
		      "krun_set_kernel");
	/* Group first: after setuid we may no longer be allowed to change it. */
	if (o.have_group)
		check(krun_setgid((uint32_t)ctx, o.gid), "krun_setgid");
	if (o.have_user)
		check(krun_setuid((uint32_t)ctx, o.uid), "krun_setuid");

	/* On success this does not return: the process exits with the guest. */
	ret = krun_start_enter((uint32_t)ctx);
	if (ret < 0)
		die("cannot start the VM: %s", strerror((int)-ret));
	return ret;
}
