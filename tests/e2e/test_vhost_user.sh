#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: a vhost-user device served by a real backend, QEMU's C
# virtiofsd (Debian's qemu-system-common), as a second virtio-fs share
# (krun_add_vhost_user_device, type 26).  The guest mounts it by its tag and
# reads a file the host put there, writes one the host then reads (sha256
# both ways); a backend killed while the guest runs leaves the VMM up: one
# log line, the device asks the guest driver for a reset (NEEDS_RESET in its
# status), the guest goes on and a host signal still ends the VM; a backend that is
# not listening fails krun_start_enter before the VM starts.  Runs with seccomp and Landlock on (the defaults).
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

# The backend dies under a running guest.
rm -f "$sock" "$work/share/mounted"
"$vfsd" --socket-path="$sock" -o source="$work/share" -o cache=none \
	>"$work/vfsd.log" 2>&1 &
vfsd_pid=$!
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
timeout -k 10 120 "$probe" "$root" "$sock" vhufs '
	mount -t virtiofs vhufs /mnt && : >/mnt/mounted || exit 3
	n=0; while [ $n -lt 300 ]; do
		for d in /sys/bus/virtio/devices/*; do
			[ "$(cat $d/device)" = 0x001a ] && [ $(($(cat $d/status) & 0x40)) -ne 0 ] &&
				break 2
		done
		sleep 0.2; n=$((n + 1))
	done
	for d in /sys/bus/virtio/devices/*; do echo "$(cat $d/device) $(cat $d/status)"; done
	echo reported
	exit 7' >"$work/out" 2>"$work/err" &
vm=$!
for _ in $(seq 600); do [ -e "$work/share/mounted" ] && break; sleep 0.1; done
kill -9 "$vfsd_pid"
wait "$vfsd_pid" 2>/dev/null
for _ in $(seq 600); do grep -qx reported "$work/out" && break; sleep 0.1; done
# The guest's exit syncs every filesystem and so waits on the dead share
# forever (Linux's virtio-fs cannot give up on it): the host ends the VM.
sleep 2
kill -TERM "$vm"
wait "$vm"
rc=$?
vm=
check "backend killed: the guest goes on and reports" grep -qx reported "$work/out"
check "backend killed: SIGTERM still ends the VMM (128+15)" [ "$rc" -eq 143 ]
needs_reset() { # a virtio-fs device (0x001a) with status bit 0x40
	local dev status
	while read -r dev status; do
		[ "$dev" = 0x001a ] && [ $((status & 0x40)) -ne 0 ] && return 0
	done <"$work/out"
	return 1
}
check "backend killed: the device asks for a reset (NEEDS_RESET)" needs_reset
check "backend killed: logged once" [ "$(grep -c 'backend hung up' "$work/err")" -eq 1 ]

timeout -k 10 60 "$probe" "$root" "$work/nobody.sock" vhufs 'echo booted' \
	>"$work/out" 2>"$work/err"
rc=$?
check "no backend: krun_start_enter fails before the VM (ENOENT)" [ "$rc" -eq $((100 + 2)) ]
check "no backend: the error names the socket" grep -q "nobody.sock" "$work/err"
check "no backend: the VM never ran" [ ! -s "$work/out" ]
