// SPDX-License-Identifier: Apache-2.0
/*
 * Split virtqueue, device side.
 *
 * Memory ordering: the driver runs on another CPU.  avail->idx is loaded
 * with acquire so the ring entries and descriptors it publishes are visible
 * before we read them; used->idx is stored with release so the used element
 * (and the data written into the buffers) is visible before the index.  The
 * notification decisions need a full fence between our store (used->idx or
 * avail_event) and our load of the driver's field, mirroring the driver's
 * own fence, or both sides can miss each other's update.
 *
 * Indirect descriptors are accepted (the transport offers the feature only
 * when a device asks for it): only as the head of a chain, never nested,
 * never with NEXT, table length a non-zero multiple of 16 and no more than
 * VQ_MAX_SEGS entries; table entries get the same checks as direct ones.
 */
#include "virtqueue.h"

#include "../../util/iov.h"

#include <errno.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "../../util/log.h"

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

static uint16_t ring_load16(const void *p)
{
	return __atomic_load_n((const uint16_t *)p, __ATOMIC_RELAXED);
}

static void ring_store16(void *p, uint16_t v)
{
	__atomic_store_n((uint16_t *)p, v, __ATOMIC_RELAXED);
}

/* One relaxed load per field: the compiler may not re-read guest memory. */
static void desc_load(const struct vring_desc *src, struct desc *d)
{
	d->addr = __atomic_load_n(&src->addr, __ATOMIC_RELAXED);
	d->len = __atomic_load_n(&src->len, __ATOMIC_RELAXED);
	d->flags = __atomic_load_n(&src->flags, __ATOMIC_RELAXED);
	d->next = __atomic_load_n(&src->next, __ATOMIC_RELAXED);
}

static struct vring_avail *avail_ring(const struct virtqueue *vq)
{
	return vq->avail;
}

static struct vring_used *used_ring(const struct virtqueue *vq)
{
	return vq->used;
}

/* used_event lives just past avail->ring[size], avail_event past used->ring. */
static uint16_t *used_event_ptr(const struct virtqueue *vq)
{
	return &avail_ring(vq)->ring[vq->size];
}

static uint16_t *avail_event_ptr(const struct virtqueue *vq)
{
	return (uint16_t *)&used_ring(vq)->ring[vq->size];
}

static int vq_fail(struct virtqueue *vq, const char *why)
{
	if (!vq->broken)
		log_warn("virtqueue: guest driver error (%s); queue stopped", why);
	vq->broken = true;
	return -EIO;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static void *ring_map(const struct guest_mem *gm, uint64_t gpa, uint64_t len,
		      uint64_t align)
{
	if (gpa & (align - 1))
		return NULL;
	return gm_ptr(gm, gpa, len);
}

int vq_activate(struct virtqueue *vq, const struct guest_mem *gm, uint16_t max_size,
		bool event_idx)
{
	uint64_t n = vq->size;

	if (!is_pow2(vq->size) || vq->size > max_size || vq->size > VQ_MAX_SIZE)
		return -EINVAL;
	/* Sizes include the trailing event fields whether or not EVENT_IDX is
	 * negotiated: the driver lays the rings out that way regardless. */
	void *desc = ring_map(gm, vq->desc_gpa, 16 * n, 16);
	void *avail = ring_map(gm, vq->avail_gpa, 6 + 2 * n, 2);
	void *used = ring_map(gm, vq->used_gpa, 6 + 8 * n, 4);
	if (!desc || !avail || !used)
		return -EINVAL;

	vq->gm = gm;
	vq->event_idx = event_idx;
	vq->broken = false;
	vq->last_avail_idx = 0;
	vq->used_idx = 0;
	vq->signalled_used = 0;
	vq->signalled_used_valid = false;
	vq->desc = desc;
	vq->avail = avail;
	vq->used = used;
	return 0;
}

void vq_reset(struct virtqueue *vq)
{
	memset(vq, 0, sizeof(*vq));
}

struct walk {
	struct vq_chain *c;
	uint64_t total;
};

static int add_segment(struct virtqueue *vq, struct walk *w, const struct desc *d)
{
	struct vq_chain *c = w->c;
	bool writable = d->flags & VRING_DESC_F_WRITE;

	if (!writable && c->nr_writable)
		return vq_fail(vq, "readable descriptor after a writable one");
	w->total += d->len;
	if (w->total > UINT32_MAX)
		return vq_fail(vq, "chain length overflows 32 bits");
	if (d->len == 0)
		return 0;
	if (c->nr_readable + c->nr_writable >= VQ_MAX_SEGS)
		return vq_fail(vq, "too many segments");
	void *p = gm_ptr(vq->gm, d->addr, d->len);
	if (!p)
		return vq_fail(vq, "buffer outside guest memory");
	c->iov[c->nr_readable + c->nr_writable] = (struct iovec){ p, d->len };
	if (writable) {
		c->nr_writable++;
		c->writable_len += d->len;
	} else {
		c->nr_readable++;
		c->readable_len += d->len;
	}
	return 0;
}

/* Walks a table of n descriptors from the already-copied first one d.
 * Visiting more than n descriptors can only mean the chain loops. */
static int walk_table(struct virtqueue *vq, struct walk *w, const struct vring_desc *table,
		      uint32_t n, struct desc d, bool indirect)
{
	for (uint32_t visited = 1;; visited++) {
		if (d.flags & VRING_DESC_F_INDIRECT)
			return vq_fail(vq, indirect ? "nested indirect table"
						    : "indirect descriptor inside a chain");
		int ret = add_segment(vq, w, &d);
		if (ret)
			return ret;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		if (d.next >= n)
			return vq_fail(vq, "descriptor index out of range");
		if (visited >= n)
			return vq_fail(vq, "descriptor chain loops");
		desc_load(&table[d.next], &d);
	}
}

static int walk_indirect(struct virtqueue *vq, struct walk *w, const struct desc *d)
{
	if (d->flags & VRING_DESC_F_NEXT)
		return vq_fail(vq, "indirect descriptor with NEXT");
	if (d->len == 0 || d->len % 16 || d->len / 16 > VQ_MAX_SEGS)
		return vq_fail(vq, "bad indirect table length");
	/* 16-byte alignment keeps the per-field atomic loads aligned. */
	if (d->addr & 15)
		return vq_fail(vq, "misaligned indirect table");
	const struct vring_desc *table = gm_ptr(vq->gm, d->addr, d->len);
	if (!table)
		return vq_fail(vq, "indirect table outside guest memory");
	struct desc first;
	desc_load(&table[0], &first);
	return walk_table(vq, w, table, d->len / 16, first, true);
}

static int walk_chain(struct virtqueue *vq, uint16_t head, struct vq_chain *c)
{
	struct walk w = { .c = c };
	const struct vring_desc *table = vq->desc;
	struct desc d;

	c->head = head;
	c->nr_readable = c->nr_writable = 0;
	c->readable_len = c->writable_len = 0;
	if (head >= vq->size)
		return vq_fail(vq, "head index out of range");
	desc_load(&table[head], &d);
	if (d.flags & VRING_DESC_F_INDIRECT)
		return walk_indirect(vq, &w, &d);
	return walk_table(vq, &w, table, vq->size, d, false);
}

int vq_pop(struct virtqueue *vq, struct vq_chain *chain)
{
	if (vq->broken)
		return -EIO;
	if (!vq->avail)
		return 0;

	struct vring_avail *avail = avail_ring(vq);
	uint16_t avail_idx = __atomic_load_n(&avail->idx, __ATOMIC_ACQUIRE);
	uint16_t pending = avail_idx - vq->last_avail_idx;

	if (pending == 0)
		return 0;
	if (pending > vq->size)
		return vq_fail(vq, "available index ran ahead of the ring");

	uint16_t head = ring_load16(&avail->ring[vq->last_avail_idx & (vq->size - 1)]);
	int ret = walk_chain(vq, head, chain);
	if (ret)
		return ret;
	vq->last_avail_idx++;
	return 1;
}

void vq_unpop(struct virtqueue *vq)
{
	vq->last_avail_idx--;
}

void vq_push(struct virtqueue *vq, uint16_t head, uint32_t written)
{
	if (vq->broken || !vq->used)
		return;

	struct vring_used *used = used_ring(vq);
	struct vring_used_elem *e = &used->ring[vq->used_idx & (vq->size - 1)];

	__atomic_store_n(&e->id, (uint32_t)head, __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, written, __ATOMIC_RELAXED);
	vq->used_idx++;
	__atomic_store_n(&used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

bool vq_needs_interrupt(struct virtqueue *vq)
{
	if (!vq->used)
		return false;
	/* Our used->idx store must be visible before we read the driver's
	 * suppression state, or it may go to sleep without being woken. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);

	if (!vq->event_idx)
		return !(ring_load16(&avail_ring(vq)->flags) & VRING_AVAIL_F_NO_INTERRUPT);

	uint16_t old = vq->signalled_used;
	uint16_t new = vq->used_idx;
	bool valid = vq->signalled_used_valid;

	vq->signalled_used = new;
	vq->signalled_used_valid = true;
	if (!valid)
		return true;
	return vring_need_event(ring_load16(used_event_ptr(vq)), new, old);
}

bool vq_enable_notify(struct virtqueue *vq)
{
	if (!vq->used || vq->broken)
		return false;
	if (vq->event_idx)
		ring_store16(avail_event_ptr(vq), vq->last_avail_idx);
	else
		ring_store16(&used_ring(vq)->flags, 0);
	/* Publish the re-arm before sampling avail->idx: a driver that added
	 * buffers just before seeing it would otherwise not kick. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return __atomic_load_n(&avail_ring(vq)->idx, __ATOMIC_ACQUIRE) != vq->last_avail_idx;
}

void vq_disable_notify(struct virtqueue *vq)
{
	/* With EVENT_IDX a stale avail_event already suppresses kicks. */
	if (!vq->used || vq->event_idx)
		return;
	ring_store16(&used_ring(vq)->flags, VRING_USED_F_NO_NOTIFY);
}

size_t vq_chain_read(const struct vq_chain *c, size_t off, void *dst, size_t len)
{
	return iov_read(c->iov, c->nr_readable, off, dst, len);
}

size_t vq_chain_write(const struct vq_chain *c, size_t off, const void *src, size_t len)
{
	return iov_write(c->iov + c->nr_readable, c->nr_writable, off, src, len);
}
