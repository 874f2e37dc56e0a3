// SPDX-License-Identifier: Apache-2.0
/* virtio-rng through the fake driver: buffers get filled; a malformed chain
 * marks the device DEVICE_NEEDS_RESET without crashing; reset restarts. */
#include "test.h"
#include "vdrv.h"
#include "devices/virtio/rng.h"
#include "util/log.h"

static struct vdrv d;

static void bring_up(struct virtio_rng *rng)
{
	CHECK_EQ(vdrv_init(&d, virtio_rng_ops(), rng), 0);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_DEVICE_ID), 4);
	CHECK(vdrv_negotiate(&d, 1ull << VIRTIO_F_VERSION_1));
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
	vdrv_setup_queue(&d, 0, 256);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(d.dev.activated);
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void test_fills_buffers(void)
{
	struct virtio_rng *rng = virtio_rng_create();

	CHECK(rng != NULL);
	bring_up(rng);
	uint64_t a = vdrv_alloc(&d, 64, 16), b = vdrv_alloc(&d, 4096, 16);
	struct vdrv_buf bufs[2] = { { a, 64, true }, { b, 4096, true } };
	uint16_t head = vdrv_post(&d, 0, bufs, 2);
	vdrv_kick(&d, 0);
	uint32_t id = 0, len = 0;
	CHECK(vdrv_wait_used(&d, 0, &id, &len));
	CHECK_EQ(id, head);
	CHECK_EQ(len, 64 + 4096);
	CHECK(!all_zero(vdrv_ptr(&d, a), 64));
	CHECK(!all_zero(vdrv_ptr(&d, b + 4032), 64));

	/* Many requests in one kick. */
	for (int i = 0; i < 100; i++) {
		struct vdrv_buf one = { vdrv_alloc(&d, 32, 16), 32, true };
		vdrv_post(&d, 0, &one, 1);
	}
	vdrv_kick(&d, 0);
	for (int i = 0; i < 100; i++) {
		CHECK(vdrv_wait_used(&d, 0, &id, &len));
		CHECK_EQ(len, 32);
	}
	vdrv_fini(&d);
	virtio_rng_destroy(rng);
}

static void test_malformed_chain(void)
{
	struct virtio_rng *rng = virtio_rng_create();

	bring_up(rng);
	/* A readable buffer after a writable one. */
	struct vdrv_buf bufs[2] = { { vdrv_alloc(&d, 16, 16), 16, true },
				    { vdrv_alloc(&d, 16, 16), 16, false } };
	vdrv_post(&d, 0, bufs, 2);
	vdrv_kick(&d, 0);
	CHECK(vdrv_wait_irq(&d, VDRV_TIMEOUT_MS));
	CHECK(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK_EQ(vdrv_used(&d, 0)->idx, 0);

	/* The driver resets and starts over: the device works again. */
	d.q[0] = (struct vdrv_queue){ 0 };
	CHECK(vdrv_negotiate(&d, 1ull << VIRTIO_F_VERSION_1));
	CHECK(!(vdrv_r(&d, VIRTIO_MMIO_STATUS) & VIRTIO_CONFIG_S_NEEDS_RESET));
	vdrv_setup_queue(&d, 0, 256);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	struct vdrv_buf ok = { vdrv_alloc(&d, 16, 16), 16, true };
	vdrv_post(&d, 0, &ok, 1);
	vdrv_kick(&d, 0);
	uint32_t id, len;
	CHECK(vdrv_wait_used(&d, 0, &id, &len));
	CHECK_EQ(len, 16);
	vdrv_fini(&d);
	virtio_rng_destroy(rng);
}

static void test_destroy_without_start(void)
{
	struct virtio_rng *rng = virtio_rng_create();

	virtio_rng_destroy(rng);
	virtio_rng_destroy(NULL);
}

int main(void)
{
	krun_log_configure(2, LOG_LVL_WARN);
	RUN_TEST(test_fills_buffers);
	RUN_TEST(test_malformed_chain);
	RUN_TEST(test_destroy_without_start);
	TEST_MAIN_END();
}
