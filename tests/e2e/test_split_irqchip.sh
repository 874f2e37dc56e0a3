#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: split irqchip (krun_split_irqchip through the krun tool's
# --split-irqchip).  The guest kernel finds the VMM's IOAPIC (version 0x20,
# where KVM's own reports 0x11), boots without a PIT or PIC and runs a
# workload that uses every kind of device interrupt: virtio-fs (the root and
# a file written to it), the console (its output), a virtio-block disk
# (read back in the guest and written from it) and the exit status; with 1
# and then 2 vCPUs, the interrupts of the second CPU's work delivered too.
# usage: test_split_irqchip.sh KRUN_TOOL LIBKRUNFW
set -u
krun=$(realpath "${1:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-e2e-splitirq.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }

# shellcheck source=lib.sh
. "$here/lib.sh"

workload='
	dmesg | grep -o "IOAPIC\[0\]: apic_id [0-9]*, version [0-9]*" | head -1
	echo "cpus $(nproc)"
	head -c 1048576 /dev/vda | sha256sum | cut -d" " -f1
	echo "from the guest" | dd of=/dev/vda bs=512 seek=4096 conv=notrunc,fsync 2>/dev/null
	echo "$1 via virtio-fs" >/shared-$1
	exit 7'

for cpus in 1 2; do
	head -c 4194304 /dev/urandom >"$work/disk.img"
	sum=$(head -c 1048576 "$work/disk.img" | sha256sum | cut -d" " -f1)
	run --split-irqchip -c "$cpus" -d "$work/disk.img" -- /bin/sh -c "$workload" sh "$cpus"
	mapfile -t lines <"$work/out"
	check "$cpus vCPU(s): the guest kernel sees the VMM's IOAPIC (version 0x20 = 32)" \
		[ "${lines[0]:-}" = "IOAPIC[0]: apic_id $((cpus + 1)), version 32" ]
	check "$cpus vCPU(s): the guest has $cpus CPU(s)" [ "${lines[1]:-}" = "cpus $cpus" ]
	check "$cpus vCPU(s): the disk reads back as the host wrote it" [ "${lines[2]:-}" = "$sum" ]
	check "$cpus vCPU(s): the guest's write is in the image" \
		[ "$(dd if="$work/disk.img" bs=512 skip=4096 count=1 2>/dev/null | head -c 14)" = \
			"from the guest" ]
	check "$cpus vCPU(s): a file the guest wrote to its virtio-fs root is on the host" \
		[ "$(cat "$root/shared-$cpus" 2>/dev/null)" = "$cpus via virtio-fs" ]
	check "$cpus vCPU(s): the workload's exit status 7 is krun's" [ "$rc" = 7 ]
	check "$cpus vCPU(s): nothing went wrong in the VMM" [ ! -s "$work/err" ]
done

# The default stays KVM's in-kernel irqchip (IOAPIC version 0x11).
run -- /bin/sh -c 'dmesg | grep -o "IOAPIC\[0\]: apic_id [0-9]*, version [0-9]*" | head -1'
check "without --split-irqchip the IOAPIC is KVM's own (version 17)" \
	grep -qx "IOAPIC\[0\]: apic_id 2, version 17" "$work/out"
