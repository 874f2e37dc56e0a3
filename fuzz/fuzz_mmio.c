// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer target: the virtio-mmio transport's register file, driven by
 * random sequences of 1/2/4/8-byte reads and writes (and a few helper steps
 * a driver would take) against either virtio-rng (a real device with a
 * worker thread) or a stub device with a config space, queues, features
 * and an activation that may fail, all chosen by the input.
 *
 * Guest memory is 64 KiB at VDRV_GPA.  Input (missing bytes read as 0):
 *   byte 0      bit 0: stub device (else virtio-rng), bits 1-4: its queues
 *               - 1, bits 5-7: its queue_max_size log2
 *   byte 1      the stub's config space size (0..255)
 *   byte 2      bit 0: the stub's activate() fails
 *   u32, u32    the stub's offered features
 *   ops         each u8 op, bits 0-2 the kind:
 *               0 read, 1 write (bits 3-4: size 1/2/4/8; u16 offset code:
 *                 bit 15 a known register (+ 1-3 bytes when bit 14), bit
 *                 13 the config window (0x100 + low 9 bits), else the low
 *                 13 bits; then the value for writes)
 *               2 negotiate (bits 3-4: how many of ACK, DRIVER, features,
 *                 FEATURES_OK; u32 u32 the features written)
 *               3 queue setup (u8 queue, u8 size, then per ring u8 code:
 *                 0 a fresh aligned area, 1 misaligned, 2 across the end
 *                 of memory, 3 a raw u32 pair; bit 3: not made ready)
 *               4 status write (u8 value)
 *               5 guest memory write (u16 offset, u8 len, bytes)
 *               6 queue notify (u8 queue)
 *               7 a writable buffer posted on queue 0 as set up by 3
 * Checks after every step (__builtin_trap): bad-size or unaligned register
 * reads and bad config accesses read as zeros and never write past len;
 * magic, version and device id; QueueNumMax 0 past the last queue; status
 * bits only in the order of virtio 3.1.1, FEATURES_OK only with VERSION_1;
 * driver features a subset of the offered ones; the stub sees only config
 * accesses inside its space, activate() only when every ready queue's rings
 * lie in guest memory and never twice without a reset, and the transport's
 * activated flag matches the stub's; config reads return what was written.
 * The sequence ends with virtio_mmio_destroy (the device reset).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/virtio/vdrv.h"
#include "devices/virtio/rng.h"
#include "fuzz_input.h"
#include "util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MEM_SIZE (64u << 10)
#define MEM_END (VDRV_GPA + MEM_SIZE)
#define MAX_OPS 512
#define STUB_ID 42
#define CFG_MAX 256

struct stub {
	struct virtio_device_ops ops;
	const struct guest_mem *gm;
	bool fail_activate, active;
	uint8_t cfg[CFG_MAX];
};

struct fuzz_state {
	struct guest_mem gm;
	struct virtio_rng *rng;
	struct stub stub;
};

struct run {
	struct vdrv d;
	const struct virtio_device_ops *ops;
	struct stub *stub;
	uint64_t q0_desc, q0_avail, q0_used;	/* queue 0 as op 3 set it up */
	uint16_t q0_size, q0_next;
};

static struct fuzz_state *state;

static void cleanup(void)
{
	virtio_rng_destroy(state->rng);
	gm_destroy(&state->gm);
}

static struct fuzz_state *setup(void)
{
	static struct fuzz_state s;

	krun_log_configure(2, LOG_LVL_OFF);
	require(gm_alloc_region(&s.gm, VDRV_GPA, MEM_SIZE) == 0);
	s.rng = virtio_rng_create();
	require(s.rng != NULL);
	state = &s;
	atexit(cleanup);
	return &s;
}

static void stub_access(struct stub *st, uint32_t off, uint32_t len)
{
	check(len == 1 || len == 2 || len == 4 || len == 8);
	check(off < st->ops.config_size && len <= st->ops.config_size - off);
}

static void stub_read_config(void *opaque, uint32_t off, void *data, uint32_t len)
{
	struct stub *st = opaque;

	stub_access(st, off, len);
	memcpy(data, st->cfg + off, len);
}

static void stub_write_config(void *opaque, uint32_t off, const void *data, uint32_t len)
{
	struct stub *st = opaque;

	stub_access(st, off, len);
	memcpy(st->cfg + off, data, len);
}

static bool ring_in_memory(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	return gm_ptr(gm, gpa, len) != NULL;
}

static int stub_activate(void *opaque, struct virtio_mmio_dev *dev)
{
	struct stub *st = opaque;

	check(!st->active);
	for (unsigned int i = 0; i < st->ops.num_queues; i++) {
		const struct virtqueue *vq = &dev->queues[i];
		if (!vq->ready)
			continue;
		check(vq->size && vq->size <= st->ops.queue_max_size &&
		      !(vq->size & (vq->size - 1)));
		check(ring_in_memory(st->gm, vq->desc_gpa, 16ull * vq->size));
		check(ring_in_memory(st->gm, vq->avail_gpa, 6 + 2ull * vq->size));
		check(ring_in_memory(st->gm, vq->used_gpa, 6 + 8ull * vq->size));
	}
	if (st->fail_activate)
		return -EIO;
	st->active = true;
	return 0;
}

static void stub_reset(void *opaque)
{
	struct stub *st = opaque;

	st->active = false;
}

static uint64_t offered(const struct virtio_device_ops *ops)
{
	uint64_t transport = ((1ull << 42) - 1) & ~((1ull << 24) - 1);
	uint64_t supported = 1ull << VIRTIO_RING_F_INDIRECT_DESC |
			     1ull << VIRTIO_F_RING_EVENT_IDX | 1ull << VIRTIO_F_VERSION_1;

	return (ops->features & (~transport | supported)) | 1ull << VIRTIO_F_VERSION_1;
}

static const uint16_t regs[] = {
	VIRTIO_MMIO_MAGIC_VALUE, VIRTIO_MMIO_VERSION, VIRTIO_MMIO_DEVICE_ID,
	VIRTIO_MMIO_VENDOR_ID, VIRTIO_MMIO_DEVICE_FEATURES, VIRTIO_MMIO_DEVICE_FEATURES_SEL,
	VIRTIO_MMIO_DRIVER_FEATURES, VIRTIO_MMIO_DRIVER_FEATURES_SEL, VIRTIO_MMIO_QUEUE_SEL,
	VIRTIO_MMIO_QUEUE_NUM_MAX, VIRTIO_MMIO_QUEUE_NUM, VIRTIO_MMIO_QUEUE_READY,
	VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_MMIO_INTERRUPT_STATUS, VIRTIO_MMIO_INTERRUPT_ACK,
	VIRTIO_MMIO_STATUS, VIRTIO_MMIO_QUEUE_DESC_LOW, VIRTIO_MMIO_QUEUE_DESC_HIGH,
	VIRTIO_MMIO_QUEUE_AVAIL_LOW, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, VIRTIO_MMIO_QUEUE_USED_LOW,
	VIRTIO_MMIO_QUEUE_USED_HIGH, VIRTIO_MMIO_SHM_SEL, VIRTIO_MMIO_SHM_LEN_LOW,
	VIRTIO_MMIO_SHM_LEN_HIGH, VIRTIO_MMIO_SHM_BASE_LOW, VIRTIO_MMIO_SHM_BASE_HIGH,
	VIRTIO_MMIO_CONFIG_GENERATION,
};

static uint64_t decode_off(uint16_t raw)
{
	if (raw & 0x8000)
		return regs[(raw & 0xff) % (sizeof(regs) / sizeof(regs[0]))] +
		       (raw & 0x4000 ? (raw >> 8) % 3 + 1 : 0);
	if (raw & 0x2000)
		return VIRTIO_MMIO_CONFIG + (raw & 0x1ff);
	return raw & 0x1fff;
}

static void wr(struct run *t, uint64_t off, uint32_t v)
{
	vdrv_w(&t->d, off, v);
}

static void do_read(struct run *t, uint64_t off, uint32_t len)
{
	uint8_t buf[8];
	uint32_t v32;

	memset(buf, 0xa5, sizeof(buf));
	virtio_mmio_read(&t->d.dev, off, buf, len);
	for (uint32_t i = len; i < sizeof(buf); i++)
		check(buf[i] == 0xa5);
	if (off >= VIRTIO_MMIO_CONFIG) {
		uint64_t c = off - VIRTIO_MMIO_CONFIG;
		bool ok = c < t->ops->config_size && len <= t->ops->config_size - c;
		if (ok && t->stub)
			check(memcmp(buf, t->stub->cfg + c, len) == 0);
		for (uint32_t i = 0; !ok && i < len; i++)
			check(buf[i] == 0);
		return;
	}
	if (len != 4 || (off & 3)) {
		for (uint32_t i = 0; i < len; i++)
			check(buf[i] == 0);
		return;
	}
	memcpy(&v32, buf, 4);
	switch (off) {
	case VIRTIO_MMIO_MAGIC_VALUE:
		check(v32 == 0x74726976);
		break;
	case VIRTIO_MMIO_VERSION:
		check(v32 == 2);
		break;
	case VIRTIO_MMIO_DEVICE_ID:
		check(v32 == t->ops->device_id);
		break;
	case VIRTIO_MMIO_QUEUE_NUM_MAX:
		check(v32 == (t->d.dev.queue_sel < t->ops->num_queues ? t->ops->queue_max_size
								      : 0));
		break;
	}
}

static void do_write(struct run *t, uint64_t off, uint32_t len, struct reader *r)
{
	uint8_t buf[8];
	uint32_t lo = get32(r), hi = len == 8 ? get32(r) : 0;

	memcpy(buf, &lo, 4);
	memcpy(buf + 4, &hi, 4);
	virtio_mmio_write(&t->d.dev, off, buf, len);
}

static void negotiate(struct run *t, struct reader *r, unsigned int steps)
{
	uint32_t lo = get32(r), hi = get32(r);

	wr(t, VIRTIO_MMIO_STATUS, 0);
	vdrv_status_add(&t->d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	if (steps >= 1)
		vdrv_status_add(&t->d, VIRTIO_CONFIG_S_DRIVER);
	if (steps >= 2)
		vdrv_write_features(&t->d, ((uint64_t)hi << 32 | lo) & vdrv_device_features(&t->d));
	if (steps >= 3)
		vdrv_status_add(&t->d, VIRTIO_CONFIG_S_FEATURES_OK);
}

static uint64_t ring_addr(struct run *t, struct reader *r, uint64_t size, uint64_t align)
{
	uint8_t code = get8(r);

	switch (code & 3) {
	case 0:
		if (t->d.brk + size + align <= MEM_END)
			return vdrv_alloc(&t->d, size, align);
		return VDRV_GPA;
	case 1:
		return VDRV_GPA + 0x800 + (code | 1);
	case 2:
		return MEM_END - (code >> 2) * 4;
	default: {
		uint64_t lo = get32(r);
		return (uint64_t)get32(r) << 32 | lo;
	}
	}
}

static void setup_queue(struct run *t, struct reader *r, uint8_t op)
{
	unsigned int q = get8(r) % (t->ops->num_queues + 2);
	uint8_t sz = get8(r);
	uint16_t size = sz & 0x80 ? sz : (uint16_t)(1u << (sz % 11));

	wr(t, VIRTIO_MMIO_QUEUE_SEL, q);
	wr(t, VIRTIO_MMIO_QUEUE_NUM, size);
	uint64_t desc = ring_addr(t, r, 16ull * size, 16);
	uint64_t avail = ring_addr(t, r, 6 + 2ull * size, 2);
	uint64_t used = ring_addr(t, r, 6 + 8ull * size, 4);
	wr(t, VIRTIO_MMIO_QUEUE_DESC_LOW, (uint32_t)desc);
	wr(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, (uint32_t)avail);
	wr(t, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, (uint32_t)(avail >> 32));
	wr(t, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)used);
	wr(t, VIRTIO_MMIO_QUEUE_USED_HIGH, (uint32_t)(used >> 32));
	if (!(op & 8))
		wr(t, VIRTIO_MMIO_QUEUE_READY, 1);
	if (q == 0) {
		t->q0_desc = desc;
		t->q0_avail = avail;
		t->q0_used = used;
		t->q0_size = size;
		t->q0_next = 0;
	}
}

static void mem_write(struct run *t, struct reader *r)
{
	uint16_t off = get16(r) % MEM_SIZE;
	size_t len = get8(r);

	if (len > MEM_SIZE - off)
		len = MEM_SIZE - off;
	if (len > r->left)
		len = r->left;
	memcpy(vdrv_ptr(&t->d, VDRV_GPA + off), r->p, len);
	r->p += len;
	r->left -= len;
}

/* A driver's buffer on queue 0, where op 3 put its rings (if in memory). */
static void post_buffer(struct run *t, struct reader *r)
{
	uint16_t size = t->q0_size;
	uint32_t len = get8(r) + 1u;

	if (!size || size > 1024 || (size & (size - 1)) ||
	    !ring_in_memory(&t->d.gm, t->q0_desc, 16ull * size) ||
	    !ring_in_memory(&t->d.gm, t->q0_avail, 6 + 2ull * size) ||
	    t->d.brk + len > MEM_END)
		return;
	uint16_t i = t->q0_next++ % size;
	uint64_t buf = vdrv_alloc(&t->d, len, 8);
	struct vring_desc desc = { buf, len, VRING_DESC_F_WRITE, 0 };
	memcpy(vdrv_ptr(&t->d, t->q0_desc + 16ull * i), &desc, sizeof(desc));
	uint16_t idx;
	memcpy(&idx, vdrv_ptr(&t->d, t->q0_avail + 2), 2);
	memcpy(vdrv_ptr(&t->d, t->q0_avail + 4 + 2ull * (idx % size)), &i, 2);
	idx++;
	__atomic_store_n((uint16_t *)vdrv_ptr(&t->d, t->q0_avail + 2), idx, __ATOMIC_RELEASE);
}

static void check_state(struct run *t)
{
	struct virtio_mmio_dev *dev = &t->d.dev;
	uint32_t s = vdrv_r(&t->d, VIRTIO_MMIO_STATUS);

	if (s & VIRTIO_CONFIG_S_DRIVER)
		check(s & VIRTIO_CONFIG_S_ACKNOWLEDGE);
	if (s & VIRTIO_CONFIG_S_FEATURES_OK) {
		check(s & VIRTIO_CONFIG_S_DRIVER);
		check(virtio_mmio_has_feature(dev, VIRTIO_F_VERSION_1));
	}
	if (s & VIRTIO_CONFIG_S_DRIVER_OK)
		check(s & VIRTIO_CONFIG_S_FEATURES_OK);
	if (dev->activated)
		check(s & VIRTIO_CONFIG_S_DRIVER_OK);
	check((dev->driver_features & ~offered(t->ops)) == 0);
	if (t->stub)
		check(dev->activated == t->stub->active);
}

static void init_stub(struct stub *st, const struct guest_mem *gm, struct reader *r)
{
	uint8_t b0 = get8(r), b1 = get8(r), b2 = get8(r);
	uint32_t lo = get32(r), hi = get32(r);

	memset(st, 0, sizeof(*st));
	st->gm = gm;
	st->ops = (struct virtio_device_ops){
		.name = "fuzz-stub",
		.device_id = STUB_ID,
		.num_queues = (uint16_t)(((b0 >> 1) & 15) + 1),
		.queue_max_size = (uint16_t)(1u << (b0 >> 5)),
		.features = (uint64_t)hi << 32 | lo,
		.config_size = b1,
		.read_config = stub_read_config,
		.write_config = stub_write_config,
		.activate = stub_activate,
		.reset = stub_reset,
	};
	st->fail_activate = b2 & 1;
	for (unsigned int i = 0; i < CFG_MAX; i++)
		st->cfg[i] = (uint8_t)(i * 29 + 3);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_state *s = state ? state : setup();
	struct reader r = { data, size };
	static struct run t;

	if (size < 1)
		return 0;
	memset(&t, 0, sizeof(t));
	t.d.gm = s->gm;
	t.d.brk = VDRV_GPA + 0x1000;
	memset(vdrv_ptr(&t.d, VDRV_GPA), 0, MEM_SIZE);
	void *opaque = s->rng;
	t.ops = virtio_rng_ops();
	if (r.p[0] & 1) {
		init_stub(&s->stub, &t.d.gm, &r);
		t.stub = &s->stub;
		t.ops = &s->stub.ops;
		opaque = t.stub;
	} else {
		get8(&r);
	}
	require(virtio_mmio_init(&t.d.dev, t.ops, opaque, &t.d.gm, 0xd0000000, 5) == 0);

	for (unsigned int n = 0; n < MAX_OPS && r.left; n++) {
		uint8_t op = get8(&r);
		uint32_t len = 1u << ((op >> 3) & 3);
		switch (op & 7) {
		case 0:
			do_read(&t, decode_off(get16(&r)), len);
			break;
		case 1:
			do_write(&t, decode_off(get16(&r)), len, &r);
			break;
		case 2:
			negotiate(&t, &r, (op >> 3) & 3);
			break;
		case 3:
			setup_queue(&t, &r, op);
			break;
		case 4:
			wr(&t, VIRTIO_MMIO_STATUS, get8(&r));
			break;
		case 5:
			mem_write(&t, &r);
			break;
		case 6:
			vdrv_kick(&t.d, get8(&r));
			break;
		default:
			post_buffer(&t, &r);
			break;
		}
		check_state(&t);
	}
	virtio_mmio_destroy(&t.d.dev);
	if (t.stub)
		check(!t.stub->active);
	return 0;
}
