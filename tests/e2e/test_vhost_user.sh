#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: a vhost-user device served by a real backend, QEMU's C
# virtiofsd (Debian's qemu-system-common), as a second virtio-fs share
# (krun_add_vhost_user_device, type 26).  The guest mounts it by its tag and
# reads a file the host put there, writes one the host then reads (sha256
# both ways); a backend that is not listening fails krun_start_enter before
# the VM starts.  Runs with seccomp and Landlock on (the defaults).
# usage: test_vhost_user.sh PROBE LIBKRUNFW
set -u
probe=$(realpath "${1:?vhost_user_probe}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
here=$(cd "$(dirname "$0")" && pwd)
vfsd=/usr/lib/qemu/virtiofsd
[ -x "$vfsd" ] || { echo "FAIL $vfsd missing (tools/install-deps.sh installs qemu-system-common)"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "FAIL needs root (virtiofsd sandboxes itself in namespaces)"; exit 1; }

# shellcheck source=lib.sh
. "$here/lib.sh"
new_demo_work vhost-user
mkdir -p "$root/mnt" "$work/share"
sock=$work/vfs.sock
head -c 300000 /dev/urandom >"$work/share/from-host.bin"
host_sum=$(sha256sum <"$work/share/from-host.bin")

"$vfsd" --socket-path="$sock" -o source="$work/share" -o cache=none \
	>"$work/vfsd.log" 2>&1 &
vfsd_pid=$!
trap 'kill "$vfsd_pid" 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
check "virtiofsd listens" [ -S "$sock" ]

timeout -k 10 120 "$probe" "$root" "$sock" vhufs '
	mount -t virtiofs vhufs /mnt || exit 3
	sha256sum </mnt/from-host.bin
	head -c 200000 /dev/urandom >/tmp/g.bin
	sha256sum </tmp/g.bin
	cp /tmp/g.bin /mnt/from-guest.bin && sync
	echo done' >"$work/out" 2>"$work/err"
rc=$?
mapfile -t lines <"$work/out"
check "guest exits 0 with the vhost-user share mounted" [ "$rc" -eq 0 ]
check "guest reads the host's file through virtiofsd (sha256)" \
	[ "${lines[0]%% *}" = "${host_sum%% *}" ]
check "host reads the guest's file written through virtiofsd (sha256)" \
	[ -n "${lines[1]:-}" -a "$(sha256sum <"$work/share/from-guest.bin" 2>/dev/null | cut -d' ' -f1)" = "${lines[1]%% *}" ]
check "guest script ran to its end" [ "${lines[2]:-}" = done ]

timeout -k 10 60 "$probe" "$root" "$work/nobody.sock" vhufs 'echo booted' \
	>"$work/out" 2>"$work/err"
rc=$?
check "no backend: krun_start_enter fails before the VM (ENOENT)" [ "$rc" -eq $((100 + 2)) ]
check "no backend: the error names the socket" grep -q "nobody.sock" "$work/err"
check "no backend: the VM never ran" [ ! -s "$work/out" ]
