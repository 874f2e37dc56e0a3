// SPDX-License-Identifier: Apache-2.0
/*
 * VMDK images, read-only: monolithicSparse (one hosted sparse extent: grain
 * directory and grain tables in the image itself) and monolithicFlat (a
 * text descriptor naming FLAT and ZERO extents).  Anything else, delta
 * links (a parent), compressed or stream-optimized extents is refused at
 * open.  Header fields and the grain directory are checked at open; a grain
 * table entry pointing outside the file fails the request.
 */
#include "image.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io.h"
#include "../../util/iov.h"
#include "../../util/log.h"

#define VMDK_SECTOR 512ull
#define VMDK_SPARSE_MAGIC 0x564d444bu	/* "KDMV" */
#define VMDK_HEADER_LEN 79
#define VMDK_MAX_DESC (64u << 10)
#define VMDK_MAX_EXTENTS 16
#define VMDK_MAX_CAPACITY (1ull << 40)	/* sectors: 512 TiB */
#define VMDK_MAX_GRAIN 2048ull	/* sectors: 1 MiB */
#define VMDK_MAX_GTES 65536u
#define VMDK_MAX_GD_BYTES (64ull << 20)
#define VMDK_GD_AT_END 0xffffffffffffffffull

#define VMDK_FLAG_ZERO_GRAIN (1u << 2)
#define VMDK_FLAG_COMPRESSED (1u << 16)
#define VMDK_FLAG_MARKERS (1u << 17)
#define VMDK_GTE_ZEROED 1u

enum extent_type { EXTENT_FLAT, EXTENT_ZERO, EXTENT_SPARSE };

struct extent {
	enum extent_type type;
	uint64_t start;		/* guest bytes */
	uint64_t len;
	int fd;			/* -1 for ZERO; SPARSE shares the image's */
	uint64_t file_off;	/* FLAT: where the extent starts in its file */
	uint64_t file_size;
	/* SPARSE: */
	uint32_t *gd;		/* grain table sector offsets */
	uint64_t gd_entries;
	uint64_t grain;		/* bytes */
	uint32_t gtes;
	bool zero_grain;
};

struct vmdk {
	struct blk_backend b;	/* first: the generic part is what callers hold */
	char *path;
	int fd;
	struct extent ext[VMDK_MAX_EXTENTS];
	unsigned int nr_ext;
};

static struct vmdk *to_v(struct blk_backend *b)
{
	return (struct vmdk *)b;
}

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static int refuse(const char *path, int err, const char *why)
{
	log_error("vmdk: %s: %s", path, why);
	return err;
}

/* Bytes [pos, pos + n) of the list from guest offset voff of a sparse
 * extent, inside one grain. */
static int read_grain(struct vmdk *v, const struct extent *e, const struct iovec *iov,
		      unsigned int cnt, size_t pos, size_t n, uint64_t voff)
{
	uint64_t g = voff / e->grain, in = voff % e->grain, gdi = g / e->gtes;
	uint8_t b[4];

	if (gdi >= e->gd_entries || !e->gd[gdi]) {
		blk_iov_zero(iov, cnt, pos, n);
		return 0;
	}
	int ret = blk_io_pread(e->fd, b, sizeof(b), e->gd[gdi] * VMDK_SECTOR + (g % e->gtes) * 4);
	if (ret)
		return ret;
	uint64_t gte = le32(b);
	if (!gte || (gte == VMDK_GTE_ZEROED && e->zero_grain)) {
		blk_iov_zero(iov, cnt, pos, n);
		return 0;
	}
	uint64_t at = gte * VMDK_SECTOR;
	if (at >= e->file_size || e->file_size - at < in + n) {
		log_error("vmdk: %s: grain table entry 0x%llx points outside the file", v->path,
			  (unsigned long long)gte);
		return -EIO;
	}
	return blk_io_preadv(e->fd, iov, cnt, pos, n, at + in);
}

static int read_extent(struct vmdk *v, const struct extent *e, const struct iovec *iov,
		       unsigned int cnt, size_t pos, size_t n, uint64_t voff)
{
	switch (e->type) {
	case EXTENT_ZERO:
		blk_iov_zero(iov, cnt, pos, n);
		return 0;
	case EXTENT_FLAT:
		return blk_io_preadv(e->fd, iov, cnt, pos, n, e->file_off + voff);
	case EXTENT_SPARSE:
		for (size_t done = 0; done < n;) {
			uint64_t o = voff + done, left = e->grain - o % e->grain;
			size_t k = left < n - done ? (size_t)left : n - done;
			int ret = read_grain(v, e, iov, cnt, pos + done, k, o);
			if (ret)
				return ret;
			done += k;
		}
		return 0;
	}
	return -EIO;
}

static int v_preadv(struct blk_backend *b, const struct iovec *iov, unsigned int cnt,
		    uint64_t off)
{
	struct vmdk *v = to_v(b);
	size_t total = iov_total(iov, cnt), pos = 0;

	if (off > b->size || total > b->size - off)
		return -EIO;
	for (unsigned int i = 0; i < v->nr_ext && pos < total; i++) {
		const struct extent *e = &v->ext[i];
		uint64_t at = off + pos;
		if (at >= e->start + e->len)
			continue;
		uint64_t in = at - e->start, left = e->len - in;
		size_t n = left < total - pos ? (size_t)left : total - pos;
		int ret = read_extent(v, e, iov, cnt, pos, n, in);
		if (ret)
			return ret;
		pos += n;
	}
	return pos == total ? 0 : -EIO;
}

static int v_rofs(void)
{
	return -EROFS;
}

static int v_pwritev(struct blk_backend *b, const struct iovec *iov, unsigned int cnt,
		     uint64_t off)
{
	(void)b, (void)iov, (void)cnt, (void)off;
	return v_rofs();
}

static int v_flush(struct blk_backend *b, bool full)
{
	(void)b, (void)full;
	return 0;
}

static int v_discard(struct blk_backend *b, uint64_t off, uint64_t len)
{
	(void)b, (void)off, (void)len;
	return v_rofs();
}

static int v_write_zeroes(struct blk_backend *b, uint64_t off, uint64_t len, bool may_unmap)
{
	(void)b, (void)off, (void)len, (void)may_unmap;
	return v_rofs();
}

static void v_close(struct blk_backend *b)
{
	struct vmdk *v = to_v(b);

	if (!v)
		return;
	for (unsigned int i = 0; i < v->nr_ext; i++) {
		if (v->ext[i].fd >= 0 && v->ext[i].fd != v->fd)
			close(v->ext[i].fd);
		free(v->ext[i].gd);
	}
	if (v->fd >= 0)
		close(v->fd);
	free(v->path);
	free(v);
}

static const struct blk_backend_ops vmdk_ops = {
	.preadv = v_preadv,
	.pwritev = v_pwritev,
	.flush = v_flush,
	.discard = v_discard,
	.write_zeroes = v_write_zeroes,
	.close = v_close,
};

/* ---- descriptor ---- */

/* The value of key="value" or key=value on a line of its own, or NULL. */
static bool desc_value(const char *desc, const char *key, char *val, size_t cap)
{
	size_t klen = strlen(key);

	for (const char *l = desc; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		while (*l == ' ' || *l == '\t')
			l++;
		if (strncmp(l, key, klen))
			continue;
		const char *p = l + klen;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p++ != '=')
			continue;
		while (*p == ' ' || *p == '\t')
			p++;
		bool quoted = *p == '"';
		p += quoted;
		size_t n = 0;
		while (p[n] && p[n] != '\n' && p[n] != '\r' && (quoted ? p[n] != '"' : p[n] != ' ') &&
		       n + 1 < cap)
			n++;
		memcpy(val, p, n);
		val[n] = 0;
		return true;
	}
	return false;
}

/* Delta links (a parent image) are not supported. */
static int check_descriptor(const char *path, const char *desc, const char *want)
{
	char type[64], parent[32];

	if (!desc_value(desc, "createType", type, sizeof(type)))
		return refuse(path, -EINVAL, "descriptor has no createType");
	if (strcmp(type, want)) {
		log_error("vmdk: %s: createType %s is not supported (only monolithicSparse and "
			  "monolithicFlat)", path, type);
		return -ENOTSUP;
	}
	if (desc_value(desc, "parentCID", parent, sizeof(parent)) &&
	    strcasecmp(parent, "ffffffff"))
		return refuse(path, -ENOTSUP, "delta links (parent images) are not supported");
	if (desc_value(desc, "parentFileNameHint", parent, sizeof(parent)))
		return refuse(path, -ENOTSUP, "delta links (parent images) are not supported");
	return 0;
}

static int add_flat(struct vmdk *v, struct extent *e, const char *name, uint64_t off_sectors)
{
	char *p = blk_relative_path(v->path, name);
	struct stat st;

	if (!p)
		return -ENOMEM;
	int ret = blk_io_open_ro(p, &e->fd, &st);
	free(p);
	if (ret)
		return ret;
	off_t end = lseek(e->fd, 0, SEEK_END);
	if (end < 0)
		return -errno;
	e->file_size = (uint64_t)end;
	if (off_sectors > VMDK_MAX_CAPACITY)
		return refuse(v->path, -EINVAL, "extent offset too large");
	e->file_off = off_sectors * VMDK_SECTOR;
	return 0;
}

/* "RW 2048 FLAT \"file\" 0" or "RW 2048 ZERO". */
static int parse_extent(struct vmdk *v, const char *line)
{
	char access[16], type[16], name[1024];
	uint64_t sectors, off = 0;
	int n = sscanf(line, "%15s %" SCNu64 " %15s \"%1023[^\"]\" %" SCNu64, access, &sectors,
		       type, name, &off);

	if (n < 3)
		return refuse(v->path, -EINVAL, "malformed extent line");
	if (v->nr_ext == VMDK_MAX_EXTENTS)
		return refuse(v->path, -EINVAL, "too many extents");
	uint64_t start = v->nr_ext ? v->ext[v->nr_ext - 1].start + v->ext[v->nr_ext - 1].len : 0;
	if (!sectors || sectors > VMDK_MAX_CAPACITY || start / VMDK_SECTOR + sectors > VMDK_MAX_CAPACITY)
		return refuse(v->path, -EINVAL, "extent size invalid");
	struct extent *e = &v->ext[v->nr_ext++];
	*e = (struct extent){ .fd = -1, .start = start, .len = sectors * VMDK_SECTOR };
	if (!strcmp(type, "ZERO")) {
		e->type = EXTENT_ZERO;
		return 0;
	}
	if (strcmp(type, "FLAT") || n < 4) {
		log_error("vmdk: %s: extent type %s is not supported (FLAT and ZERO only)",
			  v->path, type);
		return -ENOTSUP;
	}
	e->type = EXTENT_FLAT;
	return add_flat(v, e, name, off);
}

static bool is_extent_line(const char *l)
{
	return !strncmp(l, "RW ", 3) || !strncmp(l, "RDONLY ", 7) || !strncmp(l, "NOACCESS ", 9);
}

static int open_flat(struct vmdk *v, uint64_t fsize)
{
	if (fsize > VMDK_MAX_DESC)
		return refuse(v->path, -EINVAL, "not a VMDK descriptor (too large)");
	char *desc = calloc(1, fsize + 1);
	if (!desc)
		return -ENOMEM;
	int ret = blk_io_pread(v->fd, desc, fsize, 0);
	/* Padded with NULs by some writers: the text ends at the first. */
	if (!ret && !strstr(desc, "# Disk DescriptorFile"))
		ret = refuse(v->path, -EINVAL, "not a VMDK image (no sparse header or descriptor)");
	if (!ret)
		ret = check_descriptor(v->path, desc, "monolithicFlat");
	for (char *l = desc; !ret && l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		while (*l == ' ' || *l == '\t')
			l++;
		if (is_extent_line(l))
			ret = parse_extent(v, l);
	}
	if (!ret && !v->nr_ext)
		ret = refuse(v->path, -EINVAL, "descriptor has no extents");
	free(desc);
	if (!ret)
		v->b.size = v->ext[v->nr_ext - 1].start + v->ext[v->nr_ext - 1].len;
	return ret;
}

/* ---- monolithicSparse ---- */

struct sparse_header {
	uint32_t version, flags, gtes;
	uint64_t capacity, grain, desc_off, desc_size, gd_off;
	uint16_t compress;
};

static void decode_sparse(const uint8_t *h, struct sparse_header *s)
{
	s->version = le32(h + 4);
	s->flags = le32(h + 8);
	s->capacity = le64(h + 12);
	s->grain = le64(h + 20);
	s->desc_off = le64(h + 28);
	s->desc_size = le64(h + 36);
	s->gtes = le32(h + 44);
	s->gd_off = le64(h + 56);
	s->compress = (uint16_t)(h[77] | h[78] << 8);
}

static int check_sparse(const char *path, const struct sparse_header *s)
{
	if (s->version < 1 || s->version > 3)
		return refuse(path, -ENOTSUP, "unsupported sparse extent version");
	if ((s->flags & (VMDK_FLAG_COMPRESSED | VMDK_FLAG_MARKERS)) || s->compress ||
	    s->gd_off == VMDK_GD_AT_END)
		return refuse(path, -ENOTSUP,
			      "compressed or stream-optimized extents are not supported");
	if (!s->grain || s->grain > VMDK_MAX_GRAIN || (s->grain & (s->grain - 1)))
		return refuse(path, -EINVAL, "grain size invalid");
	if (!s->gtes || s->gtes > VMDK_MAX_GTES)
		return refuse(path, -EINVAL, "grain table size invalid");
	if (s->capacity > VMDK_MAX_CAPACITY)
		return refuse(path, -EINVAL, "capacity too large");
	return 0;
}

static int load_gd(struct vmdk *v, struct extent *e, uint64_t gd_sector)
{
	uint64_t per_gt = e->grain * e->gtes;
	e->gd_entries = (e->len + per_gt - 1) / per_gt;
	uint64_t bytes = e->gd_entries * 4;

	if (bytes > VMDK_MAX_GD_BYTES || gd_sector > e->file_size / VMDK_SECTOR ||
	    bytes > e->file_size - gd_sector * VMDK_SECTOR)
		return refuse(v->path, -EINVAL, "grain directory outside the file");
	e->gd = calloc(e->gd_entries ? e->gd_entries : 1, 4);
	if (!e->gd)
		return -ENOMEM;
	int ret = blk_io_pread(e->fd, e->gd, bytes, gd_sector * VMDK_SECTOR);
	uint64_t gt_bytes = (uint64_t)e->gtes * 4;
	for (uint64_t i = 0; !ret && i < e->gd_entries; i++) {
		uint64_t gt = le32toh(e->gd[i]);
		e->gd[i] = (uint32_t)gt;
		if (gt && (gt > e->file_size / VMDK_SECTOR ||
			   gt_bytes > e->file_size - gt * VMDK_SECTOR))
			ret = refuse(v->path, -EINVAL, "grain table outside the file");
	}
	return ret;
}

static int open_sparse(struct vmdk *v, const uint8_t *h, uint64_t fsize)
{
	struct sparse_header s;

	decode_sparse(h, &s);
	int ret = check_sparse(v->path, &s);
	if (ret)
		return ret;
	if (!s.desc_off || !s.desc_size || s.desc_size > VMDK_MAX_DESC / VMDK_SECTOR ||
	    s.desc_off > fsize / VMDK_SECTOR ||
	    s.desc_size * VMDK_SECTOR > fsize - s.desc_off * VMDK_SECTOR)
		return refuse(v->path, -EINVAL, "embedded descriptor outside the file");
	char *desc = calloc(1, s.desc_size * VMDK_SECTOR + 1);
	if (!desc)
		return -ENOMEM;
	ret = blk_io_pread(v->fd, desc, s.desc_size * VMDK_SECTOR, s.desc_off * VMDK_SECTOR);
	if (!ret)
		ret = check_descriptor(v->path, desc, "monolithicSparse");
	free(desc);
	if (ret)
		return ret;
	struct extent *e = &v->ext[v->nr_ext++];
	*e = (struct extent){
		.type = EXTENT_SPARSE, .len = s.capacity * VMDK_SECTOR, .fd = v->fd,
		.file_size = fsize, .grain = s.grain * VMDK_SECTOR, .gtes = s.gtes,
		.zero_grain = s.flags & VMDK_FLAG_ZERO_GRAIN,
	};
	v->b.size = e->len;
	return load_gd(v, e, s.gd_off);
}

int blk_vmdk_open(const char *path, struct blk_backend **out)
{
	struct vmdk *v = calloc(1, sizeof(*v));
	uint8_t h[VMDK_HEADER_LEN] = { 0 };
	struct stat st;
	int ret;

	*out = NULL;
	if (!v)
		return -ENOMEM;
	v->b.ops = &vmdk_ops;
	v->b.read_only = true;
	v->b.block_size = 512;
	v->fd = -1;
	v->path = strdup(path);
	ret = v->path ? blk_io_open_ro(path, &v->fd, &st) : -ENOMEM;
	off_t end = ret ? -1 : lseek(v->fd, 0, SEEK_END);
	if (!ret && end < 0)
		ret = -errno;
	if (!ret)
		ret = blk_io_pread(v->fd, h, sizeof(h), 0);
	if (!ret)
		ret = (uint64_t)end >= sizeof(h) && le32(h) == VMDK_SPARSE_MAGIC
			      ? open_sparse(v, h, (uint64_t)end)
			      : open_flat(v, (uint64_t)end);
	if (ret) {
		v_close(&v->b);
		return ret;
	}
	blk_make_id(v->b.id, &st);
	*out = &v->b;
	return 0;
}
