// SPDX-License-Identifier: Apache-2.0
/*
 * KVM tier, load and leaks: one process builds, runs and tears down many
 * VMs through the same path as krun_start_enter (start_run: everything but
 * the process exit), each with a root share, a second share, a disk, a
 * vsock port, a file console and a virtio-net card (and the balloon and rng
 * every VM has).  A tiny 64-bit guest (an ELF "kernel") drives every
 * virtio-mmio device to DRIVER_OK, so each device's worker thread starts,
 * and resets the machine.  After a warm-up, the process's descriptors,
 * threads, address space and RSS must stay where they were: any per-VM leak
 * of an fd, a thread, guest RAM or heap shows up as growth over hundreds of
 * cycles.  Regression: while configure_vcpu() handed x86_boot_sregs() an
 * uninitialized struct, every VM after the first in a process was refused
 * by KVM_SET_SREGS (the stack's leftovers in CR4/EFER).
 *
 * KRUN_VM_CYCLES sets the number of cycles (default 500).
 */
#include "../unit/test.h"

#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api/ctx.h"
#include "api/start.h"
#include "arch/x86_64/layout.h"
#include "devices/virtio/virtio_mmio.h"
#include "libkrun.h"
#include "vmm/vm.h"

#define LOAD_GPA	0x100000u
#define TABLE_OFF	0x800u		/* (address, value) pairs, 0-terminated */
#define PD_OFF		0x1000u		/* page directory for 3-4 GiB */
#define IMAGE_SIZE	0x2000u
#define WARMUP		20
#define SLOW_READS	20000u

/*
 * Maps 0xc0000000-0xffffffff through our page directory (the boot page
 * tables cover the first GiB only), then stores each table value at its
 * address, reads a register a number of times (so a sampler can see the
 * VM's threads) and resets the machine through the i8042, as Linux's
 * reboot=k does (HLT stays in the kernel's irqchip).
 */
static const uint8_t guest_code[] = {
	0x48, 0xb8, 0x03, 0x10, 0x10, 0x00, 0, 0, 0, 0,	/* mov rax, LOAD_GPA+PD_OFF|3 */
	0x48, 0x89, 0x04, 0x25, 0x18, 0xa0, 0x00, 0x00,	/* mov [PDPT+3*8], rax */
	0x0f, 0x20, 0xd8,				/* mov rax, cr3 */
	0x0f, 0x22, 0xd8,				/* mov cr3, rax (flush) */
	0xbe, 0x00, 0x08, 0x10, 0x00,			/* mov esi, LOAD_GPA+TABLE_OFF */
	0x8b, 0x06,					/* 1: mov eax, [rsi] */
	0x85, 0xc0,					/* test eax, eax */
	0x74, 0x0b,					/* jz 2f */
	0x8b, 0x56, 0x04,				/* mov edx, [rsi+4] */
	0x89, 0x10,					/* mov [rax], edx */
	0x48, 0x83, 0xc6, 0x08,				/* add rsi, 8 */
	0xeb, 0xef,					/* jmp 1b */
	0xb9, 0, 0, 0, 0,				/* 2: mov ecx, reads */
	0xbf, 0x00, 0x00, 0x00, 0xd0,			/* mov edi, X86_VIRTIO_MMIO_BASE */
	0x8b, 0x07,					/* 3: mov eax, [rdi] */
	0xff, 0xc9,					/* dec ecx */
	0x75, 0xfa,					/* jnz 3b */
	0xb0, 0xfe,					/* mov al, 0xfe */
	0xe6, 0x64,					/* out 0x64, al (i8042 reset) */
	0xf4,						/* 4: hlt */
	0xeb, 0xfd,					/* jmp 4b */
};
/* The mov ecx immediate: how many times the guest reads the first device's
 * magic value before it resets (>= 1).  Each read is an exit to the VMM, so
 * this paces the guest in host time, unlike a spin loop. */
#define READS_OFF 47

struct image {
	Elf64_Ehdr eh;
	Elf64_Phdr ph;
	uint8_t pad[0x1000 - sizeof(Elf64_Ehdr) - sizeof(Elf64_Phdr)];
	uint8_t seg[IMAGE_SIZE];
};

static void put_store(uint32_t *table, unsigned int *n, uint32_t addr, uint32_t val)
{
	table[(*n)++] = addr;
	table[(*n)++] = val;
}

/* Every window gets the driver's status steps with VERSION_1 accepted:
 * ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK. */
static void build_table(uint32_t *table)
{
	unsigned int n = 0;
	for (unsigned int d = 0; d < VM_MAX_VIRTIO_DEVICES; d++) {
		uint32_t base = (uint32_t)X86_VIRTIO_MMIO_BASE + d * VIRTIO_MMIO_WINDOW;
		put_store(table, &n, base + 0x70, 1);
		put_store(table, &n, base + 0x70, 3);
		put_store(table, &n, base + 0x24, 1);
		put_store(table, &n, base + 0x20, 1);	/* VIRTIO_F_VERSION_1 */
		put_store(table, &n, base + 0x70, 0xb);
		put_store(table, &n, base + 0x70, 0xf);
	}
	table[n] = 0;
}

static int write_kernel(const char *path, uint32_t reads)
{
	static struct image img;
	img.eh = (Elf64_Ehdr){
		.e_ident = {ELFMAG0, ELFMAG1, ELFMAG2, ELFMAG3, ELFCLASS64, ELFDATA2LSB, EV_CURRENT},
		.e_type = ET_EXEC, .e_machine = EM_X86_64, .e_version = EV_CURRENT,
		.e_entry = LOAD_GPA, .e_phoff = sizeof(Elf64_Ehdr), .e_ehsize = sizeof(Elf64_Ehdr),
		.e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 1,
	};
	img.ph = (Elf64_Phdr){
		.p_type = PT_LOAD, .p_flags = PF_R | PF_W | PF_X, .p_offset = 0x1000,
		.p_vaddr = LOAD_GPA, .p_paddr = LOAD_GPA, .p_filesz = IMAGE_SIZE,
		.p_memsz = IMAGE_SIZE, .p_align = 0x1000,
	};
	memcpy(img.seg, guest_code, sizeof(guest_code));
	memcpy(img.seg + READS_OFF, &reads, sizeof(reads));
	build_table((uint32_t *)(img.seg + TABLE_OFF));
	/* PD entry for 0xd0000000 (index 128): a 2 MiB page, present, writable. */
	uint64_t pde = X86_VIRTIO_MMIO_BASE | 0x83;
	memcpy(img.seg + PD_OFF + 8 * ((X86_VIRTIO_MMIO_BASE - 0xc0000000u) >> 21), &pde, 8);

	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	ssize_t w = write(fd, &img, sizeof(img));
	close(fd);
	return w == (ssize_t)sizeof(img) ? 0 : -EIO;
}

struct scratch {
	char dir[64];
	char root[96], share[96], disk[96], kernel[96], slow_kernel[96], console[96], vsock[96];
};

static bool make_scratch(struct scratch *s)
{
	strcpy(s->dir, "/tmp/krun-cycles.XXXXXX");
	if (!mkdtemp(s->dir))
		return false;
	snprintf(s->root, sizeof(s->root), "%s/root", s->dir);
	snprintf(s->share, sizeof(s->share), "%s/share", s->dir);
	snprintf(s->disk, sizeof(s->disk), "%s/disk.img", s->dir);
	snprintf(s->kernel, sizeof(s->kernel), "%s/kernel.elf", s->dir);
	snprintf(s->slow_kernel, sizeof(s->slow_kernel), "%s/slow-kernel.elf", s->dir);
	snprintf(s->console, sizeof(s->console), "%s/console.log", s->dir);
	snprintf(s->vsock, sizeof(s->vsock), "%s/vsock.sock", s->dir);
	if (mkdir(s->root, 0755) || mkdir(s->share, 0755))
		return false;
	int fd = open(s->disk, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	bool ok = ftruncate(fd, 1 << 20) == 0;
	close(fd);
	return ok && write_kernel(s->kernel, 1) == 0 &&
	       write_kernel(s->slow_kernel, SLOW_READS) == 0;
}

static void remove_scratch(const struct scratch *s)
{
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  could not remove %s\n", s->dir);
}

/* The thread that calls start_run() ends up confined (Landlock, seccomp)
 * for good, as krun_start_enter's caller does before it exits: each VM gets
 * a thread of its own, as a client would run one process a VM. */
struct vm_thread {
	pthread_t thread;
	struct krun_ctx *ctx;
	int ret;
};

static void *vm_main(void *arg)
{
	struct vm_thread *t = arg;
	t->ret = start_run(t->ctx);
	return NULL;
}

/* One VM the way a client sets it up, run to its end in this process. */
static int run_one_vm(const struct scratch *s, const char *kernel)
{
	int id = krun_create_ctx();
	if (id < 0)
		return id;
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		krun_free_ctx((uint32_t)id);
		return -errno;
	}
	uint8_t mac[6] = {0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee};
	const char *const argv[] = {"/bin/true", NULL};
	const char *const envp[] = {NULL};
	int ret = krun_set_vm_config((uint32_t)id, 2, 64);
	if (!ret)
		ret = krun_set_root((uint32_t)id, s->root);
	if (!ret)
		ret = krun_add_virtiofs((uint32_t)id, "data", s->share);
	if (!ret)
		ret = krun_add_disk((uint32_t)id, "vda", s->disk, false);
	if (!ret)
		ret = krun_add_vsock_port((uint32_t)id, 1234, s->vsock);
	if (!ret)
		ret = krun_set_console_output((uint32_t)id, s->console);
	if (!ret)
		ret = krun_add_net_unixstream((uint32_t)id, NULL, sv[1], mac, 0, 0);
	else
		close(sv[1]);
	if (!ret)
		ret = krun_set_kernel((uint32_t)id, kernel, KRUN_KERNEL_FORMAT_ELF, NULL, NULL);
	if (!ret)
		ret = krun_set_exec((uint32_t)id, argv[0], argv, envp);
	if (ret) {
		krun_free_ctx((uint32_t)id);
		close(sv[0]);
		return ret;
	}
	struct vm_thread t = {.ctx = ctx_take((uint32_t)id), .ret = -ENOENT};
	if (t.ctx) {
		ret = -pthread_create(&t.thread, NULL, vm_main, &t);
		if (!ret)
			pthread_join(t.thread, NULL);
		else
			ctx_destroy(t.ctx);
	}
	close(sv[0]);
	return ret ? ret : t.ret;
}

static long count_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return -1;
	long n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - (strcmp(path, "/proc/self/fd") == 0); /* opendir's own fd */
}

static long status_kib(const char *field)
{
	FILE *f = fopen("/proc/self/status", "re");
	if (!f)
		return -1;
	char line[256];
	long v = -1;
	size_t len = strlen(field);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, field, len) && line[len] == ':')
			v = strtol(line + len + 1, NULL, 10);
	fclose(f);
	return v;
}

struct usage {
	long fds, threads, vm_kib, rss_kib;
};

static struct usage measure(void)
{
	return (struct usage){
		.fds = count_dir("/proc/self/fd"),
		.threads = count_dir("/proc/self/task"),
		.vm_kib = status_kib("VmSize"),
		.rss_kib = status_kib("VmRSS"),
	};
}

static unsigned int cycles_wanted(void)
{
	const char *v = getenv("KRUN_VM_CYCLES");
	long n = v ? strtol(v, NULL, 10) : 500;
	return n > WARMUP && n <= 100000 ? (unsigned int)n : 500;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_many_vms_one_process(void)
{
	struct scratch s;
	CHECK(make_scratch(&s));
	unsigned int n = cycles_wanted(), failed = 0;
	int first_error = 0;
	struct usage base = {0};
	double t0 = now();
	for (unsigned int i = 0; i < n; i++) {
		if (i == WARMUP)
			base = measure();
		int ret = run_one_vm(&s, s.kernel);
		if (ret != 0 && !failed++)
			first_error = ret;
	}
	struct usage end = measure();
	fprintf(stderr, "  %u VMs in %.1f s; after %u / %u: fds %ld/%ld threads %ld/%ld "
		"VmSize %ld/%ld KiB VmRSS %ld/%ld KiB\n", n, now() - t0, WARMUP, n,
		base.fds, end.fds, base.threads, end.threads, base.vm_kib, end.vm_kib,
		base.rss_kib, end.rss_kib);
	if (failed)
		fprintf(stderr, "  %u VMs failed, the first with %d\n", failed, first_error);
	CHECK_EQ(failed, 0);
	CHECK(base.fds > 0 && base.threads > 0 && base.vm_kib > 0 && base.rss_kib > 0);
	CHECK_EQ(end.fds, base.fds);
	CHECK_EQ(end.threads, base.threads);
	/* Guest RAM is 64 MiB a VM: a VM's mapping left behind would show as
	 * that much address space.  Heap and malloc arenas may move a little. */
	CHECK(end.vm_kib - base.vm_kib < 16 * 1024);
	/* 4 KiB leaked a VM would be ~2 MiB over 480 VMs. */
	CHECK(end.rss_kib - base.rss_kib < 1024);
	remove_scratch(&s);
}

/* Threads a VM of run_one_vm() has, with how many of each. */
static const struct {
	const char *name;
	unsigned int n;
} vm_threads[] = {
	{"vcpu0", 1}, {"vcpu1", 1}, {"fs worker", 2}, {"blk worker", 1}, {"console", 1},
	{"vsock", 1}, {"virtio-net", 1}, {"rng", 1}, {"balloon", 1},
};
#define NR_VM_THREADS (sizeof(vm_threads) / sizeof(vm_threads[0]))

struct sampler {
	pthread_t thread;
	atomic_bool stop;
	/* Most threads of each name seen at once (a new thread has its
	 * creator's name until it sets its own, so no single sample is
	 * trusted to show them all). */
	unsigned int most[NR_VM_THREADS];
	char names[512];	/* the last sample */
};

static void thread_names(char *out, size_t size)
{
	DIR *d = opendir("/proc/self/task");
	size_t used = 0;
	out[0] = 0;
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char path[300], name[32] = "";
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		FILE *f = fopen(path, "re");
		if (f && fgets(name, sizeof(name), f))
			name[strcspn(name, "\n")] = 0;
		if (f)
			fclose(f);
		int w = snprintf(out + used, size - used, "%s%s", used ? "," : "", name);
		if (w > 0 && (size_t)w < size - used)
			used += (size_t)w;
	}
	if (d)
		closedir(d);
}

static unsigned int count_names(const char *names, const char *name)
{
	unsigned int n = 0;
	size_t len = strlen(name);
	for (const char *p = names; (p = strstr(p, name)); p += len)
		if ((p == names || p[-1] == ',') && (p[len] == ',' || !p[len]))
			n++;
	return n;
}

static void *sample(void *arg)
{
	struct sampler *sm = arg;
	while (!atomic_load(&sm->stop)) {
		char names[sizeof(sm->names)];
		thread_names(names, sizeof(names));
		for (unsigned int i = 0; i < NR_VM_THREADS; i++) {
			unsigned int n = count_names(names, vm_threads[i].name);
			if (n > sm->most[i]) {
				sm->most[i] = n;
				memcpy(sm->names, names, sizeof(names));
			}
		}
		usleep(1000);
	}
	return NULL;
}

/* The flat counts above mean something only if each VM really had its
 * threads: the guest's DRIVER_OK starts every device's worker.  A slower
 * guest lets a sampler see them all at once. */
static void test_guest_starts_device_workers(void)
{
	struct scratch s;
	CHECK(make_scratch(&s));
	long idle = count_dir("/proc/self/task");
	struct sampler sm = {.most = {0}};
	CHECK_EQ(pthread_create(&sm.thread, NULL, sample, &sm), 0);
	CHECK_EQ(run_one_vm(&s, s.slow_kernel), 0);
	atomic_store(&sm.stop, true);
	pthread_join(sm.thread, NULL);
	fprintf(stderr, "  idle %ld thread(s) and the sampler; seen: %s\n", idle, sm.names);
	for (unsigned int i = 0; i < NR_VM_THREADS; i++) {
		if (sm.most[i] < vm_threads[i].n)
			fprintf(stderr, "  at most %u \"%s\" threads seen, want %u\n", sm.most[i],
				vm_threads[i].name, vm_threads[i].n);
		CHECK(sm.most[i] >= vm_threads[i].n);
	}
	CHECK_EQ(count_dir("/proc/self/task"), idle);
	remove_scratch(&s);
}

int main(void)
{
	const char *level = getenv("KRUN_TEST_LOG_LEVEL");
	if (level)
		krun_set_log_level((uint32_t)atoi(level));
	/* One VM per process is the sandboxes' premise (krun_start_enter ends
	 * the process): filters and Landlock loaded by the first VM's threads
	 * would refuse the next VM's setup here. */
	setenv("KRUN_SECCOMP", "off", 1);
	setenv("KRUN_LANDLOCK", "off", 1);
	RUN_TEST(test_guest_starts_device_workers);
	RUN_TEST(test_many_vms_one_process);
	TEST_MAIN_END();
}
