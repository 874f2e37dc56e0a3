#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: virtio-net over unix datagrams
# (gvproxy's and vfkit's framing) against a small bridge that speaks it on
# one side and a tap on the other.  Everything runs in a network namespace
# of the test's own: the taps and their 203.0.113.0/24 addresses exist only
# there.  For each: the guest sets its address, fetches a file from a host
# server on the tap's address, and the host fetches one from a guest server
# (sha256 both ways); the bridge also checks the VFKT greeting came first.
# usage: test_net_unixgram.sh KRUN LIBKRUNFW
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
enter_net_namespace "$0" "$@"
krun=$(realpath "${1:?krun}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
mib=${KRUN_NET_TAP_MIB:-32}

work=$(mktemp -d /tmp/krun-net-tap.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
mkdir -p "$work/www" "$root/www"
head -c $((mib * 1024 * 1024)) /dev/urandom >"$work/www/down.bin"
head -c $((mib * 1024 * 1024 + 77)) /dev/urandom >"$root/www/up.bin"
want_down=$(sha256sum "$work/www/down.bin" | cut -d' ' -f1)
want_up=$(sha256sum "$root/www/up.bin" | cut -d' ' -f1)

# The guest's side: a static address (no DHCP server on a bare tap), a
# download from the host, then a server until the host has fetched.
cat >"$root/tap.sh" <<'SH'
ip addr add 203.0.113.2/24 dev eth0 && ip link set eth0 up
sum=$(timeout 300 wget -q -O - http://203.0.113.1:8082/down.bin | sha256sum | cut -d' ' -f1)
echo "guest: down sha256 $sum"
httpd -f -p 8000 -h /www &
echo "guest: httpd started"
for i in $(seq 600); do ls /www | grep -qx fetched && break; sleep 0.5; done
kill %1
exit 0
SH

# exchange NAME KRUN-NET-SPEC: one VM, data both ways over 203.0.113.0/24.
exchange() {
	local name=$1 spec=$2 up_sum="" vm
	rm -f "$root/www/fetched"
	timeout -k 10 900 "$krun" --net "$spec" "$root" /bin/sh /tap.sh \
		</dev/null >"$work/out" 2>"$work/err" &
	vm=$!
	for _ in $(seq 600); do
		if grep -q "guest: httpd started" "$work/out" 2>/dev/null; then
			up_sum=$(curl -sf --max-time 300 "http://203.0.113.2:8000/up.bin" | sha256sum | cut -d' ' -f1)
			[ "$up_sum" = "$want_up" ] && break
		fi
		kill -0 "$vm" 2>/dev/null || break
		sleep 0.5
	done
	touch "$root/www/fetched"
	wait "$vm"
	rc=$?
	check "$name: the guest fetches $mib MiB from the host over the card, sha256 equal" \
		grep -qx "guest: down sha256 $want_down" "$work/out"
	check "$name: the host fetches $mib MiB from the guest's server, sha256 equal" \
		[ "$up_sum" = "$want_up" ]
	check "$name: the VM ends with status 0" [ "$rc" -eq 0 ]
}

# --- unixgram, through a datagram <-> tap bridge -------------------------------
python3 - "$work/bridge.sock" "$work/greeting" <<'PY' &
# Bridges one datagram per frame (gvproxy/vfkit framing) to a tap with the
# host address 203.0.113.1/24, and records the first datagram (the greeting).
# The card offers COMPAT_NET_FEATURES, as upstream's gvproxy path does, so
# the guest leaves TCP/UDP checksums to the peer (only the pseudo-header sum
# is in the field) and sends segments of up to 64 KiB; a userspace stack
# such as gvproxy's copes with those.  The tap is opened with a virtio-net
# header so that each such frame can go to the host's stack marked
# "checksum to be completed" (NEEDS_CSUM at the TCP/UDP header), which then
# takes it; nothing is asked of the tap the other way, so frames to the
# guest arrive complete and their header is just dropped.
import fcntl, os, select, socket, struct, subprocess, sys
TUNSETIFF, IFF_TAP, IFF_NO_PI, IFF_VNET_HDR = 0x400454ca, 0x0002, 0x1000, 0x4000
VNET_HDR_LEN, NEEDS_CSUM = 10, 1
NO_OFFLOAD = bytes(VNET_HDR_LEN)
CSUM_FIELD = {6: 16, 17: 6}   # TCP, UDP: checksum offset in the header

def to_host_header(frame):
    if frame[12:14] == b"\x08\x00" and len(frame) >= 34:
        l4, proto = 14 + (frame[14] & 15) * 4, frame[23]
    elif frame[12:14] == b"\x86\xdd" and len(frame) >= 54:
        l4, proto = 54, frame[20]
    else:
        return NO_OFFLOAD
    off = CSUM_FIELD.get(proto)
    if off is None or len(frame) < l4 + off + 2:
        return NO_OFFLOAD
    return struct.pack("<BBHHHH", NEEDS_CSUM, 0, 0, 0, l4, off)

tap = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(tap, TUNSETIFF, struct.pack("16sH", b"krun-br0", IFF_TAP | IFF_NO_PI | IFF_VNET_HDR))
subprocess.run(["ip", "addr", "add", "203.0.113.1/24", "dev", "krun-br0"], check=True)
subprocess.run(["ip", "link", "set", "krun-br0", "up"], check=True)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
first, peer = s.recvfrom(1 << 17)
with open(sys.argv[2], "wb") as f:
    f.write(first)
s.connect(peer)
while True:
    r, _, _ = select.select([s, tap], [], [])
    if s in r:
        frame = s.recv(1 << 17)
        os.write(tap, to_host_header(frame) + frame)
    if tap in r:
        try:
            s.send(os.read(tap, 1 << 17)[VNET_HDR_LEN:])
        except (BlockingIOError, ConnectionRefusedError):
            pass
        except OSError:
            break   # the VM ended: its socket is gone
PY
pids+=($!)
# Python takes seconds to start in the nested test host.
for _ in $(seq 600); do ip link show krun-br0 >/dev/null 2>&1 && [ -S "$work/bridge.sock" ] && break; sleep 0.1; done
busybox httpd -f -p "203.0.113.1:8082" -h "$work/www" &
pids+=($!)
exchange "unixgram (vfkit)" "vfkit:$work/bridge.sock"
check "unixgram (vfkit): the first datagram is the VFKT greeting" \
	[ "$(cat "$work/greeting" 2>/dev/null)" = VFKT ]
check "unixgram: the VMM's bound socket is gone after the VM" \
	sh -c "! ls '${TMPDIR:-/tmp}' | grep -qE '^krun-net-[0-9]+-[0-9]+\.sock$'"
