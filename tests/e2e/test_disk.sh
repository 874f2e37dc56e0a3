#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: raw disk images as virtio-block devices (krun -d, i.e.
# krun_add_disk), checked the way a user would: the guest sees /dev/vda,
# /dev/vdb in the order given, with the image's size; it mounts an ext4 image
# and reads what the host put there; what it writes is in the image on the
# host afterwards; a read-only disk refuses writes and the image stays
# byte-identical; a missing image is refused before the VM starts.
# usage: test_disk.sh KRUN_TOOL LIBKRUNFW
set -u
krun=$(realpath "${1:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
here=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/sbin:/sbin

work=$(mktemp -d /tmp/krun-disk.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
mkdir -p "$root/mnt"

# shellcheck source=lib.sh
. "$here/lib.sh"

# An ext4 image made from a directory, and a small raw one with a pattern.
mkdir -p "$work/content"
echo "made on the host" >"$work/content/hello.txt"
mke2fs -q -t ext4 -d "$work/content" "$work/fs.img" 32M || { echo "FAIL mke2fs"; exit 1; }
head -c 1048576 /dev/urandom >"$work/raw.img"
raw_sum=$(sha256sum <"$work/raw.img")

run -d "$work/fs.img" -d "$work/raw.img:ro" -- /bin/sh -c '
	cat /sys/block/vda/size /sys/block/vdb/size /sys/block/vdb/ro
	mount -t ext4 /dev/vda /mnt && cat /mnt/hello.txt &&
	echo "made in the guest" >/mnt/from-guest.txt && umount /mnt && echo mounted-ok
	dd if=/dev/zero of=/dev/vdb bs=4096 count=1 2>/dev/null; echo "ro-write $?"
	head -c 1048576 /dev/vdb | sha256sum'
mapfile -t lines <"$work/out"
check "guest exits 0 with two disks" [ "$rc" -eq 0 ]
check "vda has the ext4 image's size" [ "${lines[0]:-}" = $((32 * 1024 * 1024 / 512)) ]
check "vdb (second -d) has the raw image's size" [ "${lines[1]:-}" = 2048 ]
check "vdb is read-only in the guest" [ "${lines[2]:-}" = 1 ]
check "guest reads a file the host put in the ext4 image" [ "${lines[3]:-}" = "made on the host" ]
check "guest mounts, writes and unmounts the ext4 disk" [ "${lines[4]:-}" = mounted-ok ]
check "write to the read-only disk fails in the guest" [ "${lines[5]:-}" != "ro-write 0" ]
guest_sum=${lines[6]:-}
check "raw disk read in guest matches the host file" [ "${guest_sum%% *}" = "${raw_sum%% *}" ]
check "read-only image unchanged on the host" [ "$(sha256sum <"$work/raw.img")" = "$raw_sum" ]
check "guest's write is in the image on the host" \
	[ "$(debugfs -R 'cat /from-guest.txt' "$work/fs.img" 2>/dev/null)" = "made in the guest" ]

run -d "$work/missing.img" -- /bin/true
check "missing image: krun refuses with 125" [ "$rc" -eq 125 ]
check "missing image: the error names the file" grep -q "missing.img" "$work/err"

# Read-only disks are opened read-only: a file the caller may only read works.
chmod 444 "$work/raw.img"
run -d "$work/raw.img:ro" -- /bin/sh -c 'cat /sys/block/vda/ro'
check "a read-only image file can be attached read-only" [ "$rc" -eq 0 -a "$(cat "$work/out")" = 1 ]
