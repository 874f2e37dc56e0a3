#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: virtio-vsock with host unix-socket ports, in one boot.
# vsock_probe (a client of the public API) maps guest ports to unix sockets
# and runs the host peers; vsock_guest (built static here, copied into the
# busybox root) is the guest side.  Checked: guest->host (a few MiB, sha256
# equal on both sides, the host's reply reaches the guest), host->guest with
# listen=true (2 MiB echoed by a guest vsock listener), a connect to an
# unmapped port fails with ECONNRESET/ECONNREFUSED, a host peer closing
# mid-transfer ends the guest's read with EOF and its writes with an error,
# the VMM survives all of it and ends with the workload's status, and the
# listen=true socket file is gone afterwards.
# usage: test_vsock.sh VSOCK_PROBE LIBKRUNFW VSOCK_GUEST_C
set -u
probe=$(realpath "${1:?vsock_probe}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
guest_src=$(realpath "${3:?vsock_guest.c}")
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-vsock.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
socks=$work/socks
mkdir -p "$socks"
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
cc -static -O2 -o "$root/bin/vsock_guest" "$guest_src" || { echo "FAIL build vsock_guest"; exit 1; }
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$root/data.bin"

# shellcheck source=lib.sh
. "$here/lib.sh"

cat >"$root/vsock-test.sh" <<'SH'
vsock_guest echo 1235 &
vsock_guest send 1234 /data.bin
echo "guest: sha256 $(sha256sum /data.bin | cut -d' ' -f1)"
vsock_guest refused 1236
vsock_guest read-eof 1237
vsock_guest write-error 1237
wait
echo "guest: steps done"
sleep 2
exit 7
SH

# SIGKILL: the VMM relays SIGTERM to the workload, which a stuck guest ignores.
timeout -s KILL 1200 "$probe" "$root" "$socks" /bin/sh /vsock-test.sh </dev/null >"$work/out" 2>"$work/err"
rc=$?

size=$(stat -c %s "$root/data.bin")
check "guest->host: the guest sent the whole file" \
	grep -qx "guest: sent $size bytes, reply: got $size bytes" "$work/out"
check "guest->host: the host received it all, then EOF" \
	grep -qx "host: g2h received $size bytes, then EOF" "$work/out"
want=$(sha256sum "$root/data.bin" | cut -d' ' -f1)
got=$(sha256sum "$socks/recv.bin" 2>/dev/null | cut -d' ' -f1)
same_sum() { [ -n "$got" ] && [ "$got" = "$want" ] && grep -qx "guest: sha256 $want" "$work/out"; }
check "guest->host: sha256 on the host matches the guest's" same_sum
check "host->guest (listen=true): 2 MiB echoed by the guest's listener" \
	grep -qx "host: h2g ok" "$work/out"
check "host->guest: the guest echoed exactly what came" \
	grep -qx "guest: echoed 2097152 bytes" "$work/out"
check "unmapped port: the guest's connect is refused" \
	grep -Eqx "guest: connect to unmapped port 1236: (Connection reset by peer|Connection refused)" \
	"$work/out"
check "host closes mid-transfer: the guest reads the data, then EOF" \
	grep -qx "guest: read 100000 bytes, then EOF" "$work/out"
check "host closes while the guest writes: the guest's write fails" \
	grep -Eq "^guest: wrote [0-9]+ bytes, then (Broken pipe|Connection reset by peer)$" "$work/out"
check "host closes while the guest writes: the host read 64 KiB first" \
	grep -qx "host: close peer read 65536 bytes and closes" "$work/out"
check "the guest ran every step" grep -qx "guest: steps done" "$work/out"
check "the VM ends with the workload's status (7)" [ "$rc" -eq 7 ]
check "the listen=true socket file is removed when the VM ends" [ ! -e "$socks/h2g.sock" ]
# The probe refuses to start if krun_add_vsock_port2(listen=true) accepted
# an existing path, so the status check above covers -EEXIST too.
if [ "$rc" -ne 7 ]; then
	echo "--- stdout"; tail -30 "$work/out"; echo "--- stderr"; tail -30 "$work/err"
fi
