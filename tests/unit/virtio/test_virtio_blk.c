// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-blk through the fake driver, over a 1 MiB temporary image with a
 * known pattern: features and config, reads, writes, read-only disks,
 * bounds (end of disk, sector overflow), odd lengths, GET_ID, FLUSH,
 * WRITE_ZEROES / DISCARD, unknown types, malformed chains, used lengths;
 * and the raw backend's own contract (EOF inside the disk, O_DIRECT with
 * unaligned buffers).
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_blk.h>

#include "test.h"
#include "vdrv.h"
#include "backends/block/raw.h"
#include "devices/virtio/block.h"
#include "util/log.h"

#define IMG_SIZE (1u << 20)
#define IMG_SECTORS (IMG_SIZE / 512)
#define ST_UNSET 0xee
#define NO_EVENT_IDX (~(1ull << VIRTIO_F_RING_EVENT_IDX))

static struct vdrv d;
static char img[64];
static bool event_idx;

static uint8_t pattern(uint64_t off)
{
	return (uint8_t)(off * 7 + (off >> 9) * 13 + 1);
}

static bool make_image_in(const char *dir, size_t size)
{
	uint8_t *buf = malloc(size);
	int fd;

	snprintf(img, sizeof(img), "%s/krun-test-blk-XXXXXX", dir);
	fd = mkstemp(img);
	if (fd < 0 || !buf) {
		free(buf);
		return false;
	}
	CHECK(fd >= 0 && buf);
	for (size_t i = 0; i < size; i++)
		buf[i] = pattern(i);
	CHECK_EQ(pwrite(fd, buf, size, 0), (long long)size);
	close(fd);
	free(buf);
	return true;
}

static void make_image(size_t size)
{
	CHECK(make_image_in("/tmp", size));
}

/* Bytes [off, off + len) of the image file as the host sees them. */
static void file_bytes(uint64_t off, void *dst, size_t len)
{
	int fd = open(img, O_RDONLY);

	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, dst, len, (off_t)off), (long long)len);
	close(fd);
}

static bool file_matches_pattern(uint64_t off, size_t len)
{
	uint8_t *buf = malloc(len);
	bool ok = true;

	file_bytes(off, buf, len);
	for (size_t i = 0; i < len && ok; i++)
		ok = buf[i] == pattern(off + i);
	free(buf);
	return ok;
}

static bool is_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static long long file_size(void)
{
	struct stat st;

	return stat(img, &st) ? -1 : (long long)st.st_size;
}

/* want: driver features (masked by what is offered). */
static void bring_up(struct virtio_blk *blk, uint64_t want)
{
	CHECK_EQ(vdrv_init(&d, virtio_blk_ops(blk), blk), 0);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_DEVICE_ID), VIRTIO_ID_BLOCK);
	CHECK(vdrv_negotiate(&d, want));
	event_idx = virtio_mmio_has_feature(&d.dev, VIRTIO_F_RING_EVENT_IDX);
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	vdrv_setup_queue(&d, 0, 256);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(d.dev.activated);
}

/* A disk over a fresh image, driven up to DRIVER_OK with the driver
 * features want (masked by what is offered). */
static struct virtio_blk *start_disk(size_t size, bool ro, enum virtio_blk_sync sync,
				     uint64_t want)
{
	int err = 0;

	make_image(size);
	struct virtio_blk *blk = virtio_blk_create(img, ro, false, sync, &err);
	CHECK(blk != NULL);
	CHECK_EQ(err, 0);
	bring_up(blk, want);
	return blk;
}

static void tear_down(struct virtio_blk *blk)
{
	vdrv_fini(&d);
	virtio_blk_destroy(blk);
	unlink(img);
}

static uint64_t guest_buf(uint32_t len, uint8_t fill)
{
	uint64_t gpa = vdrv_alloc(&d, len, 16);

	memset(vdrv_ptr(&d, gpa), fill, len);
	return gpa;
}

static uint64_t header(uint32_t type, uint64_t sector)
{
	uint64_t gpa = vdrv_alloc(&d, sizeof(struct virtio_blk_outhdr), 16);
	struct virtio_blk_outhdr *h = vdrv_ptr(&d, gpa);

	h->type = type;
	h->ioprio = 0;
	h->sector = sector;
	return gpa;
}

/* Posts b[0..n) (the caller's whole chain), kicks, waits for the answer.
 * *len: the used length.  Returns the status byte at status_gpa. */
static uint8_t run_chain(const struct vdrv_buf *b, unsigned int n, uint64_t status_gpa,
			 uint32_t *len)
{
	uint32_t id = UINT32_MAX, used = UINT32_MAX;

	/* With EVENT_IDX, ask for an interrupt at the next used entry. */
	if (event_idx)
		vdrv_avail(&d, 0)->ring[d.q[0].size] = d.q[0].last_used;
	uint16_t head = vdrv_post(&d, 0, b, n);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_used(&d, 0, &id, &used));
	CHECK_EQ(id, head);
	if (len)
		*len = used;
	return *(uint8_t *)vdrv_ptr(&d, status_gpa);
}

/* header, optional data buffer, status byte. */
static uint8_t request(uint32_t type, uint64_t sector, uint64_t data, uint32_t data_len,
		       bool data_writable, uint32_t *len)
{
	uint64_t st = guest_buf(1, ST_UNSET);
	struct vdrv_buf b[3];
	unsigned int n = 0;

	b[n++] = (struct vdrv_buf){ header(type, sector), sizeof(struct virtio_blk_outhdr), false };
	if (data_len)
		b[n++] = (struct vdrv_buf){ data, data_len, data_writable };
	b[n++] = (struct vdrv_buf){ st, 1, true };
	return run_chain(b, n, st, len);
}

static uint8_t range_request(uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
	uint64_t seg = vdrv_alloc(&d, sizeof(struct virtio_blk_discard_write_zeroes), 16);
	struct virtio_blk_discard_write_zeroes *s = vdrv_ptr(&d, seg);
	uint32_t len = 0;

	s->sector = sector;
	s->num_sectors = num;
	s->flags = flags;
	uint8_t status = request(type, 0, seg, sizeof(*s), false, &len);
	CHECK_EQ(len, 1);
	return status;
}

static uint32_t cfg32(uint32_t off)
{
	return vdrv_r(&d, VIRTIO_MMIO_CONFIG + off);
}

#define CFG(field) cfg32(offsetof(struct virtio_blk_config, field))

static uint64_t cfg_capacity(void)
{
	return cfg32(0) | (uint64_t)cfg32(4) << 32;
}

static void test_config_rw(void)
{
	struct virtio_blk *blk = start_disk(IMG_SIZE, false, VIRTIO_BLK_SYNC_FULL, NO_EVENT_IDX);
	uint64_t f = vdrv_device_features(&d);
	CHECK(f & (1ull << VIRTIO_F_VERSION_1));
	CHECK(f & (1ull << VIRTIO_BLK_F_SEG_MAX));
	CHECK(f & (1ull << VIRTIO_BLK_F_BLK_SIZE));
	CHECK(f & (1ull << VIRTIO_BLK_F_FLUSH));
	CHECK(f & (1ull << VIRTIO_BLK_F_DISCARD));
	CHECK(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	CHECK(f & (1ull << VIRTIO_F_RING_EVENT_IDX));
	CHECK(!(f & (1ull << VIRTIO_BLK_F_RO)));
	CHECK(!(f & (1ull << VIRTIO_BLK_F_MQ)));
	CHECK(!(f & (1ull << VIRTIO_BLK_F_CONFIG_WCE)));
	CHECK_EQ(cfg_capacity(), IMG_SECTORS);
	CHECK_EQ(CFG(seg_max), 254);
	CHECK_EQ(CFG(blk_size), 512);
	CHECK_EQ(CFG(max_discard_seg), 1);
	CHECK_EQ(CFG(max_write_zeroes_seg), 1);
	CHECK(CFG(max_discard_sectors) >= 2048);
	CHECK(CFG(max_write_zeroes_sectors) >= 2048);
	CHECK_EQ(CFG(discard_sector_alignment), 8);
	CHECK_EQ(cfg32(offsetof(struct virtio_blk_config, write_zeroes_may_unmap)) & 0xff, 1);

	/* The config space is read-only. */
	vdrv_w(&d, VIRTIO_MMIO_CONFIG, 5);
	vdrv_w(&d, VIRTIO_MMIO_CONFIG + offsetof(struct virtio_blk_config, seg_max), 3);
	CHECK_EQ(cfg_capacity(), IMG_SECTORS);
	CHECK_EQ(CFG(seg_max), 254);
	tear_down(blk);
}

static void test_config_ro_nosync(void)
{
	/* 100 bytes past the last whole sector: not part of the disk. */
	struct virtio_blk *blk = start_disk(IMG_SIZE + 100, true, VIRTIO_BLK_SYNC_NONE,
					    NO_EVENT_IDX);
	uint64_t f = vdrv_device_features(&d);
	CHECK(f & (1ull << VIRTIO_BLK_F_RO));
	CHECK(!(f & (1ull << VIRTIO_BLK_F_FLUSH)));
	CHECK(!(f & (1ull << VIRTIO_BLK_F_DISCARD)));
	CHECK(!(f & (1ull << VIRTIO_BLK_F_WRITE_ZEROES)));
	CHECK(f & (1ull << VIRTIO_BLK_F_SEG_MAX));
	CHECK_EQ(cfg_capacity(), IMG_SECTORS);

	/* FLUSH was not offered: UNSUPP if it comes anyway. */
	uint32_t len = 0;
	CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &len), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(len, 1);
	/* The partial sector cannot be read. */
	uint64_t buf = guest_buf(512, 0xaa);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, IMG_SECTORS, buf, 512, true, NULL), VIRTIO_BLK_S_IOERR);
	tear_down(blk);
}

static void test_read(void)
{
	struct virtio_blk *blk = start_disk(IMG_SIZE, false, VIRTIO_BLK_SYNC_RELAXED, NO_EVENT_IDX);
	/* Sectors 3..6 into two buffers split off a sector boundary. */
	uint64_t a = guest_buf(1000, 0xaa), b = guest_buf(1048, 0xaa), st = guest_buf(1, ST_UNSET);
	struct vdrv_buf bufs[4] = {
		{ header(VIRTIO_BLK_T_IN, 3), 16, false },
		{ a, 1000, true },
		{ b, 1048, true },
		{ st, 1, true },
	};
	uint32_t len = 0;
	CHECK_EQ(run_chain(bufs, 4, st, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 2048 + 1);
	uint8_t *pa = vdrv_ptr(&d, a), *pb = vdrv_ptr(&d, b);
	bool ok = true;
	for (uint32_t i = 0; i < 1000; i++)
		ok &= pa[i] == pattern(3 * 512 + i);
	for (uint32_t i = 0; i < 1048; i++)
		ok &= pb[i] == pattern(3 * 512 + 1000 + i);
	CHECK(ok);

	/* The last sector; data and status in one descriptor. */
	uint64_t both = guest_buf(513, 0xaa);
	bufs[0] = (struct vdrv_buf){ header(VIRTIO_BLK_T_IN, IMG_SECTORS - 1), 16, false };
	bufs[1] = (struct vdrv_buf){ both, 513, true };
	CHECK_EQ(run_chain(bufs, 2, both + 512, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 513);
	uint8_t *p = vdrv_ptr(&d, both);
	CHECK_EQ(p[0], pattern(IMG_SIZE - 512));
	CHECK_EQ(p[511], pattern(IMG_SIZE - 1));

	/* Header split across two descriptors. */
	uint64_t h = header(VIRTIO_BLK_T_IN, 7), data = guest_buf(512, 0xaa);
	st = guest_buf(1, ST_UNSET);
	struct vdrv_buf split[4] = {
		{ h, 5, false }, { h + 5, 11, false }, { data, 512, true }, { st, 1, true },
	};
	CHECK_EQ(run_chain(split, 4, st, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 513);
	CHECK_EQ(((uint8_t *)vdrv_ptr(&d, data))[100], pattern(7 * 512 + 100));
	tear_down(blk);
}

static void test_write(void)
{
	struct virtio_blk *blk = start_disk(IMG_SIZE, false, VIRTIO_BLK_SYNC_RELAXED, NO_EVENT_IDX);
	uint64_t w = guest_buf(1024, 0);
	uint8_t *pw = vdrv_ptr(&d, w);
	for (int i = 0; i < 1024; i++)
		pw[i] = (uint8_t)(0x5a ^ i);
	uint32_t len = 0;
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 10, w, 1024, false, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 1);

	uint8_t host[1024];
	file_bytes(10 * 512, host, sizeof(host));
	CHECK(memcmp(host, pw, sizeof(host)) == 0);
	CHECK(file_matches_pattern(9 * 512, 512));
	CHECK(file_matches_pattern(12 * 512, 512));
	CHECK_EQ(file_size(), IMG_SIZE);

	uint64_t r = guest_buf(1024, 0xaa);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 10, r, 1024, true, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 1025);
	CHECK(memcmp(vdrv_ptr(&d, r), pw, 1024) == 0);

	/* FLUSH is answered OK with only the status written. */
	CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 1);
	tear_down(blk);
}

static void test_read_only_disk(void)
{
	struct virtio_blk *blk = start_disk(IMG_SIZE, true, VIRTIO_BLK_SYNC_FULL, NO_EVENT_IDX);
	uint64_t w = guest_buf(512, 0x11);
	uint32_t len = 0;
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, w, 512, false, &len), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(len, 1);
	CHECK_EQ(range_request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 8, 0), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(range_request(VIRTIO_BLK_T_DISCARD, 0, 8, 0), VIRTIO_BLK_S_IOERR);
	CHECK(file_matches_pattern(0, IMG_SIZE));

	uint64_t r = guest_buf(512, 0xaa);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 1, r, 512, true, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(((uint8_t *)vdrv_ptr(&d, r))[0], pattern(512));
	CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &len), VIRTIO_BLK_S_OK);
	tear_down(blk);
}

static void test_bounds(void)
{
	struct virtio_blk *blk = start_disk(IMG_SIZE, false, VIRTIO_BLK_SYNC_RELAXED, NO_EVENT_IDX);
	/* sector * 512 wraps to 0 or 512 in 64 bits. */
	const uint64_t wraps[] = { 1ull << 55, (1ull << 55) + 1, UINT64_MAX, UINT64_MAX >> 9,
				   (UINT64_MAX >> 9) + 1, IMG_SECTORS };
	for (unsigned int i = 0; i < sizeof(wraps) / sizeof(wraps[0]); i++) {
		uint64_t r = guest_buf(512, 0xaa);
		uint32_t len = 0;
		CHECK_EQ(request(VIRTIO_BLK_T_IN, wraps[i], r, 512, true, &len),
			 VIRTIO_BLK_S_IOERR);
		/* Every writable byte is accounted for (zeroed, no disk data). */
		CHECK_EQ(len, 513);
		CHECK(is_zero(vdrv_ptr(&d, r), 512));
		uint64_t w = guest_buf(512, 0x77);
		CHECK_EQ(request(VIRTIO_BLK_T_OUT, wraps[i], w, 512, false, &len),
			 VIRTIO_BLK_S_IOERR);
	}
	/* Starts inside, ends one sector past the end. */
	uint64_t r2 = guest_buf(1024, 0xaa);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, IMG_SECTORS - 1, r2, 1024, true, NULL),
		 VIRTIO_BLK_S_IOERR);
	uint64_t w2 = guest_buf(1024, 0x77);
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, IMG_SECTORS - 1, w2, 1024, false, NULL),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(range_request(VIRTIO_BLK_T_WRITE_ZEROES, IMG_SECTORS - 4, 8, 0),
		 VIRTIO_BLK_S_IOERR);
	CHECK_EQ(range_request(VIRTIO_BLK_T_DISCARD, UINT64_MAX >> 9, 8, 0), VIRTIO_BLK_S_IOERR);
	/* Nothing reached the file: no write, no growth. */
	CHECK_EQ(file_size(), IMG_SIZE);
	CHECK(file_matches_pattern(0, IMG_SIZE));

	/* Lengths that are not whole sectors. */
	uint64_t odd = guest_buf(513, 0x77);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 0, odd, 100, true, NULL), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, odd, 513, false, NULL), VIRTIO_BLK_S_IOERR);
	CHECK(file_matches_pattern(0, IMG_SIZE));
	/* The last sector exactly still works. */
	uint64_t last = guest_buf(512, 0xaa);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, IMG_SECTORS - 1, last, 512, true, NULL),
		 VIRTIO_BLK_S_OK);
	tear_down(blk);
}

static void test_get_id(void)
{
	struct virtio_blk *blk = start_disk(IMG_SIZE, false, VIRTIO_BLK_SYNC_RELAXED, NO_EVENT_IDX);
	struct stat st;
	char want[64] = { 0 };

	CHECK_EQ(stat(img, &st), 0);
	snprintf(want, sizeof(want), "krun-%llx-%llx", (unsigned long long)st.st_ino,
		 (unsigned long long)st.st_dev);
	if (strlen(want) > VIRTIO_BLK_ID_BYTES)
		memset(want + VIRTIO_BLK_ID_BYTES, 0, sizeof(want) - VIRTIO_BLK_ID_BYTES);
	uint64_t id = guest_buf(VIRTIO_BLK_ID_BYTES, 0xaa);
	uint32_t len = 0;
	CHECK_EQ(request(VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES, true, &len),
		 VIRTIO_BLK_S_OK);
	CHECK_EQ(len, VIRTIO_BLK_ID_BYTES + 1);
	CHECK(memcmp(vdrv_ptr(&d, id), want, VIRTIO_BLK_ID_BYTES) == 0);
	CHECK(memcmp(vdrv_ptr(&d, id), "krun-", 5) == 0);

	/* A larger buffer is padded with NULs; a smaller one is refused. */
	uint64_t big = guest_buf(64, 0xaa);
	CHECK_EQ(request(VIRTIO_BLK_T_GET_ID, 0, big, 64, true, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 65);
	CHECK(memcmp(vdrv_ptr(&d, big), want, VIRTIO_BLK_ID_BYTES) == 0);
	CHECK(is_zero((uint8_t *)vdrv_ptr(&d, big) + VIRTIO_BLK_ID_BYTES,
		      64 - VIRTIO_BLK_ID_BYTES));
	uint64_t small = guest_buf(8, 0xaa);
	CHECK_EQ(request(VIRTIO_BLK_T_GET_ID, 0, small, 8, true, &len), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(len, 9);
	tear_down(blk);
}

static void test_write_zeroes_discard(void)
{
	struct virtio_blk *blk = start_disk(IMG_SIZE, false, VIRTIO_BLK_SYNC_RELAXED, NO_EVENT_IDX);
	uint8_t host[8 * 512];
	/* Without and with UNMAP: the range reads back as zeros. */
	CHECK_EQ(range_request(VIRTIO_BLK_T_WRITE_ZEROES, 20, 8, 0), VIRTIO_BLK_S_OK);
	CHECK_EQ(range_request(VIRTIO_BLK_T_WRITE_ZEROES, 33, 3,
			       VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP), VIRTIO_BLK_S_OK);
	file_bytes(20 * 512, host, sizeof(host));
	CHECK(is_zero(host, sizeof(host)));
	file_bytes(33 * 512, host, 3 * 512);
	CHECK(is_zero(host, 3 * 512));
	CHECK(file_matches_pattern(19 * 512, 512));
	CHECK(file_matches_pattern(28 * 512, 5 * 512));
	CHECK(file_matches_pattern(36 * 512, 512));
	uint64_t r = guest_buf(8 * 512, 0xaa);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 20, r, 8 * 512, true, NULL), VIRTIO_BLK_S_OK);
	CHECK(is_zero(vdrv_ptr(&d, r), 8 * 512));

	/* Discard: each byte is either zero or what it was, never garbage. */
	CHECK_EQ(range_request(VIRTIO_BLK_T_DISCARD, 40, 16, 0), VIRTIO_BLK_S_OK);
	uint8_t disc[16 * 512];
	file_bytes(40 * 512, disc, sizeof(disc));
	bool ok = true;
	for (size_t i = 0; i < sizeof(disc); i++)
		ok &= disc[i] == 0 || disc[i] == pattern(40 * 512 + i);
	CHECK(ok);
	CHECK(file_matches_pattern(39 * 512, 512));
	CHECK(file_matches_pattern(56 * 512, 512));
	CHECK_EQ(file_size(), IMG_SIZE);

	/* Flags: UNMAP is for WRITE_ZEROES only; unknown bits are refused. */
	CHECK_EQ(range_request(VIRTIO_BLK_T_DISCARD, 60, 8, VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP),
		 VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(range_request(VIRTIO_BLK_T_WRITE_ZEROES, 60, 8, 2), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(range_request(VIRTIO_BLK_T_DISCARD, 60, 8, 0x80000000u), VIRTIO_BLK_S_UNSUPP);
	/* Two segments (max is one), a partial segment, no segment. */
	uint64_t two = guest_buf(32, 0);
	struct virtio_blk_discard_write_zeroes *s = vdrv_ptr(&d, two);
	s[0] = (struct virtio_blk_discard_write_zeroes){ 60, 8, 0 };
	s[1] = (struct virtio_blk_discard_write_zeroes){ 70, 8, 0 };
	uint32_t len = 0;
	CHECK_EQ(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, two, 32, false, &len), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(len, 1);
	CHECK_EQ(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, two, 12, false, &len), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(request(VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, 0, false, &len), VIRTIO_BLK_S_IOERR);
	CHECK(file_matches_pattern(60 * 512, 20 * 512));
	tear_down(blk);
}

static void test_unknown_and_malformed(void)
{
	struct virtio_blk *blk = start_disk(IMG_SIZE, false, VIRTIO_BLK_SYNC_RELAXED, NO_EVENT_IDX);
	uint32_t len = 0;
	CHECK_EQ(request(99, 0, 0, 0, false, &len), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(len, 1);
	CHECK_EQ(request(VIRTIO_BLK_T_SCSI_CMD, 0, 0, 0, false, &len), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(request(VIRTIO_BLK_T_SECURE_ERASE, 0, 0, 0, false, &len), VIRTIO_BLK_S_UNSUPP);
	/* Unknown type with a writable buffer: zeroed, all of it counted. */
	uint64_t junk = guest_buf(100, 0xaa);
	CHECK_EQ(request(42, 0, junk, 100, true, &len), VIRTIO_BLK_S_UNSUPP);
	CHECK_EQ(len, 101);
	CHECK(is_zero(vdrv_ptr(&d, junk), 100));

	/* Short header. */
	uint64_t h = header(VIRTIO_BLK_T_IN, 0), st = guest_buf(1, ST_UNSET);
	struct vdrv_buf shorth[2] = { { h, 8, false }, { st, 1, true } };
	CHECK_EQ(run_chain(shorth, 2, st, &len), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(len, 1);
	/* Data in the wrong direction: IN with readable data, OUT with
	 * writable data; OUT must not have written the disk. */
	uint64_t data = guest_buf(512, 0x33);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 0, data, 512, false, &len), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(len, 1);
	CHECK_EQ(request(VIRTIO_BLK_T_OUT, 0, data, 512, true, &len), VIRTIO_BLK_S_IOERR);
	CHECK_EQ(len, 513);
	CHECK(file_matches_pattern(0, 4096));
	/* FLUSH with data. */
	CHECK_EQ(request(VIRTIO_BLK_T_FLUSH, 0, data, 512, false, &len), VIRTIO_BLK_S_IOERR);

	/* No device-writable status byte: nothing to answer with.  The
	 * device needs reset; the request is not completed. */
	uint16_t used_before = vdrv_used(&d, 0)->idx;
	uint64_t w = guest_buf(512, 0x44);
	struct vdrv_buf nostatus[2] = { { header(VIRTIO_BLK_T_OUT, 0), 16, false },
					{ w, 512, false } };
	vdrv_post(&d, 0, nostatus, 2);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_irq(&d, VDRV_TIMEOUT_MS));
	CHECK(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(vdrv_used(&d, 0)->idx, used_before);
	CHECK(file_matches_pattern(0, 4096));

	/* Further requests are ignored until the driver resets. */
	uint64_t st2 = guest_buf(1, ST_UNSET);
	struct vdrv_buf flush[2] = { { header(VIRTIO_BLK_T_FLUSH, 0), 16, false },
				     { st2, 1, true } };
	vdrv_post(&d, 0, flush, 2);
	vdrv_kick(&d, 0);
	usleep(50 * 1000);
	CHECK_EQ(vdrv_used(&d, 0)->idx, used_before);

	/* Reset and start over: the device works again. */
	d.q[0] = (struct vdrv_queue){ 0 };
	CHECK(vdrv_negotiate(&d, NO_EVENT_IDX));
	CHECK(!(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	vdrv_setup_queue(&d, 0, 256);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	uint64_t r = guest_buf(512, 0xaa);
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 2, r, 512, true, &len), VIRTIO_BLK_S_OK);
	CHECK_EQ(len, 513);
	CHECK_EQ(((uint8_t *)vdrv_ptr(&d, r))[5], pattern(2 * 512 + 5));
	tear_down(blk);
}

static void test_many_event_idx(void)
{
	struct virtio_blk *blk = start_disk(IMG_SIZE, false, VIRTIO_BLK_SYNC_RELAXED, ~0ull);
	uint64_t data[64], st[64];
	uint16_t heads[64];
	CHECK(event_idx);
	/* One kick for 64 reads; interrupt wanted once all are used. */
	vdrv_avail(&d, 0)->ring[d.q[0].size] = 63;
	for (int i = 0; i < 64; i++) {
		data[i] = guest_buf(512, 0xaa);
		st[i] = guest_buf(1, ST_UNSET);
		struct vdrv_buf b[3] = { { header(VIRTIO_BLK_T_IN, (uint64_t)i * 16), 16, false },
					 { data[i], 512, true },
					 { st[i], 1, true } };
		heads[i] = vdrv_post(&d, 0, b, 3);
	}
	vdrv_kick(&d, 0);
	for (int i = 0; i < 64; i++) {
		uint32_t id = 0, len = 0;
		CHECK(vdrv_wait_used(&d, 0, &id, &len));
		CHECK_EQ(id, heads[i]);
		CHECK_EQ(len, 513);
		CHECK_EQ(*(uint8_t *)vdrv_ptr(&d, st[i]), VIRTIO_BLK_S_OK);
		CHECK_EQ(((uint8_t *)vdrv_ptr(&d, data[i]))[1],
			 pattern((uint64_t)i * 16 * 512 + 1));
	}
	/* Idle again, the device asks to be kicked at the next new entry. */
	volatile uint16_t *avail_event = (uint16_t *)&vdrv_used(&d, 0)->ring[d.q[0].size];
	for (int t = 0; t < 1000 && *avail_event != 64; t++)
		usleep(1000);
	CHECK_EQ(*avail_event, 64);
	/* Requests after that still complete (notifications re-armed). */
	uint64_t r = guest_buf(512, 0xaa);
	uint32_t len = 0;
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 1, r, 512, true, &len), VIRTIO_BLK_S_OK);
	tear_down(blk);
}

static void test_create_errors(void)
{
	int err = 0;

	CHECK(virtio_blk_create("/nonexistent/krun-disk.img", false, false,
				VIRTIO_BLK_SYNC_FULL, &err) == NULL);
	CHECK_EQ(err, -ENOENT);
	CHECK(virtio_blk_create("/tmp", true, false, VIRTIO_BLK_SYNC_FULL, &err) == NULL);
	CHECK_EQ(err, -EISDIR);
	make_image(IMG_SIZE);
	CHECK(virtio_blk_create(img, false, false, (enum virtio_blk_sync)7, &err) == NULL);
	CHECK_EQ(err, -EINVAL);
	/* Created, never activated, destroyed. */
	struct virtio_blk *blk = virtio_blk_create(img, false, false, VIRTIO_BLK_SYNC_NONE, &err);
	CHECK(blk != NULL);
	virtio_blk_destroy(blk);
	virtio_blk_destroy(NULL);
	unlink(img);
}

/* The backend's own contract, below the device. */
static void test_raw_backend(void)
{
	struct blk_backend *b = NULL;
	uint8_t buf[1024];
	struct iovec iov = { buf, sizeof(buf) };

	make_image(IMG_SIZE);
	CHECK_EQ(blk_raw_open(img, true, false, &b), 0);
	if (!b)
		return;
	CHECK_EQ(b->size, IMG_SIZE);
	CHECK_EQ(b->block_size, 512);
	CHECK_EQ(b->ops->pwritev(b, &iov, 1, 0), -EROFS);
	CHECK_EQ(b->ops->write_zeroes(b, 0, 512, false), -EROFS);
	CHECK_EQ(b->ops->discard(b, 0, 512), -EROFS);
	CHECK_EQ(b->ops->preadv(b, &iov, 1, IMG_SIZE - 512), -EIO);
	/* The file shrinks behind the disk's back: within the disk's size
	 * the missing bytes read as zeros. */
	CHECK_EQ(truncate(img, IMG_SIZE - 512), 0);
	memset(buf, 0xaa, sizeof(buf));
	CHECK_EQ(b->ops->preadv(b, &iov, 1, IMG_SIZE - 1024), 0);
	CHECK_EQ(buf[0], pattern(IMG_SIZE - 1024));
	CHECK_EQ(buf[511], pattern(IMG_SIZE - 513));
	CHECK(is_zero(buf + 512, 512));
	b->ops->close(b);
	unlink(img);
}

/* tmpfs punches holes but has no FALLOC_FL_ZERO_RANGE: WRITE_ZEROES
 * without UNMAP there falls back to writing zeros. */
static void test_raw_zero_fallback(void)
{
	struct blk_backend *b = NULL;

	if (!make_image_in("/dev/shm", IMG_SIZE)) {
		printf("  (no /dev/shm; skipped)\n");
		return;
	}
	CHECK_EQ(blk_raw_open(img, false, false, &b), 0);
	if (!b)
		return;
	/* 200 KiB + 512: more than one zero chunk, not a multiple of it. */
	CHECK_EQ(b->ops->write_zeroes(b, 4096, 200 * 1024 + 512, false), 0);
	CHECK_EQ(b->ops->write_zeroes(b, 300 * 1024, 8192, true), 0);
	CHECK_EQ(b->ops->discard(b, 400 * 1024, 8192), 0);
	CHECK_EQ(b->ops->write_zeroes(b, IMG_SIZE - 512, 1024, false), -EIO);
	CHECK(file_matches_pattern(0, 4096));
	uint8_t *buf = malloc(200 * 1024 + 512);
	file_bytes(4096, buf, 200 * 1024 + 512);
	CHECK(is_zero(buf, 200 * 1024 + 512));
	file_bytes(300 * 1024, buf, 8192);
	CHECK(is_zero(buf, 8192));
	file_bytes(400 * 1024, buf, 8192);
	CHECK(is_zero(buf, 8192));
	free(buf);
	CHECK(file_matches_pattern(4096 + 200 * 1024 + 512, 512));
	CHECK(file_matches_pattern(IMG_SIZE - 512, 512));
	CHECK_EQ(file_size(), IMG_SIZE);
	b->ops->close(b);
	unlink(img);
}

/* O_DIRECT with a guest buffer that is not even 512-aligned: the backend
 * goes through its bounce buffer. */
static void test_direct_io(void)
{
	struct blk_backend *b = NULL;

	make_image(IMG_SIZE);
	int ret = blk_raw_open(img, false, true, &b);
	if (ret == -EINVAL) {
		printf("  (O_DIRECT not supported on /tmp; skipped)\n");
		unlink(img);
		return;
	}
	CHECK_EQ(ret, 0);
	if (!b)
		return;
	uint8_t *mem = malloc(4096 + 1024);
	uint8_t *odd = mem + 3;
	struct iovec iov[2] = { { odd, 700 }, { odd + 700, 324 } };
	CHECK_EQ(b->ops->preadv(b, iov, 2, 4096), 0);
	bool ok = true;
	for (int i = 0; i < 1024; i++)
		ok &= odd[i] == pattern(4096 + (uint64_t)i);
	CHECK(ok);
	memset(odd, 0x3c, 1024);
	CHECK_EQ(b->ops->pwritev(b, iov, 2, 8192), 0);
	CHECK_EQ(b->ops->flush(b, false), 0);
	uint8_t host[1024];
	file_bytes(8192, host, sizeof(host));
	CHECK(memcmp(host, odd, sizeof(host)) == 0);
	free(mem);
	b->ops->close(b);

	/* And through the device. */
	int err = 0;
	struct virtio_blk *blk = virtio_blk_create(img, false, true, VIRTIO_BLK_SYNC_FULL, &err);
	CHECK(blk != NULL);
	if (!blk)
		return;
	bring_up(blk, NO_EVENT_IDX);
	uint64_t r = vdrv_alloc(&d, 2048, 512) + 16;
	CHECK_EQ(request(VIRTIO_BLK_T_IN, 16, r, 1024, true, NULL), VIRTIO_BLK_S_OK);
	CHECK(memcmp(vdrv_ptr(&d, r), host, 1024) == 0);
	tear_down(blk);
}

int main(void)
{
	krun_log_configure(2, LOG_LVL_ERROR);
	RUN_TEST(test_config_rw);
	RUN_TEST(test_config_ro_nosync);
	RUN_TEST(test_read);
	RUN_TEST(test_write);
	RUN_TEST(test_read_only_disk);
	RUN_TEST(test_bounds);
	RUN_TEST(test_get_id);
	RUN_TEST(test_write_zeroes_discard);
	RUN_TEST(test_unknown_and_malformed);
	RUN_TEST(test_many_event_idx);
	RUN_TEST(test_create_errors);
	RUN_TEST(test_raw_backend);
	RUN_TEST(test_raw_zero_fallback);
	RUN_TEST(test_direct_io);
	TEST_MAIN_END();
}
