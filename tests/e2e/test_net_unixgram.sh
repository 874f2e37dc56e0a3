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
# shellcheck source=net_exchange.sh
. "$here/net_exchange.sh"

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
