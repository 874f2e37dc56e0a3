#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: TSI, in one boot.  tsi_probe switches TSI on with
# krun_set_port_map (guest port 8080 exposed as a free host port); the
# guest's busybox runs ordinary inet programs:
#   - wget from an HTTP server on the host's 127.0.0.1 (a file, sha256
#     compared), which the guest reaches only through TSI;
#   - a connect to a closed host port fails (connection refused);
#   - UDP: sendto a host echo server on 127.0.0.1 and its answer back
#     (tsi_udp_guest, built static here);
#   - an HTTP server (busybox httpd) on guest port 8080, fetched from the
#     host through the mapped host port;
#   - dummy0 carries 203.0.113.1 (the init's doing with tsi_hijack);
# and the VM ends with the workload's status.
# usage: test_tsi.sh TSI_PROBE LIBKRUNFW TSI_UDP_GUEST_C
set -u
probe=$(realpath "${1:?tsi_probe}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
udp_src=$(realpath "${3:?tsi_udp_guest.c}")
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-tsi.XXXXXX)
srv=""
udp=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; [ -n "$udp" ] && kill "$udp" 2>/dev/null; rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
cc -static -O2 -o "$root/bin/tsi_udp_guest" "$udp_src" || { echo "FAIL build tsi_udp_guest"; exit 1; }
mkdir -p "$work/www" "$root/www"
head -c $((1024 * 1024 + 777)) /dev/urandom >"$work/www/data.bin"
echo "served by the guest" >"$root/www/index.html"

# shellcheck source=lib.sh
. "$here/lib.sh"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
http_port=$(free_port)
closed_port=$(free_port)
mapped_port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$http_port" \
	>"$work/http.log" 2>&1 &
srv=$!
for _ in $(seq 50); do
	python3 -c "import socket; socket.create_connection(('127.0.0.1', $http_port))" \
		2>/dev/null && break
	sleep 0.2
done
# Answers every datagram with "pong:" and what came.
udp_port=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
while True:
    d, peer = s.recvfrom(512)
    s.sendto(b"pong:" + d, peer)
' "$udp_port" >"$work/udp.log" 2>&1 &
udp=$!
# Python starts slowly in the nested test host (a minute is possible): the
# guest's datagram must not arrive before the server is bound.
python3 -c '
import socket, sys
c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
c.settimeout(2)
for _ in range(150):
    try:
        c.sendto(b"ready?", ("127.0.0.1", int(sys.argv[1])))
        c.recvfrom(64)
        break
    except OSError:
        pass
' "$udp_port"

cat >"$root/tsi-test.sh" <<SH
ip addr show dummy0 2>/dev/null | grep -q 'inet 203.0.113.1/24' && echo "guest: dummy0 203.0.113.1/24"
if wget -q -O /tmp/data.bin http://127.0.0.1:$http_port/data.bin; then
	echo "guest: wget sha256 \$(sha256sum /tmp/data.bin | cut -d' ' -f1)"
else
	echo "guest: wget failed"
fi
wget -q -O /dev/null http://127.0.0.1:$closed_port/ 2>&1 | head -1 | sed 's/^/guest: closed port: /'
tsi_udp_guest $udp_port
httpd -f -p 8080 -h /www &
echo "guest: httpd started"
# Wait until the host fetched the page: it leaves a mark on the share
# (listed, not looked up: a cached negative lookup would miss it).
for i in \$(seq 600); do ls /www | grep -qx fetched && break; sleep 0.5; done
ls /www | grep -qx fetched && echo "guest: host fetched"
kill %1
exit 9
SH

timeout -s KILL 900 "$probe" "$root" "$mapped_port:8080" /bin/sh /tsi-test.sh \
	</dev/null >"$work/out" 2>"$work/err" &
vm=$!
fetched=""
for _ in $(seq 600); do
	if grep -q "guest: httpd started" "$work/out" 2>/dev/null; then
		fetched=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$mapped_port/index.html', timeout=30).read().decode().strip())" 2>>"$work/err") &&
			[ -n "$fetched" ] && break
	fi
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.5
done
touch "$root/www/fetched"
wait "$vm"
rc=$?

check "guest: dummy0 has 203.0.113.1/24" grep -qx "guest: dummy0 203.0.113.1/24" "$work/out"
want=$(sha256sum "$work/www/data.bin" | cut -d' ' -f1)
check "guest->host: wget from the host's 127.0.0.1 through TSI, sha256 equal" \
	grep -qx "guest: wget sha256 $want" "$work/out"
check "guest->host: a closed host port is refused" \
	grep -q "guest: closed port: .*refused" "$work/out"
check "guest->host UDP: sendto the host's 127.0.0.1 and its answer back" \
	grep -qx "guest: udp reply pong:ping" "$work/out"
check "host->guest: the guest's httpd on 8080 answers on the mapped host port" \
	[ "$fetched" = "served by the guest" ]
check "the guest saw the host's fetch finish" grep -qx "guest: host fetched" "$work/out"
check "the VM ends with the workload's status (9)" [ "$rc" -eq 9 ]
if [ "$rc" -ne 9 ]; then
	echo "--- stdout"; tail -30 "$work/out"; echo "--- stderr"; tail -30 "$work/err"
fi
