// SPDX-License-Identifier: Apache-2.0
/*
 * Runs inside a microVM started with nested virtualization: uses the guest's
 * own /dev/kvm to run a 16-bit guest of its own that writes a byte to an I/O
 * port and halts.  Static, so that it needs nothing from the root it runs in.
 *
 * Prints "nested: /dev/kvm absent" (exit 2) when the guest has no KVM,
 * "nested: the inner guest wrote N to port 0xP and halted" (exit 0) on
 * success, and what went wrong otherwise (exit 1).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define CODE_GPA 0x1000
#define REPORT_PORT 0x10
#define MAX_EXITS 64

/* mov al, 42; out 0x10, al; hlt */
static const uint8_t code[] = { 0xb0, 0x2a, 0xe6, REPORT_PORT, 0xf4 };

static int fail(const char *what)
{
	printf("nested: %s: %s\n", what, strerror(errno));
	return 1;
}

static int real_mode_at(int vcpu, uint64_t rip)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { .rip = rip, .rflags = 2 };

	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		return -1;
	return ioctl(vcpu, KVM_SET_REGS, &regs);
}

static int run(int vcpu, struct kvm_run *r)
{
	int written = -1;

	for (int i = 0; i < MAX_EXITS; i++) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			return fail("KVM_RUN");
		}
		switch (r->exit_reason) {
		case KVM_EXIT_IO:
			if (r->io.direction == KVM_EXIT_IO_OUT && r->io.port == REPORT_PORT &&
			    r->io.size == 1)
				written = *((uint8_t *)r + r->io.data_offset);
			break;
		case KVM_EXIT_HLT:
			if (written < 0) {
				printf("nested: the inner guest halted without writing\n");
				return 1;
			}
			printf("nested: the inner guest wrote %d to port 0x%x and halted\n", written,
			       REPORT_PORT);
			return 0;
		default:
			printf("nested: unexpected exit reason %u\n", r->exit_reason);
			return 1;
		}
	}
	printf("nested: no halt after %d exits\n", MAX_EXITS);
	return 1;
}

int main(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (kvm < 0) {
		printf("nested: /dev/kvm absent (%s)\n", strerror(errno));
		return 2;
	}
	if (ioctl(kvm, KVM_GET_API_VERSION, 0) != KVM_API_VERSION)
		return fail("KVM_GET_API_VERSION");
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		return fail("KVM_CREATE_VM");
	uint8_t *mem = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return fail("mmap");
	memcpy(mem, code, sizeof(code));
	struct kvm_userspace_memory_region region = {
		.guest_phys_addr = CODE_GPA,
		.memory_size = 0x1000,
		.userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		return fail("KVM_SET_USER_MEMORY_REGION");
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		return fail("KVM_CREATE_VCPU");
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (run_size <= 0)
		return fail("KVM_GET_VCPU_MMAP_SIZE");
	struct kvm_run *r = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (r == MAP_FAILED)
		return fail("mmap kvm_run");
	if (real_mode_at(vcpu, CODE_GPA) < 0)
		return fail("vCPU registers");
	return run(vcpu, r);
}
