#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: a VM started after chroot() into a directory that holds neither
# libkrun.so.1 nor libkrunfw.so.5 (crun's krun handler starts the VM inside
# the container's root).  Everything the library needs from the host
# filesystem must have been loaded before.
# usage: test_chroot.sh CHROOT_PROBE LIBKRUNFW
set -u
probe=$(realpath "${1:?chroot_probe}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-chroot.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
# What crun gives a krun container: /proc, /dev/kvm, nothing of the host's
# libraries.
: >"$root/dev/kvm"
mount --bind /dev/kvm "$root/dev/kvm" && mount -t proc proc "$root/proc" ||
	{ echo "FAIL container-like mounts in the chroot"; exit 1; }
trap 'umount "$root/proc" "$root/dev/kvm"; rm -rf "$work"' EXIT

# shellcheck source=lib.sh
. "$here/lib.sh"

check "the chroot holds neither library" \
	[ -z "$(find "$root" -name 'libkrun*.so*' -print -quit)" ]
timeout -k 10 300 "$probe" "$root" 'echo inside the VM; ls /dev/kvm 2>&1; exit 42' \
	>"$work/out" 2>"$work/err" </dev/null
rc=$?
check "VM started after chroot runs its workload" grep -qx "inside the VM" "$work/out"
check "its exit status comes back" [ "$rc" -eq 42 ]
check "no load error" bash -c "! grep -q 'cannot load' '$work/err'"
