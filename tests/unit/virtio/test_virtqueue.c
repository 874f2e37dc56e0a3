// SPDX-License-Identifier: Apache-2.0
/* Split virtqueue: valid chains, every malformed-chain rule, EVENT_IDX. */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "test.h"
#include "vdrv.h"
#include "devices/virtio/virtqueue.h"
#include "util/log.h"

#define QSIZE 8
#define Q 0

struct vqt {
	struct vdrv d;		/* only memory and ring layout are used */
	struct virtqueue vq;
	uint64_t buf;
};

static void vqt_init(struct vqt *t, bool event_idx)
{
	memset(t, 0, sizeof(*t));
	CHECK_EQ(gm_alloc_region(&t->d.gm, VDRV_GPA, VDRV_MEM), 0);
	t->d.brk = VDRV_GPA + 0x1000;
	struct vdrv_queue *q = &t->d.q[Q];
	q->size = QSIZE;
	q->desc = vdrv_alloc(&t->d, 16 * QSIZE, 16);
	q->avail = vdrv_alloc(&t->d, 6 + 2 * QSIZE, 2);
	q->used = vdrv_alloc(&t->d, 6 + 8 * QSIZE, 4);
	t->buf = vdrv_alloc(&t->d, 0x10000, 4096);
	t->vq.size = QSIZE;
	t->vq.desc_gpa = q->desc;
	t->vq.avail_gpa = q->avail;
	t->vq.used_gpa = q->used;
	CHECK_EQ(vq_activate(&t->vq, &t->d.gm, 256, event_idx), 0);
}

static void vqt_fini(struct vqt *t)
{
	gm_destroy(&t->d.gm);
}

static void set_desc(struct vqt *t, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct vring_desc *d = vdrv_desc(&t->d, Q, i);

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static struct vq_chain chain;

/* Publishes head, pops, and checks the queue ends up broken. */
static void expect_broken(struct vqt *t, uint16_t head)
{
	vdrv_publish(&t->d, Q, head);
	CHECK_EQ(vq_pop(&t->vq, &chain), -EIO);
	CHECK(t->vq.broken);
	/* Stays broken; nothing is consumed or pushed. */
	CHECK_EQ(vq_pop(&t->vq, &chain), -EIO);
	vq_push(&t->vq, 0, 0);
	CHECK_EQ(vdrv_used(&t->d, Q)->idx, 0);
}

static void test_activate_checks(void)
{
	struct vqt t;

	vqt_init(&t, false);
	struct virtqueue v = t.vq;
	v.size = 6;
	CHECK_EQ(vq_activate(&v, &t.d.gm, 256, false), -EINVAL);
	v.size = 0;
	CHECK_EQ(vq_activate(&v, &t.d.gm, 256, false), -EINVAL);
	v.size = 512;
	CHECK_EQ(vq_activate(&v, &t.d.gm, 256, false), -EINVAL);
	v = t.vq;
	v.desc_gpa += 8;
	CHECK_EQ(vq_activate(&v, &t.d.gm, 256, false), -EINVAL);
	v = t.vq;
	v.avail_gpa += 1;
	CHECK_EQ(vq_activate(&v, &t.d.gm, 256, false), -EINVAL);
	v = t.vq;
	v.used_gpa += 2;
	CHECK_EQ(vq_activate(&v, &t.d.gm, 256, false), -EINVAL);
	v = t.vq;
	/* used ring incl. avail_event must fit: 6 + 8*8 = 70 bytes. */
	v.used_gpa = VDRV_GPA + VDRV_MEM - 68;
	CHECK_EQ(vq_activate(&v, &t.d.gm, 256, false), -EINVAL);
	v.used_gpa = VDRV_GPA + VDRV_MEM - 72;
	CHECK_EQ(vq_activate(&v, &t.d.gm, 256, false), 0);
	v = t.vq;
	v.desc_gpa = 0;
	CHECK_EQ(vq_activate(&v, &t.d.gm, 256, false), -EINVAL);
	v = t.vq;
	v.avail_gpa = 0xfffffffffffffff0ull;
	CHECK_EQ(vq_activate(&v, &t.d.gm, 256, false), -EINVAL);
	vqt_fini(&t);
}

static void test_valid_chain_and_copy(void)
{
	struct vqt t;

	vqt_init(&t, false);
	CHECK_EQ(vq_pop(&t.vq, &chain), 0);
	memcpy(vdrv_ptr(&t.d, t.buf), "hello ", 6);
	memcpy(vdrv_ptr(&t.d, t.buf + 0x100), "world", 5);
	set_desc(&t, 3, t.buf, 6, VRING_DESC_F_NEXT, 5);
	set_desc(&t, 5, t.buf + 0x100, 5, VRING_DESC_F_NEXT, 1);
	set_desc(&t, 1, t.buf + 0x200, 0, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 0);
	set_desc(&t, 0, t.buf + 0x300, 4, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 7);
	set_desc(&t, 7, t.buf + 0x400, 4, VRING_DESC_F_WRITE, 0);
	vdrv_publish(&t.d, Q, 3);
	CHECK_EQ(vq_pop(&t.vq, &chain), 1);
	CHECK_EQ(chain.head, 3);
	CHECK_EQ(chain.nr_readable, 2);
	CHECK_EQ(chain.nr_writable, 2);	/* the zero-length one is skipped */
	CHECK_EQ(chain.readable_len, 11);
	CHECK_EQ(chain.writable_len, 8);

	char buf[16] = { 0 };
	CHECK_EQ(vq_chain_read(&chain, 0, buf, sizeof(buf)), 11);
	CHECK(memcmp(buf, "hello world", 11) == 0);
	CHECK_EQ(vq_chain_read(&chain, 4, buf, 4), 4);
	CHECK(memcmp(buf, "o wo", 4) == 0);
	CHECK_EQ(vq_chain_write(&chain, 2, "ABCDEFGHIJ", 10), 6);
	CHECK(memcmp(vdrv_ptr(&t.d, t.buf + 0x302), "AB", 2) == 0);
	CHECK(memcmp(vdrv_ptr(&t.d, t.buf + 0x400), "CDEF", 4) == 0);

	vq_push(&t.vq, chain.head, 6);
	struct vring_used *u = vdrv_used(&t.d, Q);
	CHECK_EQ(u->idx, 1);
	CHECK_EQ(u->ring[0].id, 3);
	CHECK_EQ(u->ring[0].len, 6);
	CHECK_EQ(vq_pop(&t.vq, &chain), 0);
	CHECK(!t.vq.broken);
	vqt_fini(&t);
}

static void test_loop(void)
{
	struct vqt t;

	vqt_init(&t, false);
	set_desc(&t, 0, t.buf, 1, VRING_DESC_F_NEXT, 1);
	set_desc(&t, 1, t.buf, 1, VRING_DESC_F_NEXT, 0);
	expect_broken(&t, 0);
	vqt_fini(&t);

	/* A chain longer than the table must loop too (self-reference). */
	vqt_init(&t, false);
	set_desc(&t, 2, t.buf, 1, VRING_DESC_F_NEXT, 2);
	expect_broken(&t, 2);
	vqt_fini(&t);
}

static void test_index_out_of_range(void)
{
	struct vqt t;

	vqt_init(&t, false);
	set_desc(&t, 0, t.buf, 1, VRING_DESC_F_NEXT, QSIZE);
	expect_broken(&t, 0);
	vqt_fini(&t);

	vqt_init(&t, false);
	expect_broken(&t, QSIZE + 1);	/* head itself */
	vqt_fini(&t);
}

static void test_address_outside_memory(void)
{
	struct vqt t;

	vqt_init(&t, false);
	set_desc(&t, 0, 0x1000, 16, 0, 0);
	expect_broken(&t, 0);
	vqt_fini(&t);

	vqt_init(&t, false);
	set_desc(&t, 0, VDRV_GPA + VDRV_MEM - 8, 16, 0, 0);	/* straddles the end */
	expect_broken(&t, 0);
	vqt_fini(&t);

	vqt_init(&t, false);
	set_desc(&t, 0, 0xfffffffffffffff0ull, 0x20, VRING_DESC_F_WRITE, 0);	/* wraps */
	expect_broken(&t, 0);
	vqt_fini(&t);
}

static void test_length_overflow(void)
{
	/* Two 3 GiB buffers, both inside memory: the sum wraps 32 bits. */
	struct vqt t;
	const uint64_t big = 0xc0000000ull;

	vqt_init(&t, false);
	if (gm_alloc_region(&t.d.gm, 0x100000000ull, big) != 0) {
		printf("  (skipped: cannot reserve 3 GiB)\n");
		vqt_fini(&t);
		return;
	}
	set_desc(&t, 0, 0x100000000ull, (uint32_t)big, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(&t, 1, 0x100000000ull, (uint32_t)big, VRING_DESC_F_WRITE, 0);
	expect_broken(&t, 0);
	vqt_fini(&t);
}

static void test_readable_after_writable(void)
{
	struct vqt t;

	vqt_init(&t, false);
	set_desc(&t, 0, t.buf, 4, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(&t, 1, t.buf, 4, 0, 0);
	expect_broken(&t, 0);
	vqt_fini(&t);
}

static void test_avail_idx_jump(void)
{
	struct vqt t;

	vqt_init(&t, false);
	set_desc(&t, 0, t.buf, 4, 0, 0);
	__atomic_store_n(&vdrv_avail(&t.d, Q)->idx, QSIZE + 1, __ATOMIC_RELEASE);
	CHECK_EQ(vq_pop(&t.vq, &chain), -EIO);
	CHECK(t.vq.broken);
	vqt_fini(&t);

	/* Exactly size pending is legal. */
	vqt_init(&t, false);
	for (uint16_t i = 0; i < QSIZE; i++) {
		set_desc(&t, i, t.buf, 4, 0, 0);
		vdrv_publish(&t.d, Q, i);
	}
	for (int i = 0; i < QSIZE; i++)
		CHECK_EQ(vq_pop(&t.vq, &chain), 1);
	CHECK_EQ(vq_pop(&t.vq, &chain), 0);
	vqt_fini(&t);
}

static uint64_t make_table(struct vqt *t, unsigned int n)
{
	return vdrv_alloc(&t->d, 16ull * n, 16);
}

static void set_ind(struct vqt *t, uint64_t table, uint16_t i, uint64_t addr, uint32_t len,
		    uint16_t flags, uint16_t next)
{
	struct vring_desc *d = (struct vring_desc *)vdrv_ptr(&t->d, table) + i;

	d->addr = addr;
	d->len = len;
	d->flags = flags;
	d->next = next;
}

static void test_indirect_valid(void)
{
	struct vqt t;

	vqt_init(&t, false);
	uint64_t tab = make_table(&t, 3);
	set_ind(&t, tab, 0, t.buf, 10, VRING_DESC_F_NEXT, 2);
	set_ind(&t, tab, 2, t.buf + 0x10, 20, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_ind(&t, tab, 1, t.buf + 0x40, 30, VRING_DESC_F_WRITE, 0);
	/* The WRITE flag on the indirect descriptor itself is ignored. */
	set_desc(&t, 4, tab, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	vdrv_publish(&t.d, Q, 4);
	CHECK_EQ(vq_pop(&t.vq, &chain), 1);
	CHECK_EQ(chain.head, 4);
	CHECK_EQ(chain.nr_readable, 1);
	CHECK_EQ(chain.nr_writable, 2);
	CHECK_EQ(chain.readable_len, 10);
	CHECK_EQ(chain.writable_len, 50);
	vqt_fini(&t);
}

static void indirect_case(void (*setup)(struct vqt *t, uint64_t tab))
{
	struct vqt t;

	vqt_init(&t, false);
	uint64_t tab = make_table(&t, 4);
	for (uint16_t i = 0; i < 4; i++)
		set_ind(&t, tab, i, t.buf, 8, 0, 0);
	setup(&t, tab);
	expect_broken(&t, 0);
	vqt_fini(&t);
}

static void ind_with_next(struct vqt *t, uint64_t tab)
{
	set_desc(t, 0, tab, 64, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, t->buf, 8, 0, 0);
}

static void ind_bad_len(struct vqt *t, uint64_t tab)
{
	set_desc(t, 0, tab, 40, VRING_DESC_F_INDIRECT, 0);
}

static void ind_zero_len(struct vqt *t, uint64_t tab)
{
	set_desc(t, 0, tab, 0, VRING_DESC_F_INDIRECT, 0);
}

static void ind_huge(struct vqt *t, uint64_t tab)
{
	set_desc(t, 0, tab, 16 * (VQ_MAX_SEGS + 1), VRING_DESC_F_INDIRECT, 0);
}

static void ind_nested(struct vqt *t, uint64_t tab)
{
	set_ind(t, tab, 0, tab, 64, VRING_DESC_F_INDIRECT, 0);
	set_desc(t, 0, tab, 64, VRING_DESC_F_INDIRECT, 0);
}

static void ind_outside(struct vqt *t, uint64_t tab)
{
	set_desc(t, 0, VDRV_GPA + VDRV_MEM - 32, 64, VRING_DESC_F_INDIRECT, 0);
}

static void ind_loop(struct vqt *t, uint64_t tab)
{
	set_ind(t, tab, 0, t->buf, 8, VRING_DESC_F_NEXT, 1);
	set_ind(t, tab, 1, t->buf, 8, VRING_DESC_F_NEXT, 0);
	set_desc(t, 0, tab, 64, VRING_DESC_F_INDIRECT, 0);
}

static void ind_next_out_of_table(struct vqt *t, uint64_t tab)
{
	set_ind(t, tab, 0, t->buf, 8, VRING_DESC_F_NEXT, 4);
	set_desc(t, 0, tab, 64, VRING_DESC_F_INDIRECT, 0);
}

static void ind_entry_outside(struct vqt *t, uint64_t tab)
{
	set_ind(t, tab, 0, 0x10, 8, 0, 0);
	set_desc(t, 0, tab, 64, VRING_DESC_F_INDIRECT, 0);
}

static void ind_mid_chain(struct vqt *t, uint64_t tab)
{
	set_desc(t, 0, t->buf, 8, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, tab, 64, VRING_DESC_F_INDIRECT, 0);
}

static void ind_misaligned(struct vqt *t, uint64_t tab)
{
	set_desc(t, 0, tab + 8, 48, VRING_DESC_F_INDIRECT, 0);
}

static void test_indirect_abuse(void)
{
	indirect_case(ind_with_next);
	indirect_case(ind_bad_len);
	indirect_case(ind_zero_len);
	indirect_case(ind_huge);
	indirect_case(ind_nested);
	indirect_case(ind_outside);
	indirect_case(ind_loop);
	indirect_case(ind_next_out_of_table);
	indirect_case(ind_entry_outside);
	indirect_case(ind_mid_chain);
	indirect_case(ind_misaligned);
}

static void test_too_many_segments(void)
{
	struct vqt t;

	vqt_init(&t, false);
	unsigned int n = VQ_MAX_SEGS;
	uint64_t tab = make_table(&t, n);
	for (uint16_t i = 0; i < n; i++)
		set_ind(&t, tab, i, t.buf, 1, i + 1u < n ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	set_desc(&t, 0, tab, 16 * n, VRING_DESC_F_INDIRECT, 0);
	vdrv_publish(&t.d, Q, 0);
	CHECK_EQ(vq_pop(&t.vq, &chain), 1);	/* exactly the limit is fine */
	CHECK_EQ(chain.nr_readable, VQ_MAX_SEGS);
	vqt_fini(&t);
}

static void test_event_idx(void)
{
	struct vqt t;

	vqt_init(&t, true);
	uint16_t *used_event = &vdrv_avail(&t.d, Q)->ring[QSIZE];
	uint16_t *avail_event = (uint16_t *)&vdrv_used(&t.d, Q)->ring[QSIZE];

	vq_push(&t.vq, 0, 0);
	CHECK(vq_needs_interrupt(&t.vq));	/* first one always */
	*used_event = 5;
	vq_push(&t.vq, 0, 0);
	vq_push(&t.vq, 0, 0);
	CHECK(!vq_needs_interrupt(&t.vq));	/* used 1 -> 3, event at 5 */
	vq_push(&t.vq, 0, 0);
	vq_push(&t.vq, 0, 0);
	vq_push(&t.vq, 0, 0);
	CHECK(vq_needs_interrupt(&t.vq));	/* crossed 5 */
	CHECK(!vq_needs_interrupt(&t.vq));	/* nothing new */

	/* enable_notify publishes avail_event and re-checks avail->idx. */
	CHECK(!vq_enable_notify(&t.vq));
	CHECK_EQ(*avail_event, 0);
	set_desc(&t, 0, t.buf, 4, 0, 0);
	vdrv_publish(&t.d, Q, 0);
	CHECK(vq_enable_notify(&t.vq));
	CHECK_EQ(vq_pop(&t.vq, &chain), 1);
	CHECK(!vq_enable_notify(&t.vq));
	CHECK_EQ(*avail_event, 1);
	/* The driver's rule: kick only if the new index passes avail_event. */
	CHECK(vring_need_event(*avail_event, 2, 1));
	CHECK(!vring_need_event(*avail_event, 1, 0));
	vqt_fini(&t);
}

static void test_no_event_idx_flags(void)
{
	struct vqt t;

	vqt_init(&t, false);
	vq_push(&t.vq, 0, 0);
	CHECK(vq_needs_interrupt(&t.vq));
	vdrv_avail(&t.d, Q)->flags = VRING_AVAIL_F_NO_INTERRUPT;
	vq_push(&t.vq, 0, 0);
	CHECK(!vq_needs_interrupt(&t.vq));

	vq_disable_notify(&t.vq);
	CHECK_EQ(vdrv_used(&t.d, Q)->flags, VRING_USED_F_NO_NOTIFY);
	CHECK(!vq_enable_notify(&t.vq));
	CHECK_EQ(vdrv_used(&t.d, Q)->flags, 0);
	vqt_fini(&t);
}

static void test_reset(void)
{
	struct vqt t;

	vqt_init(&t, false);
	vq_reset(&t.vq);
	CHECK_EQ(vq_pop(&t.vq, &chain), 0);
	vq_push(&t.vq, 0, 0);	/* no-op, no crash */
	CHECK(!vq_needs_interrupt(&t.vq));
	vqt_fini(&t);
}

int main(void)
{
	/* Each broken-queue case logs its reason once: keep them in the test log. */
	krun_log_configure(2, LOG_LVL_WARN);
	RUN_TEST(test_activate_checks);
	RUN_TEST(test_valid_chain_and_copy);
	RUN_TEST(test_loop);
	RUN_TEST(test_index_out_of_range);
	RUN_TEST(test_address_outside_memory);
	RUN_TEST(test_length_overflow);
	RUN_TEST(test_readable_after_writable);
	RUN_TEST(test_avail_idx_jump);
	RUN_TEST(test_indirect_valid);
	RUN_TEST(test_indirect_abuse);
	RUN_TEST(test_too_many_segments);
	RUN_TEST(test_event_idx);
	RUN_TEST(test_no_event_idx_flags);
	RUN_TEST(test_reset);
	TEST_MAIN_END();
}
