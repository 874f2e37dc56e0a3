#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: qcow2 (and VMDK) images as virtio-block devices (krun -d
# IMAGE:qcow2, i.e. krun_add_disk2), checked with Debian's qemu-img: the
# guest writes a checksummed pattern to a fresh qcow2 image and to one with
# a backing file; after the VM exits `qemu-img check` finds no errors and
# `qemu-img convert` to raw shows the guest's bytes (and the backing file's
# where the guest wrote nothing); a read-only VMDK reads back what qemu-io
# put in it; kill -9 of the VMM after the guest's fsync leaves an image
# `qemu-img check` accepts with the synced data in it.
# usage: test_qcow2.sh KRUN_TOOL LIBKRUNFW
set -u
krun=$(realpath "${1:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
here=$(cd "$(dirname "$0")" && pwd)

command -v qemu-img >/dev/null || { echo "FAIL qemu-img not installed (qemu-utils)"; exit 1; }
# shellcheck source=lib.sh
. "$here/lib.sh"
new_demo_work qcow2

mib=6
head -c $((mib * 1024 * 1024)) /dev/urandom >"$root/pattern.bin"
want=$(sha256sum <"$root/pattern.bin" | cut -d' ' -f1)
head -c $((16 * 1024 * 1024)) /dev/urandom >"$work/base.raw"
base_sum=$(sha256sum <"$work/base.raw")
cd "$work" || exit 1
qemu-img create -q -f qcow2 fresh.qcow2 64M &&
	qemu-img create -q -f qcow2 -b base.raw -F raw top.qcow2 16M &&
	qemu-img create -q -f vmdk ro.vmdk 8M &&
	qemu-io -f vmdk -c 'write -P 0x6b 1M 64k' ro.vmdk >/dev/null ||
	{ echo "FAIL qemu-img create"; exit 1; }
cd - >/dev/null || exit 1

# 1 MiB in, so that the backing file shows before and after it.
run -d "$work/fresh.qcow2:qcow2" -d "$work/top.qcow2:qcow2" -d "$work/ro.vmdk:ro:vmdk" -- \
	/bin/sh -c '
	cat /sys/block/vda/size /sys/block/vdb/size /sys/block/vdc/ro
	dd if=/pattern.bin of=/dev/vda bs=1M seek=3 conv=fsync 2>/dev/null && echo vda-written
	dd if=/pattern.bin of=/dev/vdb bs=1M seek=1 conv=fsync 2>/dev/null && echo vdb-written
	dd if=/dev/vda bs=1M skip=3 count='$mib' 2>/dev/null | sha256sum
	dd if=/dev/vdc bs=64k skip=16 count=1 2>/dev/null | sha256sum'
mapfile -t lines <"$work/out"
check "guest exits 0 with qcow2 and VMDK disks" [ "$rc" -eq 0 ]
check "vda has the qcow2 image's virtual size" [ "${lines[0]:-}" = $((64 * 2048)) ]
check "vdb (with a backing file) has its virtual size" [ "${lines[1]:-}" = $((16 * 2048)) ]
check "the VMDK disk is read-only in the guest" [ "${lines[2]:-}" = 1 ]
check "guest wrote both qcow2 disks" [ "${lines[3]:-}" = vda-written -a "${lines[4]:-}" = vdb-written ]
check "guest reads back its pattern from the qcow2 disk" [ "${lines[5]%% *}" = "$want" ]
check "guest reads what qemu-io wrote into the VMDK image" \
	[ "${lines[6]%% *}" = "$(head -c 65536 /dev/zero | tr '\0' '\153' | sha256sum | cut -d' ' -f1)" ]
check "qemu-img check: no errors in the fresh image" qemu-img check -q "$work/fresh.qcow2"
check "qemu-img check: no errors in the image with a backing file" \
	qemu-img check -q "$work/top.qcow2"
qemu-img convert -O raw "$work/fresh.qcow2" "$work/fresh.raw"
qemu-img convert -O raw "$work/top.qcow2" "$work/top.raw"
check "converted to raw, the fresh image holds the guest's bytes at 3 MiB" \
	[ "$(tail -c +$((3 * 1048576 + 1)) "$work/fresh.raw" | head -c $((mib * 1048576)) |
	     sha256sum | cut -d' ' -f1)" = "$want" ]
check "converted to raw, the rest of the fresh image is zeros" \
	cmp -s <(head -c $((3 * 1048576)) "$work/fresh.raw") <(head -c $((3 * 1048576)) /dev/zero)
check "converted to raw, the overlay holds the guest's bytes at 1 MiB" \
	[ "$(tail -c +$((1048576 + 1)) "$work/top.raw" | head -c $((mib * 1048576)) |
	     sha256sum | cut -d' ' -f1)" = "$want" ]
check "converted to raw, the overlay shows the backing file around them" \
	bash -c "cmp -s <(head -c 1048576 '$work/top.raw') <(head -c 1048576 '$work/base.raw') &&
		cmp -s <(tail -c +$(((1 + mib) * 1048576 + 1)) '$work/top.raw') \
			<(tail -c +$(((1 + mib) * 1048576 + 1)) '$work/base.raw')"
check "the backing file was not written" [ "$(sha256sum <"$work/base.raw")" = "$base_sum" ]

# kill -9 after the guest's fsync, while it keeps writing elsewhere.
qemu-img create -q -f qcow2 "$work/kill.qcow2" 64M
cat >"$root/kill.sh" <<'SH'
dd if=/pattern.bin of=/dev/vda bs=1M conv=fsync 2>/dev/null && echo "guest: disk synced"
echo "guest: waiting to be killed"
i=0
while [ $i -lt 100000 ]; do
	dd if=/pattern.bin of=/dev/vda bs=64k seek=$((200 + i % 600)) count=1 2>/dev/null
	i=$((i + 1))
done
SH
"$krun" -d "$work/kill.qcow2:qcow2" "$root" /bin/sh /kill.sh \
	</dev/null >"$work/out" 2>"$work/err" &
vm=$!
for _ in $(seq 1200); do
	grep -q "guest: waiting to be killed" "$work/out" 2>/dev/null && break
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.5
done
sleep 2
kill -9 "$vm" 2>/dev/null
wait "$vm" 2>/dev/null
rc=$?
vm=""
check "the guest synced the qcow2 disk before the kill" grep -qx 'guest: disk synced' "$work/out"
check "the VMM died of SIGKILL (status 137)" [ "$rc" -eq 137 ]
qemu-img check -q "$work/kill.qcow2"
crc=$?
check "after kill -9, qemu-img check finds no corruption (leaks at most: $crc)" \
	[ "$crc" -eq 0 -o "$crc" -eq 3 ]
qemu-img convert -O raw "$work/kill.qcow2" "$work/kill.raw"
check "after kill -9, the ${mib} MiB the guest fsync()ed are in the image" \
	[ "$(head -c $((mib * 1048576)) "$work/kill.raw" | sha256sum | cut -d' ' -f1)" = "$want" ]
