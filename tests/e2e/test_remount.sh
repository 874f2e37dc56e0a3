#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: krun_set_root_disk_remount boots an ext4 image as the root.
# The guest sees the image's files at /, not the init's virtual root; /proc
# and /dev are mounted; the exit status comes back (upstream loses it here);
# with fstype NULL the init probes the type, and without krun_set_exec the
# job comes from the disk's /.krun_config.json.
# usage: test_remount.sh REMOUNT_PROBE LIBKRUNFW
set -u
probe=$(realpath "${1:?remount_probe}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
here=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/sbin:/sbin

work=$(mktemp -d /tmp/krun-remount.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
echo "on the disk" >"$root/marker"
cat >"$root/.krun_config.json" <<'JSON'
{"ociVersion": "1.0.2", "process": {"args": ["/bin/sh", "-c", "echo from the disk config; cat /marker; exit 6"], "env": ["PATH=/bin"], "cwd": "/"}}
JSON
mke2fs -q -t ext4 -d "$root" "$work/root.img" 64M || { echo "FAIL mke2fs"; exit 1; }

# shellcheck source=lib.sh
. "$here/lib.sh"

boot() { # fstype [command]
	timeout -k 10 300 "$probe" "$work/root.img" "$@" >"$work/out" 2>"$work/err" </dev/null
	rc=$?
}

boot ext4 'cat /marker; test -e /init.krun && echo init-visible
	grep " / " /proc/mounts | cut -d" " -f1,3; test -c /dev/null && echo dev-ok
	test -d /proc/self && echo proc-ok; echo written >/from-guest; exit 9'
check "the disk's files are the root" grep -qx "on the disk" "$work/out"
check "the init's virtual root is gone" bash -c "! grep -q init-visible '$work/out'"
check "/ is the ext4 disk" grep -qx "/dev/vda ext4" "$work/out"
check "/dev is mounted" grep -qx dev-ok "$work/out"
check "/proc is mounted" grep -qx proc-ok "$work/out"
check "the exit status comes back" [ "$rc" -eq 9 ]
check "what the guest wrote is on the image" \
	bash -c "debugfs -R 'cat /from-guest' '$work/root.img' 2>/dev/null | grep -qx written"

boot -
check "probed fstype: the job comes from the disk's /.krun_config.json" \
	grep -qx "from the disk config" "$work/out"
check "probed fstype: the disk's files are the root" grep -qx "on the disk" "$work/out"
check "probed fstype: the exit status comes back" [ "$rc" -eq 6 ]
