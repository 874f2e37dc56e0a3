// SPDX-License-Identifier: Apache-2.0
#include "vm.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "arch/x86_64/boot.h"
#include "arch/x86_64/cpuid.h"
#include "arch/x86_64/layout.h"
#include "arch/x86_64/mem_plan.h"
#include "arch/x86_64/mptable.h"
#include "arch/x86_64/smbios.h"
#include "devices/legacy/ioapic.h"
#include "devices/legacy/legacy.h"
#include "hv/hv.h"
#include "kernel/cmdline.h"
#include "kernel/decompress.h"
#include "kernel/formats.h"
#include "kernel/loader.h"
#include "util/log.h"
#include "vmm/bus.h"
#include "vmm/guest_mem.h"

#define EXIT_CODE_UNSET INT32_MIN
/* signals, terminal size, and one per vhost-user device (8) */
#define MAX_WATCHED_FDS 12
#define MAX_CPUID_ENTRIES 256

struct vcpu {
	struct vm *vm;
	unsigned int index;
	struct hv_vcpu *hv;
	pthread_t thread;
	bool started;
};

struct vm {
	int hv_fd;
	struct hv_vm *hv;
	struct guest_mem gm;
	struct x86_mem_plan plan;
	struct bus pio;
	struct bus mmio;

	struct serial com1;
	int com1_irq_evt;		/* irqfd of GSI 4 */
	struct i8042 i8042;
	struct cmos cmos;
	bool split_irqchip;
	struct ioapic ioapic;		/* split irqchip only */

	unsigned int nr_vcpus;
	struct vcpu vcpus[VM_MAX_VCPUS];

	struct virtio_mmio_dev virtio[VM_MAX_VIRTIO_DEVICES];
	unsigned int nr_virtio;

	/* Creates the threads vCPUs start (device workers, COM1's drain). */
	struct krun_launcher launcher;

	int stop_evt;
	struct {
		int fd;
		void (*handler)(void *opaque);
		void *opaque;
		bool hangup;	/* once, on POLLHUP/POLLERR only */
	} watched[MAX_WATCHED_FDS];
	unsigned int nr_watched;
	atomic_bool stopping;
	_Atomic int exit_code;		/* reported by init */
	_Atomic int stop_code;		/* from the way the VM ended */
};

const struct guest_mem *vm_guest_mem(const struct vm *vm)
{
	return &vm->gm;
}

void vm_set_exit_code(struct vm *vm, int code)
{
	atomic_store(&vm->exit_code, code);
}

void vm_request_stop(struct vm *vm, int code)
{
	bool expected = false;
	if (!atomic_compare_exchange_strong(&vm->stopping, &expected, true))
		return;
	atomic_store(&vm->stop_code, code);
	uint64_t one = 1;
	ssize_t r = write(vm->stop_evt, &one, sizeof(one));
	(void)r;
}

static void i8042_reset(void *opaque)
{
	vm_request_stop(opaque, 0);
}

/* From a vCPU or the serial input thread: an irqfd is an edge on the ISA
 * line, and writing it is a syscall every thread's filter allows. */
static void com1_irq(void *opaque)
{
	struct vm *vm = opaque;
	uint64_t one = 1;
	ssize_t r = write(vm->com1_irq_evt, &one, sizeof(one));
	(void)r; /* a full counter is an interrupt pending already */
}

static int setup_memory(struct vm *vm, const struct vm_config *cfg)
{
	struct x86_kernel_placement kp = {
		.load_gpa = cfg->kernel.bundle_gpa,
		.size = cfg->kernel.bundle_size,
	};
	bool bundle = cfg->kernel.kind == VM_KERNEL_BUNDLE;
	int ret = x86_plan_memory(cfg->ram_bytes, bundle ? &kp : NULL, &vm->plan);
	if (ret) {
		log_error("cannot lay out %llu MiB of guest memory: %s",
			  (unsigned long long)(cfg->ram_bytes >> 20), strerror(-ret));
		return ret;
	}
	for (unsigned int i = 0; i < vm->plan.nr_regions; i++) {
		const struct x86_mem_region *r = &vm->plan.regions[i];
		if (cfg->shared_ram) {
			/* A vhost-user backend maps every region, the kernel's too:
			 * it is copied into RAM, not mapped copy-on-write. */
			ret = gm_alloc_region_shared(&vm->gm, r->gpa, r->size);
			if (!ret && r->is_kernel)
				memcpy(vm->gm.regions[vm->gm.nr_regions - 1].host,
				       cfg->kernel.bundle_host, r->size);
		} else if (r->is_kernel) {
			ret = gm_add_region(&vm->gm, r->gpa, cfg->kernel.bundle_host, r->size,
					    false);
		} else {
			ret = gm_alloc_region(&vm->gm, r->gpa, r->size);
		}
		if (ret) {
			log_error("cannot set up guest RAM: %s", strerror(-ret));
			return ret;
		}
	}
	for (unsigned int i = 0; i < vm->gm.nr_regions; i++) {
		const struct gm_region *r = &vm->gm.regions[i];
		ret = hv_vm_map_memory(vm->hv, r->gpa, r->host, r->size);
		if (ret)
			return ret;
	}
	return 0;
}

static int add_pio(struct vm *vm, uint64_t base, uint64_t len, void *opaque,
		   void (*rd)(void *, uint64_t, void *, uint32_t),
		   void (*wr)(void *, uint64_t, const void *, uint32_t))
{
	struct bus_device d = {.base = base, .len = len, .opaque = opaque, .read = rd, .write = wr};
	return bus_add(&vm->pio, &d);
}

static int push_ioapic_routes(void *opaque, const struct ioapic_route *routes, unsigned int nr)
{
	struct hv_msi_route r[IOAPIC_NR_PINS];
	if (nr > IOAPIC_NR_PINS)
		return -E2BIG;
	for (unsigned int i = 0; i < nr; i++)
		r[i] = (struct hv_msi_route){routes[i].gsi, routes[i].addr, routes[i].data};
	return hv_vm_set_msi_routes(opaque, r, nr);
}

/* In-kernel IOAPIC, PIC and PIT by default; with split irqchip only the
 * local APICs stay there and the IOAPIC is ours, on the MMIO bus. */
static int setup_irqchip(struct vm *vm, const struct vm_config *cfg)
{
	if (!cfg->split_irqchip)
		return hv_vm_create_irqchip(vm->hv);
	int ret = hv_vm_create_split_irqchip(vm->hv, IOAPIC_NR_PINS);
	if (ret)
		return ret;
	/* The MP table's IOAPIC ID. */
	ret = ioapic_init(&vm->ioapic, x86_mptable_ioapic_id(vm->nr_vcpus), push_ioapic_routes,
			  vm->hv);
	if (ret)
		return ret;
	vm->split_irqchip = true;
	struct bus_device d = {
		.base = X86_IOAPIC_ADDR, .len = IOAPIC_MMIO_LEN, .opaque = &vm->ioapic,
		.read = ioapic_mmio_read, .write = ioapic_mmio_write,
	};
	return bus_add(&vm->mmio, &d);
}

static int setup_legacy(struct vm *vm, const struct vm_config *cfg)
{
	serial_init(&vm->com1, cfg->serial_out_fd, com1_irq, vm);
	vm->com1.launcher = &vm->launcher;
	vm->com1_irq_evt = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (vm->com1_irq_evt < 0)
		return -errno;
	int ret = hv_vm_irqfd(vm->hv, vm->com1_irq_evt, SERIAL_COM1_IRQ);
	if (!ret && cfg->serial_in_fd >= 0)
		ret = serial_attach_input(&vm->com1, cfg->serial_in_fd);
	if (ret) {
		log_error("cannot set up the serial port: %s", strerror(-ret));
		return ret;
	}
	i8042_init(&vm->i8042, i8042_reset, vm);
	uint64_t above = vm->plan.ram_end > X86_MMIO_GAP_END ? vm->plan.ram_end - X86_MMIO_GAP_END : 0;
	cmos_init(&vm->cmos, vm->plan.low_end, above);
	ret = add_pio(vm, SERIAL_COM1_BASE, SERIAL_NR_PORTS, &vm->com1,
		      serial_pio_read, serial_pio_write);
	if (!ret)
		ret = add_pio(vm, I8042_DATA_PORT, 5, &vm->i8042, i8042_pio_read,
			      i8042_pio_write);
	if (!ret)
		ret = add_pio(vm, CMOS_PORT, CMOS_NR_PORTS, &vm->cmos, cmos_pio_read,
			      cmos_pio_write);
	return ret;
}

static void virtio_bus_read(void *opaque, uint64_t off, void *data, uint32_t len)
{
	virtio_mmio_read(opaque, off, data, len);
}

static void virtio_bus_write(void *opaque, uint64_t off, const void *data, uint32_t len)
{
	virtio_mmio_write(opaque, off, data, len);
}

static int attach_virtio(struct vm *vm, const struct vm_virtio_slot *slot, struct cmdline *cl)
{
	unsigned int n = vm->nr_virtio;
	uint64_t base = X86_VIRTIO_MMIO_BASE + (uint64_t)n * VIRTIO_MMIO_WINDOW;
	uint32_t irq = X86_VIRTIO_IRQ_FIRST + n;
	struct virtio_mmio_dev *dev = &vm->virtio[n];

	int ret = virtio_mmio_init(dev, slot->ops, slot->opaque, &vm->gm, base, irq);
	if (ret)
		return ret;
	dev->launcher = &vm->launcher;
	vm->nr_virtio++;
	struct bus_device d = {
		.base = base, .len = VIRTIO_MMIO_WINDOW, .opaque = dev,
		.read = virtio_bus_read, .write = virtio_bus_write,
	};
	ret = bus_add(&vm->mmio, &d);
	if (!ret)
		ret = hv_vm_irqfd(vm->hv, dev->irq_evt, irq);
	for (unsigned int q = 0; !ret && q < slot->ops->num_queues; q++)
		ret = hv_vm_ioeventfd(vm->hv, base + 0x50, 4, q, dev->queue_evt[q]);
	if (!ret)
		ret = cmdline_add_virtio_mmio(cl, base, VIRTIO_MMIO_WINDOW, irq);
	if (ret)
		log_error("cannot attach virtio device %s: %s", slot->ops->name, strerror(-ret));
	return ret;
}

static int load_kernel(struct vm *vm, const struct vm_config *cfg,
		       struct kernel_loaded *k)
{
	memset(k, 0, sizeof(*k));
	if (cfg->kernel.kind == VM_KERNEL_BUNDLE) {
		k->entry = cfg->kernel.entry;
		return 0;
	}
	/* A decompressed image larger than the guest's RAM could never load. */
	uint64_t max = cfg->ram_bytes < KERNEL_DECOMPRESS_MAX ? cfg->ram_bytes
							       : KERNEL_DECOMPRESS_MAX;
	return kernel_load_format(&vm->gm, cfg->kernel.fd, cfg->kernel.format, max, k);
}

/* The whole initramfs, as high in RAM below the gap as it fits above the kernel. */
static int load_initrd(struct vm *vm, const struct vm_config *cfg, uint64_t kernel_end,
		       uint64_t *gpa, uint32_t *size)
{
	int fd = cfg->kernel.kind == VM_KERNEL_FILE ? cfg->kernel.initrd_fd : -1;
	uint64_t len = 0;

	*gpa = 0;
	*size = 0;
	if (fd < 0)
		return 0;
	int ret = kernel_file_size(fd, &len);
	if (ret)
		return ret;
	if (len == 0) {
		log_error("the initramfs is empty");
		return -EINVAL;
	}
	ret = len > UINT32_MAX ? -ENOMEM : x86_place_initrd(&vm->plan, len, kernel_end, gpa);
	if (ret) {
		log_error("the initramfs (%llu MiB) does not fit in guest RAM above the kernel "
			  "(which ends at %llu MiB) and below %llu MiB: give the VM more memory",
			  (unsigned long long)(len >> 20), (unsigned long long)(kernel_end >> 20),
			  (unsigned long long)(X86_MMIO_GAP_START >> 20));
		return -ENOMEM;
	}
	ret = kernel_read_exact(fd, gm_ptr(&vm->gm, *gpa, len), (size_t)len, 0);
	if (ret) {
		log_error("cannot read the initramfs: %s", strerror(-ret));
		return ret;
	}
	*size = (uint32_t)len;
	return 0;
}

static int write_boot_data(struct vm *vm, const struct vm_config *cfg, struct cmdline *cl,
			   uint64_t *entry)
{
	struct kernel_loaded k;
	uint64_t initrd_gpa;
	uint32_t initrd_size;
	int ret = load_kernel(vm, cfg, &k);
	if (ret) {
		log_error("cannot load the guest kernel: %s", strerror(-ret));
		return ret;
	}
	*entry = k.entry;
	ret = load_initrd(vm, cfg, k.end, &initrd_gpa, &initrd_size);
	if (ret)
		return ret;
	const char *s = cmdline_str(cl);
	size_t len = cmdline_len(cl) + 1;
	ret = gm_write(&vm->gm, X86_CMDLINE_ADDR, s, len);
	if (!ret)
		ret = x86_write_zero_page(&vm->gm, &vm->plan, X86_CMDLINE_ADDR, (uint32_t)len,
					  initrd_gpa, initrd_size, k.have_hdr ? &k.hdr : NULL);
	if (!ret)
		ret = x86_write_gdt_idt(&vm->gm);
	if (!ret)
		ret = x86_write_page_tables(&vm->gm);
	if (!ret)
		ret = x86_write_mptable(&vm->gm, vm->nr_vcpus);
	if (!ret)
		ret = x86_write_smbios(&vm->gm, cfg->smbios_oem_strings);
	if (ret)
		log_error("cannot write boot structures: %s", strerror(-ret));
	return ret;
}

static int configure_vcpu(struct vm *vm, struct vcpu *c, const struct x86_cpuid_entry *cpuid,
			  unsigned int nr_cpuid, uint64_t entry, bool nested)
{
	struct x86_cpuid_entry local[MAX_CPUID_ENTRIES];
	unsigned int nr = nr_cpuid;
	memcpy(local, cpuid, nr * sizeof(local[0]));
	int ret = x86_filter_cpuid(local, &nr, MAX_CPUID_ENTRIES, c->index, vm->nr_vcpus, nested);
	if (!ret)
		ret = hv_vcpu_set_cpuid(c->hv, local, nr);
	if (ret)
		return ret;

	struct x86_msr msrs[16];
	unsigned int nr_msrs = x86_boot_msrs(msrs, 16);
	struct x86_regs regs;
	/* From zero, not the stack's leftovers: x86_boot_sregs() ORs its bits
	 * into the control registers (a second VM in one process got the first
	 * one's and KVM refused them); the hypervisor keeps what we do not
	 * model.  Zero, not KVM's reset CR0, whose CD|NW must not stay set. */
	struct x86_sregs sregs = {0};
	struct x86_fpu fpu;
	x86_boot_regs(&regs, entry);
	x86_boot_sregs(&sregs);
	x86_boot_fpu(&fpu);
	ret = hv_vcpu_set_msrs(c->hv, msrs, nr_msrs);
	if (!ret)
		ret = hv_vcpu_set_regs(c->hv, &regs);
	if (!ret)
		ret = hv_vcpu_set_sregs(c->hv, &sregs);
	if (!ret)
		ret = hv_vcpu_set_fpu(c->hv, &fpu);
	if (!ret)
		ret = hv_vcpu_set_lint(c->hv);
	if (ret)
		log_error("cannot configure vCPU %u: %s", c->index, strerror(-ret));
	return ret;
}

static int setup_vcpus(struct vm *vm, const struct vm_config *cfg, uint64_t entry)
{
	struct x86_cpuid_entry cpuid[MAX_CPUID_ENTRIES];
	unsigned int nr = MAX_CPUID_ENTRIES;
	int ret = hv_supported_cpuid(vm->hv, cpuid, &nr);
	if (ret) {
		log_error("cannot read supported CPUID: %s", strerror(-ret));
		return ret;
	}
	char brand[48];
	if (x86_host_brand(brand))
		x86_cpuid_fill_brand(cpuid, &nr, MAX_CPUID_ENTRIES, brand);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *c = &vm->vcpus[i];
		c->vm = vm;
		c->index = i;
		ret = hv_vcpu_create(vm->hv, i, &c->hv);
		if (!ret)
			ret = configure_vcpu(vm, c, cpuid, nr, entry, cfg->nested_virt);
		if (ret)
			return ret;
	}
	return 0;
}

/* Splits a caller's command line into tokens the builder can check. */
static int append_cmdline(struct cmdline *cl, const char *s)
{
	char token[CMDLINE_GUEST_LIMIT + 1];
	while (*s) {
		while (*s == ' ')
			s++;
		size_t n = strcspn(s, " ");
		if (n == 0)
			break;
		if (n >= sizeof(token))
			return -E2BIG;
		memcpy(token, s, n);
		token[n] = 0;
		int ret = cmdline_append(cl, token);
		if (ret)
			return ret;
		s += n;
	}
	return 0;
}

int vm_create(const struct vm_config *cfg, struct vm **out)
{
	if (cfg->nr_vcpus == 0 || cfg->nr_vcpus > VM_MAX_VCPUS)
		return -EINVAL;
	if (cfg->nr_virtio > VM_MAX_VIRTIO_DEVICES)
		return -ENOSPC;
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->hv_fd = -1;
	vm->com1_irq_evt = -1;
	vm->nr_vcpus = cfg->nr_vcpus;
	krun_launcher_init(&vm->launcher, cfg->seccomp);
	atomic_init(&vm->exit_code, EXIT_CODE_UNSET);
	vm->stop_evt = eventfd(0, EFD_CLOEXEC);
	if (vm->stop_evt < 0) {
		free(vm);
		return -errno;
	}

	struct cmdline cl;
	uint64_t entry = 0;
	int ret = cmdline_init(&cl, CMDLINE_GUEST_LIMIT);
	if (!ret)
		ret = append_cmdline(&cl, cfg->cmdline);
	if (ret) {
		log_error("kernel command line rejected: %s", strerror(-ret));
		goto fail;
	}
	ret = hv_open(&vm->hv_fd);
	if (!ret)
		ret = hv_vm_create(vm->hv_fd, &vm->hv);
	if (!ret)
		ret = setup_memory(vm, cfg);
	if (!ret)
		ret = setup_irqchip(vm, cfg);
	if (!ret)
		ret = setup_legacy(vm, cfg);
	for (unsigned int i = 0; !ret && i < cfg->nr_virtio; i++)
		ret = attach_virtio(vm, &cfg->virtio[i], &cl);
	if (!ret)
		ret = write_boot_data(vm, cfg, &cl, &entry);
	if (!ret)
		ret = setup_vcpus(vm, cfg, entry);
	if (ret)
		goto fail;
	*out = vm;
	return 0;
fail:
	vm_destroy(vm);
	return ret;
}

static void run_io(struct vm *vm, const struct hv_exit *e)
{
	for (uint32_t i = 0; i < e->io.count; i++) {
		uint8_t *data = e->io.data + (size_t)i * e->io.size;
		if (e->io.is_write)
			bus_write(&vm->pio, e->io.port, data, e->io.size);
		else
			bus_read(&vm->pio, e->io.port, data, e->io.size);
	}
}

static void run_mmio(struct vm *vm, const struct hv_exit *e)
{
	if (e->mmio.len > 8)
		return;
	if (e->mmio.is_write)
		bus_write(&vm->mmio, e->mmio.addr, e->mmio.data, e->mmio.len);
	else
		bus_read(&vm->mmio, e->mmio.addr, e->mmio.data, e->mmio.len);
}

/* At trace level the VMM loop kicks vCPUs periodically so a silent guest
 * shows where it spins. */
static void trace_vcpu(struct vcpu *c)
{
	struct x86_regs r;
	if (krun_log_get_level() < LOG_LVL_TRACE || hv_vcpu_get_regs(c->hv, &r))
		return;
	log_trace("vCPU %u: rip 0x%llx rsp 0x%llx rax 0x%llx", c->index,
		  (unsigned long long)r.rip, (unsigned long long)r.rsp,
		  (unsigned long long)r.rax);
	hv_vcpu_trace_state(c->hv);
	uint8_t code[8] = {0};
	uint64_t pte[3] = {0};
	gm_read(&c->vm->gm, r.rip, code, sizeof(code));
	gm_read(&c->vm->gm, X86_PML4_ADDR, &pte[0], 8);
	gm_read(&c->vm->gm, X86_PDPT_ADDR, &pte[1], 8);
	gm_read(&c->vm->gm, X86_PD_ADDR + 8 * (r.rip >> 21), &pte[2], 8);
	log_trace("code %02x %02x %02x %02x %02x %02x pml4[0] 0x%llx pdpt[0] 0x%llx pd 0x%llx",
		  code[0], code[1], code[2], code[3], code[4], code[5],
		  (unsigned long long)pte[0], (unsigned long long)pte[1],
		  (unsigned long long)pte[2]);
}

/* Returns false when the vCPU must stop. */
static bool handle_exit(struct vcpu *c, const struct hv_exit *e)
{
	struct vm *vm = c->vm;
	switch (e->reason) {
	case HV_EXIT_IO:
		run_io(vm, e);
		return true;
	case HV_EXIT_MMIO:
		run_mmio(vm, e);
		return true;
	case HV_EXIT_INTR:
		trace_vcpu(c);
		return true;
	case HV_EXIT_IOAPIC_EOI:
		if (vm->split_irqchip)
			ioapic_eoi(&vm->ioapic, e->eoi_vector);
		return true;
	case HV_EXIT_HLT:
	case HV_EXIT_SHUTDOWN:
	case HV_EXIT_SYSTEM_RESET:
	case HV_EXIT_SYSTEM_OFF:
		log_debug("vCPU %u: guest stopped (exit %d)", c->index, e->reason);
		vm_request_stop(vm, 0);
		return false;
	case HV_EXIT_ERROR:
	case HV_EXIT_OTHER:
		log_error("vCPU %u: hypervisor exit %u (detail 0x%llx); stopping the VM",
			  c->index, e->error.code, (unsigned long long)e->error.detail);
		vm_request_stop(vm, 1);
		return false;
	}
	return false;
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *c = arg;
	char name[16];
	snprintf(name, sizeof(name), "vcpu%u", c->index);
	pthread_setname_np(pthread_self(), name);
	/* Before the first KVM_RUN: everything after it is the guest's doing. */
	if (krun_sandbox_thread(c->vm->launcher.mode, KRUN_THREAD_VCPU)) {
		vm_request_stop(c->vm, 1);
		return NULL;
	}

	while (!atomic_load(&c->vm->stopping)) {
		struct hv_exit e;
		int ret = hv_vcpu_run(c->hv, &e);
		if (ret) {
			log_error("vCPU %u: run failed: %s", c->index, strerror(-ret));
			vm_request_stop(c->vm, 1);
			break;
		}
		if (!handle_exit(c, &e))
			break;
	}
	return NULL;
}

static int start_vcpus(struct vm *vm)
{
	sigset_t all, old;
	sigfillset(&all);
	int ret = hv_install_kick_handler();
	if (ret)
		return ret;
	/* vCPU threads take only the kick signal: process signals (SIGTERM,
	 * SIGINT, SIGWINCH) stay with the thread that called start_enter. */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	sigset_t vcpu_mask = all;
	sigdelset(&vcpu_mask, SIGRTMIN);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		pthread_sigmask(SIG_SETMASK, &vcpu_mask, NULL);
		ret = -pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);
		pthread_sigmask(SIG_SETMASK, &all, NULL);
		if (ret) {
			log_error("cannot start vCPU thread: %s", strerror(-ret));
			break;
		}
		vm->vcpus[i].started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return ret;
}

static void stop_vcpus(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		if (vm->vcpus[i].started)
			hv_vcpu_kick(vm->vcpus[i].hv);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		if (!vm->vcpus[i].started)
			continue;
		pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].started = false;
	}
}

int vm_watch_fd(struct vm *vm, int fd, void (*handler)(void *opaque), void *opaque)
{
	if (vm->nr_watched >= MAX_WATCHED_FDS)
		return -ENOSPC;
	vm->watched[vm->nr_watched].fd = fd;
	vm->watched[vm->nr_watched].handler = handler;
	vm->watched[vm->nr_watched].opaque = opaque;
	vm->watched[vm->nr_watched].hangup = false;
	vm->nr_watched++;
	return 0;
}

int vm_watch_hangup(struct vm *vm, int fd, void (*handler)(void *opaque), void *opaque)
{
	int ret = vm_watch_fd(vm, fd, handler, opaque);
	if (!ret)
		vm->watched[vm->nr_watched - 1].hangup = true;
	return ret;
}

/* The calling thread's loop: host-side events until the guest stops. */
static void wait_for_stop(struct vm *vm)
{
	struct pollfd pfd[1 + MAX_WATCHED_FDS];
	unsigned int n = vm->nr_watched;
	pfd[0] = (struct pollfd){.fd = vm->stop_evt, .events = POLLIN};
	for (unsigned int i = 0; i < n; i++)
		pfd[i + 1] = (struct pollfd){.fd = vm->watched[i].fd,
					     .events = vm->watched[i].hangup ? 0 : POLLIN};
	int timeout = krun_log_get_level() >= LOG_LVL_TRACE ? 2000 : -1;
	for (;;) {
		int r = poll(pfd, n + 1, timeout);
		if (r == 0) {
			for (unsigned int i = 0; i < vm->nr_vcpus; i++)
				hv_vcpu_kick(vm->vcpus[i].hv);
			continue;
		}
		if (r < 0 && errno != EINTR)
			break;
		if (r <= 0)
			continue;
		if (pfd[0].revents)
			break;
		for (unsigned int i = 0; i < n; i++) {
			if (!pfd[i + 1].revents)
				continue;
			vm->watched[i].handler(vm->watched[i].opaque);
			/* A hang-up stays: stop watching it (poll skips fd -1). */
			if (vm->watched[i].hangup)
				pfd[i + 1].fd = -1;
		}
	}
}

/* The calling thread filters itself last: every thread it creates is
 * created by then, and the filter it installs would bound theirs. */
int vm_run(struct vm *vm)
{
	int ret = krun_launcher_start(&vm->launcher);
	if (!ret)
		ret = start_vcpus(vm);
	if (ret) {
		vm_request_stop(vm, 1);
		stop_vcpus(vm);
		return ret;
	}
	if (krun_sandbox_thread(vm->launcher.mode, KRUN_THREAD_MAIN))
		vm_request_stop(vm, 1);
	wait_for_stop(vm);
	stop_vcpus(vm);
	int code = atomic_load(&vm->exit_code);
	return code != EXIT_CODE_UNSET ? code : atomic_load(&vm->stop_code);
}

void vm_destroy(struct vm *vm)
{
	if (!vm)
		return;
	if (!atomic_load(&vm->stopping))
		vm_request_stop(vm, 0);
	stop_vcpus(vm);
	/* Its last bytes (a final panic line) are still queued for the drain
	 * thread: written out, bounded, before the process exits. */
	serial_destroy(&vm->com1);
	for (unsigned int i = 0; i < vm->nr_virtio; i++)
		virtio_mmio_destroy(&vm->virtio[i]);
	krun_launcher_stop(&vm->launcher);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		hv_vcpu_destroy(vm->vcpus[i].hv);
	hv_vm_destroy(vm->hv);
	gm_destroy(&vm->gm);
	if (vm->split_irqchip)
		ioapic_destroy(&vm->ioapic);
	if (vm->com1_irq_evt >= 0)
		close(vm->com1_irq_evt);
	if (vm->hv_fd >= 0)
		close(vm->hv_fd);
	close(vm->stop_evt);
	free(vm);
}
