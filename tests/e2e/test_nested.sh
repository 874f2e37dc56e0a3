#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: nested virtualization (krun_set_nested_virt through the krun
# tool's --nested-virt).  With it the guest kernel finds the CPU's VMX or SVM,
# has a /dev/kvm and a program in the guest runs a tiny guest of its own
# (nested_guest.c: it writes 42 to an I/O port and halts); without it the
# guest has no /dev/kvm.
# usage: test_nested.sh KRUN_TOOL LIBKRUNFW NESTED_GUEST_C
set -u
krun=$(realpath "${1:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
guest_src=$(realpath "${3:?nested_guest.c}")
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-e2e-nested.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
cc -static -O2 -o "$root/bin/nested_guest" "$guest_src" || { echo "FAIL build guest"; exit 1; }

# shellcheck source=lib.sh
. "$here/lib.sh"

nested=0
for f in /sys/module/kvm_intel/parameters/nested /sys/module/kvm_amd/parameters/nested; do
	[ -r "$f" ] && case "$(cat "$f")" in 1 | Y | y) nested=1 ;; esac
done
if [ "$nested" != 1 ]; then
	# Not a pass: this machine cannot show the feature working.
	echo "SKIP nested virtualization (this host's KVM does not allow nesting)"
	exit 0
fi

run -- /bin/nested_guest
check "without --nested-virt the guest has no /dev/kvm" \
	grep -q "^nested: /dev/kvm absent" "$work/out"
check "... and the program says so with its status 2" [ "$rc" = 2 ]

run --nested-virt -- /bin/nested_guest
check "with --nested-virt a guest's own KVM runs a guest of its own" \
	grep -qx "nested: the inner guest wrote 42 to port 0x10 and halted" "$work/out"
check "... and the workload's exit status is 0" [ "$rc" = 0 ]

run --nested-virt -c 2 -- /bin/sh -c 'grep -cwE "vmx|svm" /proc/cpuinfo'
check "with 2 vCPUs both offer the extension" grep -qx 2 "$work/out"
