// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: virtio-balloon driven by a guest whose chains (on any
 * of its queues, ranges anywhere: inside RAM, across its ends, in the
 * rings, in memory that is not RAM, outside guest memory, wrapping) the
 * input controls, with free page reporting discarding for real.
 *
 * Guest memory: the rings' region (4 MiB, RAM), RAM (1 MiB) between two
 * guard pages that are not guest memory, and 64 KiB that is guest memory
 * but not RAM (as the kernel image is).  Each input refills RAM, the guards
 * and the non-RAM region with a pattern, brings the device up with the
 * features it picks, posts its chains, kicks, waits (bounded) until every
 * served chain is used or the device asks for a reset (or resets at once),
 * then resets it, joining the worker.  Input (missing bytes read as 0):
 *   byte 0     bit 0: STATS_VQ, bit 1: FREE_PAGE_HINT, bit 2: REPORTING,
 *              bit 3: reset without waiting, bit 4: kick after each chain
 *   byte 1     chains (bits 0-5)
 *   chains     each: u8 queue (mod the queues that exist), u8 descriptors
 *              (1 + bits 0-2), then per descriptor: u8 where, u32 offset,
 *              u32 length, u8 flags (bit 0: device-writable, bit 1: raw
 *              flags and next from two more bytes)
 *   where      0-1: RAM + offset % size, 2: RAM end - offset % 64 KiB,
 *              3: RAM start - offset % 64 KiB, 4: the rings' region,
 *              5: the non-RAM region, 6: UINT64_MAX - offset, 7: offset << 32
 *              (length: 0x80000000 bit set: as is, else % 2 MiB)
 * Checks (__builtin_trap): the guards and the non-RAM region keep their
 * pattern; a RAM byte is its pattern or, only if some descriptor posted
 * on the reporting queue covers it, zero; while the rings were not in a
 * reported range: the used ring never runs ahead of the avail ring, every
 * used length is 0, nothing on the stats queue is used, and without raw
 * descriptors every served chain is used unless the device broke.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../tests/unit/virtio/vdrv.h"
#include "devices/virtio/balloon.h"
#include "fuzz_input.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QSZ 256
#define PAGE 4096ull
#define RING_SIZE VDRV_MEM
#define RAM_GPA 0x40000000ull
#define RAM_SIZE (1u << 20)
#define NONRAM_GPA 0x80000000ull
#define NONRAM_SIZE (64u << 10)
#define WAIT_MS 2000
#define MAX_DESCS 512

enum { Q_INFLATE, Q_DEFLATE, Q_STATS, Q_HINT, Q_REPORT, NR_ROLES };

struct range {
	uint64_t gpa;
	uint32_t len;
};

struct fuzz_state {
	uint8_t *guarded;	/* guard, RAM, guard */
	uint8_t *ram;
	uint8_t *nonram;
	uint8_t pattern[RAM_SIZE];
	uint8_t covered[RAM_SIZE];
};

struct run {
	struct vdrv d;
	int queue[NR_ROLES];	/* index of each role, -1 if absent */
	unsigned int nq;
	struct range reported[MAX_DESCS];
	unsigned int nreported;
	bool raw, rings_reported;
};

static struct fuzz_state *state;

static void cleanup(void)
{
	munmap(state->guarded, RAM_SIZE + 2 * PAGE);
	munmap(state->nonram, NONRAM_SIZE);
}

static struct fuzz_state *setup(void)
{
	static struct fuzz_state s;

	krun_log_configure(2, LOG_LVL_OFF);
	s.guarded = mmap(NULL, RAM_SIZE + 2 * PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	s.nonram = mmap(NULL, NONRAM_SIZE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	require(s.guarded != MAP_FAILED && s.nonram != MAP_FAILED);
	s.ram = s.guarded + PAGE;
	for (size_t i = 0; i < RAM_SIZE; i++)
		s.pattern[i] = (uint8_t)(i * 7 + (i >> 12) + 1) | 1;	/* never 0 */
	state = &s;
	atexit(cleanup);
	return &s;
}

/* memcmp by pages: a byte loop here would cost more than the device. */
static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	static uint8_t page[PAGE];

	memset(page, v, sizeof(page));
	for (size_t off = 0; off < n; off += PAGE) {
		size_t len = n - off < PAGE ? n - off : PAGE;
		if (memcmp(p + off, page, len))
			return false;
	}
	return true;
}

static void assign_queues(struct run *t, uint8_t f)
{
	const bool present[NR_ROLES] = { true, true, f & 1, f & 2, f & 4 };

	t->nq = 0;
	for (int r = 0; r < NR_ROLES; r++)
		t->queue[r] = present[r] ? (int)t->nq++ : -1;
}

static uint64_t place(uint8_t where, uint32_t off)
{
	switch (where & 7) {
	case 0:
	case 1:
		return RAM_GPA + off % RAM_SIZE;
	case 2:
		return RAM_GPA + RAM_SIZE - off % (64u << 10);
	case 3:
		return RAM_GPA - off % (64u << 10);
	case 4:
		return VDRV_GPA + off % RING_SIZE;
	case 5:
		return NONRAM_GPA + off % NONRAM_SIZE;
	case 6:
		return UINT64_MAX - off;
	default:
		return (uint64_t)off << 32;
	}
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen && a + alen > a;
}

static void note_report(struct run *t, uint64_t gpa, uint32_t len)
{
	require(t->nreported < MAX_DESCS);	/* 63 chains of at most 8 */
	t->reported[t->nreported++] = (struct range){ gpa, len };
	/* A range wrapping past UINT64_MAX covers nothing the device may use. */
	if (gpa + len >= gpa && overlaps(gpa, len, VDRV_GPA, RING_SIZE))
		t->rings_reported = true;
}

static void chain(struct run *t, struct reader *r, bool kick_each)
{
	unsigned int q = get8(r) % t->nq;
	unsigned int n = 1 + (get8(r) & 7);
	struct vdrv_queue *vq = &t->d.q[q];
	uint16_t head = vq->next_desc % QSZ;

	if ((uint16_t)(vq->avail_idx - vdrv_used(&t->d, q)->idx) + 1u > QSZ / 8)
		return;	/* keep within the descriptors the ring has free */
	for (unsigned int i = 0; i < n; i++) {
		uint8_t where = get8(r);
		uint32_t off = get32(r), len = get32(r);
		uint8_t fl = get8(r);
		uint16_t idx = (uint16_t)((head + i) % QSZ);
		uint16_t flags = (fl & 1 ? VRING_DESC_F_WRITE : 0) | (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		uint16_t next = (uint16_t)((idx + 1) % QSZ);
		if (fl & 2) {
			flags = get8(r);
			next = get8(r);
			t->raw = true;
		}
		if (!(len & 0x80000000u))
			len %= 2u << 20;
		uint64_t gpa = place(where, off);
		*vdrv_desc(&t->d, q, idx) = (struct vring_desc){ gpa, len, flags, next };
		if ((int)q == t->queue[Q_REPORT])
			note_report(t, gpa, len);
	}
	/* Raw next indices reach other slots of the table, but every one
	 * holds a descriptor noted when it was written (or zeros). */
	vq->next_desc = (uint16_t)(vq->next_desc + n);
	vdrv_publish(&t->d, q, head);
	if (kick_each)
		vdrv_kick(&t->d, q);
}

static bool served_done(struct run *t)
{
	static const int served[] = { Q_INFLATE, Q_DEFLATE, Q_HINT, Q_REPORT };

	for (size_t i = 0; i < sizeof(served) / sizeof(served[0]); i++) {
		int q = t->queue[served[i]];
		if (q < 0)
			continue;
		uint16_t used = __atomic_load_n(&vdrv_used(&t->d, (unsigned int)q)->idx,
						__ATOMIC_ACQUIRE);
		if (used != t->d.q[q].avail_idx)
			return false;
	}
	return true;
}

static void wait_served(struct run *t)
{
	int64_t end = vdrv_now_ms() + WAIT_MS;

	while (!served_done(t) && !atomic_load(&t->d.dev.needs_reset) && !t->rings_reported) {
		if (vdrv_now_ms() >= end)
			return;
		vdrv_wait_irq(&t->d, 1);
	}
}

static void check_memory(struct fuzz_state *s, struct run *t)
{
	check(all(s->guarded, PAGE, 0xa5));
	check(all(s->ram + RAM_SIZE, PAGE, 0xa5));
	check(all(s->nonram, NONRAM_SIZE, 0x5c));
	memset(s->covered, 0, RAM_SIZE);
	for (unsigned int i = 0; i < t->nreported; i++) {
		uint64_t a = t->reported[i].gpa, e = a + t->reported[i].len;
		if (e < a)
			continue;
		if (a < RAM_GPA)
			a = RAM_GPA;
		if (e > RAM_GPA + RAM_SIZE)
			e = RAM_GPA + RAM_SIZE;
		if (a < e)
			memset(s->covered + (a - RAM_GPA), 1, e - a);
	}
	for (size_t off = 0; off < RAM_SIZE; off += PAGE) {
		if (!memcmp(s->ram + off, s->pattern + off, PAGE))
			continue;
		if (all(s->ram + off, PAGE, 0) && !memchr(s->covered + off, 0, PAGE))
			continue;	/* a discarded page, wholly reported */
		for (size_t i = off; i < off + PAGE; i++)
			check(s->ram[i] == s->pattern[i] || (s->covered[i] && !s->ram[i]));
	}
}

static void check_used(struct run *t)
{
	if (t->rings_reported)
		return;
	for (unsigned int q = 0; q < t->nq; q++) {
		struct vring_used *u = vdrv_used(&t->d, q);
		uint16_t n = u->idx;
		check(n <= t->d.q[q].avail_idx);
		for (uint16_t i = 0; i < n; i++)
			check(u->ring[i % QSZ].len == 0);
		if ((int)q == t->queue[Q_STATS])
			check(n == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state *s = state ? state : setup();
	struct reader r = { data, size };
	static struct run t;

	if (size < 2)
		return 0;
	memset(&t, 0, sizeof(t));
	uint8_t b0 = get8(&r), b1 = get8(&r);
	memcpy(s->ram, s->pattern, RAM_SIZE);
	memset(s->guarded, 0xa5, PAGE);
	memset(s->ram + RAM_SIZE, 0xa5, PAGE);
	memset(s->nonram, 0x5c, NONRAM_SIZE);

	struct virtio_balloon *b = virtio_balloon_create();
	require(b != NULL);
	require(vdrv_init(&t.d, virtio_balloon_ops(), b) == 0);
	require(gm_add_region(&t.d.gm, RAM_GPA, s->ram, RAM_SIZE, false) == 0);
	t.d.gm.regions[t.d.gm.nr_regions - 1].ram = true;
	require(gm_add_region(&t.d.gm, NONRAM_GPA, s->nonram, NONRAM_SIZE, false) == 0);
	assign_queues(&t, b0);
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 |
		     (b0 & 1 ? 1ull << VIRTIO_BALLOON_F_STATS_VQ : 0) |
		     (b0 & 2 ? 1ull << VIRTIO_BALLOON_F_FREE_PAGE_HINT : 0) |
		     (b0 & 4 ? 1ull << VIRTIO_BALLOON_F_REPORTING : 0);
	require(vdrv_negotiate(&t.d, f));
	for (unsigned int q = 0; q < t.nq; q++)
		vdrv_setup_queue(&t.d, q, QSZ);
	vdrv_status_add(&t.d, VIRTIO_CONFIG_S_DRIVER_OK);
	require(t.d.dev.activated);

	unsigned int n = b1 & 63;
	for (unsigned int i = 0; i < n && r.left; i++)
		chain(&t, &r, b0 & 16);
	for (unsigned int q = 0; q < t.nq; q++)
		vdrv_kick(&t.d, q);
	if (!(b0 & 8)) {
		wait_served(&t);
		if (!t.raw && !t.rings_reported && !atomic_load(&t.d.dev.needs_reset))
			check(served_done(&t));
	}
	/* Reset: the worker is joined, nothing touches guest memory now. */
	vdrv_w(&t.d, VIRTIO_MMIO_STATUS, 0);
	check_used(&t);
	check_memory(s, &t);
	vdrv_fini(&t.d);
	virtio_balloon_destroy(b);
	return 0;
}
