#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: what the guest fsync()ed is on the host even when the VMM is
# killed with SIGKILL right after: a pattern written to a virtio-block disk
# and to a file in the virtio-fs root, each with conv=fsync, then the VMM
# killed while the guest sleeps.  Nothing the VMM acknowledged may have
# stayed in its own buffers.
# usage: test_durability.sh KRUN_TOOL LIBKRUNFW
set -u
krun=$(realpath "${1:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=lib.sh
. "$here/lib.sh"
new_demo_work durability

mib=8
head -c $((mib * 1024 * 1024)) /dev/urandom >"$root/pattern.bin"
want=$(sha256sum <"$root/pattern.bin" | cut -d' ' -f1)
truncate -s 64M "$work/disk.img"

cat >"$root/durability.sh" <<'SH'
dd if=/pattern.bin of=/dev/vda bs=1M conv=fsync 2>/dev/null && echo "guest: disk synced"
dd if=/pattern.bin of=/fs-copy.bin bs=1M conv=fsync 2>/dev/null && echo "guest: file synced"
echo "guest: waiting to be killed"
sleep 600
SH

# No timeout(1) in between: the kill must reach the VMM itself; the wait
# below is bounded and ends in the kill either way.
"$krun" -d "$work/disk.img" "$root" /bin/sh /durability.sh \
	</dev/null >"$work/out" 2>"$work/err" &
vm=$!
for _ in $(seq 1200); do
	grep -q "guest: waiting to be killed" "$work/out" 2>/dev/null && break
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.5
done
kill -9 "$vm" 2>/dev/null
wait "$vm" 2>/dev/null
rc=$?
vm=""

check "the guest synced the disk and the file before the kill" \
	sh -c "grep -qx 'guest: disk synced' '$work/out' && grep -qx 'guest: file synced' '$work/out'"
check "the VMM died of SIGKILL (status 137), not on its own" [ "$rc" -eq 137 ]
check "virtio-blk: the ${mib} MiB the guest fsync()ed are in the image after kill -9" \
	[ "$(head -c $((mib * 1024 * 1024)) "$work/disk.img" | sha256sum | cut -d' ' -f1)" = "$want" ]
check "virtio-fs: the file the guest fsync()ed is whole on the host after kill -9" \
	[ "$(sha256sum <"$root/fs-copy.bin" 2>/dev/null | cut -d' ' -f1)" = "$want" ]
