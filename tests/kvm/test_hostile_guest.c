// SPDX-License-Identifier: Apache-2.0
/*
 * KVM tier: hostile tiny guests.  Hand-assembled real-mode guests drive a
 * real virtio device (rng; blk over a temporary image; fs over a temporary
 * directory; each with its own worker thread) through the virtio-mmio
 * transport with garbage: rings outside RAM, descriptor loops, huge lengths
 * and indirect tables, registers out of order / out of range / of the wrong
 * width, reset with requests in flight, notify storms, a backlog no device
 * can finish before a reset.
 *
 * Every case runs in a forked child, so a crash of the VMM code is the
 * child's death and the parent asserts a clean exit.  In the child: the
 * vCPU reaches HLT within RUN_BOUND_S, the device is in the state the guest
 * reported through PORT_REPORT (NEEDS_RESET where the guest broke the
 * protocol, a served request where it did not), the process burns almost no
 * CPU in a quiet period after the garbage (no worker spins on a broken
 * queue or a stale eventfd), and teardown returns.
 *
 * The device window sits at WIN (reachable from real mode with DS = 0),
 * with QueueNotify on ioeventfds as src/vmm/vm.c attach_virtio() does it,
 * so a notify storm never leaves the kernel unless the write misses the
 * datamatch.  Guest RAM: [0, LOW_RAM) for code, rings and request headers,
 * [HIGH_RAM, +HIGH_RAM_SIZE) for data buffers; the hole between is unmapped.
 */
#include "../unit/test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/fuse.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_config.h>
#include <linux/virtio_mmio.h>
#include <linux/virtio_ring.h>

#include "devices/virtio/block.h"
#include "devices/virtio/fs.h"
#include "devices/virtio/rng.h"
#include "devices/virtio/virtio_mmio.h"
#include "hv/hv.h"
#include "vmm/bus.h"
#include "vmm/guest_mem.h"

#define LOW_RAM 0x8000u
#define WIN 0x8000u
#define HIGH_RAM 0x10000u
#define HIGH_RAM_SIZE 0x4000000u	/* 64 MiB: DATA(0..9), or one flood segment */
#define CODE 0x1000u
#define CODE_MAX 0x1000u
#define QSIZE 32
/* Request n's header (and blk status byte at +16) and its data buffer. */
#define REQ(n) (0x3800u + 0x100u * (n))
#define DATA(n) (HIGH_RAM + 0x10000u * (n))
/* Large, so that a reset right after the first completion finds the worker
 * still busy with the others. */
#define DATA_LEN 0x200000u
#define FS_OUT_LEN 0x1000u
#define IMG_SIZE (10u * DATA_LEN)

#define PORT_REPORT 0xe0	/* out eax: appended to hg.reports */
#define PORT_SYNC 0xe4		/* out ax: wait for the device (see hg_sync) */
#define RUN_BOUND_S 10.0
#define SYNC_MS 3000
#define QUIET_S 0.5
#define QUIET_CPU_MAX_S 0.15
#define MAX_REPORTS 32

#define ST_ALL_OK (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | \
		   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK)
#define ST_BROKEN (ST_ALL_OK | VIRTIO_CONFIG_S_NEEDS_RESET)
#define F_INDIRECT (1u << VIRTIO_RING_F_INDIRECT_DESC)

enum dev_kind { DEV_RNG, DEV_BLK, DEV_FS };

/* ---- a tiny 16-bit assembler: just what the guests below need ---- */

struct asm16 {
	uint8_t *p;
	size_t len;
	bool full;
};

static void emit(struct asm16 *a, const void *b, size_t n)
{
	if (a->len + n > CODE_MAX) {
		a->full = true;
		return;
	}
	memcpy(a->p + a->len, b, n);
	a->len += n;
}

static void e8(struct asm16 *a, uint8_t v)
{
	emit(a, &v, 1);
}

static void e16(struct asm16 *a, uint16_t v)
{
	emit(a, &v, 2);
}

static void e32(struct asm16 *a, uint32_t v)
{
	emit(a, &v, 4);
}

/* mov dword [addr], v */
static void a_mov32(struct asm16 *a, uint16_t addr, uint32_t v)
{
	emit(a, "\x66\xc7\x06", 3);
	e16(a, addr);
	e32(a, v);
}

/* mov word [addr], v */
static void a_mov16(struct asm16 *a, uint16_t addr, uint16_t v)
{
	emit(a, "\xc7\x06", 2);
	e16(a, addr);
	e16(a, v);
}

/* mov byte [addr], v */
static void a_mov8(struct asm16 *a, uint16_t addr, uint8_t v)
{
	emit(a, "\xc6\x06", 2);
	e16(a, addr);
	e8(a, v);
}

/* Loads width bytes at addr zero-extended into eax, then out PORT_REPORT, eax. */
static void a_report(struct asm16 *a, uint16_t addr, int width)
{
	emit(a, "\x66\x31\xc0", 3);	/* xor eax, eax */
	if (width == 4)
		e8(a, 0x66);
	e8(a, width == 1 ? 0xa0 : 0xa1);	/* mov al/ax/eax, [moffs16] */
	e16(a, addr);
	emit(a, "\x66\xe7", 2);
	e8(a, PORT_REPORT);
}

/* mov ax, addr; out PORT_SYNC, ax */
static void a_sync(struct asm16 *a, uint16_t addr)
{
	e8(a, 0xb8);
	e16(a, addr);
	e8(a, 0xe7);
	e8(a, PORT_SYNC);
}

/* Spins in the guest (no exit) until the word (or dword) at addr is
 * non-zero: cmp [addr], 0; je back to the cmp. */
static void a_wait_nonzero(struct asm16 *a, uint16_t addr, bool dword)
{
	if (dword)
		e8(a, 0x66);
	emit(a, "\x83\x3e", 2);
	e16(a, addr);
	emit(a, dword ? "\x00\x74\xf8" : "\x00\x74\xf9", 3);
}

/* mov ecx, n; returns the loop top for a_loop_end. */
static size_t a_loop_begin(struct asm16 *a, uint32_t n)
{
	emit(a, "\x66\xb9", 2);
	e32(a, n);
	return a->len;
}

/* dec ecx; jnz near top */
static void a_loop_end(struct asm16 *a, size_t top)
{
	emit(a, "\x66\x49\x0f\x85", 4);
	e16(a, (uint16_t)(top - (a->len + 2)));
}

/* ---- guest-side virtio driver pieces ---- */

struct rings {
	uint64_t desc, avail, used;
};

static const struct rings RINGS_A = { 0x2000, 0x2200, 0x2300 };
static const struct rings RINGS_B = { 0x2800, 0x2a00, 0x2b00 };

static uint16_t used_idx_addr(const struct rings *r)
{
	return (uint16_t)(r->used + 2);
}

static void g_reg(struct asm16 *a, uint16_t off, uint32_t v)
{
	a_mov32(a, (uint16_t)(WIN + off), v);
}

static void g_report_reg(struct asm16 *a, uint16_t off)
{
	a_report(a, (uint16_t)(WIN + off), 4);
}

/* Reset, ACK, DRIVER, VERSION_1 plus feat_lo, FEATURES_OK. */
static void g_negotiate(struct asm16 *a, uint32_t feat_lo)
{
	g_reg(a, VIRTIO_MMIO_STATUS, 0);
	g_reg(a, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	g_reg(a, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	g_reg(a, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	g_reg(a, VIRTIO_MMIO_DRIVER_FEATURES, feat_lo);
	g_reg(a, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	g_reg(a, VIRTIO_MMIO_DRIVER_FEATURES, 1u << (VIRTIO_F_VERSION_1 - 32));
	g_reg(a, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
				     VIRTIO_CONFIG_S_FEATURES_OK);
}

static void g_reg64(struct asm16 *a, uint16_t lo_off, uint64_t v)
{
	g_reg(a, lo_off, (uint32_t)v);
	g_reg(a, (uint16_t)(lo_off + 4), (uint32_t)(v >> 32));
}

static void g_queue(struct asm16 *a, unsigned int q, const struct rings *r)
{
	g_reg(a, VIRTIO_MMIO_QUEUE_SEL, q);
	g_reg(a, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	g_reg64(a, VIRTIO_MMIO_QUEUE_DESC_LOW, r->desc);
	g_reg64(a, VIRTIO_MMIO_QUEUE_AVAIL_LOW, r->avail);
	g_reg64(a, VIRTIO_MMIO_QUEUE_USED_LOW, r->used);
	g_reg(a, VIRTIO_MMIO_QUEUE_READY, 1);
}

static void g_bring_up(struct asm16 *a, unsigned int q, const struct rings *r, uint32_t feat_lo)
{
	g_negotiate(a, feat_lo);
	g_queue(a, q, r);
	g_reg(a, VIRTIO_MMIO_STATUS, ST_ALL_OK);
}

static void g_desc(struct asm16 *a, uint16_t table, unsigned int i, uint64_t addr, uint32_t len,
		   uint16_t flags, uint16_t next)
{
	uint16_t d = (uint16_t)(table + 16 * i);

	a_mov32(a, d, (uint32_t)addr);
	a_mov32(a, (uint16_t)(d + 4), (uint32_t)(addr >> 32));
	a_mov32(a, (uint16_t)(d + 8), len);
	a_mov16(a, (uint16_t)(d + 12), flags);
	a_mov16(a, (uint16_t)(d + 14), next);
}

/* Puts head in avail slot and makes the index slot + 1 (x86 keeps the order). */
static void g_publish(struct asm16 *a, const struct rings *r, uint16_t slot, uint16_t head)
{
	a_mov16(a, (uint16_t)(r->avail + 4 + 2 * (slot % QSIZE)), head);
	a_mov16(a, (uint16_t)(r->avail + 2), (uint16_t)(slot + 1));
}

static void g_notify(struct asm16 *a, unsigned int q)
{
	g_reg(a, VIRTIO_MMIO_QUEUE_NOTIFY, q);
}

static unsigned int dev_queue(enum dev_kind k)
{
	return k == DEV_FS ? 1 : 0;	/* fs: the request queue, not hiprio */
}

/* blk: read DATA_LEN bytes from sector n * DATA_LEN / 512 into DATA(n). */
static void g_blk_read(struct asm16 *a, const struct rings *r, unsigned int n, uint16_t d)
{
	uint16_t t = (uint16_t)r->desc;

	a_mov32(a, (uint16_t)REQ(n), VIRTIO_BLK_T_IN);
	a_mov32(a, (uint16_t)(REQ(n) + 8), n * (DATA_LEN / 512));
	g_desc(a, t, d, REQ(n), 16, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
	g_desc(a, t, d + 1, DATA(n), DATA_LEN, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
	       (uint16_t)(d + 2));
	g_desc(a, t, d + 2, REQ(n) + 16, 1, VRING_DESC_F_WRITE, 0);
}

/* fs: FUSE_INIT 7.38 with unique n + 1; the reply goes to DATA(n). */
static void g_fs_init(struct asm16 *a, const struct rings *r, unsigned int n, uint16_t d)
{
	uint16_t in = (uint16_t)REQ(n), args = (uint16_t)(in + sizeof(struct fuse_in_header));
	uint32_t len = sizeof(struct fuse_in_header) + sizeof(struct fuse_init_in);

	a_mov32(a, (uint16_t)(in + offsetof(struct fuse_in_header, len)), len);
	a_mov32(a, (uint16_t)(in + offsetof(struct fuse_in_header, opcode)), FUSE_INIT);
	a_mov32(a, (uint16_t)(in + offsetof(struct fuse_in_header, unique)), n + 1);
	a_mov32(a, (uint16_t)(args + offsetof(struct fuse_init_in, major)), 7);
	a_mov32(a, (uint16_t)(args + offsetof(struct fuse_init_in, minor)), 38);
	g_desc(a, (uint16_t)r->desc, d, in, len, VRING_DESC_F_NEXT, (uint16_t)(d + 1));
	g_desc(a, (uint16_t)r->desc, d + 1, DATA(n), FS_OUT_LEN, VRING_DESC_F_WRITE, 0);
}

/* A well-formed request n at descriptors d.. published in avail slot. */
static void g_valid_request(struct asm16 *a, enum dev_kind k, const struct rings *r,
			    unsigned int n, uint16_t d, uint16_t slot)
{
	if (k == DEV_BLK)
		g_blk_read(a, r, n, d);
	else if (k == DEV_FS)
		g_fs_init(a, r, n, d);
	else
		g_desc(a, (uint16_t)r->desc, d, DATA(n), DATA_LEN, VRING_DESC_F_WRITE, 0);
	g_publish(a, r, slot, d);
}

/* ---- the host side: one VM, one device, the run loop ---- */

struct hg {
	int kvm;
	struct hv_vm *vm;
	struct hv_vcpu *vcpu;
	struct guest_mem gm;
	struct bus mmio;
	struct virtio_mmio_dev dev;
	bool dev_up;
	enum dev_kind kind;
	struct virtio_rng *rng;
	struct virtio_blk *blk;
	struct virtio_fs *fs;
	char path[64];
	uint32_t reports[MAX_REPORTS];
	unsigned int nr_reports;
	unsigned long user_exits;
	double max_exit_s;	/* longest MMIO access (a reset joins the worker) */
};

static double now_s(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *hg_ptr(struct hg *h, uint64_t gpa, uint64_t len)
{
	return gm_ptr(&h->gm, gpa, len);
}

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 9) * 13 + 1);
}

static bool make_image(struct hg *h)
{
	static uint8_t buf[0x10000];
	snprintf(h->path, sizeof(h->path), "/tmp/krun-hostile-blk-XXXXXX");
	int fd = mkstemp(h->path);
	bool ok = fd >= 0;

	for (size_t off = 0; ok && off < IMG_SIZE; off += sizeof(buf)) {
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = pattern(off + i);
		ok = pwrite(fd, buf, sizeof(buf), (off_t)off) == sizeof(buf);
	}
	if (fd >= 0)
		close(fd);
	return ok;
}

static const struct virtio_device_ops *make_device(struct hg *h, void **opaque)
{
	int err = 0;

	switch (h->kind) {
	case DEV_RNG:
		*opaque = h->rng = virtio_rng_create();
		return h->rng ? virtio_rng_ops() : NULL;
	case DEV_BLK:
		if (!make_image(h))
			return NULL;
		*opaque = h->blk = virtio_blk_create(h->path, false, false,
						     VIRTIO_BLK_SYNC_NONE, &err);
		return h->blk ? virtio_blk_ops(h->blk) : NULL;
	case DEV_FS:
		snprintf(h->path, sizeof(h->path), "/tmp/krun-hostile-fs-XXXXXX");
		if (!mkdtemp(h->path))
			return NULL;
		*opaque = h->fs = virtio_fs_create("hostile", h->path, false, &err);
		return h->fs ? virtio_fs_ops() : NULL;
	}
	return NULL;
}

static void bus_rd(void *opaque, uint64_t off, void *data, uint32_t len)
{
	virtio_mmio_read(opaque, off, data, len);
}

static void bus_wr(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	virtio_mmio_write(opaque, off, data, len);
}

/* The device on the bus at WIN with its notify ioeventfds, like vm.c. */
static int hg_attach(struct hg *h)
{
	void *opaque = NULL;
	const struct virtio_device_ops *ops = make_device(h, &opaque);

	if (!ops)
		return -ENODEV;
	int ret = virtio_mmio_init(&h->dev, ops, opaque, &h->gm, WIN, 5);
	if (ret)
		return ret;
	h->dev_up = true;
	struct bus_device d = { .base = WIN, .len = VIRTIO_MMIO_WINDOW, .opaque = &h->dev,
				.read = bus_rd, .write = bus_wr };
	ret = bus_add(&h->mmio, &d);
	for (unsigned int q = 0; !ret && q < ops->num_queues; q++)
		ret = hv_vm_ioeventfd(h->vm, WIN + VIRTIO_MMIO_QUEUE_NOTIFY, 4, q,
				      h->dev.queue_evt[q]);
	return ret;
}

static int hg_map_ram(struct hg *h)
{
	int ret = gm_alloc_region(&h->gm, 0, LOW_RAM);

	if (!ret)
		ret = gm_alloc_region(&h->gm, HIGH_RAM, HIGH_RAM_SIZE);
	for (unsigned int i = 0; !ret && i < h->gm.nr_regions; i++)
		ret = hv_vm_map_memory(h->vm, h->gm.regions[i].gpa, h->gm.regions[i].host,
				       h->gm.regions[i].size);
	return ret;
}

static int hg_create(struct hg *h, enum dev_kind kind)
{
	memset(h, 0, sizeof(*h));
	h->kvm = -1;
	h->kind = kind;
	int ret = hv_open(&h->kvm);
	if (!ret)
		ret = hv_vm_create(h->kvm, &h->vm);
	if (!ret)
		ret = hg_map_ram(h);
	if (!ret)
		ret = hv_vcpu_create(h->vm, 0, &h->vcpu);
	if (!ret)
		ret = hv_vcpu_set_real_mode(h->vcpu, 0, CODE);
	if (!ret)
		ret = hg_attach(h);
	return ret;
}

/* Transport reset joins the worker; then the device goes. */
static void hg_destroy(struct hg *h)
{
	if (h->dev_up)
		virtio_mmio_destroy(&h->dev);
	virtio_rng_destroy(h->rng);
	virtio_blk_destroy(h->blk);
	virtio_fs_destroy(h->fs);
	if (h->blk)
		unlink(h->path);
	if (h->fs)
		rmdir(h->path);
	if (h->vcpu)
		hv_vcpu_destroy(h->vcpu);
	if (h->vm)
		hv_vm_destroy(h->vm);
	gm_destroy(&h->gm);
	if (h->kvm >= 0)
		close(h->kvm);
}

/*
 * PORT_SYNC: the guest cannot see the worker finish, so the host waits
 * (bounded) until the device needs reset or the u16 at guest address addr
 * (a used index; 0: none) is non-zero.
 */
static void hg_sync(struct hg *h, uint16_t addr)
{
	const volatile uint16_t *idx = addr ? hg_ptr(h, addr, 2) : NULL;
	double end = now_s(CLOCK_MONOTONIC) + SYNC_MS / 1000.0;

	while (now_s(CLOCK_MONOTONIC) < end) {
		if (atomic_load(&h->dev.needs_reset) || (idx && *idx))
			return;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
}

static void hg_pio(struct hg *h, const struct hv_exit *e)
{
	uint32_t v = 0;

	if (!e->io.is_write) {
		memset(e->io.data, 0xff, (size_t)e->io.size * e->io.count);
		return;
	}
	memcpy(&v, e->io.data, e->io.size < 4 ? e->io.size : 4);
	if (e->io.port == PORT_REPORT && h->nr_reports < MAX_REPORTS)
		h->reports[h->nr_reports++] = v;
	else if (e->io.port == PORT_SYNC)
		hg_sync(h, (uint16_t)v);
}

/* A vCPU run deadline: the watchdog kicks the vCPU out of a guest that
 * never halts, so a hang is a failed CHECK rather than a stuck tier. */
struct watchdog {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stop;
	_Atomic bool fired;
	struct hv_vcpu *vcpu;
	struct timespec deadline;
};

static void *wd_main(void *arg)
{
	struct watchdog *w = arg;
	int ret = 0;

	pthread_mutex_lock(&w->lock);
	while (!w->stop && ret != ETIMEDOUT)
		ret = pthread_cond_timedwait(&w->cond, &w->lock, &w->deadline);
	if (!w->stop) {
		atomic_store(&w->fired, true);
		hv_vcpu_kick(w->vcpu);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int wd_start(struct watchdog *w, struct hv_vcpu *vcpu)
{
	pthread_condattr_t ca;

	memset(w, 0, sizeof(*w));
	w->vcpu = vcpu;
	clock_gettime(CLOCK_MONOTONIC, &w->deadline);
	w->deadline.tv_sec += (time_t)RUN_BOUND_S;
	pthread_mutex_init(&w->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &ca);
	pthread_condattr_destroy(&ca);
	return -pthread_create(&w->thread, NULL, wd_main, w);
}

static void wd_stop(struct watchdog *w)
{
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
}

/* One exit; false for one no guest of this file may cause. */
static bool hg_exit(struct hg *h, struct hv_exit *e)
{
	h->user_exits++;
	if (e->reason == HV_EXIT_IO) {
		hg_pio(h, e);
		return true;
	}
	if (e->reason != HV_EXIT_MMIO) {
		fprintf(stderr, "  unexpected exit %d\n", e->reason);
		return false;
	}
	double t0 = now_s(CLOCK_MONOTONIC);
	if (e->mmio.is_write)
		bus_write(&h->mmio, e->mmio.addr, e->mmio.data, e->mmio.len);
	else
		bus_read(&h->mmio, e->mmio.addr, e->mmio.data, e->mmio.len);
	double dt = now_s(CLOCK_MONOTONIC) - t0;
	if (dt > h->max_exit_s)
		h->max_exit_s = dt;
	return true;
}

/* Runs the guest to HLT: 0, -ETIMEDOUT past RUN_BOUND_S, or an error. */
static int hg_run(struct hg *h)
{
	struct watchdog w;
	struct hv_exit e;
	int ret = wd_start(&w, h->vcpu);

	while (!ret) {
		ret = hv_vcpu_run(h->vcpu, &e);
		if (ret || e.reason == HV_EXIT_HLT)
			break;
		if (e.reason == HV_EXIT_INTR) {
			if (atomic_load(&w.fired))
				ret = -ETIMEDOUT;
			continue;
		}
		if (!hg_exit(h, &e))
			ret = -EIO;
	}
	wd_stop(&w);
	return ret;
}

/* CPU the whole process burns while the guest is halted and the device
 * still active: a worker looping on a broken queue shows up here. */
static void check_quiet(void)
{
	double t0 = now_s(CLOCK_PROCESS_CPUTIME_ID);
	struct timespec q = { .tv_sec = 0, .tv_nsec = (long)(QUIET_S * 1e9) };

	while (nanosleep(&q, &q) && errno == EINTR)
		;
	double used = now_s(CLOCK_PROCESS_CPUTIME_ID) - t0;
	if (used >= QUIET_CPU_MAX_S)
		fprintf(stderr, "  %.3f s of CPU in a %.1f s quiet period\n", used, QUIET_S);
	CHECK(used < QUIET_CPU_MAX_S);
}

/* ---- cases ---- */

struct hcase {
	const char *name;
	enum dev_kind kind;
	int variant;
	void (*guest)(struct asm16 *a, const struct hcase *c);
	void (*check)(struct hg *h, const struct hcase *c);
};

static void check_broken(struct hg *h, const struct hcase *c)
{
	(void)c;
	CHECK(atomic_load(&h->dev.needs_reset));
	CHECK(h->nr_reports >= 1);
	CHECK_EQ(h->reports[h->nr_reports - 1], ST_BROKEN);
}

/* Body of the forked child: the checks of one case. */
static void run_case_body(const struct hcase *c)
{
	struct hg h;
	int ret = hg_create(&h, c->kind);

	CHECK_EQ(ret, 0);
	if (!ret) {
		struct asm16 a = { .p = hg_ptr(&h, CODE, CODE_MAX) };
		c->guest(&a, c);
		e8(&a, 0xf4);	/* hlt */
		CHECK(!a.full);
		double t0 = now_s(CLOCK_MONOTONIC);
		CHECK_EQ(hg_run(&h), 0);
		CHECK(now_s(CLOCK_MONOTONIC) - t0 < RUN_BOUND_S);
		check_quiet();
		c->check(&h, c);
	}
	double t0 = now_s(CLOCK_MONOTONIC);
	hg_destroy(&h);
	CHECK(now_s(CLOCK_MONOTONIC) - t0 < 5.0);
}

/* Forks: the VMM code dying on garbage must not take the runner along. */
static void run_case(const struct hcase *c)
{
	fflush(NULL);
	pid_t pid = fork();

	if (pid == 0) {
		alarm(60);	/* a hang in teardown kills the child: a failure */
		run_case_body(c);
		exit(test_failures_in_case ? 1 : 0);	/* LSan runs at exit */
	}
	int st = 0;
	CHECK(pid > 0 && waitpid(pid, &st, 0) == pid);
	if (WIFSIGNALED(st))
		fprintf(stderr, "  case %s: killed by signal %d\n", c->name, WTERMSIG(st));
	else if (!WIFEXITED(st) || WEXITSTATUS(st))
		fprintf(stderr, "  case %s failed\n", c->name);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void run_cases(const struct hcase *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		run_case(&cases[i]);
}

/* 1. Rings outside guest RAM: activation fails, the device needs reset,
 * and a notify afterwards reaches no worker. */
static const struct rings BAD_RINGS[] = {
	{ 0x1fffff000ull, 0x2200, 0x2300 },		/* desc far above RAM */
	{ 0x2000, LOW_RAM - 4, 0x2300 },		/* avail runs into the window */
	{ 0x2000, 0x2200, WIN },			/* used is the device window */
	{ 0x2000, 0x2200, 0x9000 },			/* used in the hole */
	{ 0xfffffffffffffff0ull, 0x2200, HIGH_RAM + HIGH_RAM_SIZE - 16 }, /* wraps; runs off */
};

static void guest_bad_rings(struct asm16 *a, const struct hcase *c)
{
	unsigned int q = dev_queue(c->kind);

	g_negotiate(a, 0);
	g_queue(a, q, &BAD_RINGS[c->variant]);
	g_reg(a, VIRTIO_MMIO_STATUS, ST_ALL_OK);
	g_report_reg(a, VIRTIO_MMIO_STATUS);
	g_notify(a, q);
	a_sync(a, 0);
	g_report_reg(a, VIRTIO_MMIO_STATUS);
}

static void check_bad_rings(struct hg *h, const struct hcase *c)
{
	CHECK_EQ(h->nr_reports, 2);
	CHECK_EQ(h->reports[0], ST_BROKEN);
	CHECK(!h->dev.activated);
	check_broken(h, c);
}

static void test_rings_outside_ram(void)
{
	static const struct hcase cases[] = {
		{ "blk desc", DEV_BLK, 0, guest_bad_rings, check_bad_rings },
		{ "blk avail", DEV_BLK, 1, guest_bad_rings, check_bad_rings },
		{ "rng used", DEV_RNG, 2, guest_bad_rings, check_bad_rings },
		{ "fs used hole", DEV_FS, 3, guest_bad_rings, check_bad_rings },
		{ "blk wrap", DEV_BLK, 4, guest_bad_rings, check_bad_rings },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* A malformed chain: the worker marks the device broken, answers nothing,
 * and (check_quiet) does not spin on it. */
static void guest_bad_chain_tail(struct asm16 *a, const struct hcase *c)
{
	g_publish(a, &RINGS_A, 0, 0);
	g_notify(a, dev_queue(c->kind));
	a_sync(a, used_idx_addr(&RINGS_A));
	a_report(a, used_idx_addr(&RINGS_A), 2);
	g_report_reg(a, VIRTIO_MMIO_STATUS);
}

static void check_bad_chain(struct hg *h, const struct hcase *c)
{
	CHECK_EQ(h->nr_reports, 2);
	CHECK_EQ(h->reports[0], 0);	/* nothing was put on the used ring */
	CHECK(h->dev.activated);
	check_broken(h, c);
}

/* 2. Descriptor loops: next pointing back, or out of the table. */
static void guest_desc_loop(struct asm16 *a, const struct hcase *c)
{
	uint16_t t = (uint16_t)RINGS_A.desc, f = VRING_DESC_F_NEXT;
	uint16_t w = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;

	g_bring_up(a, dev_queue(c->kind), &RINGS_A, 0);
	switch (c->variant) {
	case 0: /* blk: header -> status -> header ... */
		g_desc(a, t, 0, REQ(0), 16, f, 1);
		g_desc(a, t, 1, REQ(0) + 16, 1, w, 0);
		break;
	case 1: /* rng: a descriptor that is its own next */
		g_desc(a, t, 0, DATA(0), 64, w, 0);
		break;
	case 2: /* fs: 0 -> 1 -> 2 -> 1 */
		g_desc(a, t, 0, REQ(0), 40, f, 1);
		g_desc(a, t, 1, DATA(0), 64, w, 2);
		g_desc(a, t, 2, DATA(1), 64, w, 1);
		break;
	default: /* blk: next beyond the table */
		g_desc(a, t, 0, REQ(0), 16, f, 0xfff0);
		break;
	}
	guest_bad_chain_tail(a, c);
}

static void test_descriptor_loops(void)
{
	static const struct hcase cases[] = {
		{ "blk 2-cycle", DEV_BLK, 0, guest_desc_loop, check_bad_chain },
		{ "rng self", DEV_RNG, 1, guest_desc_loop, check_bad_chain },
		{ "fs back", DEV_FS, 2, guest_desc_loop, check_bad_chain },
		{ "blk next oob", DEV_BLK, 3, guest_desc_loop, check_bad_chain },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* 3. Indirect tables (blk negotiates INDIRECT_DESC): huge or odd lengths, a
 * loop inside the table, a table off the end of RAM, nesting. */
static void guest_indirect(struct asm16 *a, const struct hcase *c)
{
	uint16_t t = (uint16_t)RINGS_A.desc, tab = (uint16_t)REQ(1);
	uint16_t f = VRING_DESC_F_NEXT, ind = VRING_DESC_F_INDIRECT;
	static const uint32_t lens[] = { 0xfffffff0u, 0xffffffffu };

	g_bring_up(a, dev_queue(c->kind), &RINGS_A, F_INDIRECT);
	if (c->variant < 2) {
		g_desc(a, t, 0, tab, lens[c->variant], ind, 0);
	} else if (c->variant == 2) {
		g_desc(a, tab, 0, REQ(0), 16, f, 1);
		g_desc(a, tab, 1, REQ(0) + 16, 1, VRING_DESC_F_WRITE | f, 0);
		g_desc(a, t, 0, tab, 32, ind, 0);
	} else if (c->variant == 3) {
		g_desc(a, t, 0, LOW_RAM - 16, 32, ind, 0);
	} else {
		g_desc(a, tab, 0, REQ(2), 16, ind, 0);
		g_desc(a, t, 0, tab, 16, ind, 0);
	}
	guest_bad_chain_tail(a, c);
}

static void test_indirect_tables(void)
{
	static const struct hcase cases[] = {
		{ "huge", DEV_BLK, 0, guest_indirect, check_bad_chain },
		{ "odd huge", DEV_BLK, 1, guest_indirect, check_bad_chain },
		{ "loop", DEV_BLK, 2, guest_indirect, check_bad_chain },
		{ "off ram", DEV_BLK, 3, guest_indirect, check_bad_chain },
		{ "nested", DEV_BLK, 4, guest_indirect, check_bad_chain },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* 4. Lengths of 0xffffffff, alone and summing past 32 bits; an address
 * at the top of the 64-bit space. */
static void guest_huge_len(struct asm16 *a, const struct hcase *c)
{
	uint16_t t = (uint16_t)RINGS_A.desc;
	uint16_t f = VRING_DESC_F_NEXT, w = VRING_DESC_F_WRITE;

	g_bring_up(a, dev_queue(c->kind), &RINGS_A, 0);
	switch (c->variant) {
	case 0: /* blk: the header */
		g_desc(a, t, 0, REQ(0), 0xffffffffu, f, 1);
		g_desc(a, t, 1, REQ(0) + 16, 1, w, 0);
		break;
	case 1: /* blk: 16 + 0xffffffff overflows the chain length */
		g_desc(a, t, 0, REQ(0), 16, f, 1);
		g_desc(a, t, 1, DATA(0), 0xffffffffu, w | f, 2);
		g_desc(a, t, 2, REQ(0) + 16, 1, w, 0);
		break;
	case 2: /* rng */
		g_desc(a, t, 0, DATA(0), 0xffffffffu, w, 0);
		break;
	case 3: /* fs: a 4 GiB FUSE request */
		g_desc(a, t, 0, REQ(0), 0xffffffffu, f, 1);
		g_desc(a, t, 1, DATA(0), 64, w, 0);
		break;
	default: /* rng: the last bytes of the address space */
		g_desc(a, t, 0, 0xffffffffffffff00ull, 0x200, w, 0);
		break;
	}
	guest_bad_chain_tail(a, c);
}

static void test_huge_lengths(void)
{
	static const struct hcase cases[] = {
		{ "blk header", DEV_BLK, 0, guest_huge_len, check_bad_chain },
		{ "blk sum", DEV_BLK, 1, guest_huge_len, check_bad_chain },
		{ "rng", DEV_RNG, 2, guest_huge_len, check_bad_chain },
		{ "fs", DEV_FS, 3, guest_huge_len, check_bad_chain },
		{ "rng top", DEV_RNG, 4, guest_huge_len, check_bad_chain },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Request n answered as the device should: id head, data, status. */
static void check_valid(struct hg *h, enum dev_kind k, const struct rings *r, unsigned int n,
			uint16_t slot, uint16_t head)
{
	const struct vring_used_elem *e = hg_ptr(h, r->used + 4 + 8 * (slot % QSIZE), 8);
	const uint8_t *data = hg_ptr(h, DATA(n), DATA_LEN);

	CHECK_EQ(e->id, head);
	if (k == DEV_BLK) {
		CHECK_EQ(e->len, DATA_LEN + 1);
		CHECK_EQ(*(uint8_t *)hg_ptr(h, REQ(n) + 16, 1), VIRTIO_BLK_S_OK);
		bool same = true;
		for (uint32_t i = 0; i < DATA_LEN && same; i++)
			same = data[i] == pattern((uint64_t)n * DATA_LEN + i);
		CHECK(same);
	} else if (k == DEV_FS) {
		const struct fuse_out_header *o = (const void *)data;
		CHECK_EQ(o->error, 0);
		CHECK_EQ(o->unique, n + 1);
		CHECK_EQ(e->len, o->len);
		CHECK_EQ(o->len, sizeof(*o) + sizeof(struct fuse_init_out));
	} else {
		CHECK_EQ(e->len, DATA_LEN);
		CHECK(data[0] | data[1] | data[2] | data[3] | data[DATA_LEN - 1]);
	}
}

/* 5. Register garbage before, between and instead of a proper bring-up:
 * queue registers before FEATURES_OK, DRIVER_OK before FEATURES_OK, all
 * status bits, byte/word/unaligned accesses, read-only and unknown
 * registers, the config space's end and an access straddling the window's
 * end, out-of-range selectors.  None may stick; the device then comes up
 * properly and serves a request.  Reports R0..R19 in order. */
static void guest_garbage_state(struct asm16 *a, unsigned int q)
{
	g_reg(a, VIRTIO_MMIO_STATUS, 0);
	g_reg(a, VIRTIO_MMIO_QUEUE_SEL, q);
	g_reg(a, VIRTIO_MMIO_QUEUE_NUM, QSIZE);
	g_reg(a, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)RINGS_A.desc);
	g_reg(a, VIRTIO_MMIO_QUEUE_READY, 1);
	g_report_reg(a, VIRTIO_MMIO_QUEUE_READY);			/* R0 */
	g_reg(a, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_DRIVER_OK);
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R1 */
	g_reg(a, VIRTIO_MMIO_STATUS, ST_ALL_OK);	/* without VERSION_1 */
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R2 */
	g_reg(a, VIRTIO_MMIO_STATUS, 0xffffffffu);
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R3 */
	g_reg(a, VIRTIO_MMIO_STATUS, 0);
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R4 */
}

static void guest_garbage_widths(struct asm16 *a)
{
	a_mov8(a, WIN + VIRTIO_MMIO_STATUS, ST_ALL_OK);
	a_mov16(a, WIN + VIRTIO_MMIO_STATUS, ST_ALL_OK);
	a_mov32(a, WIN + VIRTIO_MMIO_STATUS + 1, ST_ALL_OK);
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R5 */
	a_report(a, WIN + VIRTIO_MMIO_MAGIC_VALUE, 1);			/* R6 */
	a_report(a, WIN + VIRTIO_MMIO_MAGIC_VALUE, 2);			/* R7 */
	a_report(a, WIN + VIRTIO_MMIO_MAGIC_VALUE + 2, 4);		/* R8 */
	a_report(a, WIN + 0xfc, 4);					/* R9 */
	a_report(a, WIN + VIRTIO_MMIO_WINDOW - 4, 4);			/* R10 */
	a_report(a, WIN + VIRTIO_MMIO_WINDOW - 2, 4);			/* R11 */
}

static void guest_garbage_regs(struct asm16 *a, unsigned int q)
{
	g_reg(a, VIRTIO_MMIO_MAGIC_VALUE, 0);
	g_report_reg(a, VIRTIO_MMIO_MAGIC_VALUE);			/* R12 */
	g_reg(a, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0xffffffffu);
	g_report_reg(a, VIRTIO_MMIO_DEVICE_FEATURES);			/* R13 */
	g_reg(a, VIRTIO_MMIO_QUEUE_SEL, 0xffffffffu);
	g_reg(a, VIRTIO_MMIO_QUEUE_NUM, 0xffffffffu);
	g_report_reg(a, VIRTIO_MMIO_QUEUE_NUM_MAX);			/* R14 */
	g_reg(a, VIRTIO_MMIO_INTERRUPT_ACK, 0xffffffffu);
	g_reg(a, VIRTIO_MMIO_SHM_SEL, 0xffffffffu);
	g_report_reg(a, VIRTIO_MMIO_SHM_LEN_LOW);			/* R15 */
	g_reg(a, VIRTIO_MMIO_CONFIG, 0xdeadbeefu);
	g_reg(a, VIRTIO_MMIO_WINDOW - 4, 0xdeadbeefu);
	g_reg(a, VIRTIO_MMIO_WINDOW - 2, 0xdeadbeefu);
	g_reg(a, VIRTIO_MMIO_DRIVER_FEATURES, 0xffffffffu);
	g_notify(a, 0x12345);	/* misses the datamatch: a trapped write */
	a_mov8(a, WIN + VIRTIO_MMIO_QUEUE_NOTIFY, (uint8_t)q);
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R16 */
}

static void guest_garbage(struct asm16 *a, const struct hcase *c)
{
	unsigned int q = dev_queue(c->kind);

	guest_garbage_state(a, q);
	guest_garbage_widths(a);
	guest_garbage_regs(a, q);
	g_bring_up(a, q, &RINGS_A, 0);
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R17 */
	g_valid_request(a, c->kind, &RINGS_A, 0, 0, 0);
	g_notify(a, q);
	a_sync(a, used_idx_addr(&RINGS_A));
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R18 */
	a_report(a, used_idx_addr(&RINGS_A), 2);			/* R19 */
}

static void check_garbage(struct hg *h, const struct hcase *c)
{
	const uint32_t *r = h->reports;
	const uint32_t st_stuck = VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK |
				  VIRTIO_CONFIG_S_NEEDS_RESET;

	CHECK_EQ(h->nr_reports, 20);
	if (h->nr_reports != 20)
		return;
	CHECK_EQ(r[0], 0);	/* QUEUE_READY before FEATURES_OK did not stick */
	CHECK_EQ(r[1], 0);	/* DRIVER_OK alone refused */
	CHECK_EQ(r[2], VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	CHECK_EQ(r[3] & st_stuck, 0);	/* all ones: still no FEATURES_OK */
	CHECK_EQ(r[4], 0);
	CHECK_EQ(r[5], 0);	/* sub-word and unaligned status writes ignored */
	CHECK_EQ(r[6], 0);	/* sub-word register reads read zero */
	CHECK_EQ(r[7], 0);
	CHECK_EQ(r[8], 0);
	CHECK_EQ(r[9], 0);	/* unknown register */
	CHECK_EQ(r[10], 0);	/* past the config space */
	/* Straddling the window: KVM splits at the page, each half misses. */
	CHECK(r[11] == 0xffff0000u || r[11] == 0xffffffffu || r[11] == 0);
	CHECK_EQ(r[12], 0x74726976);	/* MAGIC is read-only */
	CHECK_EQ(r[13], 0);
	CHECK_EQ(r[14], 0);
	CHECK_EQ(r[15], 0xffffffffu);
	CHECK_EQ(r[16], 0);
	CHECK_EQ(r[17], ST_ALL_OK);
	CHECK_EQ(r[18], ST_ALL_OK);
	CHECK_EQ(r[19], 1);
	CHECK(!atomic_load(&h->dev.needs_reset));
	check_valid(h, c->kind, &RINGS_A, 0, 0, 0);
}

static void test_register_garbage(void)
{
	static const struct hcase cases[] = {
		{ "rng", DEV_RNG, 0, guest_garbage, check_garbage },
		{ "blk", DEV_BLK, 0, guest_garbage, check_garbage },
		{ "fs", DEV_FS, 0, guest_garbage, check_garbage },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Descriptors one request of kind k takes. */
static uint16_t req_descs(enum dev_kind k)
{
	return k == DEV_BLK ? 3 : k == DEV_FS ? 2 : 1;
}

#define IN_FLIGHT 8

/* 6. Reset (status 0) as soon as the first of IN_FLIGHT large requests
 * completes (the guest spins on the used index, so the others are queued or
 * being served), then a proper bring-up on other rings and one request that
 * must succeed. */
static void guest_reset_in_flight(struct asm16 *a, const struct hcase *c)
{
	unsigned int q = dev_queue(c->kind);
	uint16_t nd = req_descs(c->kind);

	g_bring_up(a, q, &RINGS_A, 0);
	for (uint16_t i = 0; i < IN_FLIGHT; i++)
		g_valid_request(a, c->kind, &RINGS_A, i, (uint16_t)(i * nd), i);
	g_notify(a, q);
	a_wait_nonzero(a, used_idx_addr(&RINGS_A), false);
	g_reg(a, VIRTIO_MMIO_STATUS, 0);
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R0 */
	g_bring_up(a, q, &RINGS_B, 0);
	g_valid_request(a, c->kind, &RINGS_B, IN_FLIGHT, 0, 0);
	g_notify(a, q);
	a_sync(a, used_idx_addr(&RINGS_B));
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R1 */
	a_report(a, used_idx_addr(&RINGS_B), 2);			/* R2 */
	a_report(a, used_idx_addr(&RINGS_A), 2);			/* R3 */
}

static void check_reset_in_flight(struct hg *h, const struct hcase *c)
{
	CHECK_EQ(h->nr_reports, 4);
	if (h->nr_reports != 4)
		return;
	CHECK_EQ(h->reports[0], 0);
	CHECK_EQ(h->reports[1], ST_ALL_OK);
	CHECK_EQ(h->reports[2], 1);
	/* Any number of the old requests may have completed before the reset
	 * joined the worker; none after (the old used ring stays put). */
	CHECK(h->reports[3] >= 1 && h->reports[3] <= IN_FLIGHT);
	CHECK_EQ(*(uint16_t *)hg_ptr(h, used_idx_addr(&RINGS_A), 2), h->reports[3]);
	printf("  %s: %u of %u old requests completed before the reset\n", c->name,
	       h->reports[3], IN_FLIGHT);
	CHECK(!atomic_load(&h->dev.needs_reset));
	check_valid(h, c->kind, &RINGS_B, IN_FLIGHT, 0, 0);
}

static void test_reset_in_flight(void)
{
	static const struct hcase cases[] = {
		{ "blk", DEV_BLK, 0, guest_reset_in_flight, check_reset_in_flight },
		{ "rng", DEV_RNG, 0, guest_reset_in_flight, check_reset_in_flight },
		{ "fs", DEV_FS, 0, guest_reset_in_flight, check_reset_in_flight },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

/* Sized for the nested test host, where one ioeventfd hit of the inner
 * guest costs ~0.1 ms (100000 of them ran past RUN_BOUND_S there). */
#define STORM_FAST 20000u	/* ioeventfd hits: no exit to the VMM */
#define STORM_SLOW 1500u	/* trapped: other queue, byte width */

static void guest_storm_loops(struct asm16 *a, unsigned int q)
{
	size_t top = a_loop_begin(a, STORM_FAST);
	g_notify(a, q);
	a_loop_end(a, top);
	top = a_loop_begin(a, STORM_SLOW);
	g_notify(a, 7);
	a_mov8(a, WIN + VIRTIO_MMIO_QUEUE_NOTIFY, (uint8_t)q);
	a_loop_end(a, top);
}

/* 7. Notify storm on a served queue (variant 0) or a broken one (1). */
static void guest_storm(struct asm16 *a, const struct hcase *c)
{
	unsigned int q = dev_queue(c->kind);

	g_bring_up(a, q, &RINGS_A, 0);
	if (c->variant) {
		g_desc(a, (uint16_t)RINGS_A.desc, 0, REQ(0), 16, VRING_DESC_F_NEXT, 0);
		g_publish(a, &RINGS_A, 0, 0);
	} else {
		g_valid_request(a, c->kind, &RINGS_A, 0, 0, 0);
	}
	guest_storm_loops(a, q);
	a_sync(a, used_idx_addr(&RINGS_A));
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R0 */
	a_report(a, used_idx_addr(&RINGS_A), 2);			/* R1 */
}

static void check_storm(struct hg *h, const struct hcase *c)
{
	CHECK_EQ(h->nr_reports, 2);
	/* Only the trapped notifies and the reports left the kernel. */
	CHECK(h->user_exits < 2 * STORM_SLOW + 200);
	if (c->variant) {
		CHECK_EQ(h->reports[0], ST_BROKEN);
		CHECK_EQ(h->reports[1], 0);
		CHECK(atomic_load(&h->dev.needs_reset));
		return;
	}
	CHECK_EQ(h->reports[0], ST_ALL_OK);
	CHECK_EQ(h->reports[1], 1);
	CHECK(!atomic_load(&h->dev.needs_reset));
	check_valid(h, c->kind, &RINGS_A, 0, 0, 0);
}

static void test_notify_storm(void)
{
	static const struct hcase cases[] = {
		{ "rng", DEV_RNG, 0, guest_storm, check_storm },
		{ "blk", DEV_BLK, 0, guest_storm, check_storm },
		{ "fs", DEV_FS, 0, guest_storm, check_storm },
		{ "blk broken", DEV_BLK, 1, guest_storm, check_storm },
		{ "fs broken", DEV_FS, 1, guest_storm, check_storm },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

#define FLOOD_MARK 0x7000u

/*
 * 8. A flood the device cannot finish: every avail slot holds the same
 * chain, a 4-byte segment at FLOOD_MARK then QSIZE - 1 segments of all of
 * high RAM (~2 GiB a chain, ~64 GiB in all).  Once the worker is into it
 * (FLOOD_MARK got random bytes) the guest resets the device.  The reset, and
 * so the vCPU and teardown, must wait for at most the piece of work under
 * way, not for the guest's whole backlog.
 */
static void guest_flood_reset(struct asm16 *a, const struct hcase *c)
{
	uint16_t t = (uint16_t)RINGS_A.desc, w = VRING_DESC_F_WRITE | VRING_DESC_F_NEXT;

	g_bring_up(a, dev_queue(c->kind), &RINGS_A, 0);
	g_desc(a, t, 0, FLOOD_MARK, 4, w, 1);
	for (uint16_t i = 1; i < QSIZE; i++)
		g_desc(a, t, i, HIGH_RAM, HIGH_RAM_SIZE, i + 1 < QSIZE ? w : VRING_DESC_F_WRITE,
		       (uint16_t)(i + 1));
	/* Avail ring entries are all 0 already (fresh RAM): head 0 everywhere. */
	a_mov16(a, (uint16_t)(RINGS_A.avail + 2), QSIZE);
	g_notify(a, dev_queue(c->kind));
	a_wait_nonzero(a, FLOOD_MARK, true);
	g_reg(a, VIRTIO_MMIO_STATUS, 0);
	g_report_reg(a, VIRTIO_MMIO_STATUS);				/* R0 */
}

static void check_flood_reset(struct hg *h, const struct hcase *c)
{
	(void)c;
	CHECK_EQ(h->nr_reports, 1);
	CHECK_EQ(h->reports[0], 0);
	if (h->max_exit_s >= 2.0)
		fprintf(stderr, "  reset took %.1f s\n", h->max_exit_s);
	CHECK(h->max_exit_s < 2.0);
}

static void test_reset_stops_flood(void)
{
	static const struct hcase cases[] = {
		{ "rng", DEV_RNG, 0, guest_flood_reset, check_flood_reset },
	};
	run_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

int main(void)
{
	if (hv_install_kick_handler())
		return 1;
	RUN_TEST(test_rings_outside_ram);
	RUN_TEST(test_descriptor_loops);
	RUN_TEST(test_indirect_tables);
	RUN_TEST(test_huge_lengths);
	RUN_TEST(test_register_garbage);
	RUN_TEST(test_reset_in_flight);
	RUN_TEST(test_notify_storm);
	RUN_TEST(test_reset_stops_flood);
	TEST_MAIN_END();
}
