// SPDX-License-Identifier: Apache-2.0
/*
 * KVM tier: split irqchip end to end without a kernel.  A real-mode guest
 * moves its local APIC below 64 KiB (IA32_APIC_BASE) and enables it, then
 * programs pin 5 of the VMM's IOAPIC (mapped low here, for real-mode reach)
 * with vector 0x30; the harness signals an irqfd on GSI 5, the vector's
 * handler runs in the guest, EOIs and reports.  Proves the routes the IOAPIC
 * computes reach KVM and deliver what the guest programmed.
 */
#include "../unit/test.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "devices/legacy/ioapic.h"
#include "hv/hv.h"
#include "vmm/bus.h"

#define GUEST_RAM 0x4000
#define CODE_ADDR 0x1000
#define HANDLER_ADDR 0x1100
#define IOAPIC_TEST_ADDR 0x7000
#define VECTOR 0x30
#define GSI 5

enum { PORT_PROGRAMMED = 0x10, PORT_WOKE = 0x11, PORT_HANDLED = 0x12 };

static const uint8_t guest_code[] = {
	0xfa,					/* cli */
	0x31, 0xc0, 0x8e, 0xd0,			/* xor ax, ax; mov ss, ax */
	0xbc, 0x00, 0x30,			/* mov sp, 0x3000 */
	0x66, 0xb9, 0x1b, 0, 0, 0,		/* mov ecx, IA32_APIC_BASE */
	0x66, 0xb8, 0x00, 0x89, 0, 0,		/* mov eax, 0x8000 | EN | BSP */
	0x66, 0x31, 0xd2,			/* xor edx, edx */
	0x0f, 0x30,				/* wrmsr */
	0x66, 0xc7, 0x06, 0xf0, 0x80, 0xff, 0x01, 0, 0,	/* SVR = enable | 0xff */
	0x66, 0xc7, 0x06, 0x00, 0x70, 0x1b, 0, 0, 0,	/* IOREGSEL = pin 5 high */
	0x66, 0xc7, 0x06, 0x10, 0x70, 0x00, 0, 0, 0,	/* destination APIC 0 */
	0x66, 0xc7, 0x06, 0x00, 0x70, 0x1a, 0, 0, 0,	/* IOREGSEL = pin 5 low */
	0x66, 0xc7, 0x06, 0x10, 0x70, VECTOR, 0, 0, 0,	/* fixed, edge, unmasked */
	0xe6, PORT_PROGRAMMED,			/* out 0x10, al */
	0xfb, 0xf4,				/* sti; hlt */
	0xe6, PORT_WOKE,			/* out 0x11, al */
	0xeb, 0xfe,				/* jmp $ */
};

static const uint8_t handler_code[] = {
	0x66, 0xc7, 0x06, 0xb0, 0x80, 0, 0, 0, 0,	/* EOI */
	0xb0, 0x42,				/* mov al, 0x42 */
	0xe6, PORT_HANDLED,			/* out 0x12, al */
	0xcf,					/* iret */
};

/* A guest whose interrupt never comes halts in KVM for good: an alarm
 * interrupts KVM_RUN so the test fails instead of hanging. */
static void on_alarm(int sig)
{
	(void)sig;
}

static int push_routes(void *opaque, const struct ioapic_route *routes, unsigned int nr)
{
	struct hv_msi_route r[IOAPIC_NR_PINS];
	for (unsigned int i = 0; i < nr && i < IOAPIC_NR_PINS; i++)
		r[i] = (struct hv_msi_route){routes[i].gsi, routes[i].addr, routes[i].data};
	return hv_vm_set_msi_routes(opaque, r, nr);
}

static void test_irqfd_through_userspace_ioapic(void)
{
	int kvm = -1, evt = -1;
	struct hv_vm *vm = NULL;
	struct hv_vcpu *vcpu = NULL;
	struct ioapic io;
	bool io_ready = false;
	uint8_t *ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	CHECK(ram != MAP_FAILED);
	if (ram == MAP_FAILED)
		return;
	memcpy(ram + CODE_ADDR, guest_code, sizeof(guest_code));
	memcpy(ram + HANDLER_ADDR, handler_code, sizeof(handler_code));
	/* Real-mode IVT entry: offset, then segment 0. */
	ram[VECTOR * 4] = HANDLER_ADDR & 0xff;
	ram[VECTOR * 4 + 1] = HANDLER_ADDR >> 8;

	int ret = hv_open(&kvm);
	if (!ret)
		ret = hv_vm_create(kvm, &vm);
	if (!ret)
		ret = hv_vm_map_memory(vm, 0, ram, GUEST_RAM);
	if (!ret)
		ret = hv_vm_create_split_irqchip(vm, IOAPIC_NR_PINS);
	if (!ret)
		ret = ioapic_init(&io, 0, push_routes, vm);
	io_ready = !ret;
	evt = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!ret)
		ret = evt < 0 ? -errno : hv_vm_irqfd(vm, evt, GSI);
	if (!ret)
		ret = hv_vcpu_create(vm, 0, &vcpu);
	if (!ret)
		ret = hv_vcpu_set_real_mode(vcpu, 0, CODE_ADDR);
	CHECK_EQ(ret, 0);

	struct bus mmio = {0};
	struct bus_device d = {
		.base = IOAPIC_TEST_ADDR, .len = IOAPIC_MMIO_LEN, .opaque = &io,
		.read = ioapic_mmio_read, .write = ioapic_mmio_write,
	};
	CHECK_EQ(bus_add(&mmio, &d), 0);
	struct sigaction sa = {.sa_handler = on_alarm};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	time_t deadline = time(NULL) + 20;
	int programmed = 0, handled = 0, woke = 0;
	for (int i = 0; !ret && i < 200 && !woke && time(NULL) < deadline; i++) {
		struct hv_exit e;
		alarm(2);
		int r = hv_vcpu_run(vcpu, &e);
		alarm(0);
		if (r) {
			CHECK(0);
			break;
		}
		if (e.reason == HV_EXIT_INTR)
			continue;
		if (e.reason == HV_EXIT_MMIO) {
			if (e.mmio.is_write)
				bus_write(&mmio, e.mmio.addr, e.mmio.data, e.mmio.len);
			else
				bus_read(&mmio, e.mmio.addr, e.mmio.data, e.mmio.len);
			continue;
		}
		if (e.reason != HV_EXIT_IO || !e.io.is_write) {
			fprintf(stderr, "  unexpected exit %d (code %u)\n", e.reason, e.error.code);
			CHECK(0);
			break;
		}
		if (e.io.port == PORT_PROGRAMMED) {
			programmed++;
			uint64_t one = 1;
			CHECK_EQ(write(evt, &one, sizeof(one)), (long)sizeof(one));
		} else if (e.io.port == PORT_HANDLED) {
			handled++;
			CHECK_EQ(e.io.data[0], 0x42);
		} else if (e.io.port == PORT_WOKE) {
			woke++;
		}
	}
	CHECK_EQ(programmed, 1);
	CHECK_EQ(handled, 1);
	CHECK_EQ(woke, 1);
	/* What the guest wrote is what the IOAPIC reports. */
	if (io_ready) {
		uint32_t sel = IOAPIC_IDX_REDIR + 2 * GSI, v = 0;
		ioapic_mmio_write(&io, IOAPIC_REG_SEL, &sel, 4);
		ioapic_mmio_read(&io, IOAPIC_REG_WIN, &v, 4);
		CHECK_EQ(v, VECTOR);
		ioapic_destroy(&io);
	}
	hv_vcpu_destroy(vcpu);
	hv_vm_destroy(vm);
	if (evt >= 0)
		close(evt);
	if (kvm >= 0)
		close(kvm);
	munmap(ram, GUEST_RAM);
}

int main(void)
{
	RUN_TEST(test_irqfd_through_userspace_ioapic);
	TEST_MAIN_END();
}
