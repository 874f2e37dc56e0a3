#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: many TSI connections at once, and connections that end early.
# A host server on 127.0.0.1 (tsi_stress, built static here) sends each
# client a seeded byte stream; the guest, with no network option (TSI is the
# default), opens 200 connections at once and checks every byte, then has
# the host close one mid-transfer (clean EOF after half), closes one itself
# mid-transfer (the host sees its peer go), and opens one more to show the
# VMM still serves.
# usage: test_tsi_conns.sh KRUN LIBKRUNFW TSI_STRESS_C
set -u
krun=$(realpath "${1:?krun}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
src=$(realpath "${3:?tsi_stress.c}")
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-tsi-conns.XXXXXX)
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
cc -static -O2 -o "$root/bin/tsi_stress" "$src" || { echo "FAIL build tsi_stress"; exit 1; }

# shellcheck source=lib.sh
. "$here/lib.sh"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/bin/tsi_stress" server "$port" >"$work/server.log" 2>&1 &
srv=$!
for _ in $(seq 50); do grep -q listening "$work/server.log" && break; sleep 0.1; done

run -- /bin/tsi_stress client "$port" 200
# The host server learns of the last closes on its own time: give it 30 s.
server_saw_all() {
	grep -q "seed 6000 mode 0 .*: peer gone" "$work/server.log" &&
		[ "$(grep -c ': done$' "$work/server.log")" -eq 201 ]
}
for _ in $(seq 60); do server_saw_all && break; sleep 0.5; done
check "200 concurrent guest connections through TSI, every byte checked" \
	grep -qx "client: 200 connections opened, 200 verified" "$work/out"
check "the host closing mid-transfer: the guest reads half, then a clean EOF" \
	grep -qx "client: host close mid-transfer: clean EOF after half" "$work/out"
check "the guest closing mid-transfer ends its connection" \
	grep -qx "client: guest close mid-transfer: closed after a quarter" "$work/out"
check "the host saw the guest's early close as its peer going away" \
	grep -q "seed 6000 mode 0 .*: peer gone" "$work/server.log"
check "a connection after those is served in full" grep -qx "client: afterwards: ok" "$work/out"
check "the host server finished 201 full transfers" \
	[ "$(grep -c ': done$' "$work/server.log")" -eq 201 ]
check "the VM ends with the client's status (0)" [ "$rc" -eq 0 ]
server_saw_all ||
	{ echo "--- host server (not done)"; grep -v ': done$' "$work/server.log" | tail -20; grep -c ': done$' "$work/server.log"; }
