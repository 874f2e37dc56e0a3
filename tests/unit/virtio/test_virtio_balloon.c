// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-balloon through the fake driver.  Guest RAM for the reports is a
 * separate region with guard pages on both sides that are not guest memory:
 * reported ranges read back as zero and leave the process's RSS, nothing
 * outside a reported range (guards, the rest of RAM, the kernel image's
 * file mapping) changes, hostile ranges mark the device broken without
 * touching memory, and a reset in the middle of a long report returns.
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"
#include "vdrv.h"
#include "devices/virtio/balloon.h"
#include "util/log.h"

#define MIB (1ull << 20)
#define RAM_GPA 0x40000000ull
#define RAM_SIZE (64 * MIB)
#define KERN_GPA 0x80000000ull
#define KERN_SIZE (2 * MIB)
#define WIN_GPA 0xc0000000ull
#define WIN_SIZE MIB
#define PAGE 4096ull

#define ALL_FEATURES                                                                     \
	(1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_BALLOON_F_STATS_VQ |                 \
	 1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT | 1ull << VIRTIO_BALLOON_F_REPORTING)

enum { Q_INFLATE, Q_DEFLATE, Q_STATS, Q_HINT, Q_REPORT };

static struct vdrv d;
static uint8_t *guarded;	/* guard page, RAM_SIZE of RAM, guard page */
static uint8_t *ram;
static uint8_t *kern;
static int kern_fd = -1;
static uint8_t *win;	/* a shared file mapping, as a DAX window would be */
static int win_fd = -1;

static int scratch_file(uint8_t fill, size_t size)
{
	char path[] = "/tmp/krun-balloon-XXXXXX";
	int fd = mkstemp(path);
	static uint8_t block[KERN_SIZE];

	CHECK(fd >= 0 && size <= sizeof(block));
	unlink(path);
	memset(block, fill, size);
	CHECK_EQ(pwrite(fd, block, size, 0), (ssize_t)size);
	return fd;
}

static void add_regions(void)
{
	guarded = mmap(NULL, RAM_SIZE + 2 * PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	CHECK(guarded != MAP_FAILED);
	ram = guarded + PAGE;
	memset(guarded, 0xa5, PAGE);
	memset(ram + RAM_SIZE, 0xa5, PAGE);
	CHECK_EQ(gm_add_region(&d.gm, RAM_GPA, ram, RAM_SIZE, false), 0);
	/* As gm_alloc_region marks it; the test unmaps it with its guards. */
	d.gm.regions[d.gm.nr_regions - 1].ram = true;

	/* The kernel image: a private mapping of a file, as libkrunfw's is. */
	kern_fd = scratch_file(0x3c, KERN_SIZE);
	kern = mmap(NULL, KERN_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE, kern_fd, 0);
	CHECK(kern != MAP_FAILED);
	CHECK_EQ(gm_add_region(&d.gm, KERN_GPA, kern, KERN_SIZE, false), 0);
	win_fd = scratch_file(0x4b, WIN_SIZE);
	win = mmap(NULL, WIN_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, win_fd, 0);
	CHECK(win != MAP_FAILED);
	CHECK_EQ(gm_add_region(&d.gm, WIN_GPA, win, WIN_SIZE, false), 0);
}

static void remove_regions(void)
{
	munmap(guarded, RAM_SIZE + 2 * PAGE);
	munmap(kern, KERN_SIZE);
	close(kern_fd);
	munmap(win, WIN_SIZE);
	close(win_fd);
}

static unsigned int nr_queues(uint64_t features)
{
	return 2 + !!(features & 1ull << VIRTIO_BALLOON_F_STATS_VQ) +
	       !!(features & 1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT) +
	       !!(features & 1ull << VIRTIO_BALLOON_F_REPORTING);
}

/* (Re)negotiates and sets up the queues the features call for. */
static void drive(uint64_t features)
{
	memset(d.q, 0, sizeof(d.q));
	CHECK(vdrv_negotiate(&d, features));
	for (unsigned int q = 0; q < nr_queues(features); q++)
		vdrv_setup_queue(&d, q, 256);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(d.dev.activated);
	CHECK(!(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
}

static struct virtio_balloon *bring_up(uint64_t features)
{
	struct virtio_balloon *b = virtio_balloon_create();

	CHECK(b != NULL);
	CHECK_EQ(vdrv_init(&d, virtio_balloon_ops(), b), 0);
	add_regions();
	drive(features);
	return b;
}

static void tear_down(struct virtio_balloon *b)
{
	vdrv_fini(&d);
	virtio_balloon_destroy(b);
	remove_regions();
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static bool guards_intact(void)
{
	return all(guarded, PAGE, 0xa5) && all(ram + RAM_SIZE, PAGE, 0xa5);
}

static long resident_pages(void)
{
	long size = 0, res = -1;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &res) != 2)
			res = -1;
		fclose(f);
	}
	return res;
}

static size_t resident_in(const uint8_t *p, size_t len)
{
	static unsigned char vec[RAM_SIZE / PAGE];
	size_t n = len / PAGE, count = 0;

	CHECK(n <= sizeof(vec));
	CHECK_EQ(mincore((void *)p, len, vec), 0);
	for (size_t i = 0; i < n; i++)
		count += vec[i] & 1;
	return count;
}

/* Posts one chain and waits for it to be used; returns its used length
 * or -1 (not used within the timeout). */
static long post_wait(unsigned int q, const struct vdrv_buf *bufs, unsigned int n)
{
	uint16_t head = vdrv_post(&d, q, bufs, n);
	uint32_t id, len;

	vdrv_kick(&d, q);
	if (!vdrv_wait_used(&d, q, &id, &len))
		return -1;
	CHECK_EQ(id, head);
	return len;
}

/* Posts one chain that must stay with the device: still unused after a
 * while (the worker answers others within milliseconds). */
static void post_expect_kept(unsigned int q, const struct vdrv_buf *bufs, unsigned int n)
{
	uint32_t id, len;

	vdrv_post(&d, q, bufs, n);
	vdrv_kick(&d, q);
	vdrv_wait_irq(&d, 300);
	CHECK(!vdrv_get_used(&d, q, &id, &len));
}

/* Posts one chain, kicks and waits for the device to give up on it. */
static void post_expect_broken(unsigned int q, const struct vdrv_buf *bufs, unsigned int n)
{
	vdrv_post(&d, q, bufs, n);
	vdrv_kick(&d, q);
	CHECK(vdrv_wait_irq(&d, VDRV_TIMEOUT_MS));
	CHECK(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(vdrv_used(&d, q)->idx, 0);
}

static void test_identity_and_config(void)
{
	struct virtio_balloon *b = bring_up(ALL_FEATURES);

	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_DEVICE_ID), 5);
	CHECK_EQ(vdrv_device_features(&d), ALL_FEATURES);
	for (unsigned int q = 0; q < 5; q++) {
		vdrv_w(&d, VIRTIO_MMIO_QUEUE_SEL, q);
		CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	}
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_SEL, 5);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	/* num_pages 0: the host never asks for memory; hint command id STOP. */
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_CONFIG), 0);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_CONFIG + 8), 0);
	vdrv_w(&d, VIRTIO_MMIO_CONFIG + 4, 1234);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_CONFIG + 4), 1234);
	vdrv_w(&d, VIRTIO_MMIO_CONFIG, 99);	/* num_pages is the device's */
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_CONFIG), 0);
	/* Reset forgets actual. */
	drive(ALL_FEATURES);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_CONFIG + 4), 0);
	tear_down(b);
}

static void test_report_discards(void)
{
	struct virtio_balloon *b = bring_up(ALL_FEATURES);

	memset(ram, 0x5a, 16 * MIB);
	CHECK_EQ(resident_in(ram, 16 * MIB), 16 * MIB / PAGE);
	long before = resident_pages();
	/* Linux reports device-writable buffers; readable ones count too. */
	struct vdrv_buf bufs[3] = {
		{ RAM_GPA, 4 * MIB, true },
		{ RAM_GPA + 8 * MIB, 4 * MIB, true },
		{ RAM_GPA + 12 * MIB, 2 * MIB, true },
	};
	CHECK_EQ(post_wait(Q_REPORT, bufs, 3), 0);
	struct vdrv_buf rd = { RAM_GPA + 4 * MIB, 2 * MIB, false };
	CHECK_EQ(post_wait(Q_REPORT, &rd, 1), 0);
	long after = resident_pages();

	CHECK_EQ(resident_in(ram, 6 * MIB), 0);
	CHECK(all(ram, 6 * MIB, 0));
	CHECK(all(ram + 6 * MIB, 2 * MIB, 0x5a));
	CHECK_EQ(resident_in(ram + 8 * MIB, 6 * MIB), 0);
	CHECK(all(ram + 8 * MIB, 6 * MIB, 0));
	CHECK(all(ram + 14 * MIB, 2 * MIB, 0x5a));
	/* 12 MiB left; the zero checks above fault nothing back in (reads of
	 * discarded anonymous memory map the shared zero page). */
	CHECK(before - after >= (long)(11 * MIB / PAGE));
	CHECK_EQ(virtio_balloon_discarded(b), 12 * MIB);
	CHECK(guards_intact());
	CHECK(!(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	tear_down(b);
}

static void test_unaligned_ranges(void)
{
	struct virtio_balloon *b = bring_up(ALL_FEATURES);

	memset(ram, 0x77, MIB);
	/* Only the pages wholly inside a range go; a sub-page range is kept. */
	struct vdrv_buf bufs[3] = {
		{ RAM_GPA + 100, 3 * PAGE, true },
		{ RAM_GPA + 8 * PAGE + 1, PAGE, true },
		{ RAM_GPA + 16 * PAGE, 1, true },
	};
	CHECK_EQ(post_wait(Q_REPORT, bufs, 3), 0);
	CHECK(all(ram, PAGE, 0x77));
	CHECK(all(ram + PAGE, 2 * PAGE, 0));
	CHECK(all(ram + 3 * PAGE, MIB - 3 * PAGE, 0x77));
	CHECK_EQ(virtio_balloon_discarded(b), 2 * PAGE);
	CHECK(guards_intact());
	tear_down(b);
}

/* Memory that is not RAM is reported free by a guest (its kernel image's
 * init sections) or by a hostile one; neither it nor its file changes. */
static void test_non_ram_kept(void)
{
	struct virtio_balloon *b = bring_up(ALL_FEATURES);

	/* The guest's own writes to its image (copy-on-write) stay too. */
	memset(kern + MIB, 0x11, PAGE);
	struct vdrv_buf k = { KERN_GPA, KERN_SIZE, true };
	CHECK_EQ(post_wait(Q_REPORT, &k, 1), 0);
	CHECK(all(kern, MIB, 0x3c));
	CHECK(all(kern + MIB, PAGE, 0x11));
	CHECK(all(kern + MIB + PAGE, MIB - PAGE, 0x3c));
	CHECK_EQ(virtio_balloon_discarded(b), 0);
	uint8_t file[PAGE];
	CHECK_EQ(pread(kern_fd, file, PAGE, MIB), (ssize_t)PAGE);
	CHECK(all(file, PAGE, 0x3c));
	struct vdrv_buf w = { WIN_GPA, WIN_SIZE, true };
	CHECK_EQ(post_wait(Q_REPORT, &w, 1), 0);
	CHECK(all(win, WIN_SIZE, 0x4b));
	CHECK_EQ(pread(win_fd, file, PAGE, 0), (ssize_t)PAGE);
	CHECK(all(file, PAGE, 0x4b));
	CHECK(!(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	tear_down(b);
}

static void test_hostile_ranges(void)
{
	struct virtio_balloon *b = bring_up(ALL_FEATURES);
	const struct vdrv_buf bad[] = {
		{ RAM_GPA + RAM_SIZE - PAGE, 2 * PAGE, true },	/* runs past RAM */
		{ RAM_GPA - PAGE, 2 * PAGE, true },		/* starts before it */
		{ RAM_GPA + RAM_SIZE, PAGE, true },		/* just past it */
		{ 0xfffffffffffff000ull, 0x2000, true },	/* gpa + len wraps */
		{ RAM_GPA, 0xfffff000u, true },			/* 4 GiB from 64 MiB */
		{ KERN_GPA + KERN_SIZE - PAGE, 2 * PAGE, true },	/* past the image */
		{ 0x0, PAGE, true },				/* no memory there */
	};

	memset(ram, 0x42, RAM_SIZE);
	memset(kern, 0x43, KERN_SIZE);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* A good range first in the same chain: the chain is refused
		 * whole, so it is not discarded either. */
		struct vdrv_buf chain[2] = { { RAM_GPA + MIB, PAGE, true }, bad[i] };
		post_expect_broken(Q_REPORT, chain, 2);
		drive(ALL_FEATURES);
	}
	/* A readable range after a writable one: malformed too. */
	struct vdrv_buf mixed[2] = { { RAM_GPA, PAGE, true }, { RAM_GPA + PAGE, PAGE, false } };
	post_expect_broken(Q_REPORT, mixed, 2);
	drive(ALL_FEATURES);
	CHECK(all(ram, RAM_SIZE, 0x42));
	CHECK(all(kern, KERN_SIZE, 0x43));
	CHECK(guards_intact());
	CHECK_EQ(virtio_balloon_discarded(b), 0);
	/* The device works again after the reset. */
	struct vdrv_buf ok = { RAM_GPA, PAGE, true };
	CHECK_EQ(post_wait(Q_REPORT, &ok, 1), 0);
	CHECK(all(ram, PAGE, 0));
	tear_down(b);
}

static void test_other_queues(void)
{
	struct virtio_balloon *b = bring_up(ALL_FEATURES);
	uint64_t pfns = vdrv_alloc(&d, 256 * 4, 4);
	uint32_t *pfn = vdrv_ptr(&d, pfns);

	memset(ram, 0x66, MIB);
	for (unsigned int i = 0; i < 256; i++)
		pfn[i] = (uint32_t)(RAM_GPA / PAGE + i);
	/* Inflate and deflate: acknowledged, pages left as they are. */
	struct vdrv_buf arr = { pfns, 256 * 4, false };
	CHECK_EQ(post_wait(Q_INFLATE, &arr, 1), 0);
	CHECK_EQ(post_wait(Q_DEFLATE, &arr, 1), 0);
	/* Free page hints: a command id, then hinted pages, acknowledged. */
	uint64_t id = vdrv_alloc(&d, 4, 4);
	struct vdrv_buf hint[2] = { { id, 4, false }, { RAM_GPA, MIB, true } };
	CHECK_EQ(post_wait(Q_HINT, hint, 1), 0);
	CHECK_EQ(post_wait(Q_HINT, hint + 1, 1), 0);
	CHECK(all(ram, MIB, 0x66));
	/* The stats buffer stays with the device: it never asks for stats. */
	uint64_t st = vdrv_alloc(&d, 160, 8);
	struct vdrv_buf stats = { st, 160, false };
	post_expect_kept(Q_STATS, &stats, 1);
	CHECK_EQ(vdrv_used(&d, Q_STATS)->idx, 0);
	CHECK_EQ(virtio_balloon_discarded(b), 0);
	CHECK(!(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	tear_down(b);
}

/* Without STATS_VQ and FREE_PAGE_HINT the reporting queue is queue 2. */
static void test_queue_numbering(void)
{
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_BALLOON_F_REPORTING;
	struct virtio_balloon *b = bring_up(f);

	memset(ram, 0x99, 2 * PAGE);
	struct vdrv_buf r = { RAM_GPA, PAGE, true };
	CHECK_EQ(post_wait(2, &r, 1), 0);
	CHECK(all(ram, PAGE, 0));
	CHECK(all(ram + PAGE, PAGE, 0x99));
	/* Without REPORTING nothing is ever discarded. */
	drive(1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_BALLOON_F_STATS_VQ);
	memset(ram, 0x98, PAGE);
	struct vdrv_buf s = { RAM_GPA, PAGE, true };
	post_expect_kept(2, &s, 1);
	CHECK(all(ram, PAGE, 0x98));
	tear_down(b);
}

/* A guest can fill the queue with chains of gigabytes; reset must not
 * wait for the device to get through them, and must leave it usable. */
static void test_reset_mid_report(void)
{
	struct virtio_balloon *b = bring_up(ALL_FEATURES);

	memset(ram + RAM_SIZE - MIB, 0x21, MIB);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 32; i++) {
			struct vdrv_buf big[8];
			for (int j = 0; j < 8; j++)
				big[j] = (struct vdrv_buf){ RAM_GPA, (uint32_t)(RAM_SIZE - MIB), true };
			vdrv_post(&d, Q_REPORT, big, 8);
		}
		vdrv_kick(&d, Q_REPORT);
		int64_t t0 = vdrv_now_ms();
		drive(ALL_FEATURES);	/* resets first: joins the worker */
		CHECK(vdrv_now_ms() - t0 < VDRV_TIMEOUT_MS);
	}
	CHECK(all(ram + RAM_SIZE - MIB, MIB, 0x21));
	CHECK(guards_intact());
	memset(ram, 0x22, PAGE);
	struct vdrv_buf ok = { RAM_GPA, PAGE, true };
	CHECK_EQ(post_wait(Q_REPORT, &ok, 1), 0);
	CHECK(all(ram, PAGE, 0));
	tear_down(b);
}

static void test_destroy_without_start(void)
{
	virtio_balloon_destroy(virtio_balloon_create());
	virtio_balloon_destroy(NULL);
}

int main(void)
{
	krun_log_configure(2, LOG_LVL_ERROR);
	RUN_TEST(test_identity_and_config);
	RUN_TEST(test_report_discards);
	RUN_TEST(test_unaligned_ranges);
	RUN_TEST(test_non_ram_kept);
	RUN_TEST(test_hostile_ranges);
	RUN_TEST(test_other_queues);
	RUN_TEST(test_queue_numbering);
	RUN_TEST(test_reset_mid_report);
	RUN_TEST(test_destroy_without_start);
	TEST_MAIN_END();
}
