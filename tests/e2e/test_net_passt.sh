#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: virtio-net over Debian's passt, started the way crun and muvm
# start it (passt -f --fd N on one end of a socket pair, the VM on the
# other; `krun --net passt`).  All of it runs in a network namespace of its
# own whose only interfaces are lo and a dummy with 198.51.100.1/24 and a
# default route (passt copies that interface's setup to the guest): no
# packet can leave the machine.
#   - the guest's init gets eth0's address, prefix, route and MTU by DHCP;
#   - the guest fetches a large file from a host HTTP server on 127.0.0.1
#     through passt's gateway mapping (sha256 equal);
#   - the host reaches a guest HTTP server through passt's -t forwarding;
#   - passt killed mid-transfer: the VMM keeps running, says why, and the
#     workload's exit status comes through;
#   - a peer that never answers DHCP: reported, the workload still runs;
#   - a socket path nobody listens on fails the start with a message.
# usage: test_net_passt.sh KRUN LIBKRUNFW
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
enter_net_namespace "$0" "$@"
krun=$(realpath "${1:?krun}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
big_mib=${KRUN_NET_BIG_MIB:-256}

command -v passt >/dev/null || { echo "FAIL passt is not installed (tools/install-deps.sh)"; exit 1; }
add_passt_uplink || exit 1

work=$(mktemp -d /tmp/krun-net-passt.XXXXXX)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
mkdir -p "$work/www" "$root/www"
head -c $((big_mib * 1024 * 1024)) /dev/urandom >"$work/www/down.bin"
head -c $((16 * 1024 * 1024 + 123)) /dev/urandom >"$root/www/up.bin"

host_httpd 127.0.0.1:8081 "$work/www" || exit 1

# --- DHCP and a large download through the gateway mapping ---------------
cat >"$root/net.sh" <<'SH'
ip -4 -o addr show eth0 | awk '{print "guest: addr " $4}'
ip -4 route show default | awk '{print "guest: route " $1 " via " $3}'
echo "guest: mtu $(cat /sys/class/net/eth0/mtu)"
sum=$(wget -q -O - http://198.51.100.254:8081/down.bin | sha256sum | cut -d' ' -f1)
echo "guest: down sha256 $sum"
exit 3
SH
start=$(date +%s)
run --net passt -- /bin/sh /net.sh
echo "net_passt: DHCP + ${big_mib} MiB down in $(($(date +%s) - start)) s"
want_down=$(sha256sum "$work/www/down.bin" | cut -d' ' -f1)
check "DHCP from passt: eth0 has the host interface's 198.51.100.1/24" \
	grep -qx "guest: addr 198.51.100.1/24" "$work/out"
check "DHCP from passt: the default route goes via 198.51.100.254" \
	grep -qx "guest: route default via 198.51.100.254" "$work/out"
check "DHCP from passt: eth0's MTU is 65520 (no MTU option: upstream's default)" \
	grep -qx "guest: mtu 65520" "$work/out"
check "the guest fetches ${big_mib} MiB from the host's 127.0.0.1 through passt, sha256 equal" \
	grep -qx "guest: down sha256 $want_down" "$work/out"
check "the VM ends with the workload's status (3)" [ "$rc" -eq 3 ]
check "no TSI next to a card: dummy0 is not configured" \
	sh -c "! grep -q 203.0.113 '$work/out'"

# --- host to guest through passt's port forwarding -------------------------
cat >"$root/serve.sh" <<'SH'
httpd -f -p 8000 -h /www &
echo "guest: httpd started"
for i in $(seq 600); do ls /www | grep -qx fetched && break; sleep 0.5; done
kill %1
exit 0
SH
rm -f "$root/www/fetched"
timeout -k 10 900 "$krun" --net passt -p 18000:8000 "$root" /bin/sh /serve.sh \
	</dev/null >"$work/out" 2>"$work/err" &
vm=$!
up_sum=""
for _ in $(seq 600); do
	if grep -q "guest: httpd started" "$work/out" 2>/dev/null; then
		up_sum=$(curl -sf --max-time 300 "http://127.0.0.1:18000/up.bin" | sha256sum | cut -d' ' -f1)
		[ "$up_sum" = "$(sha256sum "$root/www/up.bin" | cut -d' ' -f1)" ] && break
	fi
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.5
done
touch "$root/www/fetched"
wait "$vm"
rc=$?
check "the host fetches 16 MiB from a guest server through passt -t 18000:8000, sha256 equal" \
	[ "$up_sum" = "$(sha256sum "$root/www/up.bin" | cut -d' ' -f1)" ]
check "the forwarding VM ends with status 0" [ "$rc" -eq 0 ]

# --- passt killed mid-transfer ---------------------------------------------
cat >"$root/cut.sh" <<'SH'
echo "guest: fetching"
# A dead peer never ends a TCP read by itself: bounded here.
timeout 60 wget -q -O /dev/null http://198.51.100.254:8081/down.bin
echo "guest: wget rc=$?"
exit 5
SH
timeout -k 10 600 "$krun" -l 2 --net passt "$root" /bin/sh /cut.sh \
	</dev/null >"$work/out" 2>"$work/err" &
vm=$!
for _ in $(seq 600); do
	grep -q "guest: fetching" "$work/out" 2>/dev/null && break
	sleep 0.2
done
sleep 2
# timeout runs krun, krun runs passt (this namespace's only passt).
passt_pid=$(pgrep -f "^passt[^ ]* -f -q --fd 3" | head -1)	# passt may exec passt.avx2
[ -n "$passt_pid" ] && kill -9 "$passt_pid"
check "passt killed mid-transfer: passt was found and killed" [ -n "$passt_pid" ]
wait "$vm"
rc=$?
check "passt killed mid-transfer: the workload's exit status (5) comes through" [ "$rc" -eq 5 ]
check "passt killed mid-transfer: the guest's wget fails and the workload goes on" \
	grep -q "guest: wget rc=[1-9]" "$work/out"
check "passt killed mid-transfer: the log says the backend is gone" grep -q "is gone" "$work/err"

# --- a peer that never answers DHCP -----------------------------------------
python3 - "$work/silent.sock" <<'PY' &
import socket, sys, os
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1]); s.listen(1)
c, _ = s.accept()
while c.recv(65536):
    pass
PY
pids+=($!)
for _ in $(seq 50); do [ -S "$work/silent.sock" ] && break; sleep 0.1; done
start=$(date +%s)
run --net "unixstream:$work/silent.sock" -- /bin/sh -c 'echo guest: workload ran'
took=$(($(date +%s) - start))
check "no DHCP answer: the workload still runs" grep -qx "guest: workload ran" "$work/out"
check "no DHCP answer: the init says so" grep -qi "no DHCP lease" "$work/out" "$work/err"
check "no DHCP answer: the VM ends with status 0, within a bounded time (${took} s)" \
	test "$rc" -eq 0 -a "$took" -lt 120

# --- nobody listening -------------------------------------------------------
run --net "unixstream:$work/nobody.sock" -- /bin/true
check "a socket path nobody listens on: krun fails with 125" [ "$rc" -eq 125 ]
check "a socket path nobody listens on: the message names it" grep -q "nobody.sock" "$work/err"
