// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the virtio-console device with MULTIPORT, driven by a
 * guest whose control messages and port output the input controls.
 *
 * The device has three ports: 0 a console port (output to a file, input
 * from a pipe the harness writes), 1 "fuzz-out" (output to a file), 2
 * "fuzz-none" (no fds).  Queues: port 0 rx/tx 0/1, control rx/tx 2/3,
 * port 1 4/5, port 2 6/7, 32 entries each.  The console only runs on its
 * worker thread, so each input activates the device (DRIVER_OK starts the
 * worker), kicks the queues like the unit test does and waits, bounded,
 * until every posted chain is used or the device asks for a reset; the
 * reset at the end joins the worker.  Input (missing bytes read as 0):
 *   byte 0        bits 0-3: control rx buffers posted (0..15), bits 4-7:
 *                 their size 4 + 8 * n (short ones truncate messages)
 *   byte 1        bits 0-2: port 0 rx buffers (64 bytes each), bits 3-7:
 *                 4 * n bytes of the input written to port 0's input pipe
 *   byte 2        bit 0: a resize after the first batch
 *   u8 n, n msgs  first control batch on the control tx queue, each u8 m
 *                 (bits 0-5: length, bit 6: split over two descriptors,
 *                 bit 7: the last descriptor device-writable) then the
 *                 message bytes (le32 id, le16 event, le16 value, ...):
 *                 DEVICE_READY, PORT_READY, PORT_OPEN, unknown events,
 *                 out-of-range ids, short messages
 *   u8 n, n chains port output, each u8 p (bits 0-1: port 0/1/2, or 3: a
 *                 raw descriptor on port 1; bits 2-3: descriptors - 1;
 *                 bit 4: the last one device-writable), u16 len (<= 4096,
 *                 split over the descriptors), then the bytes (those past
 *                 the input's end are 0).  A raw descriptor is u8 flags,
 *                 u8 next, u16 len, u8 where (0 data, 1 outside guest
 *                 memory, 2 across its end): loops, bad next, bad buffers,
 *                 links into other chains, indirect tables
 *   u8 n, n msgs  a second control batch (e.g. PORT_OPEN 0 after output)
 * Sanitizers catch the rest; the harness also checks that tx chains come
 * back with length 0, rx and control rx chains with no more than their
 * buffer size, control messages name an existing port and an event the
 * device sends, and the files never get more than the guest wrote.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/virtio_console.h>

#include "../tests/unit/virtio/vdrv.h"
#include "devices/virtio/console.h"
#include "fuzz_input.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define QSZ CONSOLE_QUEUE_SIZE
#define NPORTS 3
#define NQ (2 * (NPORTS + 1))
#define MEM_SIZE (512u << 10)
#define MEM_END (VDRV_GPA + MEM_SIZE)
#define RX_BUF 64
#define MAX_LEN 4096
#define WAIT_MS 1000

struct fuzz_state {
	struct guest_mem gm;
	struct virtio_console *con;
	int in_pipe[2];
	int out_fd[2];
	char dir[64];
	char path[2][128];
};

static struct fuzz_state *state;

/* Copies up to len input bytes to gpa (the rest stays 0). */
static void get_bytes(struct reader *r, struct vdrv *d, uint64_t gpa, size_t len)
{
	size_t n = len < r->left ? len : r->left;

	memcpy(vdrv_ptr(d, gpa), r->p, n);
	r->p += n;
	r->left -= n;
}

static unsigned int rxq(unsigned int id)
{
	return id == 0 ? 0 : 2 + 2 * id;
}

static void cleanup(void)
{
	virtio_console_destroy(state->con);
	for (int i = 0; i < 2; i++) {
		close(state->out_fd[i]);
		close(state->in_pipe[i]);
		unlink(state->path[i]);
	}
	rmdir(state->dir);
	gm_destroy(&state->gm);
}

static struct fuzz_state *setup(void)
{
	static struct fuzz_state s;

	krun_log_configure(2, LOG_LVL_OFF);
	require(gm_alloc_region(&s.gm, VDRV_GPA, MEM_SIZE) == 0);
	strcpy(s.dir, "/tmp/krun-fuzz-console-XXXXXX");
	require(mkdtemp(s.dir) != NULL);
	for (int i = 0; i < 2; i++) {
		snprintf(s.path[i], sizeof(s.path[i]), "%s/out%d", s.dir, i);
		s.out_fd[i] = open(s.path[i], O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		require(s.out_fd[i] >= 0);
	}
	require(pipe2(s.in_pipe, O_NONBLOCK | O_CLOEXEC) == 0);
	s.con = virtio_console_create();
	require(s.con != NULL);
	require(virtio_console_resize(s.con, 80, 25) == 0);
	require(virtio_console_add_port(s.con, NULL, s.in_pipe[0], s.out_fd[0], true) == 0);
	require(virtio_console_add_port(s.con, "fuzz-out", -1, s.out_fd[1], false) == 1);
	require(virtio_console_add_port(s.con, "fuzz-none", -1, -1, false) == 2);
	state = &s;
	atexit(cleanup);
	return &s;
}

struct run {
	struct vdrv d;
	unsigned int descs[NQ];		/* descriptors posted per queue */
	uint64_t readable[NPORTS];	/* readable bytes posted per port's tx */
	uint32_t ctrl_buf;
};

static bool room(struct run *t, unsigned int q, unsigned int ndesc, uint64_t len)
{
	return t->descs[q] + ndesc <= QSZ && t->d.brk + len + 64 <= MEM_END;
}

static void post(struct run *t, unsigned int q, const struct vdrv_buf *b, unsigned int n)
{
	vdrv_post(&t->d, q, b, n);
	t->descs[q] += n;
}

/* UINT64_MAX stays: the port's output is unbounded. */
static void add_readable(struct run *t, unsigned int id, uint32_t len)
{
	if (t->readable[id] != UINT64_MAX)
		t->readable[id] += len;
}

static void ctrl_batch(struct run *t, struct reader *r)
{
	unsigned int n = get8(r);

	for (unsigned int i = 0; i < n; i++) {
		uint8_t m = get8(r);
		uint32_t len = m & 63;
		unsigned int nb = m & 64 ? 2 : 1;
		if (!room(t, 3, nb, len))
			break;
		uint64_t gpa = vdrv_alloc(&t->d, len ? len : 1, 8);
		get_bytes(r, &t->d, gpa, len);
		struct vdrv_buf b[2] = { { gpa, len, false }, { 0, 0, false } };
		if (nb == 2) {
			b[0].len = len / 2;
			b[1] = (struct vdrv_buf){ gpa + len / 2, len - len / 2, false };
		}
		b[nb - 1].writable = m & 128;
		post(t, 3, b, nb);
	}
	vdrv_kick(&t->d, 3);
}

static void raw_chain(struct run *t, struct reader *r)
{
	struct vdrv_queue *vq = &t->d.q[5];
	uint8_t flags = get8(r), next = get8(r);
	uint16_t len = get16(r);
	uint8_t where = get8(r);
	uint16_t head = vq->next_desc % vq->size;
	uint64_t gpa = 0;

	if (len > MAX_LEN)
		len = MAX_LEN;
	if (!room(t, 5, 1, len))
		return;
	if (where % 3 == 0) {
		gpa = vdrv_alloc(&t->d, len ? len : 1, 8);
		get_bytes(r, &t->d, gpa, len);
	} else if (where % 3 == 1) {
		gpa = 0xffff0000ull + where;
	} else {
		gpa = MEM_END - (where & 0x3f);
	}
	struct vring_desc *desc = vdrv_desc(&t->d, 5, head);
	desc->addr = gpa;
	desc->len = len;
	desc->flags = flags;
	desc->next = next;
	/* A link into other chains or a table: no bound on what gets written. */
	if (flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT))
		t->readable[1] = UINT64_MAX;
	else if (!(flags & VRING_DESC_F_WRITE))
		add_readable(t, 1, len);
	vq->next_desc++;
	t->descs[5]++;
	vdrv_publish(&t->d, 5, head);
}

static void data_batch(struct run *t, struct reader *r)
{
	unsigned int n = get8(r);
	bool kicked[NPORTS] = { false };

	for (unsigned int i = 0; i < n; i++) {
		uint8_t p = get8(r);
		unsigned int id = p & 3;
		if (id == 3) {
			raw_chain(t, r);
			kicked[1] = true;
			continue;
		}
		unsigned int nb = ((p >> 2) & 3) + 1, q = rxq(id) + 1;
		uint32_t len = get16(r);
		if (len > MAX_LEN)
			len = MAX_LEN;
		if (!room(t, q, nb, len))
			break;
		uint64_t gpa = vdrv_alloc(&t->d, len ? len : 1, 8);
		get_bytes(r, &t->d, gpa, len);
		struct vdrv_buf b[4];
		uint32_t off = 0;
		for (unsigned int k = 0; k < nb; k++) {
			uint32_t l = k + 1 < nb ? len / nb : len - off;
			b[k] = (struct vdrv_buf){ gpa + off, l, k + 1 == nb && (p & 16) };
			if (!b[k].writable)
				add_readable(t, id, l);
			off += l;
		}
		post(t, q, b, nb);
		kicked[id] = true;
	}
	for (unsigned int id = 0; id < NPORTS; id++)
		if (kicked[id])
			vdrv_kick(&t->d, rxq(id) + 1);
}

/* Until every chain posted on a tx queue is used, or the device is broken. */
static void wait_tx(struct run *t)
{
	int64_t end = vdrv_now_ms() + WAIT_MS;

	for (;;) {
		bool done = true;
		for (unsigned int id = 0; id <= NPORTS; id++) {
			unsigned int q = id == NPORTS ? 3 : rxq(id) + 1;
			struct vring_used *u = vdrv_used(&t->d, q);
			if (__atomic_load_n(&u->idx, __ATOMIC_ACQUIRE) != t->d.q[q].avail_idx)
				done = false;
		}
		if (done || atomic_load(&t->d.dev.needs_reset))
			return;
		int64_t left = end - vdrv_now_ms();
		if (left <= 0)
			return;
		vdrv_wait_irq(&t->d, left < 5 ? (int)left : 5);
	}
}

static void check_used(struct run *t)
{
	for (unsigned int q = 0; q < NQ; q++) {
		struct vring_used *u = vdrv_used(&t->d, q);
		uint16_t n = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
		check(n <= t->d.q[q].avail_idx);
		for (uint16_t i = 0; i < n && i < QSZ; i++) {
			const struct vring_used_elem *e = &u->ring[i];
			if (q & 1) {
				check(e->len == 0);
			} else if (q == 2) {
				check(e->len <= t->ctrl_buf);
				check(e->id < QSZ);
				const struct virtio_console_control *m =
					vdrv_ptr(&t->d, vdrv_desc(&t->d, 2, (uint16_t)e->id)->addr);
				if (e->len < sizeof(*m))
					continue;
				check(m->id < NPORTS);
				check(m->event == VIRTIO_CONSOLE_PORT_ADD ||
				      m->event == VIRTIO_CONSOLE_CONSOLE_PORT ||
				      m->event == VIRTIO_CONSOLE_RESIZE ||
				      m->event == VIRTIO_CONSOLE_PORT_OPEN ||
				      m->event == VIRTIO_CONSOLE_PORT_NAME);
			} else {
				check(e->len <= RX_BUF);
			}
		}
	}
}

static void check_files(struct fuzz_state *s, struct run *t)
{
	for (int i = 0; i < 2; i++) {
		struct stat st;
		require(fstat(s->out_fd[i], &st) == 0);
		check((uint64_t)st.st_size <= t->readable[i]);
		require(ftruncate(s->out_fd[i], 0) == 0);
		require(lseek(s->out_fd[i], 0, SEEK_SET) == 0);
	}
	char buf[256];
	while (read(s->in_pipe[0], buf, sizeof(buf)) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state *s = state ? state : setup();
	struct reader r = { data, size };
	static struct run t;

	if (size < 3)
		return 0;
	memset(&t, 0, sizeof(t));
	t.d.gm = s->gm;
	t.d.brk = VDRV_GPA + 0x1000;
	memset(vdrv_ptr(&t.d, VDRV_GPA), 0, MEM_SIZE);
	require(virtio_mmio_init(&t.d.dev, virtio_console_ops(s->con), s->con, &t.d.gm,
				 0xd0000000, 5) == 0);
	uint64_t f = 1ull << VIRTIO_F_VERSION_1 | 1ull << VIRTIO_CONSOLE_F_SIZE |
		     1ull << VIRTIO_CONSOLE_F_MULTIPORT;
	require(vdrv_negotiate(&t.d, f));
	for (unsigned int q = 0; q < NQ; q++)
		vdrv_setup_queue(&t.d, q, QSZ);

	uint8_t b0 = get8(&r), b1 = get8(&r), b2 = get8(&r);
	t.ctrl_buf = 4 + 8 * (b0 >> 4);
	for (unsigned int i = 0; i < (b0 & 15u); i++) {
		struct vdrv_buf b = { vdrv_alloc(&t.d, t.ctrl_buf, 8), t.ctrl_buf, true };
		post(&t, 2, &b, 1);
	}
	for (unsigned int i = 0; i < (b1 & 7u); i++) {
		struct vdrv_buf b = { vdrv_alloc(&t.d, RX_BUF, 8), RX_BUF, true };
		post(&t, 0, &b, 1);
	}
	size_t in_len = (size_t)(b1 >> 3) * 4;
	if (in_len > r.left)
		in_len = r.left;
	if (in_len) {
		(void)!write(s->in_pipe[1], r.p, in_len);
		r.p += in_len;
		r.left -= in_len;
	}
	vdrv_status_add(&t.d, VIRTIO_CONFIG_S_DRIVER_OK);
	require(t.d.dev.activated);
	vdrv_kick(&t.d, 2);
	vdrv_kick(&t.d, 0);

	ctrl_batch(&t, &r);
	wait_tx(&t);
	if (b2 & 1)
		virtio_console_resize(s->con, (uint16_t)(80 + (b2 >> 1)), 25);
	data_batch(&t, &r);
	wait_tx(&t);
	ctrl_batch(&t, &r);
	wait_tx(&t);
	/* Reset: the worker is joined, nothing touches guest memory now. */
	virtio_mmio_destroy(&t.d.dev);
	check_used(&t);
	check_files(s, &t);
	return 0;
}
