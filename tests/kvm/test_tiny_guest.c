// SPDX-License-Identifier: Apache-2.0
/*
 * KVM tier: a hand-assembled real-mode guest exercises the hypervisor
 * backend's exits (port I/O, MMIO read and write, HLT) and the VM runtime's
 * bus dispatch, without a kernel.  Needs a usable /dev/kvm.
 */
#include "../unit/test.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hv/hv.h"
#include "vmm/bus.h"

#define GUEST_RAM 0x4000
#define CODE_ADDR 0x1000
#define MMIO_WRITE_ADDR 0x5000
#define MMIO_READ_ADDR 0x6000

static const uint8_t guest_code[] = {
	0xba, 0xf8, 0x03,	/* mov dx, 0x3f8 */
	0xb0, 'K',		/* mov al, 'K' */
	0xee,			/* out dx, al */
	0xa2, 0x00, 0x50,	/* mov [0x5000], al   (MMIO write) */
	0xa0, 0x00, 0x60,	/* mov al, [0x6000]   (MMIO read) */
	0xee,			/* out dx, al */
	0xf4,			/* hlt */
};

struct tiny_vm {
	int kvm;
	struct hv_vm *vm;
	struct hv_vcpu *vcpu;
	uint8_t *ram;
};

static int tiny_vm_create(struct tiny_vm *t)
{
	int ret = hv_open(&t->kvm);
	if (ret)
		return ret;
	ret = hv_vm_create(t->kvm, &t->vm);
	if (ret)
		return ret;
	t->ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->ram == MAP_FAILED)
		return -errno;
	memcpy(t->ram + CODE_ADDR, guest_code, sizeof(guest_code));
	ret = hv_vm_map_memory(t->vm, 0, t->ram, GUEST_RAM);
	if (!ret)
		ret = hv_vcpu_create(t->vm, 0, &t->vcpu);
	if (!ret)
		ret = hv_vcpu_set_real_mode(t->vcpu, 0, CODE_ADDR);
	return ret;
}

static void tiny_vm_destroy(struct tiny_vm *t)
{
	hv_vcpu_destroy(t->vcpu);
	hv_vm_destroy(t->vm);
	munmap(t->ram, GUEST_RAM);
	close(t->kvm);
}

/* Runs to the next exit that is not a spurious interruption. */
static int run_to_exit(struct tiny_vm *t, struct hv_exit *e)
{
	int ret;
	do {
		ret = hv_vcpu_run(t->vcpu, e);
	} while (!ret && e->reason == HV_EXIT_INTR);
	return ret;
}

static void test_exits_in_order(void)
{
	struct tiny_vm t = {0};
	CHECK_EQ(tiny_vm_create(&t), 0);
	if (!t.vcpu)
		return;
	struct hv_exit e;

	CHECK_EQ(run_to_exit(&t, &e), 0);
	CHECK_EQ(e.reason, HV_EXIT_IO);
	CHECK_EQ(e.io.port, 0x3f8);
	CHECK(e.io.is_write);
	CHECK_EQ(e.io.size, 1);
	CHECK_EQ(e.io.data[0], 'K');

	CHECK_EQ(run_to_exit(&t, &e), 0);
	CHECK_EQ(e.reason, HV_EXIT_MMIO);
	CHECK_EQ(e.mmio.addr, MMIO_WRITE_ADDR);
	CHECK(e.mmio.is_write);
	CHECK_EQ(e.mmio.len, 1);
	CHECK_EQ(e.mmio.data[0], 'K');

	CHECK_EQ(run_to_exit(&t, &e), 0);
	CHECK_EQ(e.reason, HV_EXIT_MMIO);
	CHECK_EQ(e.mmio.addr, MMIO_READ_ADDR);
	CHECK(!e.mmio.is_write);
	e.mmio.data[0] = 'Z'; /* the value the guest loads */

	CHECK_EQ(run_to_exit(&t, &e), 0);
	CHECK_EQ(e.reason, HV_EXIT_IO);
	CHECK_EQ(e.io.data[0], 'Z');

	CHECK_EQ(run_to_exit(&t, &e), 0);
	CHECK_EQ(e.reason, HV_EXIT_HLT);
	tiny_vm_destroy(&t);
}

struct capture {
	uint8_t last;
	int writes;
};

static void capture_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	struct capture *c = opaque;
	(void)off;
	(void)len;
	c->last = *(const uint8_t *)data;
	c->writes++;
}

static void test_bus_dispatch_from_guest(void)
{
	struct tiny_vm t = {0};
	CHECK_EQ(tiny_vm_create(&t), 0);
	if (!t.vcpu)
		return;
	struct capture cap = {0};
	struct bus pio = {0};
	struct bus_device d = {.base = 0x3f8, .len = 8, .opaque = &cap, .write = capture_write};
	CHECK_EQ(bus_add(&pio, &d), 0);
	struct hv_exit e;
	for (int i = 0; i < 8; i++) {
		if (run_to_exit(&t, &e) || e.reason == HV_EXIT_HLT)
			break;
		if (e.reason == HV_EXIT_IO && e.io.is_write)
			bus_write(&pio, e.io.port, e.io.data, e.io.size);
		else if (e.reason == HV_EXIT_MMIO && !e.mmio.is_write)
			e.mmio.data[0] = '!';
	}
	CHECK_EQ(e.reason, HV_EXIT_HLT);
	CHECK_EQ(cap.writes, 2);
	CHECK_EQ(cap.last, '!');
	tiny_vm_destroy(&t);
}

static void test_max_vcpus_reported(void)
{
	int kvm;
	CHECK_EQ(hv_open(&kvm), 0);
	CHECK(hv_max_vcpus(kvm) >= 16);
	close(kvm);
}

int main(void)
{
	RUN_TEST(test_exits_in_order);
	RUN_TEST(test_bus_dispatch_from_guest);
	RUN_TEST(test_max_vcpus_reported);
	TEST_MAIN_END();
}
