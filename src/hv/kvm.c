// SPDX-License-Identifier: Apache-2.0
/* Linux KVM backend of the hypervisor interface (x86_64). */
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util/log.h"

#define KVM_MAX_CPUID 256
#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
/* Three pages KVM needs for real-mode emulation on VMX, below the 4 GiB top. */
#define KVM_TSS_ADDR 0xfffbd000UL
#define KVM_KICK_SIGNAL (SIGRTMIN + 0)

struct hv_vm {
	int fd;
	int run_size;
	unsigned int next_slot;
};

struct hv_vcpu {
	struct hv_vm *vm;
	int fd;
	unsigned int index;
	struct kvm_run *run;
	_Atomic bool thread_known;
	pthread_t thread;
};

static int kvm_ioctl(int fd, unsigned long req, void *arg)
{
	int ret;
	do {
		ret = ioctl(fd, req, arg);
	} while (ret < 0 && errno == EINTR);
	return ret < 0 ? -errno : ret;
}

int hv_open(int *hv_fd)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = -errno;
		log_error("cannot open /dev/kvm: %s%s", strerror(errno),
			  errno == EACCES ? " (is the user in group 'kvm'?)" : "");
		return err;
	}
	int version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (version != KVM_API_VERSION) {
		log_error("KVM API version %d, need %d", version, KVM_API_VERSION);
		close(fd);
		return -ENOTSUP;
	}
	static const struct {
		int cap;
		const char *name;
	} required[] = {
		{KVM_CAP_IRQCHIP, "IRQCHIP"},	{KVM_CAP_IOEVENTFD, "IOEVENTFD"},
		{KVM_CAP_IRQFD, "IRQFD"},	{KVM_CAP_USER_MEMORY, "USER_MEMORY"},
		{KVM_CAP_SET_TSS_ADDR, "SET_TSS_ADDR"},
		{KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT"},
	};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (ioctl(fd, KVM_CHECK_EXTENSION, required[i].cap) <= 0) {
			log_error("KVM lacks required capability %s", required[i].name);
			close(fd);
			return -ENOTSUP;
		}
	}
	*hv_fd = fd;
	return 0;
}

int hv_max_vcpus(int hv_fd)
{
	int n = ioctl(hv_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (n <= 0)
		n = ioctl(hv_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	return n > 0 ? n : -EINVAL;
}

int hv_vm_create(int hv_fd, struct hv_vm **out)
{
	struct hv_vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	int ret = kvm_ioctl(hv_fd, KVM_CREATE_VM, 0);
	if (ret < 0) {
		log_error("KVM_CREATE_VM: %s", strerror(-ret));
		free(vm);
		return ret;
	}
	vm->fd = ret;
	vm->run_size = ioctl(hv_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0) {
		close(vm->fd);
		free(vm);
		return -EINVAL;
	}
	ret = kvm_ioctl(vm->fd, KVM_SET_TSS_ADDR, (void *)KVM_TSS_ADDR);
	if (ret < 0) {
		log_error("KVM_SET_TSS_ADDR: %s", strerror(-ret));
		hv_vm_destroy(vm);
		return ret;
	}
	*out = vm;
	return 0;
}

void hv_vm_destroy(struct hv_vm *vm)
{
	if (!vm)
		return;
	close(vm->fd);
	free(vm);
}

int hv_vm_map_memory(struct hv_vm *vm, uint64_t gpa, void *host, uint64_t size)
{
	struct kvm_userspace_memory_region region = {
		.slot = vm->next_slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};
	int ret = kvm_ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region);
	if (ret < 0) {
		log_error("KVM_SET_USER_MEMORY_REGION gpa 0x%llx size 0x%llx: %s",
			  (unsigned long long)gpa, (unsigned long long)size, strerror(-ret));
		return ret;
	}
	vm->next_slot++;
	return 0;
}

int hv_vm_create_irqchip(struct hv_vm *vm)
{
	int ret = kvm_ioctl(vm->fd, KVM_CREATE_IRQCHIP, NULL);
	if (ret < 0) {
		log_error("KVM_CREATE_IRQCHIP: %s", strerror(-ret));
		return ret;
	}
	/* The speaker port is of no use to a microVM guest. */
	struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
	ret = kvm_ioctl(vm->fd, KVM_CREATE_PIT2, &pit);
	if (ret < 0)
		log_error("KVM_CREATE_PIT2: %s", strerror(-ret));
	return ret;
}

int hv_vm_create_split_irqchip(struct hv_vm *vm, unsigned int nr_ioapic_pins)
{
	struct kvm_enable_cap cap = {.cap = KVM_CAP_SPLIT_IRQCHIP, .args = {nr_ioapic_pins}};
	int ret = kvm_ioctl(vm->fd, KVM_ENABLE_CAP, &cap);
	if (ret < 0)
		log_error("KVM_ENABLE_CAP(KVM_CAP_SPLIT_IRQCHIP): %s", strerror(-ret));
	return ret;
}

#define MAX_MSI_ROUTES 64

int hv_vm_set_msi_routes(struct hv_vm *vm, const struct hv_msi_route *routes, unsigned int nr)
{
	if (nr > MAX_MSI_ROUTES)
		return -E2BIG;
	/* On the stack: this runs on vCPU threads, whose filter has no mmap. */
	union {
		struct kvm_irq_routing hdr;
		uint8_t bytes[sizeof(struct kvm_irq_routing) +
			      MAX_MSI_ROUTES * sizeof(struct kvm_irq_routing_entry)];
	} t;
	memset(&t, 0, sizeof(t));
	t.hdr.nr = nr;
	for (unsigned int i = 0; i < nr; i++) {
		struct kvm_irq_routing_entry *e = &t.hdr.entries[i];
		e->gsi = routes[i].gsi;
		e->type = KVM_IRQ_ROUTING_MSI;
		e->u.msi.address_lo = (uint32_t)routes[i].addr;
		e->u.msi.address_hi = (uint32_t)(routes[i].addr >> 32);
		e->u.msi.data = routes[i].data;
	}
	return kvm_ioctl(vm->fd, KVM_SET_GSI_ROUTING, &t.hdr);
}

int hv_vm_irqfd(struct hv_vm *vm, int fd, uint32_t gsi)
{
	struct kvm_irqfd irqfd = {.fd = (uint32_t)fd, .gsi = gsi};
	return kvm_ioctl(vm->fd, KVM_IRQFD, &irqfd);
}

int hv_vm_ioeventfd(struct hv_vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int fd)
{
	struct kvm_ioeventfd io = {
		.datamatch = datamatch,
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = KVM_IOEVENTFD_FLAG_DATAMATCH,
	};
	return kvm_ioctl(vm->fd, KVM_IOEVENTFD, &io);
}

int hv_vm_irq_line(struct hv_vm *vm, uint32_t gsi, bool level)
{
	struct kvm_irq_level irq = {.irq = gsi, .level = level};
	return kvm_ioctl(vm->fd, KVM_IRQ_LINE, &irq);
}

static struct kvm_cpuid2 *cpuid_alloc(unsigned int nr)
{
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + nr * sizeof(struct kvm_cpuid_entry2));
	if (c)
		c->nent = nr;
	return c;
}

/*
 * KVM emulates the TSC-deadline LAPIC timer on every host, Intel or AMD, but
 * reports it as a capability rather than in KVM_GET_SUPPORTED_CPUID.  A guest
 * that cannot see it calibrates its LAPIC timer against the PIT instead: a
 * tenth of a second of every boot (much more when nested).
 */
static void advertise_tsc_deadline(int kvm, struct x86_cpuid_entry *entries, unsigned int nr)
{
	if (ioctl(kvm, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) <= 0)
		return;
	for (unsigned int i = 0; i < nr; i++)
		if (entries[i].function == 1)
			entries[i].ecx |= CPUID_1_ECX_TSC_DEADLINE;
}

int hv_supported_cpuid(struct hv_vm *vm, struct x86_cpuid_entry *entries, unsigned int *nr)
{
	(void)vm;
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return -errno;
	struct kvm_cpuid2 *c = cpuid_alloc(KVM_MAX_CPUID);
	if (!c) {
		close(kvm);
		return -ENOMEM;
	}
	int ret = kvm_ioctl(kvm, KVM_GET_SUPPORTED_CPUID, c);
	if (ret < 0 || c->nent > *nr) {
		close(kvm);
		free(c);
		return ret < 0 ? ret : -E2BIG;
	}
	for (unsigned int i = 0; i < c->nent; i++) {
		const struct kvm_cpuid_entry2 *e = &c->entries[i];
		entries[i] = (struct x86_cpuid_entry){
			.function = e->function, .index = e->index,
			.flags = (e->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX)
					 ? X86_CPUID_FLAG_SIGNIFICANT_INDEX : 0,
			.eax = e->eax, .ebx = e->ebx, .ecx = e->ecx, .edx = e->edx,
		};
	}
	*nr = c->nent;
	free(c);
	advertise_tsc_deadline(kvm, entries, *nr);
	close(kvm);
	return 0;
}

int hv_vcpu_create(struct hv_vm *vm, unsigned int index, struct hv_vcpu **out)
{
	struct hv_vcpu *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	int ret = kvm_ioctl(vm->fd, KVM_CREATE_VCPU, (void *)(uintptr_t)index);
	if (ret < 0) {
		log_error("KVM_CREATE_VCPU %u: %s", index, strerror(-ret));
		free(v);
		return ret;
	}
	v->fd = ret;
	v->vm = vm;
	v->index = index;
	v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		close(v->fd);
		free(v);
		return ret;
	}
	*out = v;
	return 0;
}

void hv_vcpu_destroy(struct hv_vcpu *v)
{
	if (!v)
		return;
	munmap(v->run, (size_t)v->vm->run_size);
	close(v->fd);
	free(v);
}

int hv_vcpu_set_cpuid(struct hv_vcpu *v, const struct x86_cpuid_entry *entries, unsigned int nr)
{
	struct kvm_cpuid2 *c = cpuid_alloc(nr);
	if (!c)
		return -ENOMEM;
	for (unsigned int i = 0; i < nr; i++) {
		c->entries[i] = (struct kvm_cpuid_entry2){
			.function = entries[i].function, .index = entries[i].index,
			.flags = (entries[i].flags & X86_CPUID_FLAG_SIGNIFICANT_INDEX)
					 ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0,
			.eax = entries[i].eax, .ebx = entries[i].ebx,
			.ecx = entries[i].ecx, .edx = entries[i].edx,
		};
	}
	int ret = kvm_ioctl(v->fd, KVM_SET_CPUID2, c);
	free(c);
	return ret;
}

int hv_vcpu_set_regs(struct hv_vcpu *v, const struct x86_regs *r)
{
	struct kvm_regs k = {
		.rax = r->rax, .rbx = r->rbx, .rcx = r->rcx, .rdx = r->rdx,
		.rsi = r->rsi, .rdi = r->rdi, .rsp = r->rsp, .rbp = r->rbp,
		.r8 = r->r8, .r9 = r->r9, .r10 = r->r10, .r11 = r->r11,
		.r12 = r->r12, .r13 = r->r13, .r14 = r->r14, .r15 = r->r15,
		.rip = r->rip, .rflags = r->rflags,
	};
	return kvm_ioctl(v->fd, KVM_SET_REGS, &k);
}

int hv_vcpu_get_regs(struct hv_vcpu *v, struct x86_regs *r)
{
	struct kvm_regs k;
	int ret = kvm_ioctl(v->fd, KVM_GET_REGS, &k);
	if (ret < 0)
		return ret;
	*r = (struct x86_regs){
		.rax = k.rax, .rbx = k.rbx, .rcx = k.rcx, .rdx = k.rdx,
		.rsi = k.rsi, .rdi = k.rdi, .rsp = k.rsp, .rbp = k.rbp,
		.r8 = k.r8, .r9 = k.r9, .r10 = k.r10, .r11 = k.r11,
		.r12 = k.r12, .r13 = k.r13, .r14 = k.r14, .r15 = k.r15,
		.rip = k.rip, .rflags = k.rflags,
	};
	return 0;
}

static void seg_to_kvm(const struct x86_segment *s, struct kvm_segment *k)
{
	*k = (struct kvm_segment){
		.base = s->base, .limit = s->limit, .selector = s->selector,
		.type = s->type, .present = s->present, .dpl = s->dpl, .db = s->db,
		.s = s->s, .l = s->l, .g = s->g, .avl = s->avl, .unusable = s->unusable,
	};
}

int hv_vcpu_set_sregs(struct hv_vcpu *v, const struct x86_sregs *s)
{
	struct kvm_sregs k;
	/* Start from KVM's view so fields we do not model keep sane values. */
	int ret = kvm_ioctl(v->fd, KVM_GET_SREGS, &k);
	if (ret < 0)
		return ret;
	seg_to_kvm(&s->cs, &k.cs);
	seg_to_kvm(&s->ds, &k.ds);
	seg_to_kvm(&s->es, &k.es);
	seg_to_kvm(&s->fs, &k.fs);
	seg_to_kvm(&s->gs, &k.gs);
	seg_to_kvm(&s->ss, &k.ss);
	seg_to_kvm(&s->tr, &k.tr);
	k.gdt.base = s->gdt.base;
	k.gdt.limit = s->gdt.limit;
	k.idt.base = s->idt.base;
	k.idt.limit = s->idt.limit;
	k.cr0 = s->cr0;
	k.cr3 = s->cr3;
	k.cr4 = s->cr4;
	k.efer = s->efer;
	return kvm_ioctl(v->fd, KVM_SET_SREGS, &k);
}

void hv_vcpu_trace_state(struct hv_vcpu *v)
{
	struct kvm_sregs k;
	struct kvm_vcpu_events ev;
	if (kvm_ioctl(v->fd, KVM_GET_SREGS, &k) < 0)
		return;
	log_trace("vCPU %u: cr0 0x%llx cr3 0x%llx cr4 0x%llx efer 0x%llx cs sel 0x%x base 0x%llx "
		  "limit 0x%x type %u l %u db %u present %u", v->index,
		  (unsigned long long)k.cr0, (unsigned long long)k.cr3,
		  (unsigned long long)k.cr4, (unsigned long long)k.efer, k.cs.selector,
		  (unsigned long long)k.cs.base, k.cs.limit, k.cs.type, k.cs.l, k.cs.db,
		  k.cs.present);
	if (kvm_ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) == 0)
		log_trace("vCPU %u: exception injected %u nr %u pending %u, interrupt %u nr %u",
			  v->index, ev.exception.injected, ev.exception.nr,
			  ev.exception.pending, ev.interrupt.injected, ev.interrupt.nr);
}

int hv_vcpu_set_real_mode(struct hv_vcpu *v, uint16_t cs, uint64_t rip)
{
	struct kvm_sregs k;
	int ret = kvm_ioctl(v->fd, KVM_GET_SREGS, &k);
	if (ret < 0)
		return ret;
	k.cs.selector = cs;
	k.cs.base = (uint64_t)cs << 4;
	ret = kvm_ioctl(v->fd, KVM_SET_SREGS, &k);
	if (ret < 0)
		return ret;
	struct kvm_regs r = {.rip = rip, .rflags = 2};
	return kvm_ioctl(v->fd, KVM_SET_REGS, &r);
}

int hv_vcpu_set_fpu(struct hv_vcpu *v, const struct x86_fpu *f)
{
	struct kvm_fpu k = {.fcw = f->fcw, .mxcsr = f->mxcsr};
	return kvm_ioctl(v->fd, KVM_SET_FPU, &k);
}

int hv_vcpu_set_msrs(struct hv_vcpu *v, const struct x86_msr *msrs, unsigned int nr)
{
	struct kvm_msrs *k = calloc(1, sizeof(*k) + nr * sizeof(struct kvm_msr_entry));
	if (!k)
		return -ENOMEM;
	k->nmsrs = nr;
	for (unsigned int i = 0; i < nr; i++) {
		k->entries[i].index = msrs[i].index;
		k->entries[i].data = msrs[i].data;
	}
	int ret = kvm_ioctl(v->fd, KVM_SET_MSRS, k);
	free(k);
	if (ret >= 0 && (unsigned int)ret != nr) {
		log_error("KVM_SET_MSRS set %d of %u MSRs", ret, nr);
		return -EINVAL;
	}
	return ret < 0 ? ret : 0;
}

#define APIC_LVT0 0x350
#define APIC_LVT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

static void lapic_set_delivery(struct kvm_lapic_state *l, unsigned int reg, uint32_t mode)
{
	uint32_t v;
	memcpy(&v, &l->regs[reg], sizeof(v));
	v = (v & ~0x700u) | (mode << 8);
	memcpy(&l->regs[reg], &v, sizeof(v));
}

int hv_vcpu_set_lint(struct hv_vcpu *v)
{
	struct kvm_lapic_state l;
	int ret = kvm_ioctl(v->fd, KVM_GET_LAPIC, &l);
	if (ret < 0)
		return ret;
	lapic_set_delivery(&l, APIC_LVT0, APIC_MODE_EXTINT);
	lapic_set_delivery(&l, APIC_LVT1, APIC_MODE_NMI);
	return kvm_ioctl(v->fd, KVM_SET_LAPIC, &l);
}

static void fill_error(struct hv_exit *exit, uint32_t code, uint64_t detail)
{
	exit->reason = HV_EXIT_ERROR;
	exit->error.code = code;
	exit->error.detail = detail;
}

static void decode_exit(struct hv_vcpu *v, struct hv_exit *exit)
{
	struct kvm_run *run = v->run;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		exit->reason = HV_EXIT_IO;
		exit->io.port = run->io.port;
		exit->io.size = run->io.size;
		exit->io.is_write = run->io.direction == KVM_EXIT_IO_OUT;
		exit->io.count = run->io.count;
		exit->io.data = (uint8_t *)run + run->io.data_offset;
		break;
	case KVM_EXIT_MMIO:
		exit->reason = HV_EXIT_MMIO;
		exit->mmio.addr = run->mmio.phys_addr;
		exit->mmio.len = run->mmio.len;
		exit->mmio.is_write = run->mmio.is_write;
		exit->mmio.data = run->mmio.data;
		break;
	case KVM_EXIT_HLT:
		exit->reason = HV_EXIT_HLT;
		break;
	case KVM_EXIT_SHUTDOWN:
		exit->reason = HV_EXIT_SHUTDOWN;
		break;
	case KVM_EXIT_SYSTEM_EVENT:
		exit->reason = run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN
				       ? HV_EXIT_SYSTEM_OFF : HV_EXIT_SYSTEM_RESET;
		break;
	case KVM_EXIT_INTR:
		exit->reason = HV_EXIT_INTR;
		break;
	case KVM_EXIT_IOAPIC_EOI:
		exit->reason = HV_EXIT_IOAPIC_EOI;
		exit->eoi_vector = run->eoi.vector;
		break;
	case KVM_EXIT_FAIL_ENTRY:
		fill_error(exit, run->exit_reason,
			   run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		fill_error(exit, run->exit_reason, run->internal.suberror);
		break;
	default:
		exit->reason = HV_EXIT_OTHER;
		exit->error.code = run->exit_reason;
		break;
	}
}

int hv_vcpu_run(struct hv_vcpu *v, struct hv_exit *exit)
{
	if (!atomic_load(&v->thread_known)) {
		v->thread = pthread_self();
		atomic_store(&v->thread_known, true);
	}
	int ret = ioctl(v->fd, KVM_RUN, 0);
	if (ret < 0) {
		if (errno == EINTR || errno == EAGAIN) {
			v->run->immediate_exit = 0;
			exit->reason = HV_EXIT_INTR;
			return 0;
		}
		return -errno;
	}
	decode_exit(v, exit);
	return 0;
}

void hv_vcpu_kick(struct hv_vcpu *v)
{
	/* immediate_exit covers the window before the thread enters KVM_RUN;
	 * the signal covers a vCPU already inside it. */
	__atomic_store_n(&v->run->immediate_exit, 1, __ATOMIC_SEQ_CST);
	if (atomic_load(&v->thread_known))
		pthread_kill(v->thread, KVM_KICK_SIGNAL);
}

static void kick_handler(int sig)
{
	(void)sig;
}

int hv_install_kick_handler(void)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	sigemptyset(&sa.sa_mask);
	return sigaction(KVM_KICK_SIGNAL, &sa, NULL) < 0 ? -errno : 0;
}
