// SPDX-License-Identifier: Apache-2.0
/*
 * qcow2 and VMDK backends against Debian's qemu-img/qemu-io: images are
 * made and checked by QEMU at test time (nothing binary is committed), our
 * reads must return what qemu-io wrote, our writes must leave images that
 * `qemu-img check` accepts and `qemu-img compare` finds equal to a raw model
 * that received the same operations.  Corrupt images are made by patching
 * valid ones.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backends/block/image.h"
#include "test.h"

static char dir[] = "/tmp/krun-qcow2-XXXXXX";
static char cmdbuf[4096];

static const char *at(const char *name)
{
	static char p[8][512];
	static unsigned int n;
	char *s = p[n++ % 8];
	snprintf(s, 512, "%s/%s", dir, name);
	return s;
}

/* Runs a shell command in the test directory; its exit status. */
__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(cmdbuf, sizeof(cmdbuf), "cd %s && (", dir);
	va_start(ap, fmt);
	n += vsnprintf(cmdbuf + n, sizeof(cmdbuf) - (size_t)n, fmt, ap);
	va_end(ap);
	snprintf(cmdbuf + n, sizeof(cmdbuf) - (size_t)n, ") >/dev/null 2>>%s/log", dir);
	int st = system(cmdbuf);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uint64_t rng_state;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

static int rd(struct blk_backend *b, void *buf, size_t len, uint64_t off)
{
	struct iovec iov = { buf, len };
	return b->ops->preadv(b, &iov, 1, off);
}

/* Split in two segments to exercise scatter lists. */
static int wr(struct blk_backend *b, const void *buf, size_t len, uint64_t off)
{
	struct iovec iov[2] = { { (void *)buf, len / 3 }, { (uint8_t *)buf + len / 3, len - len / 3 } };
	return b->ops->pwritev(b, iov, 2, off);
}

static void patch(const char *name, uint64_t off, const void *data, size_t len)
{
	int fd = open(at(name), O_WRONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pwrite(fd, data, len, (off_t)off), (ssize_t)len);
	close(fd);
}

static void patch32(const char *name, uint64_t off, uint32_t v)
{
	v = htobe32(v);
	patch(name, off, &v, 4);
}

static void patch64(const char *name, uint64_t off, uint64_t v)
{
	v = htobe64(v);
	patch(name, off, &v, 8);
}

static uint64_t peek64(const char *name, uint64_t off)
{
	uint64_t v = 0;
	int fd = open(at(name), O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, &v, 8, (off_t)off), 8);
	close(fd);
	return be64toh(v);
}

static int open_q(const char *name, bool ro, struct blk_backend **b)
{
	return blk_qcow2_open(at(name), ro, BLK_MAX_BACKING_DEPTH, b);
}

/* What qemu-io wrote reads back: data, unallocated, zero clusters. */
static void check_reads(const char *opts)
{
	struct blk_backend *b = NULL;
	static uint8_t buf[256 << 10];

	CHECK_EQ(sh("qemu-img create -q -f qcow2 %s r.qcow2 64M", opts), 0);
	CHECK_EQ(sh("qemu-io -f qcow2 -c 'write -P 0x5a 0 128k' -c 'write -P 0xa5 1M 4k' "
		    "-c 'write -P 0x11 3145984 512' -c 'write -P 0x77 63M 1M' "
		    "-c 'write -P 0x33 8M 64k' -c 'write -z 8M 64k' r.qcow2"), 0);
	CHECK_EQ(open_q("r.qcow2", true, &b), 0);
	if (!b)
		return;
	CHECK_EQ(b->size, 64 << 20);
	CHECK_EQ(rd(b, buf, 128 << 10, 0), 0);
	CHECK(all_bytes(buf, 128 << 10, 0x5a));
	CHECK_EQ(rd(b, buf, 8192, 1024 * 1024 - 2048), 0);
	CHECK(all_bytes(buf, 2048, 0));
	CHECK(all_bytes(buf + 2048, 4096, 0xa5));
	CHECK(all_bytes(buf + 6144, 2048, 0));
	CHECK_EQ(rd(b, buf, 1536, 3145984 - 512), 0);
	CHECK(all_bytes(buf, 512, 0) && all_bytes(buf + 512, 512, 0x11) &&
	      all_bytes(buf + 1024, 512, 0));
	CHECK_EQ(rd(b, buf, 64 << 10, 8 << 20), 0);
	CHECK(all_bytes(buf, 64 << 10, 0));
	CHECK_EQ(rd(b, buf, 256 << 10, (64 << 20) - (256 << 10)), 0);
	CHECK(all_bytes(buf, 256 << 10, 0x77));
	CHECK_EQ(rd(b, buf, 512, 64 << 20), -EIO);
	CHECK_EQ(wr(b, buf, 512, 0), -EROFS);
	b->ops->close(b);
}

static void test_read_v3(void) { check_reads("-o compat=1.1"); }
static void test_read_v2(void) { check_reads("-o compat=0.10"); }
static void test_read_small_clusters(void) { check_reads("-o cluster_size=512"); }
static void test_read_big_clusters(void) { check_reads("-o cluster_size=2M"); }

/*
 * The same random writes, zeroings and discards go to our image and to a
 * raw model; QEMU must find the image consistent and equal to the model.
 */
static void random_io(struct blk_backend *b, int model, uint64_t size, unsigned int ops)
{
	static uint8_t buf[300 << 10], zero[300 << 10];

	for (unsigned int i = 0; i < ops; i++) {
		uint64_t len = (rnd() % (sizeof(buf) / 512) + 1) * 512;
		uint64_t off = rnd() % (size / 512) * 512;
		if (off + len > size)
			len = size - off;
		unsigned int kind = (unsigned int)(rnd() % 8);
		if (kind < 6) {
			memset(buf, (int)(rnd() & 0xff), len);
			for (uint64_t k = 0; k < len; k += 512)
				memcpy(buf + k, &i, sizeof(i));
			CHECK_EQ(wr(b, buf, len, off), 0);
			CHECK_EQ(pwrite(model, buf, len, (off_t)off), (ssize_t)len);
		} else {
			int ret = kind == 6 ? b->ops->write_zeroes(b, off, len, rnd() & 1)
					    : b->ops->discard(b, off, len);
			CHECK_EQ(ret, 0);
			CHECK_EQ(pwrite(model, zero, len, (off_t)off), (ssize_t)len);
		}
	}
	CHECK_EQ(b->ops->flush(b, true), 0);
}

/* Our reads agree with the model too (after reopening). */
static void compare_reads(const char *name, int model, uint64_t size)
{
	struct blk_backend *b = NULL;
	static uint8_t a[1 << 20], m[1 << 20];

	CHECK_EQ(open_q(name, true, &b), 0);
	if (!b)
		return;
	for (uint64_t off = 0; off < size; off += sizeof(a)) {
		size_t n = size - off < sizeof(a) ? (size_t)(size - off) : sizeof(a);
		CHECK_EQ(rd(b, a, n, off), 0);
		CHECK_EQ(pread(model, m, n, (off_t)off), (ssize_t)n);
		if (memcmp(a, m, n)) {
			fprintf(stderr, "  mismatch in [%llu, +%zu)\n", (unsigned long long)off, n);
			CHECK(0);
			break;
		}
	}
	b->ops->close(b);
}

static void check_writes(const char *opts, uint64_t size, const char *backing)
{
	struct blk_backend *b = NULL;

	rng_state = 0x9e3779b97f4a7c15ull ^ size ^ strlen(opts);
	if (backing) {
		CHECK_EQ(sh("qemu-img create -q -f qcow2 %s -b %s -F %s w.qcow2 %llu", opts,
			    backing, strstr(backing, ".raw") ? "raw" : "qcow2",
			    (unsigned long long)size), 0);
		CHECK_EQ(sh("qemu-img convert -O raw w.qcow2 model.raw"), 0);
	} else {
		CHECK_EQ(sh("qemu-img create -q -f qcow2 %s w.qcow2 %llu && truncate -s %llu "
			    "model.raw && : > model.raw && truncate -s %llu model.raw", opts,
			    (unsigned long long)size, (unsigned long long)size,
			    (unsigned long long)size), 0);
	}
	int model = open(at("model.raw"), O_RDWR);
	CHECK(model >= 0);
	CHECK_EQ(open_q("w.qcow2", false, &b), 0);
	if (!b || model < 0)
		return;
	random_io(b, model, size, 300);
	b->ops->close(b);
	CHECK_EQ(sh("qemu-img check -q w.qcow2"), 0);
	CHECK_EQ(sh("qemu-img compare -q -f qcow2 -F raw w.qcow2 model.raw"), 0);
	compare_reads("w.qcow2", model, size);
	close(model);
}

/* Zeroing or discarding what already reads as zeros allocates nothing. */
static void test_discard_no_alloc(void)
{
	struct blk_backend *b = NULL;
	struct stat before, after;
	uint8_t buf[4096];

	CHECK_EQ(sh("qemu-img create -q -f qcow2 n.qcow2 64M"), 0);
	CHECK_EQ(stat(at("n.qcow2"), &before), 0);
	CHECK_EQ(open_q("n.qcow2", false, &b), 0);
	if (!b)
		return;
	for (uint64_t off = 4096; off < (32 << 20); off += 1 << 20) {
		CHECK_EQ(b->ops->discard(b, off, 4096), 0);
		CHECK_EQ(b->ops->write_zeroes(b, off + 8192, 4096, false), 0);
	}
	/* A partial discard of data does zero it. */
	memset(buf, 0x44, sizeof(buf));
	CHECK_EQ(wr(b, buf, sizeof(buf), 40 << 20), 0);
	CHECK_EQ(b->ops->discard(b, (40 << 20) + 1024, 2048), 0);
	CHECK_EQ(rd(b, buf, sizeof(buf), 40 << 20), 0);
	CHECK(all_bytes(buf, 1024, 0x44) && all_bytes(buf + 1024, 2048, 0) &&
	      all_bytes(buf + 3072, 1024, 0x44));
	b->ops->close(b);
	CHECK_EQ(stat(at("n.qcow2"), &after), 0);
	/* One L2 table and one data cluster, after the last whole cluster. */
	uint64_t end = ((uint64_t)before.st_size + 65535) & ~65535ull;
	CHECK_EQ((uint64_t)after.st_size, end + 2 * 65536);
	CHECK_EQ(sh("qemu-img check -q n.qcow2"), 0);
}

static void test_write_v3(void) { check_writes("", 32 << 20, NULL); }
static void test_write_v2(void) { check_writes("-o compat=0.10", 32 << 20, NULL); }
static void test_write_512(void) { check_writes("-o cluster_size=512", 4 << 20, NULL); }
static void test_write_4k_refcount1(void)
{
	check_writes("-o cluster_size=4k,refcount_bits=1", 16 << 20, NULL);
}
static void test_write_refcount64(void) { check_writes("-o refcount_bits=64", 16 << 20, NULL); }
static void test_write_refcount8_2m(void)
{
	check_writes("-o refcount_bits=8,cluster_size=2M", 64 << 20, NULL);
}

/* Small clusters: refcount blocks must be allocated as the file grows. */
static void test_write_grows_refblocks(void)
{
	check_writes("-o cluster_size=1k,refcount_bits=64", 6 << 20, NULL);
}

/* Copy-on-write from raw and qcow2 backing files, relative names. */
static void test_backing_chain(void)
{
	CHECK_EQ(sh("head -c 20971520 /dev/urandom > base.raw"), 0);
	CHECK_EQ(sh("qemu-img create -q -f qcow2 -b base.raw -F raw mid.qcow2 && "
		    "qemu-io -f qcow2 -c 'write -P 0x42 1M 100k' -c 'write -z 5M 64k' mid.qcow2"),
		 0);
	check_writes("", 24 << 20, "mid.qcow2");
	check_writes("-o compat=0.10,cluster_size=4k", 16 << 20, "base.raw");
	/* The backing files were not touched. */
	CHECK_EQ(sh("qemu-img check -q mid.qcow2"), 0);
}

static void test_backing_depth_and_loops(void)
{
	struct blk_backend *b = NULL;

	CHECK_EQ(sh("qemu-img create -q -f raw d0 1M && qemu-io -f raw -c 'write -P 9 0 512' d0"),
		 0);
	for (int i = 1; i <= 17; i++)
		CHECK_EQ(sh("qemu-img create -q -f qcow2 -b d%d -F %s d%d", i - 1,
			    i == 1 ? "raw" : "qcow2", i), 0);
	/* d16 has 16 backing files below it, d17 one too many. */
	CHECK_EQ(open_q("d16", false, &b), 0);
	if (b) {
		uint8_t buf[512];
		CHECK_EQ(rd(b, buf, 512, 0), 0);
		CHECK(all_bytes(buf, 512, 9));
		b->ops->close(b);
	}
	CHECK_EQ(open_q("d17", true, &b), -ELOOP);
	CHECK_EQ(sh("qemu-img create -q -f qcow2 -u -b l2.qcow2 -F qcow2 l1.qcow2 1M && "
		    "qemu-img create -q -f qcow2 -u -b l1.qcow2 -F qcow2 l2.qcow2 1M"), 0);
	CHECK_EQ(open_q("l1.qcow2", true, &b), -ELOOP);
	CHECK_EQ(sh("qemu-img create -q -f qcow2 -u -b missing.qcow2 -F qcow2 m.qcow2 1M"), 0);
	CHECK_EQ(open_q("m.qcow2", true, &b), -ENOENT);
	CHECK_EQ(sh("mkfifo fifo && qemu-img create -q -f qcow2 -u -b fifo -F raw f.qcow2 1M"),
		 0);
	CHECK_EQ(open_q("f.qcow2", true, &b), -EINVAL);
}

static void test_compressed_and_encrypted(void)
{
	struct blk_backend *b = NULL;
	uint8_t buf[4096];

	CHECK_EQ(sh("qemu-img create -q -f raw c.raw 4M && qemu-io -f raw -c 'write -P 3 0 1M' "
		    "c.raw && qemu-img convert -c -O qcow2 c.raw c.qcow2"), 0);
	CHECK_EQ(open_q("c.qcow2", false, &b), 0);
	if (b) {
		CHECK_EQ(rd(b, buf, sizeof(buf), 0), -EIO);
		CHECK_EQ(wr(b, buf, sizeof(buf), 0), -EIO);
		CHECK_EQ(rd(b, buf, sizeof(buf), 3 << 20), 0);
		CHECK(all_bytes(buf, sizeof(buf), 0));
		b->ops->close(b);
	}
	/* LUKS creation times its key derivation and gives up now and then on
	 * a loaded machine ("Unable to get accurate CPU usage"): retried. */
	int made = -1;
	for (int i = 0; i < 5 && made; i++)
		made = sh("qemu-img create -q -f qcow2 --object secret,id=s0,data=pw "
			  "-o encrypt.format=luks,encrypt.key-secret=s0 e.qcow2 4M");
	CHECK_EQ(made, 0);
	CHECK_EQ(open_q("e.qcow2", true, &b), -ENOTSUP);
}

/* A fresh v3 image patched one field at a time. */
static int open_patched(uint64_t off, uint64_t val, int width, bool ro)
{
	struct blk_backend *b = NULL;

	CHECK_EQ(sh("rm -f p.qcow2 && qemu-img create -q -f qcow2 p.qcow2 16M && "
		    "qemu-io -f qcow2 -c 'write -P 1 0 64k' p.qcow2"), 0);
	if (width == 32)
		patch32("p.qcow2", off, (uint32_t)val);
	else if (width == 64)
		patch64("p.qcow2", off, val);
	int ret = open_q("p.qcow2", ro, &b);
	if (b)
		b->ops->close(b);
	return ret;
}

static void test_corrupt_headers(void)
{
	CHECK_EQ(open_patched(0, 0, 0, false), 0);
	CHECK_EQ(open_patched(0, 0x12345678, 32, true), -EINVAL);	/* magic */
	CHECK_EQ(open_patched(4, 4, 32, true), -ENOTSUP);		/* version */
	CHECK_EQ(open_patched(20, 8, 32, true), -EINVAL);		/* cluster_bits */
	CHECK_EQ(open_patched(20, 22, 32, true), -EINVAL);
	CHECK_EQ(open_patched(36, 0x10000000, 32, true), -EINVAL);	/* huge l1_size */
	CHECK_EQ(open_patched(36, 0, 32, true), -EINVAL);		/* too small for size */
	CHECK_EQ(open_patched(40, 1ull << 40, 64, true), -EINVAL);	/* L1 outside file */
	CHECK_EQ(open_patched(40, 0x10200, 64, true), -EINVAL);		/* unaligned */
	CHECK_EQ(open_patched(40, 0x10000, 64, true), -EINVAL);		/* L1 on refcounts */
	CHECK_EQ(open_patched(40, 0, 64, true), -EINVAL);		/* L1 on the header */
	CHECK_EQ(open_patched(48, 1ull << 50, 64, true), -EINVAL);	/* reftable outside */
	CHECK_EQ(open_patched(56, 0xffffffff, 32, true), -EINVAL);	/* reftable huge */
	CHECK_EQ(open_patched(32, 1, 32, true), -ENOTSUP);		/* encryption */
	CHECK_EQ(open_patched(72, 1ull << 5, 64, true), -ENOTSUP);	/* unknown incompat */
	CHECK_EQ(open_patched(72, 1ull << 4, 64, true), -ENOTSUP);	/* extended L2 */
	CHECK_EQ(open_patched(72, 1ull << 2, 64, true), -ENOTSUP);	/* external data */
	CHECK_EQ(open_patched(72, 1, 64, false), -EINVAL);		/* dirty: no writes */
	CHECK_EQ(open_patched(72, 1, 64, true), 0);			/* but reads */
	CHECK_EQ(open_patched(96, 7, 32, true), -EINVAL);		/* refcount order */
	CHECK_EQ(open_patched(100, 1u << 30, 32, true), -EINVAL);	/* header length */
	CHECK_EQ(open_patched(8, 0x10000 - 8, 64, true), -EINVAL);	/* backing name */
	CHECK_EQ(open_patched(0, 0, 0, true), 0);			/* name offset wraps */
	patch64("p.qcow2", 8, ~0ull - 8);
	patch32("p.qcow2", 16, 16);
	struct blk_backend *w = NULL;
	CHECK_EQ(open_q("p.qcow2", true, &w), -EINVAL);
	CHECK_EQ(open_patched(60, 1, 32, true), -EINVAL);		/* snapshot at 0 */
	CHECK_EQ(open_patched(0, 0, 0, false), 0);
	CHECK_EQ(open_patched(64, 0x50000, 64, false), 0);
	patch32("p.qcow2", 60, 1);				/* snapshots: RO only */
	struct blk_backend *s = NULL;
	CHECK_EQ(open_q("p.qcow2", false, &s), -EROFS);
	CHECK_EQ(open_q("p.qcow2", true, &s), 0);
	if (s)
		s->ops->close(s);
	/* Truncated files. */
	CHECK_EQ(sh("head -c 100 p.qcow2 > t.qcow2"), 0);
	struct blk_backend *b = NULL;
	CHECK_EQ(open_q("t.qcow2", true, &b), -EINVAL);
	CHECK_EQ(sh("head -c 70000 p.qcow2 > t.qcow2"), 0);
	CHECK_EQ(open_q("t.qcow2", true, &b), -EINVAL);
	CHECK_EQ(sh(": > t.qcow2"), 0);
	CHECK_EQ(open_q("t.qcow2", true, &b), -EINVAL);
}

/* Bad table entries: refused at open (L1, reftable) or failing the request
 * (L2), and never a write outside the data area. */
static void test_corrupt_tables(void)
{
	struct blk_backend *b = NULL;
	uint8_t buf[4096];

	CHECK_EQ(open_patched(0, 0, 0, false), 0);
	uint64_t l1 = peek64("p.qcow2", 40), rt = peek64("p.qcow2", 48);
	uint64_t l2 = peek64("p.qcow2", l1) & 0x00fffffffffffe00ull;
	CHECK(l2 != 0);
	CHECK_EQ(sh("cp p.qcow2 good.qcow2"), 0);

	patch64("p.qcow2", l1, (1ull << 40) | (1ull << 63));	/* L2 outside the file */
	CHECK_EQ(open_q("p.qcow2", false, &b), -EIO);
	CHECK_EQ(sh("cp good.qcow2 p.qcow2"), 0);
	patch64("p.qcow2", l1, rt | (1ull << 63));		/* L2 on the reftable */
	CHECK_EQ(open_q("p.qcow2", false, &b), -EIO);
	CHECK_EQ(sh("cp good.qcow2 p.qcow2"), 0);
	patch64("p.qcow2", l1, l2 | 1);				/* reserved bit */
	CHECK_EQ(open_q("p.qcow2", false, &b), -EIO);
	CHECK_EQ(sh("cp good.qcow2 p.qcow2"), 0);
	patch64("p.qcow2", rt, l2);				/* refblock == L2 */
	CHECK_EQ(open_q("p.qcow2", false, &b), -EIO);
	CHECK_EQ(sh("cp good.qcow2 p.qcow2"), 0);
	patch64("p.qcow2", rt, 1ull << 45);			/* refblock outside */
	CHECK_EQ(open_q("p.qcow2", false, &b), -EIO);

	/* L2 entries pointing at the header, the L1 table, the L2 table itself,
	 * past the end: opening works, the requests fail, the file is unchanged. */
	const uint64_t bad[] = { 0x200, l1, l2, rt, 1ull << 40, 0x123 };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_EQ(sh("cp good.qcow2 p.qcow2"), 0);
		patch64("p.qcow2", l2, bad[i] | (1ull << 63));
		CHECK_EQ(sh("cp p.qcow2 before.qcow2"), 0);
		CHECK_EQ(open_q("p.qcow2", false, &b), 0);
		if (!b)
			continue;
		memset(buf, 0xee, sizeof(buf));
		CHECK_EQ(rd(b, buf, sizeof(buf), 0), -EIO);
		CHECK_EQ(wr(b, buf, sizeof(buf), 0), -EIO);
		CHECK_EQ(b->ops->write_zeroes(b, 0, 65536, true), -EIO);
		b->ops->close(b);
		CHECK_EQ(sh("cmp -s p.qcow2 before.qcow2"), 0);
	}
	/* A stale huge refcount past the end of the file is skipped over. */
	CHECK_EQ(sh("cp good.qcow2 p.qcow2"), 0);
	struct stat st;
	CHECK_EQ(stat(at("p.qcow2"), &st), 0);
	uint64_t rb = peek64("p.qcow2", rt), next = ((uint64_t)st.st_size + 65535) >> 16;
	patch("p.qcow2", rb + next * 2, "\xff\xff", 2);
	CHECK_EQ(open_q("p.qcow2", false, &b), 0);
	if (b) {
		memset(buf, 0x61, sizeof(buf));
		CHECK_EQ(wr(b, buf, sizeof(buf), 1 << 20), 0);
		memset(buf, 0, sizeof(buf));
		CHECK_EQ(rd(b, buf, sizeof(buf), 1 << 20), 0);
		CHECK(all_bytes(buf, sizeof(buf), 0x61));
		CHECK_EQ(peek64("p.qcow2", l2 + 16 * 8) & 0x00fffffffffffe00ull,
			 (next + 1) << 16);
		b->ops->close(b);
	}
}

/* kill -9 while writing, after a flush: QEMU accepts the image (leaked
 * clusters at most) and everything flushed is there. */
static void test_kill_during_writes(void)
{
	int p[2];

	CHECK_EQ(sh("rm -f k.qcow2 && qemu-img create -q -f qcow2 -o cluster_size=4k k.qcow2 64M"),
		 0);
	CHECK_EQ(pipe(p), 0);
	pid_t pid = fork();
	if (pid == 0) {
		struct blk_backend *b = NULL;
		static uint8_t buf[64 << 10];
		if (open_q("k.qcow2", false, &b))
			_exit(1);
		memset(buf, 0x5c, sizeof(buf));
		for (int i = 0; i < 64; i++)
			if (wr(b, buf, sizeof(buf), (uint64_t)i << 20))
				_exit(1);
		if (b->ops->flush(b, false) || write(p[1], "s", 1) != 1)
			_exit(1);
		for (uint64_t i = 0;; i++) {
			memset(buf, (int)i, sizeof(buf));
			wr(b, buf, sizeof(buf) - 1024, ((i * 7919) % 1000) * 65536 + 512);
		}
	}
	char c = 0;
	close(p[1]);
	CHECK_EQ(read(p[0], &c, 1), 1);
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	int rc = sh("qemu-img check -q k.qcow2");
	CHECK(rc == 0 || rc == 3);	/* 3: leaked clusters only */
	CHECK_EQ(sh("qemu-io -f qcow2 -c 'read -P 0x5c 0 64k' -c 'read -P 0x5c 63M 64k' "
		    "k.qcow2 | grep -q 'read 65536/65536'"), 0);
}

static void test_vmdk(void)
{
	struct blk_backend *b = NULL;
	uint8_t buf[8192];

	CHECK_EQ(sh("qemu-img create -q -f vmdk s.vmdk 16M && qemu-io -f vmdk -c 'write -P 0x21 "
		    "64k 8k' -c 'write -P 0x22 15M 512' s.vmdk"), 0);
	CHECK_EQ(sh("qemu-img create -q -f vmdk -o subformat=monolithicFlat f.vmdk 8M && "
		    "qemu-io -f vmdk -c 'write -P 0x31 4096 8k' f.vmdk"), 0);
	const char *names[] = { "s.vmdk", "f.vmdk" };
	for (int i = 0; i < 2; i++) {
		CHECK_EQ(blk_image_open(at(names[i]), BLK_FORMAT_VMDK, false, false, &b), -EROFS);
		CHECK_EQ(blk_image_open(at(names[i]), BLK_FORMAT_VMDK, true, false, &b), 0);
		if (!b)
			continue;
		CHECK_EQ(b->size, i ? 8 << 20 : 16 << 20);
		CHECK_EQ(rd(b, buf, sizeof(buf), i ? 4096 : 65536), 0);
		CHECK(all_bytes(buf, sizeof(buf), i ? 0x31 : 0x21));
		CHECK_EQ(rd(b, buf, 4096, 2 << 20), 0);
		CHECK(all_bytes(buf, 4096, 0));
		if (!i) {
			CHECK_EQ(rd(b, buf, 1024, (15 << 20) - 512), 0);
			CHECK(all_bytes(buf, 512, 0) && all_bytes(buf + 512, 512, 0x22));
		}
		CHECK_EQ(wr(b, buf, 512, 0), -EROFS);
		CHECK_EQ(rd(b, buf, 512, b->size), -EIO);
		b->ops->close(b);
	}
	const char *refused[] = { "streamOptimized", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat" };
	for (int i = 0; i < 3; i++) {
		CHECK_EQ(sh("rm -f x*.vmdk && qemu-img create -q -f vmdk -o subformat=%s x.vmdk 4M",
			    refused[i]), 0);
		CHECK(blk_vmdk_open(at("x.vmdk"), &b) < 0);
	}
	CHECK_EQ(sh("qemu-img create -q -f vmdk -b s.vmdk -F vmdk x.vmdk"), 0);
	CHECK_EQ(blk_vmdk_open(at("x.vmdk"), &b), -ENOTSUP);
	/* Grain directory pointing past the end of the file. */
	CHECK_EQ(sh("cp s.vmdk bad.vmdk"), 0);
	uint32_t far = htole32(0x7fffffff);
	uint64_t gd = 0;
	int fd = open(at("bad.vmdk"), O_RDWR);
	CHECK(fd >= 0);
	CHECK_EQ(pread(fd, &gd, 8, 56), 8);
	CHECK_EQ(pwrite(fd, &far, 4, (off_t)(le64toh(gd) * 512)), 4);
	close(fd);
	CHECK_EQ(blk_vmdk_open(at("bad.vmdk"), &b), -EINVAL);
	CHECK_EQ(blk_image_open(at("s.vmdk"), BLK_FORMAT_QCOW2, true, false, &b), -EINVAL);
}

int main(void)
{
	if (system("qemu-img --version >/dev/null 2>&1 && qemu-io --version >/dev/null 2>&1")) {
		printf("SKIP: qemu-img/qemu-io (Debian qemu-utils) not installed\n");
		return 77;
	}
	if (!mkdtemp(dir))
		return 1;
	RUN_TEST(test_read_v3);
	RUN_TEST(test_read_v2);
	RUN_TEST(test_read_small_clusters);
	RUN_TEST(test_read_big_clusters);
	RUN_TEST(test_discard_no_alloc);
	RUN_TEST(test_write_v3);
	RUN_TEST(test_write_v2);
	RUN_TEST(test_write_512);
	RUN_TEST(test_write_4k_refcount1);
	RUN_TEST(test_write_refcount64);
	RUN_TEST(test_write_refcount8_2m);
	RUN_TEST(test_write_grows_refblocks);
	RUN_TEST(test_backing_chain);
	RUN_TEST(test_backing_depth_and_loops);
	RUN_TEST(test_compressed_and_encrypted);
	RUN_TEST(test_corrupt_headers);
	RUN_TEST(test_corrupt_tables);
	RUN_TEST(test_kill_during_writes);
	RUN_TEST(test_vmdk);
	if (!test_cases_failed)
		sh("rm -rf %s", dir);
	else
		fprintf(stderr, "images and QEMU's messages kept in %s\n", dir);
	TEST_MAIN_END();
}
