/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hypervisor interface.  Everything above this line (VMM core, devices,
 * arch boot code) is hypervisor-neutral; hv/kvm.c implements it for Linux
 * KVM.  A port to HVF or WHPX provides the same functions.
 */
#ifndef KRUN_HV_H
#define KRUN_HV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arch/x86_64/cpu_state.h"

struct hv_vm;
struct hv_vcpu;

enum hv_exit_reason {
	HV_EXIT_IO,
	HV_EXIT_MMIO,
	HV_EXIT_HLT,
	HV_EXIT_SHUTDOWN,	/* triple fault or reset request */
	HV_EXIT_SYSTEM_RESET,
	HV_EXIT_SYSTEM_OFF,
	HV_EXIT_INTR,		/* kicked by hv_vcpu_kick() */
	HV_EXIT_IOAPIC_EOI,	/* split irqchip: EOI of a level vector */
	HV_EXIT_ERROR,		/* emulation or entry failure: fatal for the VM */
	HV_EXIT_OTHER,
};

struct hv_exit {
	enum hv_exit_reason reason;
	union {
		struct {
			uint16_t port;
			uint8_t size;
			bool is_write;
			uint32_t count;
			uint8_t *data;	/* count * size bytes, in the run area */
		} io;
		struct {
			uint64_t addr;
			uint32_t len;
			bool is_write;
			uint8_t *data;	/* 8-byte buffer in the run area */
		} mmio;
		struct {
			uint32_t code;
			uint64_t detail;
		} error;
		uint8_t eoi_vector;
	};
};

/* Opens the hypervisor device; -ENOENT/-EACCES with a logged reason. */
int hv_open(int *hv_fd);
int hv_max_vcpus(int hv_fd);

int hv_vm_create(int hv_fd, struct hv_vm **out);
void hv_vm_destroy(struct hv_vm *vm);
int hv_vm_map_memory(struct hv_vm *vm, uint64_t gpa, void *host, uint64_t size);
/* Interrupt controllers and timer (IOAPIC+PIC+PIT on x86). */
int hv_vm_create_irqchip(struct hv_vm *vm);
/* Split irqchip: local APICs in the hypervisor, no IOAPIC, PIC or PIT;
 * GSIs 0..nr_ioapic_pins-1 are the VMM's IOAPIC's (as MSI routes). */
int hv_vm_create_split_irqchip(struct hv_vm *vm, unsigned int nr_ioapic_pins);
struct hv_msi_route {
	uint32_t gsi;
	uint64_t addr;
	uint32_t data;
};
/* Replaces the whole GSI routing table with these MSI routes. */
int hv_vm_set_msi_routes(struct hv_vm *vm, const struct hv_msi_route *routes, unsigned int nr);
/* Writing fd raises GSI gsi (edge). */
int hv_vm_irqfd(struct hv_vm *vm, int fd, uint32_t gsi);
/* A len-byte guest write of datamatch to addr signals fd without an exit. */
int hv_vm_ioeventfd(struct hv_vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int fd);
int hv_vm_irq_line(struct hv_vm *vm, uint32_t gsi, bool level);

/* CPUID the hypervisor can virtualise; *nr in: capacity, out: count. */
int hv_supported_cpuid(struct hv_vm *vm, struct x86_cpuid_entry *entries, unsigned int *nr);

int hv_vcpu_create(struct hv_vm *vm, unsigned int index, struct hv_vcpu **out);
void hv_vcpu_destroy(struct hv_vcpu *vcpu);
int hv_vcpu_set_cpuid(struct hv_vcpu *vcpu, const struct x86_cpuid_entry *entries,
		      unsigned int nr);
int hv_vcpu_set_regs(struct hv_vcpu *vcpu, const struct x86_regs *regs);
int hv_vcpu_get_regs(struct hv_vcpu *vcpu, struct x86_regs *regs);
int hv_vcpu_set_sregs(struct hv_vcpu *vcpu, const struct x86_sregs *sregs);
int hv_vcpu_set_fpu(struct hv_vcpu *vcpu, const struct x86_fpu *fpu);
int hv_vcpu_set_msrs(struct hv_vcpu *vcpu, const struct x86_msr *msrs, unsigned int nr);
/* LINT0 = ExtINT, LINT1 = NMI, as the MP table tells the guest. */
int hv_vcpu_set_lint(struct hv_vcpu *vcpu);
/* Real-mode reset state with flat segments at cs_base (tiny test guests). */
int hv_vcpu_set_real_mode(struct hv_vcpu *vcpu, uint16_t cs, uint64_t rip);

/* Logs control registers and pending events at trace level (debugging). */
void hv_vcpu_trace_state(struct hv_vcpu *vcpu);

/* Runs until an exit that needs the VMM. 0 with *exit filled, or -errno. */
int hv_vcpu_run(struct hv_vcpu *vcpu, struct hv_exit *exit);
/* Makes a running or about-to-run hv_vcpu_run return HV_EXIT_INTR. Safe
 * from any thread; the vCPU thread must block no signal but the kick. */
void hv_vcpu_kick(struct hv_vcpu *vcpu);
/* Installs the no-op handler for the kick signal; idempotent. */
int hv_install_kick_handler(void);

#endif
