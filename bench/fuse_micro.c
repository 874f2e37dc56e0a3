// SPDX-License-Identifier: Apache-2.0
/*
 * Host-side micro-benchmark of the virtio-fs FUSE server, no VM involved.
 *
 * Two paths:
 *   direct     fuse_server_handle() called in a loop with hand-built requests:
 *              the cost of the server itself (its host syscalls included).
 *   virtqueue  the whole virtio-fs device: a fake driver (tests/unit/virtio/vdrv.h)
 *              posts chains in fake guest memory, kicks the queue eventfd and
 *              waits for the irq eventfd and the used ring, while the device's
 *              own worker thread serves them. qd 1 = one request in flight
 *              (latency bound: two thread wake-ups per request); qd 32 = 32
 *              chains per kick and one interrupt per batch.
 *
 * Operations: GETATTR of the root, LOOKUP of an existing name, READ of 4 KiB at
 * random aligned offsets of a 64 MiB host file (in the host page cache after the
 * warm-up, so this is the server's overhead, not the disk's).
 *
 * Output: one JSON object per line,
 *   {"path":..,"op":..,"qd":..,"reqs":..,"secs":..,"rps":..,"cpu_us":..}
 * cpu_us is process CPU time (all threads) per request: on a shared machine it
 * is steadier than the wall-clock rate. There is no peer figure: QEMU's
 * virtiofsd can only be driven through a vhost-user front end.
 *
 * usage: fuse_micro [--seconds S] [--dir SCRATCH_PARENT]
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/fs/fuse_server.h"
#include "devices/virtio/fs.h"
#include "virtio/vdrv.h"

#define DATA_NAME "data"
#define DATA_SIZE (64u << 20)
#define READ_SIZE 4096u
#define LOOKUP_NAME "lookup-target"
#define VQ_REQ 1	/* request queue; 0 is hiprio */
#define VQ_SIZE 256
#define MAX_QD 32u
/* Re-check the clock only every this many requests: clock_gettime would
 * otherwise be a visible fraction of a sub-microsecond GETATTR. */
#define CLOCK_STRIDE 64u

enum op { OP_GETATTR, OP_LOOKUP, OP_READ, OP_COUNT };
static const char *const op_names[OP_COUNT] = { "getattr", "lookup", "read4k" };

static double run_seconds = 1.0;
static uint64_t data_nodeid;
static uint64_t data_fh;
static uint64_t unique_ctr;

static void die(const char *what, int err)
{
	fprintf(stderr, "fuse_micro: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* xorshift64: cheap and deterministic, so every run reads the same offsets. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void report(const char *path, const char *op, unsigned int qd, uint64_t reqs, double secs,
		   double cpu)
{
	printf("{\"path\":\"%s\",\"op\":\"%s\",\"qd\":%u,\"reqs\":%llu,\"secs\":%.4f,"
	       "\"rps\":%.0f,\"cpu_us\":%.3f}\n",
	       path, op, qd, (unsigned long long)reqs, secs, secs > 0 ? (double)reqs / secs : 0.0,
	       reqs ? cpu * 1e6 / (double)reqs : 0.0);
	fflush(stdout);
}

/* ---- request building ---------------------------------------------------- */

static size_t put_header(void *buf, uint32_t opcode, uint64_t nodeid, size_t args_len)
{
	struct fuse_in_header h;

	memset(&h, 0, sizeof(h));
	h.len = (uint32_t)(sizeof(h) + args_len);
	h.opcode = opcode;
	h.unique = ++unique_ctr;
	h.nodeid = nodeid;
	h.uid = getuid();
	h.gid = getgid();
	h.pid = 1;
	memcpy(buf, &h, sizeof(h));
	return h.len;
}

/* Writes one benchmark request into buf (at least 4 KiB); returns its length. */
static size_t build_req(void *buf, enum op op)
{
	unsigned char *args = (unsigned char *)buf + sizeof(struct fuse_in_header);

	switch (op) {
	case OP_GETATTR: {
		struct fuse_getattr_in in;

		memset(&in, 0, sizeof(in));
		memcpy(args, &in, sizeof(in));
		return put_header(buf, FUSE_GETATTR, FUSE_ROOT_ID, sizeof(in));
	}
	case OP_LOOKUP:
		memcpy(args, LOOKUP_NAME, sizeof(LOOKUP_NAME));
		return put_header(buf, FUSE_LOOKUP, FUSE_ROOT_ID, sizeof(LOOKUP_NAME));
	case OP_READ:
	default: {
		struct fuse_read_in in;

		memset(&in, 0, sizeof(in));
		in.fh = data_fh;
		in.offset = (rnd() % (DATA_SIZE / READ_SIZE)) * READ_SIZE;
		in.size = READ_SIZE;
		memcpy(args, &in, sizeof(in));
		return put_header(buf, FUSE_READ, data_nodeid, sizeof(in));
	}
	}
}

/* ---- scratch share -------------------------------------------------------- */

static char base_dir[PATH_MAX];
static char share_dir[PATH_MAX + 8];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

static void make_share(const char *parent)
{
	static unsigned char chunk[1u << 20];
	char path[sizeof(share_dir) + 32];
	int fd;

	snprintf(base_dir, sizeof(base_dir), "%s/krun-fuse-micro.XXXXXX", parent);
	if (!mkdtemp(base_dir))
		die("mkdtemp", errno);
	snprintf(share_dir, sizeof(share_dir), "%s/share", base_dir);
	if (mkdir(share_dir, 0755))
		die("mkdir", errno);
	snprintf(path, sizeof(path), "%s/%s", share_dir, LOOKUP_NAME);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		die("create lookup target", errno);
	close(fd);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (unsigned char)rnd();
	snprintf(path, sizeof(path), "%s/%s", share_dir, DATA_NAME);
	fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
	if (fd < 0)
		die("create data file", errno);
	for (unsigned int i = 0; i < DATA_SIZE / sizeof(chunk); i++)
		if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk))
			die("write data file", errno);
	close(fd);
}

/* ---- direct path --------------------------------------------------------- */

static struct fuse_server *srv;
static unsigned char d_in[8192];
static unsigned char d_out[(1u << 20) + 4096];

/* Sends the request in d_in; returns the FUSE error (0 = ok), reply payload in
 * d_out after the header. */
static int direct_call(size_t in_len)
{
	struct iovec iv = { d_in, in_len }, ov = { d_out, sizeof(d_out) };
	struct fuse_out_header oh;
	size_t len = 0;

	if (fuse_server_handle(srv, &iv, 1, &ov, 1, &len) != 0 || len < sizeof(oh))
		return -EPROTO;
	memcpy(&oh, d_out, sizeof(oh));
	return oh.error;
}

static const void *d_payload(void)
{
	return d_out + sizeof(struct fuse_out_header);
}

static void direct_setup(void)
{
	struct fuse_init_in init;
	struct fuse_open_in open_in;
	int err = 0;

	srv = fuse_server_create(share_dir, false, &err);
	if (!srv)
		die("fuse_server_create", err);
	memset(&init, 0, sizeof(init));
	init.major = FUSE_KERNEL_VERSION;
	init.minor = FUSE_KERNEL_MINOR_VERSION;
	init.max_readahead = 128 * 1024;
	memcpy(d_in + sizeof(struct fuse_in_header), &init, sizeof(init));
	if ((err = direct_call(put_header(d_in, FUSE_INIT, 0, sizeof(init)))))
		die("FUSE_INIT", err);

	memcpy(d_in + sizeof(struct fuse_in_header), DATA_NAME, sizeof(DATA_NAME));
	if ((err = direct_call(put_header(d_in, FUSE_LOOKUP, FUSE_ROOT_ID, sizeof(DATA_NAME)))))
		die("LOOKUP data", err);
	data_nodeid = ((const struct fuse_entry_out *)d_payload())->nodeid;

	memset(&open_in, 0, sizeof(open_in));
	open_in.flags = O_RDONLY;
	memcpy(d_in + sizeof(struct fuse_in_header), &open_in, sizeof(open_in));
	if ((err = direct_call(put_header(d_in, FUSE_OPEN, data_nodeid, sizeof(open_in)))))
		die("OPEN data", err);
	data_fh = ((const struct fuse_open_out *)d_payload())->fh;
}

static void direct_bench(enum op op)
{
	uint64_t n = 0;
	double t0, c0, dt;
	int err;

	/* Warm-up: page cache, dentry cache, branch predictors. */
	for (unsigned int i = 0; i < 2000; i++)
		if ((err = direct_call(build_req(d_in, op))))
			die(op_names[op], err);
	t0 = now_s();
	c0 = cpu_s();
	do {
		for (unsigned int i = 0; i < CLOCK_STRIDE; i++)
			direct_call(build_req(d_in, op));
		n += CLOCK_STRIDE;
	} while ((dt = now_s() - t0) < run_seconds);
	report("direct", op_names[op], 1, n, dt, cpu_s() - c0);
}

/* ---- virtqueue path ------------------------------------------------------ */

struct slot {
	uint64_t in_gpa, hdr_gpa, data_gpa;
};

static struct vdrv drv;
static struct virtio_fs *vfs;
static struct slot slots[MAX_QD];

static uint16_t *used_event(struct vdrv *d, unsigned int q)
{
	return &vdrv_avail(d, q)->ring[d->q[q].size];
}

static void vq_setup(void)
{
	int err = 0;
	uint64_t want = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_F_RING_EVENT_IDX);

	vfs = virtio_fs_create("bench", share_dir, false, &err);
	if (!vfs)
		die("virtio_fs_create", err);
	if ((err = vdrv_init(&drv, virtio_fs_ops(), vfs)))
		die("vdrv_init", err);
	if (!vdrv_negotiate(&drv, want))
		die("feature negotiation", EPROTO);
	vdrv_setup_queue(&drv, 0, VQ_SIZE);
	vdrv_setup_queue(&drv, VQ_REQ, VQ_SIZE);
	vdrv_status_add(&drv, VIRTIO_CONFIG_S_DRIVER_OK);
	if (!(vdrv_r(&drv, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_DRIVER_OK))
		die("DRIVER_OK", EPROTO);
	for (unsigned int i = 0; i < MAX_QD; i++) {
		slots[i].in_gpa = vdrv_alloc(&drv, 4096, 4096);
		slots[i].hdr_gpa = vdrv_alloc(&drv, sizeof(struct fuse_out_header), 16);
		slots[i].data_gpa = vdrv_alloc(&drv, READ_SIZE, 4096);
	}
	if (drv.brk > VDRV_GPA + VDRV_MEM)
		die("fake guest memory too small", ENOMEM);
}

/*
 * Posts the qd requests already written to the slots as chains shaped like the
 * Linux driver's (request; reply header; reply payload), kicks once, and waits
 * for all of them, asking for one interrupt at the end of the batch the way
 * virtqueue_enable_cb_delayed() does. Returns the first FUSE error seen.
 */
static int vq_batch(const size_t *in_len, unsigned int qd)
{
	struct vdrv_queue *q = &drv.q[VQ_REQ];
	unsigned int done = 0;
	uint32_t id, len;
	int first_err = 0;

	for (unsigned int i = 0; i < qd; i++) {
		struct vdrv_buf b[3] = {
			{ slots[i].in_gpa, (uint32_t)in_len[i], false },
			{ slots[i].hdr_gpa, sizeof(struct fuse_out_header), true },
			{ slots[i].data_gpa, READ_SIZE, true },
		};
		vdrv_post(&drv, VQ_REQ, b, 3);
	}
	__atomic_store_n(used_event(&drv, VQ_REQ), (uint16_t)(q->last_used + qd - 1),
			 __ATOMIC_SEQ_CST);
	vdrv_kick(&drv, VQ_REQ);
	while (done < qd) {
		if (vdrv_get_used(&drv, VQ_REQ, &id, &len)) {
			done++;
			continue;
		}
		if (!vdrv_wait_irq(&drv, VDRV_TIMEOUT_MS) && !vdrv_get_used(&drv, VQ_REQ, &id, &len))
			die("virtqueue: no completion", ETIMEDOUT);
	}
	for (unsigned int i = 0; i < qd; i++) {
		const struct fuse_out_header *oh = vdrv_ptr(&drv, slots[i].hdr_gpa);

		if (oh->error && !first_err)
			first_err = oh->error;
	}
	return first_err;
}

static int vq_fill_and_run(enum op op, unsigned int qd)
{
	size_t in_len[MAX_QD];

	for (unsigned int i = 0; i < qd; i++)
		in_len[i] = build_req(vdrv_ptr(&drv, slots[i].in_gpa), op);
	return vq_batch(in_len, qd);
}

static void vq_bench(enum op op, unsigned int qd)
{
	uint64_t n = 0;
	double t0, c0, dt;
	int err;

	for (unsigned int i = 0; i < 200; i++)
		if ((err = vq_fill_and_run(op, qd)))
			die(op_names[op], err);
	t0 = now_s();
	c0 = cpu_s();
	do {
		for (unsigned int i = 0; i < CLOCK_STRIDE / qd + 1; i++) {
			vq_fill_and_run(op, qd);
			n += qd;
		}
	} while ((dt = now_s() - t0) < run_seconds);
	report("virtqueue", op_names[op], qd, n, dt, cpu_s() - c0);
}

static void vq_teardown(void)
{
	vdrv_w(&drv, VIRTIO_MMIO_STATUS, 0);	/* reset joins the worker */
	vdrv_fini(&drv);
	virtio_fs_destroy(vfs);
}

int main(int argc, char **argv)
{
	const char *parent = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			run_seconds = atof(argv[++i]);
		} else if (!strcmp(argv[i], "--dir") && i + 1 < argc) {
			parent = argv[++i];
		} else {
			fprintf(stderr, "usage: %s [--seconds S] [--dir SCRATCH_PARENT]\n", argv[0]);
			return 2;
		}
	}
	if (!(run_seconds > 0))
		run_seconds = 1.0;

	make_share(parent);

	direct_setup();
	for (int op = 0; op < OP_COUNT; op++)
		direct_bench((enum op)op);
	fuse_server_destroy(srv);

	/* The device has its own server: redo INIT, LOOKUP and OPEN through it.
	 * Those go over the queue like everything else. */
	vq_setup();
	{
		struct fuse_init_in init;
		struct fuse_open_in open_in;
		size_t len;
		unsigned char *in = vdrv_ptr(&drv, slots[0].in_gpa);
		int err;

		memset(&init, 0, sizeof(init));
		init.major = FUSE_KERNEL_VERSION;
		init.minor = FUSE_KERNEL_MINOR_VERSION;
		init.max_readahead = 128 * 1024;
		memcpy(in + sizeof(struct fuse_in_header), &init, sizeof(init));
		len = put_header(in, FUSE_INIT, 0, sizeof(init));
		if ((err = vq_batch(&len, 1)))
			die("FUSE_INIT over the queue", err);
		memcpy(in + sizeof(struct fuse_in_header), DATA_NAME, sizeof(DATA_NAME));
		len = put_header(in, FUSE_LOOKUP, FUSE_ROOT_ID, sizeof(DATA_NAME));
		if ((err = vq_batch(&len, 1)))
			die("LOOKUP over the queue", err);
		/* The reply's payload landed in the second writable segment. */
		data_nodeid = ((const struct fuse_entry_out *)vdrv_ptr(&drv, slots[0].data_gpa))->nodeid;
		memset(&open_in, 0, sizeof(open_in));
		open_in.flags = O_RDONLY;
		memcpy(in + sizeof(struct fuse_in_header), &open_in, sizeof(open_in));
		len = put_header(in, FUSE_OPEN, data_nodeid, sizeof(open_in));
		if ((err = vq_batch(&len, 1)))
			die("OPEN over the queue", err);
		data_fh = ((const struct fuse_open_out *)vdrv_ptr(&drv, slots[0].data_gpa))->fh;
	}
	for (int op = 0; op < OP_COUNT; op++) {
		vq_bench((enum op)op, 1);
		vq_bench((enum op)op, MAX_QD);
	}
	vq_teardown();

	nftw(base_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}
