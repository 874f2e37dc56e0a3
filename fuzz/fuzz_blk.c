// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: virtio-blk over a small scratch raw image, driven by a
 * guest whose requests (every type, random sectors, lengths and descriptor
 * layouts, direct or in indirect tables) the input controls.
 *
 * Each input writes a fresh image (a known pattern) in a mkdtemp directory
 * (in /dev/shm when it exists, else /tmp),
 * opens it read-only or read-write, brings the device up to DRIVER_OK on a
 * 256-entry queue, posts the requests, kicks, waits (bounded) until every
 * chain is used or the device asks for a reset, and resets it (joining the
 * worker).  Input (missing bytes read as 0):
 *   byte 0     bit 0: read-only, bits 1-2: sync mode (none, relaxed, full,
 *              relaxed), bit 3: EVENT_IDX, bit 4: INDIRECT_DESC, bits 5-7:
 *              image sectors 8 * (1 + n)
 *   byte 1     bit 7: a tail of 4 * (bits 0-6) + 1 bytes past the last
 *              whole sector (not part of the disk), bit 6: no whole sector
 *   byte 2     bits 0-5: requests (at most MAX_REQS), bit 6: kick after each
 *   requests   each: u8 kind (bits 0-2: IN, OUT, FLUSH, GET_ID, DISCARD,
 *              WRITE_ZEROES, u32 type from the input, a raw descriptor;
 *              bit 3: header short of 16 bytes, bit 4: data in the wrong
 *              direction, bit 5: no status descriptor, bit 6: status
 *              descriptor of 4 bytes, bit 7: in an indirect table when
 *              negotiated), u8 cuts (bits 0-1 / 2-3: readable / writable
 *              descriptors - 1), u8 sector mode, u32 sector, u16 length,
 *              then per kind: the type (u32), or a discard segment (u8 list
 *              size code, u32 sector, u32 sectors, u8 flags code), or a raw
 *              descriptor (u8 flags, u8 next, u16 len, u8 where); then the
 *              bytes of OUT data
 * Checks (__builtin_trap): the image file keeps its size and its tail, a
 * read-only image is never written; with no raw descriptor in the input:
 * every answered chain has a status byte in {OK, IOERR, UNSUPP} at its last
 * writable byte, the used length is every writable byte, a failed
 * request's data is zeroed, a status is OK exactly when the request is
 * valid (direction, length, range, read-only, flags), what IN reads is what
 * the model of the disk holds, and the image ends up as the model says
 * (discarded bytes: as before or zero).
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "../tests/unit/virtio/vdrv.h"
#include "backends/block/raw.h"
#include "devices/virtio/block.h"
#include "fuzz_input.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QSZ 256
#define MEM_SIZE (1u << 20)
#define MEM_END (VDRV_GPA + MEM_SIZE)
#define MAX_REQS 48
#define MAX_LEN 9000
#define MAX_SECTORS 64
#define IMG_MAX (MAX_SECTORS * 512 + 512)
#define HDR 16
#define ST_UNSET 0xee
#define WAIT_MS 5000

enum kind { K_IN, K_OUT, K_FLUSH, K_GET_ID, K_DISCARD, K_WZ, K_TYPE, K_RAW };

struct req {
	uint64_t r_gpa, w_gpa;	/* readable bytes (header first), writable (status last) */
	uint32_t r_len, w_len;
	bool used;
};

struct fuzz_state {
	struct guest_mem gm;
	char dir[64];
	char path[128];
	int fd;		/* the harness's own view of the image */
	uint8_t pattern[IMG_MAX];
};

struct run {
	struct vdrv d;
	struct fuzz_state *s;
	struct req reqs[MAX_REQS];
	int head_req[QSZ];
	unsigned int nreqs, descs;
	bool raw, ro, indirect;
	enum virtio_blk_sync sync;
	uint64_t img_size, capacity;
	uint8_t model[IMG_MAX];
	bool unknown[IMG_MAX];	/* discarded: as before or zero */
	uint8_t id[BLK_ID_LEN];
	bool have_id;
};

static struct fuzz_state *state;

static void cleanup(void)
{
	close(state->fd);
	unlink(state->path);
	rmdir(state->dir);
	gm_destroy(&state->gm);
}

static struct fuzz_state *setup(void)
{
	static struct fuzz_state s;

	krun_log_configure(2, LOG_LVL_OFF);
	require(gm_alloc_region(&s.gm, VDRV_GPA, MEM_SIZE) == 0);
	/* tmpfs where there is one: FLUSH then costs no disk sync. */
	strcpy(s.dir, "/dev/shm/krun-fuzz-blk-XXXXXX");
	if (!mkdtemp(s.dir)) {
		strcpy(s.dir, "/tmp/krun-fuzz-blk-XXXXXX");
		require(mkdtemp(s.dir) != NULL);
	}
	snprintf(s.path, sizeof(s.path), "%s/disk.img", s.dir);
	s.fd = open(s.path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	require(s.fd >= 0);
	for (size_t i = 0; i < IMG_MAX; i++)
		s.pattern[i] = (uint8_t)(i * 7 + (i >> 9) * 13 + 1);
	state = &s;
	atexit(cleanup);
	return &s;
}

/* Copies up to len input bytes to gpa (the rest stays 0). */
static void get_bytes(struct reader *r, struct vdrv *d, uint64_t gpa, size_t len)
{
	size_t n = len < r->left ? len : r->left;

	memcpy(vdrv_ptr(d, gpa), r->p, n);
	r->p += n;
	r->left -= n;
}

static uint64_t decode_sector(const struct run *t, uint8_t mode, uint32_t raw)
{
	uint64_t cap = t->capacity >> 9;

	switch (mode & 7) {
	case 0:
	case 1:
		return raw % (cap + 2);
	case 2:
		return cap - (raw & 3);	/* at and around the end */
	case 3:
		return UINT64_MAX - (raw & 0xff);
	case 4:
		return (uint64_t)raw << 32 | raw;
	case 5:
		return (UINT64_MAX >> 9) + 1 - (raw & 3);	/* << 9 overflows */
	default:
		return raw;
	}
}

static uint32_t decode_len(uint16_t raw)
{
	if (raw & 0x8000)
		return (raw & 0x7fff) % (MAX_LEN + 1);
	return 512u * (raw % 18);
}

static bool room(const struct run *t, unsigned int ndesc, uint64_t bytes)
{
	return t->nreqs < MAX_REQS && t->descs + ndesc <= QSZ &&
	       t->d.brk + bytes + 256 <= MEM_END;
}

/* Cuts [gpa, gpa + len) into n descriptors at input-chosen points. */
static unsigned int cut(struct reader *r, struct vdrv_buf *b, uint64_t gpa, uint32_t len,
			unsigned int n, bool writable)
{
	uint32_t pos = 0;

	if (!len)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		uint8_t c = get8(r);
		uint32_t end = i + 1 == n ? len : pos + (uint32_t)((uint64_t)(len - pos) * c / 255);
		b[i] = (struct vdrv_buf){ gpa + pos, end - pos, writable };
		pos = end;
	}
	return n;
}

/* Posts b[0..n) directly or, when negotiated and asked for, as a table. */
static void post(struct run *t, struct req *q, const struct vdrv_buf *b, unsigned int n,
		 bool table)
{
	struct vdrv_queue *vq = &t->d.q[0];
	uint16_t head = vq->next_desc % vq->size;

	if (table && t->indirect && n) {
		uint64_t tbl = vdrv_alloc(&t->d, 16ull * n, 16);
		struct vring_desc *desc = vdrv_ptr(&t->d, tbl);
		for (unsigned int i = 0; i < n; i++) {
			desc[i].addr = b[i].gpa;
			desc[i].len = b[i].len;
			desc[i].flags = (b[i].writable ? VRING_DESC_F_WRITE : 0) |
					(i + 1 < n ? VRING_DESC_F_NEXT : 0);
			desc[i].next = (uint16_t)(i + 1);
		}
		struct vring_desc *d0 = vdrv_desc(&t->d, 0, head);
		*d0 = (struct vring_desc){ tbl, 16 * n, VRING_DESC_F_INDIRECT, 0 };
		vq->next_desc++;
		t->descs++;
		vdrv_publish(&t->d, 0, head);
	} else {
		head = vdrv_post(&t->d, 0, b, n);
		t->descs += n;
	}
	t->head_req[head] = (int)(q - t->reqs);
	t->nreqs++;
}

static void raw_desc(struct run *t, struct reader *r)
{
	struct vdrv_queue *vq = &t->d.q[0];
	uint8_t flags = get8(r), next = get8(r);
	uint16_t len = get16(r);
	uint8_t where = get8(r);
	uint16_t head = vq->next_desc % vq->size;
	uint64_t gpa;

	if (len > MAX_LEN)
		len = MAX_LEN;
	if (!room(t, 1, len))
		return;
	switch (where % 4) {
	case 0:
		gpa = vdrv_alloc(&t->d, len ? len : 1, 8);
		get_bytes(r, &t->d, gpa, len);
		break;
	case 1:
		gpa = 0xffff0000ull + where;
		break;
	case 2:
		gpa = MEM_END - (where & 0x3f);
		break;
	default:
		gpa = t->d.q[0].desc + (where & 0xf0);	/* the ring itself */
		break;
	}
	*vdrv_desc(&t->d, 0, head) = (struct vring_desc){ gpa, len, flags, next };
	vq->next_desc++;
	t->descs++;
	t->raw = true;
	vdrv_publish(&t->d, 0, head);
}

/* Builds one request: header, data, status; see the top comment. */
static void request(struct run *t, struct reader *r)
{
	uint8_t kind = get8(r), cuts = get8(r), smode = get8(r);
	uint32_t sraw = get32(r);
	uint32_t len = decode_len(get16(r));
	static const uint32_t types[] = { VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT, VIRTIO_BLK_T_FLUSH,
					  VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_DISCARD,
					  VIRTIO_BLK_T_WRITE_ZEROES };
	enum kind k = kind & 7;

	if (k == K_RAW) {
		raw_desc(t, r);
		return;
	}
	if (t->nreqs == MAX_REQS)
		return;
	struct req *q = &t->reqs[t->nreqs];
	memset(q, 0, sizeof(*q));
	uint32_t type = k == K_TYPE ? get32(r) : types[k];
	uint64_t sector = decode_sector(t, smode, sraw);

	/* Payload: OUT data and discard segments are readable, the rest writable. */
	bool readable = k == K_OUT || k == K_DISCARD || k == K_WZ ||
			(k == K_TYPE && (smode & 0x80));
	struct virtio_blk_discard_write_zeroes seg = { 0 };
	if (k == K_DISCARD || k == K_WZ) {
		static const uint32_t seg_lens[] = { 16, 0, 32, 8 };
		len = seg_lens[get8(r) & 3];
		seg.sector = htole64(decode_sector(t, smode >> 3, get32(r)));
		uint32_t num = get32(r);
		seg.num_sectors = htole32(num & 0x80000000u ? num : num % (MAX_SECTORS + 4));
		uint8_t fc = get8(r);
		seg.flags = htole32(fc & 2 ? (fc & 1 ? get32(r) : 2) : (fc & 1));
	} else if (k == K_GET_ID || (k == K_FLUSH && (smode & 0x40))) {
		len %= 64;
	} else if (k == K_FLUSH) {
		len = 0;
	}
	if (kind & 16)
		readable = !readable;
	uint32_t hdr = kind & 8 ? sraw % HDR : HDR;
	uint32_t slen = kind & 32 ? 0 : kind & 64 ? 4 : 1;
	q->r_len = hdr + (readable ? len : 0);
	q->w_len = (readable ? 0 : len) + slen;
	unsigned int nr = q->r_len ? (cuts & 3) + 1 : 0, nw = q->w_len ? ((cuts >> 2) & 3) + 1 : 0;
	if (!nr && !nw)
		return;
	if (!room(t, (kind & 128) && t->indirect ? 1 : nr + nw, q->r_len + q->w_len + 16 * 8))
		return;

	q->r_gpa = vdrv_alloc(&t->d, q->r_len ? q->r_len : 1, 8);
	q->w_gpa = vdrv_alloc(&t->d, q->w_len ? q->w_len : 1, 8);
	uint8_t h[HDR];
	struct virtio_blk_outhdr oh = { htole32(type), 0, htole64(sector) };
	memcpy(h, &oh, HDR);
	memcpy(vdrv_ptr(&t->d, q->r_gpa), h, hdr);
	if (readable && (k == K_DISCARD || k == K_WZ)) {
		uint8_t *p = vdrv_ptr(&t->d, q->r_gpa + hdr);
		for (uint32_t i = 0; i < len; i += sizeof(seg))
			memcpy(p + i, &seg, len - i < sizeof(seg) ? len - i : sizeof(seg));
	} else if (readable) {
		get_bytes(r, &t->d, q->r_gpa + hdr, len);
	}
	memset(vdrv_ptr(&t->d, q->w_gpa), ST_UNSET, q->w_len);

	struct vdrv_buf b[8];
	unsigned int n = cut(r, b, q->r_gpa, q->r_len, nr, false);
	n += cut(r, b + n, q->w_gpa, q->w_len, nw, true);
	post(t, q, b, n, kind & 128);
}

/* Is [sector, +len bytes) inside the disk (the device's own rule)? */
static bool in_range(const struct run *t, uint64_t sector, uint64_t len)
{
	return sector <= t->capacity >> 9 && len <= t->capacity - (sector << 9);
}

/* The first 16 readable bytes as the device reads them. */
static void parse_header(const uint8_t *r, uint32_t *type,
			 uint64_t *sector)
{
	struct virtio_blk_outhdr h;

	memcpy(&h, r, HDR);
	*type = le32toh(h.type);
	*sector = le64toh(h.sector);
}

/* The status a request must get. */
static int expected(const struct run *t, const struct req *q, const uint8_t *r)
{
	struct virtio_blk_discard_write_zeroes seg;
	uint32_t type;
	uint64_t sector;

	if (q->r_len < HDR)
		return VIRTIO_BLK_S_IOERR;
	parse_header(r, &type, &sector);
	uint32_t rd = q->r_len - HDR, wr = q->w_len - 1;
	switch (type) {
	case VIRTIO_BLK_T_IN:
		return !rd && wr % 512 == 0 && in_range(t, sector, wr) ? VIRTIO_BLK_S_OK
									: VIRTIO_BLK_S_IOERR;
	case VIRTIO_BLK_T_OUT:
		return !wr && !t->ro && rd % 512 == 0 && in_range(t, sector, rd)
			       ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
	case VIRTIO_BLK_T_FLUSH:
		if (t->sync == VIRTIO_BLK_SYNC_NONE)
			return VIRTIO_BLK_S_UNSUPP;
		return rd || wr ? VIRTIO_BLK_S_IOERR : VIRTIO_BLK_S_OK;
	case VIRTIO_BLK_T_GET_ID:
		return !rd && wr >= BLK_ID_LEN ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (t->ro || wr || rd != sizeof(seg))
			return VIRTIO_BLK_S_IOERR;
		memcpy(&seg, r + HDR, sizeof(seg));
		uint32_t allowed = type == VIRTIO_BLK_T_WRITE_ZEROES
					   ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0;
		if (le32toh(seg.flags) & ~allowed)
			return VIRTIO_BLK_S_UNSUPP;
		uint32_t num = le32toh(seg.num_sectors);
		return num <= (1u << 21) && in_range(t, le64toh(seg.sector), (uint64_t)num << 9)
			       ? VIRTIO_BLK_S_OK : VIRTIO_BLK_S_IOERR;
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}

static bool all(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* One answered request, in the order the device served them. */
static void check_answer(struct run *t, struct req *q, uint32_t used_len)
{
	const uint8_t *r = vdrv_ptr(&t->d, q->r_gpa), *w = vdrv_ptr(&t->d, q->w_gpa);
	uint32_t wr = q->w_len - 1;
	uint8_t st = w[wr];

	check(!q->used);
	q->used = true;
	check(used_len == q->w_len);
	check(st == expected(t, q, r));
	if (st != VIRTIO_BLK_S_OK) {
		check(all(w, wr, 0));
		return;
	}
	uint32_t type;
	uint64_t sector, off;
	parse_header(r, &type, &sector);
	switch (type) {
	case VIRTIO_BLK_T_IN:
		off = sector << 9;
		for (uint32_t i = 0; i < wr; i++)
			check(w[i] == t->model[off + i] || (t->unknown[off + i] && !w[i]));
		break;
	case VIRTIO_BLK_T_OUT:
		off = sector << 9;
		memcpy(t->model + off, r + HDR, q->r_len - HDR);
		memset(t->unknown + off, 0, q->r_len - HDR);
		break;
	case VIRTIO_BLK_T_GET_ID:
		if (t->have_id)
			check(memcmp(t->id, w, BLK_ID_LEN) == 0);
		memcpy(t->id, w, BLK_ID_LEN);
		t->have_id = true;
		check(all(w + BLK_ID_LEN, wr - BLK_ID_LEN, 0));
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		struct virtio_blk_discard_write_zeroes seg;
		memcpy(&seg, r + HDR, sizeof(seg));
		off = le64toh(seg.sector) << 9;
		uint64_t n = (uint64_t)le32toh(seg.num_sectors) << 9;
		if (type == VIRTIO_BLK_T_DISCARD) {
			memset(t->unknown + off, 1, n);
		} else {
			memset(t->model + off, 0, n);
			memset(t->unknown + off, 0, n);
		}
		break;
	}
	}
}

static bool all_used(struct run *t)
{
	struct vring_used *u = vdrv_used(&t->d, 0);

	return __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) == t->d.q[0].avail_idx;
}

static void wait_used(struct run *t)
{
	int64_t end = vdrv_now_ms() + WAIT_MS;

	while (!all_used(t) && !atomic_load(&t->d.dev.needs_reset)) {
		int64_t left = end - vdrv_now_ms();
		if (left <= 0)
			return;
		vdrv_wait_irq(&t->d, 1);
	}
}

static void check_used(struct run *t)
{
	struct vring_used *u = vdrv_used(&t->d, 0);
	uint16_t n = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);

	check(n <= t->d.q[0].avail_idx);
	if (t->raw)
		return;
	for (uint16_t i = 0; i < n; i++) {
		const struct vring_used_elem *e = &u->ring[i % QSZ];
		check(e->id < QSZ && t->head_req[e->id] >= 0);
		struct req *q = &t->reqs[t->head_req[e->id]];
		/* Without a writable byte the chain is unanswerable. */
		check(q->w_len > 0);
		check_answer(t, q, e->len);
	}
	/* What was not answered follows a chain with no status byte. */
	if (n < t->d.q[0].avail_idx)
		check(atomic_load(&t->d.dev.needs_reset));
}

static void check_image(struct run *t)
{
	static uint8_t buf[IMG_MAX];
	struct stat st;

	require(fstat(t->s->fd, &st) == 0);
	check((uint64_t)st.st_size == t->img_size);
	require(pread(t->s->fd, buf, t->img_size, 0) == (ssize_t)t->img_size);
	check(memcmp(buf + t->capacity, t->s->pattern + t->capacity,
		     t->img_size - t->capacity) == 0);
	if (t->ro) {
		check(memcmp(buf, t->s->pattern, t->img_size) == 0);
		return;
	}
	if (t->raw)
		return;
	for (uint64_t i = 0; i < t->capacity; i++)
		check(buf[i] == t->model[i] || (t->unknown[i] && !buf[i]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state *s = state ? state : setup();
	struct reader r = { data, size };
	static struct run t;
	static const enum virtio_blk_sync syncs[] = { VIRTIO_BLK_SYNC_NONE,
						      VIRTIO_BLK_SYNC_RELAXED,
						      VIRTIO_BLK_SYNC_FULL,
						      VIRTIO_BLK_SYNC_RELAXED };

	if (size < 3)
		return 0;
	memset(&t, 0, sizeof(t));
	memset(t.head_req, 0xff, sizeof(t.head_req));
	t.s = s;
	uint8_t b0 = get8(&r), b1 = get8(&r), b2 = get8(&r);
	t.ro = b0 & 1;
	t.sync = syncs[(b0 >> 1) & 3];
	t.capacity = b1 & 0x40 ? 0 : 512ull * 8 * (1 + (b0 >> 5));
	t.img_size = t.capacity + (b1 & 0x80 ? 4u * (b1 & 0x3f) + 1 : 0);
	require(ftruncate(s->fd, 0) == 0);
	if (t.img_size)
		require(pwrite(s->fd, s->pattern, t.img_size, 0) == (ssize_t)t.img_size);
	memcpy(t.model, s->pattern, t.img_size);

	int err;
	struct virtio_blk *blk = virtio_blk_create(s->path, t.ro, false, t.sync, &err);
	require(blk != NULL);
	t.d.gm = s->gm;
	t.d.brk = VDRV_GPA + 0x1000;
	memset(vdrv_ptr(&t.d, VDRV_GPA), 0, MEM_SIZE);
	require(virtio_mmio_init(&t.d.dev, virtio_blk_ops(blk), blk, &t.d.gm, 0xd0000000, 5) ==
		0);
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_BLK_F_FLUSH |
		     1ull << VIRTIO_BLK_F_DISCARD | 1ull << VIRTIO_BLK_F_WRITE_ZEROES |
		     (b0 & 8 ? 1ull << VIRTIO_F_RING_EVENT_IDX : 0) |
		     (b0 & 16 ? 1ull << VIRTIO_RING_F_INDIRECT_DESC : 0);
	require(vdrv_negotiate(&t.d, f));
	t.indirect = virtio_mmio_has_feature(&t.d.dev, VIRTIO_RING_F_INDIRECT_DESC);
	vdrv_setup_queue(&t.d, 0, QSZ);
	vdrv_status_add(&t.d, VIRTIO_CONFIG_S_DRIVER_OK);
	require(t.d.dev.activated);

	unsigned int n = b2 & 63;
	for (unsigned int i = 0; i < n && r.left; i++) {
		request(&t, &r);
		if (b2 & 64)
			vdrv_kick(&t.d, 0);
	}
	vdrv_kick(&t.d, 0);
	wait_used(&t);
	/* Reset: the worker is joined, nothing touches guest memory now. */
	virtio_mmio_destroy(&t.d.dev);
	virtio_blk_destroy(blk);
	check_used(&t);
	check_image(&t);
	return 0;
}
