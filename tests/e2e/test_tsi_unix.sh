#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: TSI for unix sockets (krun_add_vsock with KRUN_TSI_HIJACK_UNIX).
# The guest's root is the host's / (the only case where a guest path names
# the same host file), and in it the guest
#   - connects to a unix socket a host server listens on, and gets its
#     answer;
#   - listens on a unix socket path, which the host then connects to;
#   - connecting to a path with no socket fails.
# usage: test_tsi_unix.sh TSI_PROBE LIBKRUNFW TSI_STRESS_C
set -u
probe=$(realpath "${1:?tsi_probe}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
src=$(realpath "${3:?tsi_stress.c}")
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-tsi-unix.XXXXXX)
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$work"' EXIT
chmod 755 "$work"
cc -static -O2 -o "$work/tsi_stress" "$src" || { echo "FAIL build tsi_stress"; exit 1; }

# shellcheck source=lib.sh
. "$here/lib.sh"

"$work/tsi_stress" userver "$work/host.sock" >"$work/server.log" 2>&1 &
srv=$!
for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done

cat >"$work/guest.sh" <<SH
$work/tsi_stress uclient $work/host.sock from-guest
$work/tsi_stress uclient $work/missing.sock x
$work/tsi_stress userver $work/guest.sock &
for i in \$(seq 600); do [ -e $work/done ] && break; sleep 0.5; done
exit 5
SH

TSI_PROBE_UNIX=1 timeout -s KILL 600 "$probe" / - /bin/sh "$work/guest.sh" \
	</dev/null >"$work/out" 2>"$work/err" &
vm=$!
reply=""
for _ in $(seq 600); do
	if [ -S "$work/guest.sock" ]; then
		reply=$("$work/tsi_stress" uclient "$work/guest.sock" from-host)
		break
	fi
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.5
done
touch "$work/done"
wait "$vm"
rc=$?

check "guest->host unix: the guest connects to the host's socket and gets its answer" \
	grep -qx "uclient: reply pong:from-guest" "$work/out"
check "the host server saw the guest's message" grep -qx "userver: answered from-guest" "$work/server.log"
check "guest->host unix: a path with no socket fails in the guest" \
	grep -q "uclient: connect: \(No such file or directory\|Connection refused\)" "$work/out"
check "host->guest unix: the host connects to the guest's listening path and gets its answer" \
	[ "$reply" = "uclient: reply pong:from-host" ]
check "the VM ends with the workload's status (5)" [ "$rc" -eq 5 ]
if [ "$rc" -ne 5 ] || [ -z "$reply" ]; then
	echo "--- stdout"; tail -20 "$work/out"; echo "--- stderr"; tail -20 "$work/err"
fi
