#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: TSI is the network of a VM that asks for nothing, as upstream.
# The krun tool, with no network option at all, runs a guest that
#   - fetches a large file from a host HTTP server on 127.0.0.1 (streamed
#     into sha256sum: the sums must match);
#   - serves a large file with busybox httpd on a port the host then fetches
#     under the same number (no port map: every guest listener is exposed),
#     and the host's sha256 must match;
# and with --no-network the same fetch fails: the guest has no route out.
# usage: test_tsi_default.sh KRUN LIBKRUNFW
set -u
krun=$(realpath "${1:?krun}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
here=$(cd "$(dirname "$0")" && pwd)
big_mib=${KRUN_TSI_BIG_MIB:-256}

work=$(mktemp -d /tmp/krun-tsi-default.XXXXXX)
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
mkdir -p "$work/www" "$root/www"
head -c $((big_mib * 1024 * 1024)) /dev/urandom >"$work/www/down.bin"
head -c $((big_mib * 1024 * 1024 + 4321)) /dev/urandom >"$root/www/up.bin"

# shellcheck source=lib.sh
. "$here/lib.sh"

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
http_port=$(free_port)
guest_port=$(free_port)
busybox httpd -f -p "127.0.0.1:$http_port" -h "$work/www" &
srv=$!
for _ in $(seq 50); do
	curl -s -o /dev/null "http://127.0.0.1:$http_port/" && break
	sleep 0.2
done

cat >"$root/tsi-default.sh" <<SH
sum=\$(wget -q -O - http://127.0.0.1:$http_port/down.bin | sha256sum | cut -d' ' -f1)
echo "guest: down sha256 \$sum"
httpd -f -p $guest_port -h /www &
echo "guest: httpd started"
# The host leaves a mark on the share once it has fetched (listed, not
# looked up: a cached negative lookup would miss it).
for i in \$(seq 1200); do ls /www | grep -qx fetched && break; sleep 0.5; done
ls /www | grep -qx fetched && echo "guest: host fetched"
kill %1
exit 7
SH

start=$(date +%s)
timeout -s KILL 1200 "$krun" "$root" /bin/sh /tsi-default.sh </dev/null >"$work/out" 2>"$work/err" &
vm=$!
up_sum=""
for _ in $(seq 1200); do
	if grep -q "guest: httpd started" "$work/out" 2>/dev/null; then
		up_sum=$(curl -sf --max-time 900 "http://127.0.0.1:$guest_port/up.bin" | sha256sum | cut -d' ' -f1)
		[ "$up_sum" != "$(printf '' | sha256sum | cut -d' ' -f1)" ] && break
	fi
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.5
done
touch "$root/www/fetched"
wait "$vm"
rc=$?
echo "tsi_default: ${big_mib} MiB each way in $(($(date +%s) - start)) s"

want_down=$(sha256sum "$work/www/down.bin" | cut -d' ' -f1)
want_up=$(sha256sum "$root/www/up.bin" | cut -d' ' -f1)
check "no network options: the guest fetches ${big_mib} MiB from the host's 127.0.0.1, sha256 equal" \
	grep -qx "guest: down sha256 $want_down" "$work/out"
check "no port map: the host fetches ${big_mib} MiB from the guest's listener under its own port, sha256 equal" \
	[ "$up_sum" = "$want_up" ]
check "the VM ends with the workload's status (7)" [ "$rc" -eq 7 ]
if [ "$rc" -ne 7 ]; then
	echo "--- stdout"; tail -20 "$work/out"; echo "--- stderr"; tail -20 "$work/err"
fi

# --no-network: no vsock device, no TSI; the guest has only loopback.
run --no-network -- /bin/sh -c "wget -q -T 10 -O /dev/null http://127.0.0.1:$http_port/down.bin && echo reached || echo unreachable"
check "--no-network: the host's 127.0.0.1 is not reachable from the guest" \
	grep -qx unreachable "$work/out"
run -- /bin/sh -c 'ip addr show dummy0 | grep -q "inet 203.0.113.1/24" && echo tsi-addr || echo no-tsi-addr'
check "TSI on: dummy0 carries 203.0.113.1/24" grep -qx tsi-addr "$work/out"
run --no-network -- /bin/sh -c 'ip addr show dummy0 | grep -q "inet 203.0.113.1/24" && echo tsi-addr || echo no-tsi-addr'
check "--no-network: the TSI interface is not configured" grep -qx no-tsi-addr "$work/out"
