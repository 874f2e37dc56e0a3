// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the virtio-net device over a unix-stream backend (the
 * passt framing: [be32 length][Ethernet frame]) whose peer, the other end
 * of a socketpair, is the harness; the guest's tx and rx chains and the
 * bytes the peer sends are the input's.
 *
 * Each input makes a socketpair, a backend on one end (fd mode), a card
 * with the input's caller features, and brings it up on 1024-entry queues
 * with the input's subset acked (EVENT_IDX too).  Chains of the first half
 * are posted before DRIVER_OK, the rest (optionally) after the peer has
 * written; the harness kicks only when the device asks for it (avail_event
 * or NO_NOTIFY, as Linux does), re-arms interrupts as a driver does
 * (used_event), writes the peer's bytes in pieces, reads what the device
 * sends (or only after a while, so the device's socket fills), waits
 * (bounded) until the model says everything that can happen has, and
 * resets the device (joining its worker).  Input (missing bytes read as 0):
 *   byte 0     caller features, one bit each: CSUM, GUEST_CSUM, GUEST_TSO4,
 *              GUEST_TSO6, GUEST_UFO, HOST_TSO4, HOST_TSO6, HOST_UFO
 *   byte 1     the driver's wanted features, same bits (acked = both)
 *   byte 2     bit 0: EVENT_IDX, bit 1: the peer reads only after a while,
 *              bits 2-3: peer writes - 1, bit 4: second half of the rx
 *              chains posted after the peer wrote, bit 5: same for tx,
 *              bit 6: the device's socket gets a 4 KiB send buffer, bit 7:
 *              256 more tx chains (more than the device takes at once)
 *   u8 n, n rx chains, each u8 m (bits 0-1: size class: tiny < 16,
 *              12 + up to 2047, 12 + up to 70000, 12 + 1514; bits 2-3:
 *              writable descriptors - 1; bit 4: a device-readable
 *              descriptor first), u16 (u24 for class 2) size
 *   u8 n, n tx chains, each u8 k (bits 0-1: descriptors - 1; bit 2: a
 *              device-writable descriptor of u8 % 32 bytes at the end;
 *              bit 3: a raw descriptor instead; bits 4-5: length class:
 *              < 40 bytes in all, 12 + 14 + up to 1499, 12 + up to 70000,
 *              12 + NET_MAX_FRAME - 1 .. + 1; bit 6: the 12-byte header
 *              from the input, else zero), the length (u8, u16, u24, u8),
 *              [header], u16 per cut between descriptors, u8 pattern seed.
 *              A raw descriptor is u8 flags, u8 next, u16 len, u8 where
 *              (0 data from the input, 16-aligned, so it may be an
 *              indirect table; 1 outside guest memory; 2 across its end)
 *   u8 n, n peer records, each u8 k: bits 0-1: 0 a frame (bits 2-3 length
 *              class: < 20, 14 + up to 1499, up to NET_MAX_FRAME,
 *              NET_MAX_FRAME - 1 .. + 1) with u8 pattern seed, 1 a raw u32
 *              length prefix alone, 2 u8 n raw bytes, 3 a frame of u16 %
 *              256 bytes from the input
 *   u16 per cut between the peer's writes
 * Checks (__builtin_trap), from a model of the device: tx chains come back
 * in order with used length 0, all of them unless a raw descriptor broke
 * the queue; the peer reads well-formed records whose frames are exactly
 * the valid tx frames in order (valid: virtio_net_check_tx_hdr with the
 * acked features, 14 <= length <= NET_MAX_FRAME, no device-writable byte),
 * a prefix of them once a length above NET_MAX_FRAME from the peer made
 * the device give up its backend, and only up to the first raw chain
 * exactly; rx chains are used in order, each with 12 + the length of the
 * next frame that fits it (frames shorter than 14 or longer than the
 * chain's writable bytes are dropped and counted), a zeroed header with
 * num_buffers 1 and the peer's bytes; the counters agree; the device never
 * asks for a reset without a raw descriptor; no used entry goes without an
 * interrupt the driver asked for.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "../tests/unit/virtio/vdrv.h"
#include "devices/virtio/net.h"
#include "fuzz_input.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RXQ 0
#define TXQ 1
#define QSZ NET_QUEUE_SIZE
#define MAX_CHAINS 320
#define MAX_BUFS 5
#define MEM_SIZE (1u << 20)
#define MEM_END (VDRV_GPA + MEM_SIZE)
#define HDR NET_VNET_HDR_LEN
#define STREAM_MAX (512u << 10)
#define OUT_MAX (8u << 20)
#define WAIT_MS 200
#define LATE_MS 5
#define MAX_RECORDS 24

static const unsigned int feature_bit[8] = {
	VIRTIO_NET_F_CSUM,	 VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_GUEST_TSO4,
	VIRTIO_NET_F_GUEST_TSO6, VIRTIO_NET_F_GUEST_UFO,  VIRTIO_NET_F_HOST_TSO4,
	VIRTIO_NET_F_HOST_TSO6,	 VIRTIO_NET_F_HOST_UFO,
};

struct chain {
	struct vdrv_buf b[MAX_BUFS];
	unsigned int nb;
	bool raw;
	struct vring_desc raw_desc;
	uint16_t head;
	/* tx: the contiguous [header | frame] buffer and whether it is valid;
	 * rx: the writable bytes. */
	uint64_t gpa;
	uint32_t len;
	bool valid;
};

struct run {
	struct vdrv d;
	struct virtio_net *net;
	int peer;
	bool event_idx;
	uint64_t acked;
	struct chain rx[MAX_CHAINS], tx[MAX_CHAINS];
	unsigned int nrx, ntx, rx_posted, tx_posted;
	unsigned int descs[2];
	uint16_t kicked_at[2];	/* avail idx at the last kick decision */
	uint16_t armed[2];	/* used idx the driver has seen and re-armed at */
	bool tx_raw;
	size_t stream_len, written;
	size_t out_len;
	bool out_overflow;
};

static struct guest_mem gm;
static uint8_t stream[STREAM_MAX];
static uint8_t out[OUT_MAX];

static void get_bytes(struct reader *r, void *dst, size_t len)
{
	size_t n = len < r->left ? len : r->left;

	memcpy(dst, r->p, n);
	memset((uint8_t *)dst + n, 0, len - n);
	r->p += n;
	r->left -= n;
}

static uint32_t get24(struct reader *r)
{
	uint32_t lo = get16(r);

	return lo | (uint32_t)get8(r) << 16;
}

static void pattern(uint8_t *p, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 8));
}

static bool alloc(struct run *t, uint64_t len, uint64_t align, uint64_t *gpa)
{
	uint64_t a = (t->d.brk + align - 1) & ~(align - 1);

	if (a + len > MEM_END)
		return false;
	*gpa = vdrv_alloc(&t->d, len ? len : 1, align);
	return true;
}

static uint64_t features_of(uint8_t bits)
{
	uint64_t f = 0;

	for (unsigned int i = 0; i < 8; i++)
		if (bits & (1u << i))
			f |= 1ull << feature_bit[i];
	return f;
}

/* ---- building chains ----------------------------------------------------- */

static void parse_rx(struct run *t, struct reader *r)
{
	unsigned int n = get8(r);

	for (unsigned int i = 0; i < n && t->nrx < MAX_CHAINS; i++) {
		struct chain *c = &t->rx[t->nrx];
		uint8_t m = get8(r);
		uint32_t size;
		switch (m & 3) {
		case 0:
			size = get16(r) % 16;
			break;
		case 1:
			size = HDR + get16(r) % 2048;
			break;
		case 2:
			size = HDR + get24(r) % 70001;
			break;
		default:
			(void)get16(r);
			size = HDR + 1514;
			break;
		}
		unsigned int nw = ((m >> 2) & 3) + 1;
		bool readable_first = m & 16;
		unsigned int nb = nw + readable_first;
		memset(c, 0, sizeof(*c));
		if (t->descs[RXQ] + nb > QSZ || !alloc(t, size + 16, 16, &c->gpa))
			return;
		/* Poisoned, so bytes the device did not write stand out. */
		memset(vdrv_ptr(&t->d, c->gpa), 0xa5, size);
		c->len = size;
		if (readable_first)
			c->b[c->nb++] = (struct vdrv_buf){ c->gpa + size, 16, false };
		uint32_t off = 0;
		for (unsigned int k = 0; k < nw; k++) {
			uint32_t l = k + 1 < nw ? size / nw : size - off;
			c->b[c->nb++] = (struct vdrv_buf){ c->gpa + off, l, true };
			off += l;
		}
		t->descs[RXQ] += nb;
		t->nrx++;
	}
}

static bool parse_raw(struct run *t, struct reader *r, struct chain *c)
{
	uint8_t flags = get8(r), next = get8(r);
	uint16_t len = get16(r);
	uint8_t where = get8(r);
	uint64_t gpa;

	if (where % 3 == 0) {
		if (!alloc(t, len, 16, &gpa))
			return false;
		get_bytes(r, vdrv_ptr(&t->d, gpa), len);
	} else if (where % 3 == 1) {
		gpa = 0xffff0000ull + where;
	} else {
		gpa = MEM_END - (where & 0x3f);
	}
	c->raw = true;
	c->raw_desc = (struct vring_desc){ .addr = gpa, .len = len, .flags = flags,
					   .next = next };
	return true;
}

static bool tx_valid(struct run *t, const struct chain *c, uint32_t writable)
{
	if (writable || c->len < HDR + 14 || c->len - HDR > NET_MAX_FRAME)
		return false;
	return virtio_net_check_tx_hdr(vdrv_ptr(&t->d, c->gpa), c->len - HDR,
				       t->acked) == 0;
}

static void parse_tx(struct run *t, struct reader *r, bool many)
{
	unsigned int n = get8(r) + (many ? 256u : 0);

	for (unsigned int i = 0; i < n && t->ntx < MAX_CHAINS; i++) {
		struct chain *c = &t->tx[t->ntx];
		uint8_t k = get8(r);
		memset(c, 0, sizeof(*c));
		if (k & 8) {
			if (t->descs[TXQ] + 1 > QSZ || !parse_raw(t, r, c))
				return;
			t->descs[TXQ]++;
			t->ntx++;
			continue;
		}
		uint32_t len;
		switch ((k >> 4) & 3) {
		case 0:
			len = get8(r) % 40;
			break;
		case 1:
			len = HDR + 14 + get16(r) % 1500;
			break;
		case 2:
			len = HDR + get24(r) % 70001;
			break;
		default:
			len = HDR + NET_MAX_FRAME - 1 + get8(r) % 3;
			break;
		}
		unsigned int nr = (k & 3) + 1;
		bool writable = k & 4;
		if (t->descs[TXQ] + nr + writable > QSZ || !alloc(t, len + 32, 16, &c->gpa))
			return;
		uint8_t *p = vdrv_ptr(&t->d, c->gpa);
		uint8_t hdr[HDR] = { 0 };
		if (k & 64)
			get_bytes(r, hdr, HDR);
		/* Cuts in [0, len], sorted: empty descriptors are fine. */
		uint32_t cut[4] = { 0 };
		for (unsigned int j = 0; j + 1 < nr; j++) {
			cut[j] = get16(r) % (len + 1);
			for (unsigned int m = j; m > 0 && cut[m] < cut[m - 1]; m--) {
				uint32_t x = cut[m];
				cut[m] = cut[m - 1];
				cut[m - 1] = x;
			}
		}
		pattern(p, len, (uint8_t)(get8(r) + 31 * t->ntx));
		memcpy(p, hdr, len < HDR ? len : HDR);
		c->len = len;
		uint32_t from = 0;
		for (unsigned int j = 0; j < nr; j++) {
			uint32_t to = j + 1 < nr ? cut[j] : len;
			c->b[c->nb++] = (struct vdrv_buf){ c->gpa + from, to - from, false };
			from = to;
		}
		uint32_t wlen = 0;
		if (writable) {
			wlen = get8(r) % 32;
			c->b[c->nb++] = (struct vdrv_buf){ c->gpa + len, wlen, true };
		}
		c->valid = tx_valid(t, c, wlen);
		t->descs[TXQ] += c->nb;
		t->ntx++;
	}
}

static void put(struct run *t, const void *p, size_t len)
{
	if (len > STREAM_MAX - t->stream_len)
		len = STREAM_MAX - t->stream_len;
	memcpy(stream + t->stream_len, p, len);
	t->stream_len += len;
}

static void put_frame(struct run *t, uint32_t len, struct reader *r, bool from_input)
{
	uint32_t be = htobe32(len);

	put(t, &be, 4);
	size_t room = STREAM_MAX - t->stream_len, n = len < room ? len : room;
	if (from_input)
		get_bytes(r, stream + t->stream_len, n);
	else
		pattern(stream + t->stream_len, n, get8(r));
	t->stream_len += n;
}

static void parse_peer(struct run *t, struct reader *r)
{
	unsigned int n = get8(r);

	for (unsigned int i = 0; i < n && i < MAX_RECORDS; i++) {
		uint8_t k = get8(r);
		switch (k & 3) {
		case 0: {
			uint32_t len;
			switch ((k >> 2) & 3) {
			case 0:
				len = get8(r) % 20;
				break;
			case 1:
				len = 14 + get16(r) % 1500;
				break;
			case 2:
				len = get24(r) % (NET_MAX_FRAME + 1);
				break;
			default:
				len = NET_MAX_FRAME - 1 + get8(r) % 3;
				break;
			}
			put_frame(t, len, r, false);
			break;
		}
		case 1: {
			uint32_t be = htobe32(get32(r));
			put(t, &be, 4);
			break;
		}
		case 2: {
			uint8_t raw[255];
			unsigned int len = get8(r);
			get_bytes(r, raw, len);
			put(t, raw, len);
			break;
		}
		default:
			put_frame(t, get16(r) % 256, r, true);
			break;
		}
	}
}

/* ---- the driver ---------------------------------------------------------- */

static void post(struct run *t, unsigned int q, struct chain *c)
{
	struct vdrv_queue *vq = &t->d.q[q];

	if (!c->raw) {
		c->head = vdrv_post(&t->d, q, c->b, c->nb);
		return;
	}
	c->head = vq->next_desc % vq->size;
	*vdrv_desc(&t->d, q, c->head) = c->raw_desc;
	vq->next_desc++;
	vdrv_publish(&t->d, q, c->head);
}

/* virtqueue_kick_prepare: notify only when the device asked for it. */
static void kick(struct run *t, unsigned int q)
{
	uint16_t old = t->kicked_at[q], new = t->d.q[q].avail_idx;
	struct vring_used *u = vdrv_used(&t->d, q);

	t->kicked_at[q] = new;
	if (old == new)
		return;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	bool need;
	if (t->event_idx) {
		uint16_t ev = __atomic_load_n((uint16_t *)&u->ring[QSZ], __ATOMIC_RELAXED);
		need = vring_need_event(ev, new, old);
	} else {
		need = !(__atomic_load_n(&u->flags, __ATOMIC_RELAXED) & VRING_USED_F_NO_NOTIFY);
	}
	if (need)
		vdrv_kick(&t->d, q);
}

static uint16_t used_idx(struct run *t, unsigned int q)
{
	return __atomic_load_n(&vdrv_used(&t->d, q)->idx, __ATOMIC_ACQUIRE);
}

/* virtqueue_enable_cb: asks for an interrupt past what was seen, and
 * looks again in case the device pushed meanwhile. */
static void arm(struct run *t, unsigned int q)
{
	uint16_t *used_event = &vdrv_avail(&t->d, q)->ring[QSZ];

	for (;;) {
		uint16_t seen = used_idx(t, q);
		if (t->event_idx)
			__atomic_store_n(used_event, seen, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (used_idx(t, q) == seen) {
			t->armed[q] = seen;
			return;
		}
	}
}

static bool irq_pending(struct run *t)
{
	eventfd_t v;

	if (eventfd_read(t->d.dev.irq_evt, &v) < 0)
		return false;
	vdrv_w(&t->d, VIRTIO_MMIO_INTERRUPT_ACK, vdrv_r(&t->d, VIRTIO_MMIO_INTERRUPT_STATUS));
	return true;
}

/* ---- the peer ------------------------------------------------------------ */

static void peer_read(struct run *t)
{
	for (;;) {
		uint8_t scratch[4096];
		uint8_t *dst = t->out_len < OUT_MAX ? out + t->out_len : scratch;
		size_t room = t->out_len < OUT_MAX ? OUT_MAX - t->out_len : sizeof(scratch);
		ssize_t n = recv(t->peer, dst, room, MSG_DONTWAIT);
		if (n <= 0)
			return;
		if (dst == scratch)
			t->out_overflow = true;
		else
			t->out_len += (size_t)n;
	}
}

static void peer_write(struct run *t, size_t upto)
{
	while (t->written < upto) {
		ssize_t n = send(t->peer, stream + t->written, upto - t->written,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n <= 0)
			return;
		t->written += (size_t)n;
	}
}

/* ---- the model of the rx side -------------------------------------------- */

struct rx_model {
	unsigned int delivered;
	uint64_t dropped;
	bool gone;
	bool stalled;		/* no chain left for the next frame */
	size_t at[MAX_CHAINS];	/* offset of each delivered frame in stream */
	uint32_t len[MAX_CHAINS];
};

/* What the device does with the first `avail` bytes of the stream and the
 * rx chains, in order. */
static void model_rx(const struct run *t, size_t avail, struct rx_model *m)
{
	size_t pos = 0;

	memset(m, 0, sizeof(*m));
	for (;;) {
		if (m->delivered == t->nrx) {
			m->stalled = true;
			return;
		}
		if (avail - pos < 4)
			return;
		uint32_t be;
		memcpy(&be, stream + pos, 4);
		uint32_t len = be32toh(be);
		if (len > NET_MAX_FRAME) {
			m->gone = true;
			return;
		}
		if (avail - pos - 4 < len)
			return;
		size_t frame = pos + 4;
		pos += 4 + (size_t)len;
		if (len < 14 || HDR + (uint64_t)len > t->rx[m->delivered].len) {
			m->dropped++;
			continue;
		}
		m->at[m->delivered] = frame;
		m->len[m->delivered] = len;
		m->delivered++;
	}
}

/* ---- one input ----------------------------------------------------------- */

/* Whole records the peer has read; *tail: bytes of a partial one after. */
static unsigned int out_records(const struct run *t, size_t *tail)
{
	size_t pos = 0;
	unsigned int rec = 0;

	while (t->out_len - pos >= 4) {
		uint32_t be;
		memcpy(&be, out + pos, 4);
		uint32_t len = be32toh(be);
		if (t->out_len - pos - 4 < len)
			break;
		pos += 4 + (size_t)len;
		rec++;
	}
	*tail = t->out_len - pos;
	return rec;
}

static bool settled(struct run *t, const struct rx_model *m)
{
	if (t->written < t->stream_len && !m->gone && !m->stalled)
		return false;
	if (used_idx(t, RXQ) != (uint16_t)m->delivered)
		return false;
	/* A racy look at the worker's counters (fine for the harness): frames
	 * dropped after the last delivered one show nowhere else. */
	struct virtio_net_stats st = virtio_net_get_stats(t->net);
	if (st.rx_frames + st.rx_dropped != m->delivered + m->dropped)
		return false;
	uint16_t tx = used_idx(t, TXQ);
	if (tx != (uint16_t)t->ntx && !(t->tx_raw && atomic_load(&t->d.dev.needs_reset)))
		return false;
	/* Every frame taken has reached the peer whole (a used chain's frame
	 * may still be partly in the backend).  Not once the backend is gone:
	 * what it held then is lost with it. */
	size_t tail;
	return m->gone || (out_records(t, &tail) == st.tx_frames && tail == 0);
}

static void wait_settled(struct run *t, bool late)
{
	int64_t start = vdrv_now_ms(), end = start + WAIT_MS;
	struct rx_model m;

	for (;;) {
		bool reading = !late || vdrv_now_ms() >= start + LATE_MS;
		peer_write(t, t->stream_len);
		if (reading)
			peer_read(t);
		if (irq_pending(t)) {
			arm(t, RXQ);
			arm(t, TXQ);
		}
		model_rx(t, t->written, &m);
		if (reading && settled(t, &m))
			return;
		int64_t now = vdrv_now_ms();
		if (now >= end)
			return;
		struct pollfd pfd[2] = {
			{ .fd = t->d.dev.irq_evt, .events = POLLIN },
			{ .fd = t->peer,
			  .events = (short)((reading ? POLLIN : 0) |
					    (t->written < t->stream_len ? POLLOUT : 0)) },
		};
		(void)poll(pfd, 2, 1);
	}
}

static void check_tx(struct run *t, const struct rx_model *m)
{
	struct vring_used *u = vdrv_used(&t->d, TXQ);
	uint16_t n = used_idx(t, TXQ);
	unsigned int valid = 0, invalid = 0, exact = 0;
	bool exact_done = false;

	for (unsigned int i = 0; i < t->ntx; i++) {
		if (t->tx[i].raw)
			exact_done = true;
		else if (t->tx[i].valid)
			valid++;
		else
			invalid++;
		if (!exact_done && t->tx[i].valid)
			exact++;
	}

	check(n <= t->ntx);
	if (!t->tx_raw)
		check(n == t->ntx);
	for (unsigned int i = 0; i < n; i++) {
		check(u->ring[i].len == 0);
		check(u->ring[i].id == t->tx[i].head);
	}
	/* The peer's records, in order; once the backend is gone the last
	 * one may lack what the backend still held. */
	check(!t->out_overflow);
	size_t pos = 0, tail;
	unsigned int whole = out_records(t, &tail), rec = 0, txi = 0;
	check(tail == 0 || m->gone);
	while (rec < whole) {
		uint32_t be;
		memcpy(&be, out + pos, 4);
		uint32_t len = be32toh(be);
		check(len >= 14 && len <= NET_MAX_FRAME);
		if (rec < exact) {
			while (!t->tx[txi].valid)
				txi++;
			const struct chain *c = &t->tx[txi++];
			check(len == c->len - HDR);
			check(memcmp(out + pos + 4, (uint8_t *)vdrv_ptr(&t->d, c->gpa) + HDR,
				     len) == 0);
		}
		pos += 4 + (size_t)len;
		rec++;
	}
	if (t->tx_raw)
		return;
	struct virtio_net_stats st = virtio_net_get_stats(t->net);
	check(st.tx_malformed == invalid);
	check(st.tx_frames == rec + (tail ? 1 : 0));
	check(st.tx_frames + st.tx_dropped == valid);
	if (!m->gone)
		check(rec == valid);
}

static void check_rx(struct run *t, const struct rx_model *m)
{
	struct vring_used *u = vdrv_used(&t->d, RXQ);
	uint16_t n = used_idx(t, RXQ);
	static const uint8_t want_hdr[HDR] = { [10] = 1 };

	check(n == m->delivered);
	for (unsigned int i = 0; i < n; i++) {
		const struct chain *c = &t->rx[i];
		check(u->ring[i].id == c->head);
		check(u->ring[i].len <= c->len);
		check(u->ring[i].len == HDR + m->len[i]);
		const uint8_t *p = vdrv_ptr(&t->d, c->gpa);
		check(memcmp(p, want_hdr, HDR) == 0);
		check(memcmp(p + HDR, stream + m->at[i], m->len[i]) == 0);
	}
	struct virtio_net_stats st = virtio_net_get_stats(t->net);
	check(st.rx_frames == m->delivered);
	check(st.rx_dropped == m->dropped);
}

static void init_once(void)
{
	static bool done;

	if (done)
		return;
	krun_log_configure(2, LOG_LVL_OFF);
	require(gm_alloc_region(&gm, VDRV_GPA, MEM_SIZE) == 0);
	done = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run t;
	struct reader r = { data, size };
	static const uint8_t mac[6] = { 0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee };

	if (size < 3)
		return 0;
	init_once();
	memset(&t, 0, sizeof(t));
	t.d.gm = gm;
	memset(gm_ptr(&gm, VDRV_GPA, MEM_SIZE), 0, MEM_SIZE);
	t.d.brk = VDRV_GPA + 0x1000;

	uint8_t caller_bits = get8(&r), want_bits = get8(&r), mode = get8(&r);
	uint64_t caller = features_of(caller_bits);
	t.event_idx = mode & 1;

	int sv[2];
	require(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	t.peer = sv[1];
	struct net_backend_config cfg = { .kind = NET_BACKEND_UNIXSTREAM, .fd = sv[0] };
	struct net_backend *b = NULL;
	require(net_backend_open(&cfg, &b) == 0);
	if (mode & 64) {
		int small = 4096;
		require(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
	}
	t.net = virtio_net_create(b, mac, caller, 0);
	require(t.net != NULL);
	require(virtio_mmio_init(&t.d.dev, virtio_net_ops(t.net), t.net, &t.d.gm, 0xd0000000,
				 5) == 0);
	uint64_t want = features_of(want_bits) | (1ull << VIRTIO_F_VERSION_1) |
			(t.event_idx ? 1ull << VIRTIO_F_RING_EVENT_IDX : 0);
	require(vdrv_negotiate(&t.d, want));
	t.acked = t.d.dev.driver_features;
	require(t.acked == (want & (caller | 1ull << VIRTIO_F_VERSION_1 |
				    1ull << VIRTIO_F_RING_EVENT_IDX)));
	vdrv_setup_queue(&t.d, RXQ, QSZ);
	vdrv_setup_queue(&t.d, TXQ, QSZ);

	parse_rx(&t, &r);
	parse_tx(&t, &r, mode & 128);
	parse_peer(&t, &r);
	for (unsigned int i = 0; i < t.ntx; i++)
		t.tx_raw |= t.tx[i].raw;

	unsigned int rx_first = mode & 16 ? t.nrx / 2 : t.nrx;
	unsigned int tx_first = mode & 32 ? t.ntx / 2 : t.ntx;
	for (; t.rx_posted < rx_first; t.rx_posted++)
		post(&t, RXQ, &t.rx[t.rx_posted]);
	for (; t.tx_posted < tx_first; t.tx_posted++)
		post(&t, TXQ, &t.tx[t.tx_posted]);
	vdrv_status_add(&t.d, VIRTIO_CONFIG_S_DRIVER_OK);
	require(t.d.dev.activated);
	kick(&t, RXQ);
	kick(&t, TXQ);

	/* The peer's bytes in pieces, cut where the input says. */
	bool late = mode & 2;
	unsigned int pieces = ((mode >> 2) & 3) + 1;
	size_t upto = 0;
	for (unsigned int i = 1; i < pieces; i++) {
		size_t cut = t.stream_len ? get16(&r) % (t.stream_len + 1) : 0;
		if (cut < upto)
			cut = upto;
		upto = cut;
		peer_write(&t, upto);
		if (!late)
			peer_read(&t);
		usleep(200);
	}
	peer_write(&t, t.stream_len);
	if (!late)
		peer_read(&t);
	for (; t.rx_posted < t.nrx; t.rx_posted++)
		post(&t, RXQ, &t.rx[t.rx_posted]);
	for (; t.tx_posted < t.ntx; t.tx_posted++)
		post(&t, TXQ, &t.tx[t.tx_posted]);
	kick(&t, RXQ);
	kick(&t, TXQ);
	wait_settled(&t, late);

	/* Stop the worker (joined): nothing touches guest memory now, all the
	 * device sent is in the socket and every interrupt it raised is in
	 * the eventfd. */
	virtio_net_ops(t.net)->reset(t.net);
	bool pending = irq_pending(&t);
	if (!pending) {
		check(used_idx(&t, RXQ) == t.armed[RXQ]);
		check(used_idx(&t, TXQ) == t.armed[TXQ]);
	}
	check(t.tx_raw || !atomic_load(&t.d.dev.needs_reset));
	virtio_mmio_destroy(&t.d.dev);
	peer_read(&t);

	struct rx_model m;
	model_rx(&t, t.written, &m);
	check_rx(&t, &m);
	check_tx(&t, &m);

	virtio_net_destroy(t.net);
	close(t.peer);
	return 0;
}
