// SPDX-License-Identifier: Apache-2.0
/*
 * qcow2 images (versions 2 and 3), read-write, with read-only backing
 * chains of raw or qcow2 images.
 *
 * Trust: the image is the caller's, but it may have been written by a guest
 * before (through us or another VMM), so every header field, table entry and
 * offset is checked before use: at open for the header, L1 table and
 * refcount table (no metadata may overlap, nothing may lie outside the
 * file), at use for L2 and refcount block entries.  A bad entry fails that
 * request with -EIO and a log line; it never makes us write outside the
 * file or over the image's metadata.
 *
 * Allocation is at the end of the file only (freed clusters get refcount 0
 * and a punched hole, but are not reused), which keeps crash consistency
 * simple.  Ordering: a new cluster's refcount and its data are written, then
 * fdatasync, then the L2 entry that makes them reachable; a new L2 table is
 * zeroed and refcounted, then fdatasync, then its L1 entry.  Freeing runs the
 * other way (L2 entry, fdatasync, refcount).  So neither kill -9 nor a power
 * loss leaves metadata pointing at unwritten data or at a cluster whose
 * refcount is 0; the worst left behind is a leaked cluster.  Lazy refcounts
 * are never used and images with snapshots, the dirty or corrupt bit, an
 * external data file or extended L2 entries are not opened for writing.
 *
 * Not implemented (refused): encryption (at open), compressed clusters (the
 * request fails), internal snapshots (read-only opens only read the active
 * L1 table).
 */
#include "image.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "../../util/iov.h"
#include "../../util/log.h"

#define QCOW2_MAGIC 0x514649fbu
#define QCOW2_V2_HEADER 72u
#define QCOW2_V3_HEADER 104u
#define QCOW2_MIN_CLUSTER_BITS 9
#define QCOW2_MAX_CLUSTER_BITS 21
/* qemu's own limits: larger tables are refused there too. */
#define QCOW2_MAX_L1_BYTES (32ull << 20)
#define QCOW2_MAX_RT_BYTES (8ull << 20)
#define QCOW2_MAX_SIZE (1ull << 56)
#define QCOW2_MAX_SNAPSHOTS 65536u
#define QCOW2_MAX_BACKING_NAME 1023u
/* L2 updates (and frees) collected before one fdatasync barrier. */
#define QCOW2_BATCH 64
/* Clusters past the end with a stale refcount skipped before giving up. */
#define QCOW2_MAX_ALLOC_SKIP 65536

#define INCOMPAT_DIRTY (1ull << 0)
#define INCOMPAT_CORRUPT (1ull << 1)
#define INCOMPAT_DATA_FILE (1ull << 2)
#define INCOMPAT_COMPRESSION (1ull << 3)
#define INCOMPAT_EXTL2 (1ull << 4)

#define EXT_END 0u
#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_CRYPTO 0x0537be77u
#define EXT_DATA_FILE 0x44415441u

#define OFLAG_COPIED (1ull << 63)
#define OFLAG_COMPRESSED (1ull << 62)
#define OFLAG_ZERO 1ull
#define ENTRY_OFFSET_MASK 0x00fffffffffffe00ull
/* L1 entries: bits 0-8 and 56-62 are reserved. */
#define L1_RESERVED 0x7f000000000001ffull
/* Standard L2 entries: bits 1-8 and 56-61 (and bit 0 before version 3). */
#define L2_RESERVED 0x3f000000000001feull
#define RT_RESERVED 0x1ffull

struct chain_link {
	dev_t dev;
	ino_t ino;
	const struct chain_link *parent;
};

struct l2_update {
	uint64_t at;	/* file offset of the L2 entry */
	uint64_t val;
};

struct qcow2 {
	struct blk_backend b;	/* first: the generic part is what callers hold */
	int fd;
	char *path;
	uint32_t version;
	uint32_t cluster_bits;
	uint64_t cs;		/* cluster size */
	uint64_t l2_entries;	/* per L2 table */
	uint64_t *l1;		/* host order, as on disk otherwise */
	uint32_t l1_size;
	uint64_t l1_off;
	uint64_t *rt;
	uint64_t rt_entries;
	uint64_t rt_off;
	uint32_t refcount_order;
	uint64_t rb_entries;	/* refcounts per refcount block */
	struct blk_backend *backing;
	uint64_t file_end;	/* next cluster to allocate */
	/* Sorted offsets of every L2 table and refcount block. */
	uint64_t *meta;
	size_t nr_meta, cap_meta;
	uint8_t *cbuf;		/* one cluster, for copy-on-write */
	uint8_t *zbuf;		/* one cluster of zeros */
	struct l2_update pend[QCOW2_BATCH];
	unsigned int nr_pend;
	uint64_t freed[QCOW2_BATCH];
	unsigned int nr_freed;
	bool compressed_logged;
};

struct qcow2_header {
	uint32_t version;
	uint64_t backing_off;
	uint32_t backing_len;
	uint32_t cluster_bits;
	uint64_t size;
	uint32_t crypt;
	uint32_t l1_size;
	uint64_t l1_off;
	uint64_t rt_off;
	uint32_t rt_clusters;
	uint32_t nb_snapshots;
	uint64_t snapshots_off;
	uint64_t incompat;
	uint64_t autoclear;
	uint32_t refcount_order;
	uint32_t header_len;
};

static struct qcow2 *to_q(struct blk_backend *b)
{
	return (struct qcow2 *)b;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return be32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return be64toh(v);
}

static int put64(int fd, uint64_t at, uint64_t val)
{
	uint64_t be = htobe64(val);
	return blk_io_pwrite(fd, &be, sizeof(be), at);
}

static int read64(int fd, uint64_t at, uint64_t *val)
{
	uint8_t b[8];
	int ret = blk_io_pread(fd, b, sizeof(b), at);
	*val = ret ? 0 : get64(b);
	return ret;
}

static int corrupt(const struct qcow2 *q, const char *what, uint64_t val)
{
	log_error("qcow2: %s: corrupt image: %s (0x%llx)", q->path, what,
		  (unsigned long long)val);
	return -EIO;
}

static bool ranges_overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return alen && blen && a < b + blen && b < a + alen;
}

static uint64_t round_up(uint64_t v, uint64_t a)
{
	return (v + a - 1) & ~(a - 1);
}

/* The header cluster, the L1 table and the refcount table. */
static bool hits_fixed_meta(const struct qcow2 *q, uint64_t off, uint64_t len)
{
	return ranges_overlap(off, len, 0, q->cs) ||
	       ranges_overlap(off, len, q->l1_off, round_up((uint64_t)q->l1_size * 8, q->cs)) ||
	       ranges_overlap(off, len, q->rt_off, round_up(q->rt_entries * 8, q->cs));
}

static bool is_meta(const struct qcow2 *q, uint64_t off)
{
	size_t lo = 0, hi = q->nr_meta;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (q->meta[mid] == off)
			return true;
		if (q->meta[mid] < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* New metadata is allocated at the end, so it sorts last. */
static int meta_add(struct qcow2 *q, uint64_t off)
{
	if (q->nr_meta == q->cap_meta) {
		size_t cap = q->cap_meta ? q->cap_meta * 2 : 64;
		uint64_t *m = realloc(q->meta, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		q->meta = m;
		q->cap_meta = cap;
	}
	q->meta[q->nr_meta++] = off;
	return 0;
}

/* A cluster-aligned offset of a whole cluster inside the file, clear of the
 * fixed metadata. */
static bool cluster_ok(const struct qcow2 *q, uint64_t off)
{
	return off && !(off & (q->cs - 1)) && off < q->file_end && q->file_end - off >= q->cs &&
	       !hits_fixed_meta(q, off, q->cs);
}

/* ---- refcounts ---- */

static unsigned int rc_bits(const struct qcow2 *q)
{
	return 1u << q->refcount_order;
}

/* Reads (set = false) or writes the refcount of cluster index i of block rb. */
static int rc_entry(struct qcow2 *q, uint64_t rb, uint64_t i, uint64_t *val, bool set)
{
	unsigned int bits = rc_bits(q);
	uint8_t b[8] = { 0 };
	int ret;

	if (bits >= 8) {
		unsigned int n = bits / 8;
		uint64_t at = rb + i * n, v = 0;
		if (!set) {
			ret = blk_io_pread(q->fd, b, n, at);
			for (unsigned int k = 0; k < n; k++)
				v = (v << 8) | b[k];
			*val = v;
			return ret;
		}
		v = *val;
		for (unsigned int k = n; k-- > 0; v >>= 8)
			b[k] = (uint8_t)v;
		return blk_io_pwrite(q->fd, b, n, at);
	}
	uint64_t at = rb + i * bits / 8;
	unsigned int shift = (unsigned int)(i * bits % 8), mask = (1u << bits) - 1;
	ret = blk_io_pread(q->fd, b, 1, at);
	if (ret)
		return ret;
	if (!set) {
		*val = (b[0] >> shift) & mask;
		return 0;
	}
	b[0] = (uint8_t)((b[0] & ~(mask << shift)) | ((*val & mask) << shift));
	return blk_io_pwrite(q->fd, b, 1, at);
}

static int refcount_get(struct qcow2 *q, uint64_t off, uint64_t *val)
{
	uint64_t idx = off >> q->cluster_bits, rti = idx / q->rb_entries;

	*val = 0;
	if (rti >= q->rt_entries || !q->rt[rti])
		return 0;
	return rc_entry(q, q->rt[rti], idx % q->rb_entries, val, false);
}

static int refcount_set(struct qcow2 *q, uint64_t off, uint64_t val, unsigned int depth);
static void free_cluster(struct qcow2 *q, uint64_t off);

static uint64_t bump_end(struct qcow2 *q)
{
	uint64_t off = q->file_end;

	q->file_end += q->cs;
	return off;
}

/*
 * A zeroed refcount block for reftable slot rti at the end of the file,
 * holding its own refcount when it covers itself; written before the
 * reftable entry that makes it reachable.
 */
static int new_refblock(struct qcow2 *q, uint64_t rti, unsigned int depth)
{
	if (depth > 2)
		return corrupt(q, "refcount block allocation does not converge", rti);
	uint64_t blk = bump_end(q), idx = blk >> q->cluster_bits, one = 1;
	int ret = blk_io_pwrite(q->fd, q->zbuf, q->cs, blk);

	if (!ret)
		ret = meta_add(q, blk);
	if (!ret && idx / q->rb_entries == rti)
		ret = rc_entry(q, blk, idx % q->rb_entries, &one, true);
	else if (!ret)
		ret = refcount_set(q, blk, 1, depth + 1);
	if (!ret)
		ret = put64(q->fd, q->rt_off + rti * 8, blk);
	if (!ret)
		q->rt[rti] = blk;
	return ret;
}

/* Refcount blocks for clusters [start, *end) of table t (entries slots),
 * placed from *end on and covering themselves too. */
static int plan_refblocks(struct qcow2 *q, uint64_t *t, uint64_t entries, uint64_t start,
			  uint64_t *end)
{
	for (uint64_t c = start; c < *end; c += q->cs) {
		uint64_t rti = (c >> q->cluster_bits) / q->rb_entries;
		if (rti >= entries)
			return -ENOSPC;
		if (!t[rti]) {
			t[rti] = *end;
			*end += q->cs;
		}
	}
	return 0;
}

/* Writes new refcount blocks (those at or past start) and refcount 1 for
 * every cluster in [start, end). */
static int write_refblocks(struct qcow2 *q, const uint64_t *t, uint64_t entries, uint64_t start,
			   uint64_t end)
{
	int ret = 0;

	for (uint64_t i = 0; i < entries && !ret; i++) {
		if (t[i] < start)
			continue;
		ret = blk_io_pwrite(q->fd, q->zbuf, q->cs, t[i]);
		if (!ret)
			ret = meta_add(q, t[i]);
	}
	for (uint64_t c = start; c < end && !ret; c += q->cs) {
		uint64_t idx = c >> q->cluster_bits, one = 1;
		ret = rc_entry(q, t[idx / q->rb_entries], idx % q->rb_entries, &one, true);
	}
	return ret;
}

static int write_reftable(struct qcow2 *q, const uint64_t *t, uint64_t entries, uint64_t at)
{
	uint64_t *be = malloc(entries * 8);

	if (!be)
		return -ENOMEM;
	for (uint64_t i = 0; i < entries; i++)
		be[i] = htobe64(t[i]);
	int ret = blk_io_pwrite(q->fd, be, entries * 8, at);
	free(be);
	return ret;
}

/* The header names the new table in one write, after everything it points
 * at is synced; the old table's clusters are freed after that. */
static int switch_reftable(struct qcow2 *q, uint64_t *t, uint64_t entries, uint64_t at)
{
	uint8_t h[12];
	uint64_t be_off = htobe64(at);
	uint32_t be_n = htobe32((uint32_t)(entries * 8 / q->cs));
	uint64_t old = q->rt_off, old_clusters = q->rt_entries * 8 / q->cs;

	memcpy(h, &be_off, 8);
	memcpy(h + 8, &be_n, 4);
	int ret = blk_io_sync(q->fd, false);
	if (!ret)
		ret = blk_io_pwrite(q->fd, h, sizeof(h), 48);
	if (!ret)
		ret = blk_io_sync(q->fd, false);
	if (ret)
		return ret;
	free(q->rt);
	q->rt = t;
	q->rt_entries = entries;
	q->rt_off = at;
	for (uint64_t i = 0; i < old_clusters; i++)
		free_cluster(q, old + i * q->cs);
	return 0;
}

/* A refcount table with room for slot need, at the end of the file. */
static int grow_reftable(struct qcow2 *q, uint64_t need)
{
	uint64_t entries = q->rt_entries * 2;

	while (entries <= need)
		entries *= 2;
	if (entries * 8 > QCOW2_MAX_RT_BYTES) {
		log_error("qcow2: %s: refcount table would exceed %llu bytes", q->path,
			  (unsigned long long)QCOW2_MAX_RT_BYTES);
		return -ENOSPC;
	}
	uint64_t *t = calloc(entries, 8);
	if (!t)
		return -ENOMEM;
	memcpy(t, q->rt, q->rt_entries * 8);
	uint64_t start = q->file_end, end = start + entries * 8;
	int ret = plan_refblocks(q, t, entries, start, &end);
	if (!ret)
		ret = write_refblocks(q, t, entries, start, end);
	if (!ret)
		ret = write_reftable(q, t, entries, start);
	q->file_end = end;	/* even on failure: those clusters may be half written */
	if (!ret)
		ret = switch_reftable(q, t, entries, start);
	if (ret)
		free(t);
	return ret;
}

static int refcount_set(struct qcow2 *q, uint64_t off, uint64_t val, unsigned int depth)
{
	uint64_t idx = off >> q->cluster_bits, rti = idx / q->rb_entries;

	if (rti >= q->rt_entries) {
		int ret = grow_reftable(q, rti);
		if (ret)
			return ret;
	}
	if (!q->rt[rti]) {
		int ret = new_refblock(q, rti, depth);
		if (ret)
			return ret;
	}
	return rc_entry(q, q->rt[rti], idx % q->rb_entries, &val, true);
}

/* A new cluster with refcount 1 (its contents are the caller's to write). */
static int alloc_cluster(struct qcow2 *q, uint64_t *out)
{
	for (unsigned int i = 0; i < QCOW2_MAX_ALLOC_SKIP; i++) {
		if (q->file_end >= QCOW2_MAX_SIZE)
			return -ENOSPC;
		uint64_t cand = bump_end(q), rc;
		int ret = refcount_get(q, cand, &rc);
		if (ret)
			return ret;
		if (rc)
			continue;	/* claimed past the end of the file: leave it */
		*out = cand;
		return refcount_set(q, cand, 1, 0);
	}
	return corrupt(q, "refcounts claim every cluster past the end of the file",
		       q->file_end);
}

static void free_cluster(struct qcow2 *q, uint64_t off)
{
	uint64_t rc;

	if (refcount_get(q, off, &rc) || !rc) {
		corrupt(q, "freeing a cluster whose refcount is 0", off);
		return;
	}
	if (refcount_set(q, off, rc - 1, 0) || rc != 1)
		return;
	/* The space goes back to the host; failure only costs space. */
	if (fallocate(q->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
		      (off_t)q->cs) < 0)
		log_debug("qcow2: %s: punch hole at %llu: %s", q->path,
			  (unsigned long long)off, strerror(errno));
}

/* ---- mapping ---- */

enum map_kind { MAP_UNALLOC, MAP_ZERO, MAP_DATA, MAP_COMPRESSED };

struct map {
	enum map_kind kind;
	uint64_t host;	/* DATA, or a ZERO cluster that keeps its allocation */
	uint64_t l2e_at;	/* 0 when there is no L2 table */
};

static int lookup(struct qcow2 *q, uint64_t vc, struct map *m)
{
	uint64_t l1i = vc / q->l2_entries, e;

	*m = (struct map){ MAP_UNALLOC, 0, 0 };
	if (l1i >= q->l1_size)
		return corrupt(q, "guest cluster beyond the L1 table", vc);
	uint64_t l2 = q->l1[l1i] & ENTRY_OFFSET_MASK;
	if (!l2)
		return 0;
	m->l2e_at = l2 + (vc % q->l2_entries) * 8;
	int ret = read64(q->fd, m->l2e_at, &e);
	if (ret)
		return ret;
	if (e & OFLAG_COMPRESSED) {
		m->kind = MAP_COMPRESSED;
		return 0;
	}
	uint64_t reserved = L2_RESERVED | (q->version < 3 ? OFLAG_ZERO : 0);
	if (e & reserved)
		return corrupt(q, "reserved bits set in an L2 entry", e);
	m->host = e & ENTRY_OFFSET_MASK;
	if (m->host && (!cluster_ok(q, m->host) || is_meta(q, m->host)))
		return corrupt(q, "L2 entry points outside the data area", e);
	if (e & OFLAG_ZERO)
		m->kind = MAP_ZERO;
	else if (m->host)
		m->kind = MAP_DATA;
	return 0;
}

static int refuse_compressed(struct qcow2 *q, uint64_t voff)
{
	if (!q->compressed_logged)
		log_error("qcow2: %s: compressed cluster at guest byte %llu: compressed clusters "
			  "are not supported (convert the image with qemu-img convert)",
			  q->path, (unsigned long long)voff);
	q->compressed_logged = true;
	return -EIO;
}

/* Bytes [pos, pos + len) of the list from the backing file at voff (zeros
 * where there is none). */
static int read_backing(struct qcow2 *q, const struct iovec *iov, unsigned int cnt, size_t pos,
			size_t len, uint64_t voff)
{
	struct blk_backend *bk = q->backing;
	size_t have = 0;

	if (bk && voff < bk->size)
		have = bk->size - voff < len ? (size_t)(bk->size - voff) : len;
	while (have) {
		struct iovec cur[64];
		size_t got;
		unsigned int n = iov_slice(iov, cnt, pos, have, cur, 64, &got);
		if (!got)
			return -EIO;
		int ret = bk->ops->preadv(bk, cur, n, voff);
		if (ret)
			return ret;
		pos += got;
		voff += got;
		len -= got;
		have -= got;
	}
	blk_iov_zero(iov, cnt, pos, len);
	return 0;
}

static int check_range(const struct blk_backend *b, uint64_t off, uint64_t len)
{
	return off > b->size || len > b->size - off ? -EIO : 0;
}

static int q_preadv(struct blk_backend *b, const struct iovec *iov, unsigned int cnt,
		    uint64_t off)
{
	struct qcow2 *q = to_q(b);
	size_t total = iov_total(iov, cnt);

	if (check_range(b, off, total))
		return -EIO;
	for (size_t pos = 0; pos < total;) {
		uint64_t voff = off + pos, in = voff & (q->cs - 1);
		size_t n = q->cs - in < total - pos ? (size_t)(q->cs - in) : total - pos;
		struct map m;
		int ret = lookup(q, voff >> q->cluster_bits, &m);

		if (ret)
			return ret;
		switch (m.kind) {
		case MAP_UNALLOC:
			ret = read_backing(q, iov, cnt, pos, n, voff);
			break;
		case MAP_ZERO:
			blk_iov_zero(iov, cnt, pos, n);
			break;
		case MAP_DATA:
			ret = blk_io_preadv(q->fd, iov, cnt, pos, n, m.host + in);
			break;
		case MAP_COMPRESSED:
			ret = refuse_compressed(q, voff);
			break;
		}
		if (ret)
			return ret;
		pos += n;
	}
	return 0;
}

/* ---- writing ---- */

/* Makes the collected allocations reachable: data and refcounts are
 * synced first, then the L2 entries written; freed clusters lose their
 * refcount only after the entries that dropped them are synced. */
static int commit(struct qcow2 *q)
{
	int ret = 0;

	if (q->nr_pend)
		ret = blk_io_sync(q->fd, false);
	for (unsigned int i = 0; i < q->nr_pend && !ret; i++)
		ret = put64(q->fd, q->pend[i].at, q->pend[i].val);
	if (!ret && q->nr_freed)
		ret = blk_io_sync(q->fd, false);
	for (unsigned int i = 0; i < q->nr_freed && !ret; i++)
		free_cluster(q, q->freed[i]);
	q->nr_pend = 0;
	q->nr_freed = 0;
	return ret;
}

static int queue_update(struct qcow2 *q, uint64_t at, uint64_t val, uint64_t freed)
{
	q->pend[q->nr_pend++] = (struct l2_update){ at, val };
	if (freed)
		q->freed[q->nr_freed++] = freed;
	return q->nr_pend == QCOW2_BATCH ? commit(q) : 0;
}

/* The L2 table for guest cluster vc, allocated (zeroed, refcounted, synced,
 * then linked from L1) if there is none yet. */
static int ensure_l2(struct qcow2 *q, uint64_t vc, struct map *m)
{
	uint64_t l1i = vc / q->l2_entries, l2;

	if (m->l2e_at)
		return 0;
	int ret = alloc_cluster(q, &l2);
	if (!ret)
		ret = blk_io_pwrite(q->fd, q->zbuf, q->cs, l2);
	if (!ret)
		ret = meta_add(q, l2);
	if (!ret)
		ret = blk_io_sync(q->fd, false);
	if (!ret)
		ret = put64(q->fd, q->l1_off + l1i * 8, l2 | OFLAG_COPIED);
	if (ret)
		return ret;
	q->l1[l1i] = l2 | OFLAG_COPIED;
	m->l2e_at = l2 + (vc % q->l2_entries) * 8;
	return 0;
}

/* The mapping of the cluster holding voff, which is to be modified: a
 * compressed cluster cannot be. */
static int lookup_writable(struct qcow2 *q, uint64_t voff, struct map *m)
{
	int ret = lookup(q, voff >> q->cluster_bits, m);

	if (!ret && m->kind == MAP_COMPRESSED)
		ret = refuse_compressed(q, voff);
	return ret;
}

/* Guest bytes [pos, pos + n) of the list go to guest offset voff, all
 * inside one cluster. */
static int write_chunk(struct qcow2 *q, const struct iovec *iov, unsigned int cnt, size_t pos,
		       size_t n, uint64_t voff)
{
	uint64_t vc = voff >> q->cluster_bits, in = voff & (q->cs - 1), target;
	struct map m;
	int ret = lookup_writable(q, voff, &m);

	if (ret)
		return ret;
	if (m.kind == MAP_DATA)
		return blk_io_pwritev(q->fd, iov, cnt, pos, n, m.host + in);

	bool from_backing = m.kind == MAP_UNALLOC && q->backing;
	if (m.kind == MAP_ZERO && m.host) {
		target = m.host;	/* preallocated: reuse the cluster */
	} else {
		ret = ensure_l2(q, vc, &m);
		if (!ret)
			ret = alloc_cluster(q, &target);
		if (ret)
			return ret;
	}
	if (n < q->cs) {
		struct iovec whole = { q->cbuf, q->cs };
		uint64_t base = vc << q->cluster_bits;
		if (from_backing)
			ret = read_backing(q, &whole, 1, 0, q->cs, base);
		else
			memset(q->cbuf, 0, q->cs);
		if (ret)
			return ret;
		iov_read(iov, cnt, pos, q->cbuf + in, n);
		ret = blk_io_pwrite(q->fd, q->cbuf, q->cs, target);
	} else {
		ret = blk_io_pwritev(q->fd, iov, cnt, pos, n, target);
	}
	if (ret)
		return ret;
	return queue_update(q, m.l2e_at, target | OFLAG_COPIED, 0);
}

static int check_write(const struct blk_backend *b, uint64_t off, uint64_t len)
{
	if (b->read_only)
		return -EROFS;
	return check_range(b, off, len);
}

static int write_range(struct qcow2 *q, const struct iovec *iov, unsigned int cnt, size_t total,
		       uint64_t off)
{
	int ret = 0;

	for (size_t pos = 0; pos < total && !ret;) {
		uint64_t in = (off + pos) & (q->cs - 1);
		size_t n = q->cs - in < total - pos ? (size_t)(q->cs - in) : total - pos;
		ret = write_chunk(q, iov, cnt, pos, n, off + pos);
		pos += n;
	}
	/* What was written before a failure is still made reachable. */
	int cret = commit(q);
	return ret ? ret : cret;
}

static int q_pwritev(struct blk_backend *b, const struct iovec *iov, unsigned int cnt,
		     uint64_t off)
{
	size_t total = iov_total(iov, cnt);
	int ret = check_write(b, off, total);

	return ret ? ret : write_range(to_q(b), iov, cnt, total, off);
}

static int write_zero_bytes(struct qcow2 *q, uint64_t off, size_t n)
{
	struct iovec z = { q->zbuf, n };

	return write_chunk(q, &z, 1, 0, n, off);
}

/* Part of a cluster reads as zeros afterwards: nothing to do where the
 * whole cluster already does (a guest's fstrim must not allocate). */
static int zero_part(struct qcow2 *q, uint64_t voff, size_t n)
{
	bool backed = q->backing && voff < q->backing->size;
	struct map m;
	int ret = lookup_writable(q, voff, &m);

	if (ret)
		return ret;
	if (m.kind == MAP_ZERO || (m.kind == MAP_UNALLOC && !backed))
		return 0;
	return write_zero_bytes(q, voff, n);
}

/* One whole cluster reads as zeros afterwards; unmap frees its storage. */
static int zero_cluster(struct qcow2 *q, uint64_t voff, bool unmap)
{
	uint64_t vc = voff >> q->cluster_bits;
	bool backed = q->backing && voff < q->backing->size;
	struct map m;
	int ret = lookup_writable(q, voff, &m);

	if (ret)
		return ret;
	if (m.kind == MAP_UNALLOC && !backed)
		return 0;
	if (q->version < 3) {
		/* No zero flag: only dropping the mapping (with nothing below) or
		 * writing zeros make the cluster read as zeros. */
		if (backed || !unmap)
			return write_zero_bytes(q, voff, q->cs);
		return queue_update(q, m.l2e_at, 0, m.host);
	}
	if (m.kind == MAP_ZERO && (!unmap || !m.host))
		return 0;
	if (m.host && !unmap)
		return queue_update(q, m.l2e_at, m.host | OFLAG_ZERO | OFLAG_COPIED, 0);
	ret = ensure_l2(q, vc, &m);
	if (ret)
		return ret;
	return queue_update(q, m.l2e_at, OFLAG_ZERO, m.host);
}

static int zero_range(struct blk_backend *b, uint64_t off, uint64_t len, bool unmap)
{
	struct qcow2 *q = to_q(b);
	int ret = check_write(b, off, len);

	for (uint64_t pos = 0; pos < len && !ret;) {
		uint64_t in = (off + pos) & (q->cs - 1);
		uint64_t n = q->cs - in < len - pos ? q->cs - in : len - pos;
		ret = n < q->cs ? zero_part(q, off + pos, (size_t)n)
				: zero_cluster(q, off + pos, unmap);
		pos += n;
	}
	int cret = commit(q);
	return ret ? ret : cret;
}

static int q_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len, bool may_unmap)
{
	return zero_range(b, off, len, may_unmap);
}

/* Discarded ranges read as zeros (never as the backing file's data). */
static int q_discard(struct blk_backend *b, uint64_t off, uint64_t len)
{
	return zero_range(b, off, len, true);
}

static int q_flush(struct blk_backend *b, bool full)
{
	return blk_io_sync(to_q(b)->fd, full);
}

static void q_close(struct blk_backend *b)
{
	struct qcow2 *q = to_q(b);

	if (!q)
		return;
	if (q->backing)
		q->backing->ops->close(q->backing);
	if (q->fd >= 0)
		close(q->fd);
	free(q->l1);
	free(q->rt);
	free(q->meta);
	free(q->cbuf);
	free(q->zbuf);
	free(q->path);
	free(q);
}

static const struct blk_backend_ops qcow2_ops = {
	.preadv = q_preadv,
	.pwritev = q_pwritev,
	.flush = q_flush,
	.discard = q_discard,
	.write_zeroes = q_write_zeroes,
	.close = q_close,
};

/* ---- open ---- */

static int refuse(const char *path, int err, const char *why)
{
	log_error("qcow2: %s: %s", path, why);
	return err;
}

static void decode_header(const uint8_t *h, struct qcow2_header *o)
{
	o->version = get32(h + 4);
	o->backing_off = get64(h + 8);
	o->backing_len = get32(h + 16);
	o->cluster_bits = get32(h + 20);
	o->size = get64(h + 24);
	o->crypt = get32(h + 32);
	o->l1_size = get32(h + 36);
	o->l1_off = get64(h + 40);
	o->rt_off = get64(h + 48);
	o->rt_clusters = get32(h + 56);
	o->nb_snapshots = get32(h + 60);
	o->snapshots_off = get64(h + 64);
	if (o->version >= 3) {
		o->incompat = get64(h + 72);
		o->autoclear = get64(h + 88);
		o->refcount_order = get32(h + 96);
		o->header_len = get32(h + 100);
	} else {
		o->incompat = 0;
		o->autoclear = 0;
		o->refcount_order = 4;
		o->header_len = QCOW2_V2_HEADER;
	}
}

/* A table of len bytes at off: aligned, inside the file. */
static bool table_ok(uint64_t off, uint64_t len, uint64_t cs, uint64_t fsize)
{
	return !(off & (cs - 1)) && off <= fsize && len <= fsize - off;
}

static int check_tables(const char *path, const struct qcow2_header *h, uint64_t fsize,
			bool read_only)
{
	uint64_t cs = 1ull << h->cluster_bits, l2e = cs / 8;
	uint64_t l1_bytes = (uint64_t)h->l1_size * 8, rt_bytes = (uint64_t)h->rt_clusters * cs;

	if (h->size > QCOW2_MAX_SIZE)
		return refuse(path, -EINVAL, "virtual size too large");
	if (l1_bytes > QCOW2_MAX_L1_BYTES)
		return refuse(path, -EINVAL, "L1 table too large");
	if ((uint64_t)h->l1_size * cs * l2e < h->size)
		return refuse(path, -EINVAL, "L1 table too small for the virtual size");
	if (h->l1_size && !table_ok(h->l1_off, l1_bytes, cs, fsize))
		return refuse(path, -EINVAL, "L1 table offset invalid or outside the file");
	if (!h->rt_clusters || rt_bytes > QCOW2_MAX_RT_BYTES ||
	    !table_ok(h->rt_off, rt_bytes, cs, fsize))
		return refuse(path, -EINVAL, "refcount table invalid or outside the file");
	if (ranges_overlap(h->rt_off, rt_bytes, 0, cs) ||
	    ranges_overlap(h->l1_off, l1_bytes, 0, cs) ||
	    ranges_overlap(h->l1_off, l1_bytes, h->rt_off, rt_bytes))
		return refuse(path, -EINVAL, "header, L1 table and refcount table overlap");
	if (h->nb_snapshots > QCOW2_MAX_SNAPSHOTS ||
	    (h->nb_snapshots && (h->snapshots_off < cs || !table_ok(h->snapshots_off, 1, cs, fsize))))
		return refuse(path, -EINVAL, "snapshot table invalid");
	if (h->nb_snapshots && !read_only)
		return refuse(path, -EROFS, "images with internal snapshots are read-only here");
	return 0;
}

static int check_features(const char *path, const struct qcow2_header *h, bool read_only)
{
	uint64_t known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION;

	if (h->crypt)
		return refuse(path, -ENOTSUP, "encrypted images are not supported");
	if (h->incompat & INCOMPAT_DATA_FILE)
		return refuse(path, -ENOTSUP, "external data files are not supported");
	if (h->incompat & INCOMPAT_EXTL2)
		return refuse(path, -ENOTSUP, "extended L2 entries are not supported");
	if (h->incompat & ~known)
		return refuse(path, -ENOTSUP, "unknown incompatible features");
	if (!read_only && (h->incompat & INCOMPAT_DIRTY))
		return refuse(path, -EINVAL,
			      "dirty bit set (refcounts need repair: qemu-img check -r all)");
	if (!read_only && (h->incompat & INCOMPAT_CORRUPT))
		return refuse(path, -EINVAL, "image is marked corrupt (qemu-img check -r all)");
	return 0;
}

static int check_header(const char *path, const struct qcow2_header *h, uint64_t fsize,
			bool read_only)
{
	if (h->version != 2 && h->version != 3)
		return refuse(path, -ENOTSUP, "only qcow2 versions 2 and 3 are supported");
	if (h->cluster_bits < QCOW2_MIN_CLUSTER_BITS || h->cluster_bits > QCOW2_MAX_CLUSTER_BITS)
		return refuse(path, -EINVAL, "cluster size outside 512 bytes..2 MiB");
	uint64_t cs = 1ull << h->cluster_bits;
	if (h->version >= 3 && (h->header_len < QCOW2_V3_HEADER || h->header_len > cs ||
				h->header_len % 8))
		return refuse(path, -EINVAL, "bad header length");
	if (h->refcount_order > 6)
		return refuse(path, -EINVAL, "refcount width over 64 bits");
	if (h->backing_off && (h->backing_off < h->header_len || !h->backing_len ||
			       h->backing_len > QCOW2_MAX_BACKING_NAME ||
			       h->backing_off > cs || h->backing_len > cs - h->backing_off))
		return refuse(path, -EINVAL, "backing file name outside the header cluster");
	int ret = check_features(path, h, read_only);
	return ret ? ret : check_tables(path, h, fsize, read_only);
}

struct extensions {
	char backing_fmt[16];
};

/* Header extensions between the header and the backing file name (or the
 * end of the first cluster). */
static int parse_extensions(const char *path, const uint8_t *c, uint64_t cs,
			    const struct qcow2_header *h, struct extensions *ext)
{
	uint64_t pos = h->header_len, end = h->backing_off ? h->backing_off : cs;

	while (pos + 8 <= end) {
		uint32_t type = get32(c + pos), len = get32(c + pos + 4);
		pos += 8;
		if (type == EXT_END)
			return 0;
		if (len > end - pos)
			return refuse(path, -EINVAL, "header extension overruns the header");
		if (type == EXT_CRYPTO)
			return refuse(path, -ENOTSUP, "encrypted images are not supported");
		if (type == EXT_DATA_FILE)
			return refuse(path, -ENOTSUP, "external data files are not supported");
		if (type == EXT_BACKING_FORMAT) {
			if (len >= sizeof(ext->backing_fmt))
				return refuse(path, -EINVAL, "backing format name too long");
			memcpy(ext->backing_fmt, c + pos, len);
			ext->backing_fmt[len] = 0;
		}
		pos += round_up(len, 8);
	}
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int load_table(struct qcow2 *q, uint64_t off, uint64_t n, uint64_t **out)
{
	uint64_t *t = calloc(n ? n : 1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	int ret = blk_io_pread(q->fd, t, n * 8, off);
	for (uint64_t i = 0; i < n; i++)
		t[i] = be64toh(t[i]);
	if (ret)
		free(t);
	else
		*out = t;
	return ret;
}

/* L1 and refcount tables: every entry a whole cluster in the file, clear
 * of the fixed metadata, and no cluster used twice. */
static int load_tables(struct qcow2 *q, const struct qcow2_header *h)
{
	int ret = load_table(q, q->l1_off, q->l1_size, &q->l1);
	if (!ret)
		ret = load_table(q, q->rt_off, q->rt_entries, &q->rt);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < q->l1_size; i++) {
		uint64_t e = q->l1[i], off = e & ENTRY_OFFSET_MASK;
		if (e & L1_RESERVED)
			return corrupt(q, "reserved bits set in an L1 entry", e);
		if (off && (!cluster_ok(q, off) || meta_add(q, off)))
			return corrupt(q, "L1 entry points outside the file or at metadata", e);
	}
	for (uint64_t i = 0; i < q->rt_entries; i++) {
		uint64_t e = q->rt[i];
		if (e & RT_RESERVED)
			return corrupt(q, "reserved bits set in a refcount table entry", e);
		if (e && (!cluster_ok(q, e) || meta_add(q, e)))
			return corrupt(q, "refcount block outside the file or at metadata", e);
	}
	if (q->nr_meta > 1)
		qsort(q->meta, q->nr_meta, sizeof(*q->meta), cmp_u64);
	for (size_t i = 1; i < q->nr_meta; i++)
		if (q->meta[i] == q->meta[i - 1])
			return corrupt(q, "two tables share a cluster", q->meta[i]);
	(void)h;
	return 0;
}

static int open_image(const char *path, bool read_only, unsigned int depth,
		      const struct chain_link *parent, struct blk_backend **out);

/* Read-only, raw or qcow2, named relative to the image's directory. */
static int open_backing(struct qcow2 *q, const char *name, const char *fmt, unsigned int depth,
			const struct chain_link *self)
{
	if (!depth)
		return refuse(q->path, -ELOOP, "backing chain too deep");
	char *bpath = blk_relative_path(q->path, name);
	if (!bpath)
		return -ENOMEM;
	int ret;
	if (!strcmp(fmt, "qcow2") || !*fmt) {
		/* No format recorded: qcow2 if it says so, raw otherwise (the
		 * backing file is never written, so the guest cannot forge it). */
		ret = open_image(bpath, true, depth - 1, self, &q->backing);
		if (ret == -EMEDIUMTYPE && !*fmt)
			ret = blk_raw_open(bpath, true, false, &q->backing);
	} else if (!strcmp(fmt, "raw")) {
		int fd;
		struct stat st;
		ret = blk_io_open_ro(bpath, &fd, &st);
		if (!ret) {
			close(fd);
			ret = blk_raw_open(bpath, true, false, &q->backing);
		}
	} else {
		log_error("qcow2: %s: backing format %s is not supported", q->path, fmt);
		ret = -ENOTSUP;
	}
	if (ret == -EMEDIUMTYPE)
		ret = refuse(bpath, -EINVAL, "backing file is not a qcow2 image");
	free(bpath);
	return ret;
}

static int read_header_cluster(struct qcow2 *q, uint64_t fsize, struct qcow2_header *h,
			       uint8_t **cluster)
{
	uint8_t first[QCOW2_V3_HEADER] = { 0 };
	int ret = blk_io_pread(q->fd, first, sizeof(first), 0);

	if (ret)
		return ret;
	if (fsize < QCOW2_V2_HEADER || get32(first) != QCOW2_MAGIC)
		return -EMEDIUMTYPE;
	decode_header(first, h);
	if (h->version >= 3 && fsize < QCOW2_V3_HEADER)
		return refuse(q->path, -EINVAL, "truncated header");
	ret = check_header(q->path, h, fsize, q->b.read_only);
	if (ret)
		return ret;
	*cluster = calloc(1, 1ull << h->cluster_bits);
	if (!*cluster)
		return -ENOMEM;
	return blk_io_pread(q->fd, *cluster, 1ull << h->cluster_bits, 0);
}

static int setup(struct qcow2 *q, const struct qcow2_header *h, uint64_t fsize)
{
	q->version = h->version;
	q->cluster_bits = h->cluster_bits;
	q->cs = 1ull << h->cluster_bits;
	q->l2_entries = q->cs / 8;
	q->l1_size = h->l1_size;
	q->l1_off = h->l1_off;
	q->rt_off = h->rt_off;
	q->rt_entries = (uint64_t)h->rt_clusters * q->cs / 8;
	q->refcount_order = h->refcount_order;
	q->rb_entries = q->cs * 8 / rc_bits(q);
	q->file_end = round_up(fsize, q->cs);
	q->b.size = h->size;
	q->b.block_size = 512;
	q->cbuf = malloc(q->cs);
	q->zbuf = calloc(1, q->cs);
	if (!q->cbuf || !q->zbuf)
		return -ENOMEM;
	return load_tables(q, h);
}

/* Writers that do not know an autoclear feature must clear it. */
static int clear_autoclear(struct qcow2 *q, const struct qcow2_header *h)
{
	if (q->b.read_only || !h->autoclear)
		return 0;
	int ret = put64(q->fd, 88, 0);
	return ret ? ret : blk_io_sync(q->fd, false);
}

static int open_fd(const char *path, bool read_only, struct stat *st, uint64_t *fsize)
{
	int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK);
	off_t end;

	if (fd < 0 || fstat(fd, st) < 0 || (end = lseek(fd, 0, SEEK_END)) < 0) {
		int err = errno;
		log_error("qcow2: cannot open %s: %s", path, strerror(err));
		if (fd >= 0)
			close(fd);
		return -err;
	}
	if (!S_ISREG(st->st_mode) && !S_ISBLK(st->st_mode)) {
		close(fd);
		return refuse(path, -EINVAL, "not a regular file or block device");
	}
	*fsize = (uint64_t)end;
	return fd;
}

static int open_image(const char *path, bool read_only, unsigned int depth,
		      const struct chain_link *parent, struct blk_backend **out)
{
	struct qcow2_header h;
	struct extensions ext = { { 0 } };
	struct stat st;
	uint64_t fsize = 0;
	uint8_t *cluster = NULL;
	struct qcow2 *q = calloc(1, sizeof(*q));

	*out = NULL;
	if (!q)
		return -ENOMEM;
	q->b.ops = &qcow2_ops;
	q->b.read_only = read_only;
	q->path = strdup(path);
	q->fd = open_fd(path, read_only, &st, &fsize);
	int ret = q->fd < 0 ? q->fd : q->path ? 0 : -ENOMEM;
	for (const struct chain_link *l = parent; !ret && l; l = l->parent)
		if (l->dev == st.st_dev && l->ino == st.st_ino)
			ret = refuse(path, -ELOOP, "backing chain loops");
	if (!ret)
		ret = read_header_cluster(q, fsize, &h, &cluster);
	if (!ret)
		ret = parse_extensions(path, cluster, 1ull << h.cluster_bits, &h, &ext);
	if (!ret)
		ret = setup(q, &h, fsize);
	if (!ret && h.backing_off) {
		char name[QCOW2_MAX_BACKING_NAME + 1];
		struct chain_link self = { st.st_dev, st.st_ino, parent };
		memcpy(name, cluster + h.backing_off, h.backing_len);
		name[h.backing_len] = 0;
		if (strlen(name) != h.backing_len)
			ret = refuse(path, -EINVAL, "NUL in the backing file name");
		else
			ret = open_backing(q, name, ext.backing_fmt, depth, &self);
	}
	if (!ret)
		ret = clear_autoclear(q, &h);
	free(cluster);
	if (ret) {
		q_close(&q->b);
		return ret;
	}
	blk_make_id(q->b.id, &st);
	*out = &q->b;
	return 0;
}

int blk_qcow2_open(const char *path, bool read_only, unsigned int max_backing_depth,
		   struct blk_backend **out)
{
	int ret = open_image(path, read_only, max_backing_depth, NULL, out);

	if (ret == -EMEDIUMTYPE)
		ret = refuse(path, -EINVAL, "not a qcow2 image (bad magic)");
	return ret;
}
