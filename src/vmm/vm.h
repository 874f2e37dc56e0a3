/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A running microVM: guest memory, vCPU threads, the legacy PC devices and
 * the virtio-mmio devices.  The API layer turns a krun context into a
 * vm_config; this code owns everything from there until the guest ends.
 */
#ifndef KRUN_VM_H
#define KRUN_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/virtio/virtio_mmio.h"
#include "vmm/seccomp.h"

#define VM_MAX_VCPUS 254
/* GSIs 5..15 are free ISA lines on the PC layout the kernel expects. */
#define VM_MAX_VIRTIO_DEVICES 11

enum vm_kernel_kind {
	VM_KERNEL_NONE,
	VM_KERNEL_BUNDLE,	/* pre-flattened image mapped at a fixed address */
	VM_KERNEL_FILE,		/* a file krun_set_kernel named, loaded into RAM */
};

struct vm_kernel {
	enum vm_kernel_kind kind;
	/* Bundle: host mapping (page aligned, private to this VM). */
	void *bundle_host;
	uint64_t bundle_gpa;
	uint64_t bundle_size;
	uint64_t entry;
	/* File, in one of krun_set_kernel's formats (KRUN_KERNEL_FORMAT_*). */
	int fd;
	uint32_t format;
	int initrd_fd;		/* -1: none */
};

struct vm_virtio_slot {
	const struct virtio_device_ops *ops;
	void *opaque;
};

struct vm_config {
	unsigned int nr_vcpus;
	uint64_t ram_bytes;
	struct vm_kernel kernel;
	const char *cmdline;		/* complete, without virtio_mmio tokens */
	int serial_out_fd;		/* COM1 output; -1 discards it */
	int serial_in_fd;		/* COM1 input; -1: none (0 is stdin) */
	bool nested_virt;
	bool split_irqchip;		/* IOAPIC in the VMM, no PIC or PIT */
	bool shared_ram;		/* RAM in memfds (vhost-user devices) */
	const char *const *smbios_oem_strings;	/* SMBIOS type 11; NULL: none */
	enum krun_seccomp_mode seccomp;	/* filters for every VMM thread */
	struct vm_virtio_slot virtio[VM_MAX_VIRTIO_DEVICES];
	unsigned int nr_virtio;
};

struct vm;

int vm_create(const struct vm_config *cfg, struct vm **out);
/* Runs the guest until it resets, powers off or fails. Returns the exit
 * status (the workload's if init reported one) or -errno if it never ran. */
int vm_run(struct vm *vm);
void vm_destroy(struct vm *vm);

/* Watches fd on the thread that runs vm_run(): handler runs there when it
 * is readable (signals through a signalfd, console resizes...). */
int vm_watch_fd(struct vm *vm, int fd, void (*handler)(void *opaque), void *opaque);
/* The same, once, when fd's peer hangs up; its data stays for its reader
 * (a vhost-user backend's socket, read by vCPUs). */
int vm_watch_hangup(struct vm *vm, int fd, void (*handler)(void *opaque), void *opaque);

/* Records the workload's exit status (from the init, via virtio-fs). */
void vm_set_exit_code(struct vm *vm, int code);
/* Ends the VM from the host side with the given status. */
void vm_request_stop(struct vm *vm, int code);
const struct guest_mem *vm_guest_mem(const struct vm *vm);

#endif
