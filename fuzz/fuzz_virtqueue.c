// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the split virtqueue walk (virtqueue.c) on rings, chains
 * and indirect tables the input controls, with the invariants a device
 * relies on checked after every call.
 *
 * Guest memory is two adjacent regions (64 KiB at GPA, 4 KiB just past
 * it), laid out as: descriptor table at +0x0, avail ring at +0x1000, used
 * ring at +0x2000, indirect area (256 descriptors) at +0x3000, data area
 * from +0x4000.  The input is read in order (missing bytes read as 0):
 *   byte 0          bits 0-2: queue size log2 (1..128), bit 3: EVENT_IDX,
 *                   bit 4: misalign the descriptor table, bit 5: size not a
 *                   power of two (3 << log2): vq_activate must refuse both
 *   byte 1          rounds (0..16)
 *   size records    the descriptor table, 12 bytes each: u32 addr code,
 *                   u32 len, u16 flags, u16 next (all raw).  The addr
 *                   code's top 4 bits pick a base, its low 28 bits v:
 *                   0 data + (v & 0xffff), 1 indirect area + (v & 0xfff),
 *                   2 end of region 0 - (v & 0xfff), 3 end of memory -
 *                   (v & 0xfff), 4 UINT64_MAX - v, 5 v << 36, 6 ring area
 *                   + (v & 0x3fff), else v (raw, below guest memory)
 *   u8 n, n records the indirect area's first n descriptors (same coding;
 *                   nested indirect, loops and bad next included)
 *   size u16        the avail ring's heads (raw, may be out of range)
 *   rounds * 8      u16 avail->idx, u16 used_event, u8 avail->flags, u8 op
 *                   (bits 0-3: pops, bit 4: vq_disable_notify first, bit 5:
 *                   push in reverse order, bit 6: no vq_enable_notify after,
 *                   bit 7: written = what vq_chain_write copied instead of
 *                   writable_len), u16 arg (read/write offset (arg & 0xff)
 *                   * 7 and length (arg >> 8) * 33)
 *   the rest        copied into the data area
 * Every call's result is checked against what the rings said (pending
 * count, broken state, used ring contents, notification fields); a popped
 * chain's byte totals must match its iovecs, every iovec must lie inside
 * guest memory, and vq_chain_read/write must copy exactly
 * min(len, total - off) bytes (vq_chain_read the bytes the iovecs hold).
 * A violation is __builtin_trap().
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <linux/virtio_ring.h>

#include "devices/virtio/virtqueue.h"
#include "fuzz_input.h"
#include "util/log.h"
#include "vmm/guest_mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QMAX 128
#define GPA 0x100000ull
#define MEM_SIZE (64u << 10)
#define GPA2 (GPA + MEM_SIZE)
#define MEM2_SIZE (4u << 10)
#define DESC_GPA GPA
#define AVAIL_GPA (GPA + 0x1000)
#define USED_GPA (GPA + 0x2000)
#define IND_GPA (GPA + 0x3000)
#define IND_MAX 256
#define DATA_GPA (GPA + 0x4000)
#define DATA_SIZE (MEM_SIZE - 0x4000)
#define MAX_ROUNDS 16
#define MAX_POPS 15
#define BUF_SIZE (255 * 33)

struct fuzz_state {
	struct guest_mem gm;
	struct vq_chain chains[MAX_POPS];
	uint8_t buf[BUF_SIZE], ref[BUF_SIZE];
};

static struct fuzz_state *state;

static void *ptr(struct fuzz_state *s, uint64_t gpa)
{
	return gm_ptr(&s->gm, gpa, 1);
}

static void cleanup(void)
{
	gm_destroy(&state->gm);
}

static struct fuzz_state *setup(void)
{
	static struct fuzz_state s;

	krun_log_configure(2, LOG_LVL_OFF);
	require(gm_alloc_region(&s.gm, GPA, MEM_SIZE) == 0);
	require(gm_alloc_region(&s.gm, GPA2, MEM2_SIZE) == 0);
	state = &s;
	atexit(cleanup);
	return &s;
}

static uint64_t decode_addr(uint32_t a)
{
	uint32_t v = a & 0x0fffffff;

	switch (a >> 28) {
	case 0:
		return DATA_GPA + (v & 0xffff);
	case 1:
		return IND_GPA + (v & 0xfff);
	case 2:
		return GPA + MEM_SIZE - (v & 0xfff);
	case 3:
		return GPA2 + MEM2_SIZE - (v & 0xfff);
	case 4:
		return UINT64_MAX - v;
	case 5:
		return (uint64_t)v << 36;
	case 6:
		return GPA + (v & 0x3fff);
	default:
		return v;
	}
}

static void read_desc(struct reader *r, struct vring_desc *d)
{
	d->addr = decode_addr(get32(r));
	d->len = get32(r);
	d->flags = get16(r);
	d->next = get16(r);
}

static bool in_guest(const struct fuzz_state *s, const struct iovec *iov)
{
	for (unsigned int i = 0; i < s->gm.nr_regions; i++) {
		const struct gm_region *g = &s->gm.regions[i];
		uintptr_t b = (uintptr_t)g->host, p = (uintptr_t)iov->iov_base;
		if (p >= b && p - b <= g->size && iov->iov_len <= g->size - (p - b))
			return true;
	}
	return false;
}

/* What iov_read should give: the bytes of iov[0..cnt) from off, by hand. */
static size_t gather(const struct iovec *iov, unsigned int cnt, size_t off, uint8_t *dst,
		     size_t len)
{
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		const uint8_t *b = iov[i].iov_base;
		for (size_t j = 0; j < iov[i].iov_len && done < len; j++) {
			if (off) {
				off--;
				continue;
			}
			dst[done++] = b[j];
		}
	}
	return done;
}

static size_t expect_copy(uint32_t total, size_t off, size_t len)
{
	if (off >= total)
		return 0;
	return len < total - off ? len : total - off;
}

/* A popped chain: totals, bounds, and the copy helpers. Returns written. */
static uint32_t check_chain(struct fuzz_state *s, const struct virtqueue *vq,
			    const struct vq_chain *c, uint16_t arg, bool use_copied)
{
	uint64_t rd = 0, wr = 0;
	unsigned int n = c->nr_readable + c->nr_writable;

	check(c->head < vq->size);
	check(n <= VQ_MAX_SEGS);
	for (unsigned int i = 0; i < n; i++) {
		check(c->iov[i].iov_base != NULL && c->iov[i].iov_len > 0);
		check(in_guest(s, &c->iov[i]));
		if (i < c->nr_readable)
			rd += c->iov[i].iov_len;
		else
			wr += c->iov[i].iov_len;
	}
	check(rd == c->readable_len && wr == c->writable_len);
	check(rd + wr <= UINT32_MAX);

	size_t off = (size_t)(arg & 0xff) * 7, len = (size_t)(arg >> 8) * 33;
	size_t got = vq_chain_read(c, off, s->buf, len);
	check(got <= len);
	check(got == expect_copy(c->readable_len, off, len));
	check(gather(c->iov, c->nr_readable, off, s->ref, len) == got);
	check(memcmp(s->buf, s->ref, got) == 0);

	memset(s->buf, 0xa5, len);
	size_t put = vq_chain_write(c, off, s->buf, len);
	check(put <= len);
	check(put == expect_copy(c->writable_len, off, len));
	return use_copied ? (uint32_t)put : c->writable_len;
}

/* Shadow of the notification state vq_needs_interrupt keeps. */
struct shadow {
	uint16_t last_avail, used_idx, signalled;
	bool signalled_valid, broken;
};

static void do_pop(struct fuzz_state *s, struct virtqueue *vq, struct shadow *sh,
		   struct vq_chain *c, int *popped)
{
	struct vring_avail *a = ptr(s, AVAIL_GPA);
	uint16_t pending = (uint16_t)(__atomic_load_n(&a->idx, __ATOMIC_ACQUIRE) - sh->last_avail);
	uint16_t head = a->ring[sh->last_avail & (vq->size - 1)];
	int ret = vq_pop(vq, c);

	check(ret == 1 || ret == 0 || ret == -EIO);
	if (sh->broken) {
		check(ret == -EIO);
		return;
	}
	if (pending == 0)
		check(ret == 0);
	if (pending > vq->size)
		check(ret == -EIO);
	if (pending && pending <= vq->size && head >= vq->size)
		check(ret == -EIO);
	if (ret == -EIO) {
		check(vq->broken);
		sh->broken = true;
		return;
	}
	check(!vq->broken);
	if (ret == 1) {
		check(c->head == head);
		sh->last_avail++;
		(*popped)++;
	}
	check(vq->last_avail_idx == sh->last_avail);
}

static void do_push(struct fuzz_state *s, struct virtqueue *vq, struct shadow *sh,
		    uint16_t head, uint32_t written)
{
	struct vring_used *u = ptr(s, USED_GPA);
	uint16_t before = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);

	vq_push(vq, head, written);
	if (sh->broken) {
		check(__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) == before);
		return;
	}
	sh->used_idx++;
	check(vq->used_idx == sh->used_idx);
	check(__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) == sh->used_idx);
	struct vring_used_elem *e = &u->ring[(uint16_t)(sh->used_idx - 1) & (vq->size - 1)];
	check(e->id == head && e->len == written);
}

static void check_interrupt(struct fuzz_state *s, struct virtqueue *vq, struct shadow *sh)
{
	struct vring_avail *a = ptr(s, AVAIL_GPA);
	uint16_t flags = a->flags, used_event = a->ring[vq->size];
	bool want;

	if (!vq->event_idx) {
		want = !(flags & VRING_AVAIL_F_NO_INTERRUPT);
	} else {
		want = !sh->signalled_valid ||
		       vring_need_event(used_event, vq->used_idx, sh->signalled);
		sh->signalled = vq->used_idx;
		sh->signalled_valid = true;
	}
	check(vq_needs_interrupt(vq) == want);
}

static void check_notify(struct fuzz_state *s, struct virtqueue *vq, struct shadow *sh,
			 bool enable)
{
	struct vring_avail *a = ptr(s, AVAIL_GPA);
	struct vring_used *u = ptr(s, USED_GPA);
	uint16_t *avail_event = (uint16_t *)&u->ring[vq->size];
	uint16_t flags = u->flags;

	if (!enable) {
		vq_disable_notify(vq);
		check(u->flags == (vq->event_idx ? flags : VRING_USED_F_NO_NOTIFY));
		return;
	}
	bool more = vq_enable_notify(vq);
	if (sh->broken) {
		check(!more);
		return;
	}
	if (vq->event_idx)
		check(*avail_event == sh->last_avail);
	else
		check(u->flags == 0);
	check(more == (__atomic_load_n(&a->idx, __ATOMIC_ACQUIRE) != sh->last_avail));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state *s = state ? state : setup();
	struct reader r = { data, size };

	if (size < 2)
		return 0;
	uint8_t cfg = get8(&r);
	unsigned int rounds = get8(&r);
	struct virtqueue vq;

	memset(ptr(s, GPA), 0, MEM_SIZE);
	memset(ptr(s, GPA2), 0, MEM2_SIZE);
	memset(&vq, 0, sizeof(vq));
	vq.size = (uint16_t)((cfg & 32 ? 3u : 1u) << (cfg & 7));
	vq.ready = true;
	vq.desc_gpa = DESC_GPA + (cfg & 16 ? 8 : 0);
	vq.avail_gpa = AVAIL_GPA;
	vq.used_gpa = USED_GPA;
	int ret = vq_activate(&vq, &s->gm, QMAX, cfg & 8);
	if (cfg & 48) {
		check(ret == -EINVAL);
		return 0;
	}
	check(ret == 0);

	struct vring_desc *desc = ptr(s, DESC_GPA);
	for (unsigned int i = 0; i < vq.size; i++)
		read_desc(&r, &desc[i]);
	struct vring_desc *ind = ptr(s, IND_GPA);
	unsigned int n_ind = get8(&r);
	for (unsigned int i = 0; i < n_ind && i < IND_MAX; i++)
		read_desc(&r, &ind[i]);
	struct vring_avail *a = ptr(s, AVAIL_GPA);
	for (unsigned int i = 0; i < vq.size; i++)
		a->ring[i] = get16(&r);
	/* The round records sit before the data: copy the data first. */
	struct reader rr = r;
	size_t skip = (size_t)(rounds < MAX_ROUNDS ? rounds : MAX_ROUNDS) * 8;
	if (r.left > skip)
		memcpy(ptr(s, DATA_GPA), r.p + skip,
		       r.left - skip < DATA_SIZE ? r.left - skip : DATA_SIZE);

	struct shadow sh = { 0 };
	for (unsigned int round = 0; round < rounds && round < MAX_ROUNDS; round++) {
		uint16_t idx = get16(&rr), used_event = get16(&rr);
		uint8_t aflags = get8(&rr), op = get8(&rr);
		uint16_t arg = get16(&rr);
		uint32_t written[MAX_POPS];
		int popped = 0;

		a->flags = aflags;
		a->ring[vq.size] = used_event;
		__atomic_store_n(&a->idx, idx, __ATOMIC_RELEASE);
		if (op & 16)
			check_notify(s, &vq, &sh, false);
		for (unsigned int i = 0; i < (op & 15u); i++) {
			int before = popped;
			do_pop(s, &vq, &sh, &s->chains[popped], &popped);
			if (popped > before)
				written[before] = check_chain(s, &vq, &s->chains[before], arg,
							      op & 128);
		}
		for (int i = 0; i < popped; i++) {
			int k = op & 32 ? popped - 1 - i : i;
			do_push(s, &vq, &sh, s->chains[k].head, written[k]);
		}
		check_interrupt(s, &vq, &sh);
		if (!(op & 64))
			check_notify(s, &vq, &sh, true);
	}
	vq_reset(&vq);
	return 0;
}
