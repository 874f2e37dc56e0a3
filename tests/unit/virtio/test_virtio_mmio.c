// SPDX-License-Identifier: Apache-2.0
/* virtio-mmio register file: identity, feature negotiation, status state
 * machine, queue registers, config space bounds, interrupts, reset. */
#include <errno.h>

#include "test.h"
#include "vdrv.h"
#include "util/log.h"

struct dummy {
	int activated;
	int resets;
	int activate_ret;
	uint8_t cfg[10];
	uint8_t last_write[8];
	uint32_t last_write_off, last_write_len;
};

static void dummy_read_config(void *opaque, uint32_t off, void *data, uint32_t len)
{
	struct dummy *d = opaque;

	memcpy(data, d->cfg + off, len);
}

static void dummy_write_config(void *opaque, uint32_t off, const void *data, uint32_t len)
{
	struct dummy *d = opaque;

	memcpy(d->last_write, data, len);
	d->last_write_off = off;
	d->last_write_len = len;
}

static int dummy_activate(void *opaque, struct virtio_mmio_dev *dev)
{
	struct dummy *d = opaque;

	d->activated++;
	return d->activate_ret;
}

static void dummy_reset(void *opaque)
{
	((struct dummy *)opaque)->resets++;
}

static struct virtio_device_ops dummy_ops = {
	.name = "dummy",
	.device_id = 42,
	.num_queues = 2,
	.queue_max_size = 64,
	/* device bit 3, EVENT_IDX, and packed ring (34), which is not implemented */
	.features = (1ull << 3) | (1ull << VIRTIO_F_RING_EVENT_IDX) | (1ull << 34),
	.config_size = 10,
	.read_config = dummy_read_config,
	.write_config = dummy_write_config,
	.activate = dummy_activate,
	.reset = dummy_reset,
};

static struct vdrv d;
static struct dummy dm;

static void setup(void)
{
	memset(&dm, 0, sizeof(dm));
	for (unsigned int i = 0; i < sizeof(dm.cfg); i++)
		dm.cfg[i] = (uint8_t)(0xa0 + i);
	CHECK_EQ(vdrv_init(&d, &dummy_ops, &dm), 0);
}

static void teardown(void)
{
	vdrv_fini(&d);
}

static uint32_t status(void)
{
	return vdrv_r(&d, VIRTIO_MMIO_STATUS);
}

static void test_identity(void)
{
	setup();
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_VERSION), 2);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_DEVICE_ID), 42);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_VENDOR_ID), 0x4b52554e);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_SHM_LEN_HIGH), 0xffffffff);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_SHM_BASE_LOW), 0xffffffff);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_SHM_BASE_HIGH), 0xffffffff);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_CONFIG_GENERATION), 0);
	CHECK_EQ(status(), 0);
	/* Registers are 32-bit only. */
	uint16_t v16 = 0xffff;
	virtio_mmio_read(&d.dev, VIRTIO_MMIO_MAGIC_VALUE, &v16, 2);
	CHECK_EQ(v16, 0);
	uint32_t v = 0xffffffff;
	virtio_mmio_read(&d.dev, VIRTIO_MMIO_MAGIC_VALUE + 2, &v, 4);
	CHECK_EQ(v, 0);
	teardown();
}

static void test_features(void)
{
	setup();
	uint64_t f = vdrv_device_features(&d);
	CHECK_EQ(f, (1ull << 3) | (1ull << VIRTIO_F_RING_EVENT_IDX) | (1ull << VIRTIO_F_VERSION_1));
	vdrv_w(&d, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 7);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_DEVICE_FEATURES), 0);

	/* Before DRIVER: ignored. */
	vdrv_write_features(&d, 1ull << 3);
	CHECK_EQ(d.dev.driver_features, 0);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER);
	/* Unknown bits dropped. */
	vdrv_write_features(&d, ~0ull);
	CHECK_EQ(d.dev.driver_features, f);
	vdrv_write_features(&d, (1ull << 3) | (1ull << VIRTIO_F_VERSION_1));
	CHECK(virtio_mmio_has_feature(&d.dev, 3));
	CHECK(!virtio_mmio_has_feature(&d.dev, VIRTIO_F_RING_EVENT_IDX));
	CHECK(!virtio_mmio_has_feature(&d.dev, 200));
	vdrv_status_add(&d, VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK(status() & VIRTIO_CONFIG_S_FEATURES_OK);
	/* After FEATURES_OK: frozen. */
	vdrv_write_features(&d, f);
	CHECK(!virtio_mmio_has_feature(&d.dev, VIRTIO_F_RING_EVENT_IDX));
	teardown();
}

static void test_no_version_1_refused(void)
{
	setup();
	vdrv_status_add(&d, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	vdrv_write_features(&d, 1ull << 3);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(status(), VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	/* Queue registers stay locked and DRIVER_OK cannot follow. */
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_READY), 0);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(!(status() & VIRTIO_CONFIG_S_DRIVER_OK));
	CHECK_EQ(dm.activated, 0);
	teardown();
}

static void test_status_order(void)
{
	setup();
	vdrv_w(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_DRIVER);	/* no ACK */
	CHECK_EQ(status(), 0);
	vdrv_w(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_FEATURES_OK);
	CHECK_EQ(status(), 0);
	vdrv_w(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	CHECK_EQ(status(), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_w(&d, VIRTIO_MMIO_STATUS, VIRTIO_CONFIG_S_DRIVER);	/* clears ACK */
	CHECK_EQ(status(), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(status(), VIRTIO_CONFIG_S_ACKNOWLEDGE);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_FAILED);
	CHECK(status() & VIRTIO_CONFIG_S_FAILED);
	teardown();
}

static void test_queue_registers(void)
{
	setup();
	/* Before FEATURES_OK nothing sticks. */
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_NUM, 16);
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_READY, 1);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_READY), 0);
	CHECK_EQ(d.dev.queues[0].size, 64);

	CHECK(vdrv_negotiate(&d, ~0ull));
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 64);
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_SEL, 2);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_READY, 1);	/* absent queue: ignored */
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_READY), 0);

	vdrv_setup_queue(&d, 0, 16);
	CHECK_EQ(d.dev.queues[0].size, 16);
	CHECK_EQ(d.dev.queues[0].desc_gpa, d.q[0].desc);
	CHECK_EQ(d.dev.queues[0].avail_gpa, d.q[0].avail);
	CHECK_EQ(d.dev.queues[0].used_gpa, d.q[0].used);
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_SEL, 0);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_READY), 1);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(dm.activated, 1);
	CHECK(d.dev.activated);
	CHECK(d.dev.queues[0].event_idx);
	CHECK(d.dev.queues[0].desc != NULL);
	CHECK(d.dev.queues[1].desc == NULL);	/* not ready: not activated */
	/* Locked after DRIVER_OK. */
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1234);
	CHECK_EQ(d.dev.queues[0].desc_gpa, d.q[0].desc);

	/* Reset clears everything and calls the device. */
	int resets = dm.resets;
	vdrv_w(&d, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(dm.resets, resets + 1);
	CHECK_EQ(status(), 0);
	CHECK(!d.dev.activated);
	CHECK_EQ(d.dev.driver_features, 0);
	CHECK_EQ(d.dev.queues[0].size, 64);
	CHECK_EQ(d.dev.queues[0].desc_gpa, 0);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_QUEUE_READY), 0);
	teardown();
}

static void test_bad_queue_needs_reset(void)
{
	setup();
	CHECK(vdrv_negotiate(&d, ~0ull));
	vdrv_setup_queue(&d, 0, 16);
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_NUM, 24);	/* not a power of two */
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(dm.activated, 0);
	CHECK(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	vdrv_w(&d, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(status(), 0);

	CHECK(vdrv_negotiate(&d, ~0ull));
	vdrv_setup_queue(&d, 0, 16);
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_USED_LOW, (uint32_t)(VDRV_GPA + VDRV_MEM - 8));
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(dm.activated, 0);
	CHECK(status() & VIRTIO_CONFIG_S_NEEDS_RESET);

	CHECK(vdrv_negotiate(&d, ~0ull));
	vdrv_setup_queue(&d, 0, 16);
	vdrv_w(&d, VIRTIO_MMIO_QUEUE_NUM, 0x10010);	/* would truncate to 16 */
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK(status() & VIRTIO_CONFIG_S_NEEDS_RESET);

	/* A device that refuses activation. */
	dm.activate_ret = -ENOMEM;
	CHECK(vdrv_negotiate(&d, ~0ull));
	vdrv_setup_queue(&d, 0, 16);
	vdrv_status_add(&d, VIRTIO_CONFIG_S_DRIVER_OK);
	CHECK_EQ(dm.activated, 1);
	CHECK(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(!d.dev.activated);
	teardown();
}

static void test_config_space(void)
{
	setup();
	uint8_t b = 0;
	virtio_mmio_read(&d.dev, 0x100 + 9, &b, 1);
	CHECK_EQ(b, 0xa9);
	uint16_t h = 0;
	virtio_mmio_read(&d.dev, 0x100 + 2, &h, 2);
	CHECK_EQ(h, 0xa3a2);
	uint64_t q = 0;
	virtio_mmio_read(&d.dev, 0x100 + 2, &q, 8);
	CHECK_EQ(q, 0xa9a8a7a6a5a4a3a2ull);

	/* Out of bounds or odd widths read as zero. */
	uint32_t w = 0xffffffff;
	virtio_mmio_read(&d.dev, 0x100 + 8, &w, 4);
	CHECK_EQ(w, 0);
	b = 0xff;
	virtio_mmio_read(&d.dev, 0x100 + 10, &b, 1);
	CHECK_EQ(b, 0);
	uint8_t three[3] = { 1, 1, 1 };
	virtio_mmio_read(&d.dev, 0x100, three, 3);
	CHECK(three[0] == 0 && three[1] == 0 && three[2] == 0);
	q = ~0ull;
	virtio_mmio_read(&d.dev, 0xfff, &q, 8);
	CHECK_EQ(q, 0);
	virtio_mmio_read(&d.dev, ~0ull - 2, &b, 1);
	CHECK_EQ(b, 0);

	uint32_t val = 0x11223344;
	virtio_mmio_write(&d.dev, 0x100 + 4, &val, 4);
	CHECK_EQ(dm.last_write_off, 4);
	CHECK_EQ(dm.last_write_len, 4);
	dm.last_write_len = 0;
	virtio_mmio_write(&d.dev, 0x100 + 8, &val, 4);	/* past the end */
	virtio_mmio_write(&d.dev, ~0ull - 1, &val, 4);
	CHECK_EQ(dm.last_write_len, 0);
	teardown();
}

static void test_notify_and_interrupts(void)
{
	setup();
	eventfd_t v;
	vdrv_kick(&d, 1);
	CHECK_EQ(eventfd_read(d.dev.queue_evt[1], &v), 0);
	CHECK_EQ(v, 1);
	CHECK(eventfd_read(d.dev.queue_evt[0], &v) < 0);
	vdrv_kick(&d, 7);	/* no such queue: ignored */
	vdrv_kick(&d, 0xffffffff);

	virtio_mmio_notify_config(&d.dev);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_CONFIG_GENERATION), 1);
	CHECK(vdrv_wait_irq(&d, 0));
	CHECK_EQ(vdrv_r(&d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);

	virtio_mmio_set_broken(&d.dev);
	CHECK(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	CHECK(vdrv_wait_irq(&d, 0));
	/* The driver cannot clear NEEDS_RESET except by resetting. */
	vdrv_status_add(&d, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	CHECK(status() & VIRTIO_CONFIG_S_NEEDS_RESET);
	vdrv_w(&d, VIRTIO_MMIO_STATUS, 0);
	CHECK_EQ(status(), 0);
	teardown();
}

static void test_init_rejects_bad_ops(void)
{
	struct virtio_mmio_dev dev;
	struct guest_mem gm = { 0 };
	struct virtio_device_ops ops = dummy_ops;

	ops.num_queues = VIRTIO_MMIO_MAX_QUEUES + 1;
	CHECK_EQ(virtio_mmio_init(&dev, &ops, NULL, &gm, 0, 5), -EINVAL);
	ops = dummy_ops;
	ops.queue_max_size = 48;
	CHECK_EQ(virtio_mmio_init(&dev, &ops, NULL, &gm, 0, 5), -EINVAL);
	ops = dummy_ops;
	ops.reset = NULL;
	CHECK_EQ(virtio_mmio_init(&dev, &ops, NULL, &gm, 0, 5), -EINVAL);
}

int main(void)
{
	krun_log_configure(2, LOG_LVL_WARN);
	RUN_TEST(test_identity);
	RUN_TEST(test_features);
	RUN_TEST(test_no_version_1_refused);
	RUN_TEST(test_status_order);
	RUN_TEST(test_queue_registers);
	RUN_TEST(test_bad_queue_needs_reset);
	RUN_TEST(test_config_space);
	RUN_TEST(test_notify_and_interrupts);
	RUN_TEST(test_init_rejects_bad_ops);
	TEST_MAIN_END();
}
