#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: free page reporting gives the guest's freed memory back to
# the host.  A 1024 MiB guest touches 400 MiB and frees it; within a
# bounded wait the VMM's VmRSS falls back by at least 300 MiB, and the
# memory works again when the guest allocates it anew.
# usage: test_balloon.sh KRUN_TOOL LIBKRUNFW BALLOON_GUEST_C
set -u
krun=$(realpath "${1:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
guest_src=$(realpath "${3:?balloon_guest.c}")
here=$(cd "$(dirname "$0")" && pwd)
touch_mib=400
want_drop_mib=300
# Linux reports freed 4 MiB blocks 2 s after they are freed, a bounded
# number per pass; the nested test host stretches that.
drop_wait_s=${KRUN_E2E_BALLOON_WAIT_S:-180}

work=$(mktemp -d /tmp/krun-e2e-balloon.XXXXXX)
chmod 755 "$work"
vmm=
cleanup() {
	[ -n "$vmm" ] && kill -KILL "$vmm" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
cc -static -O2 -o "$root/bin/balloon_guest" "$guest_src" || { echo "FAIL build guest"; exit 1; }

# shellcheck source=lib.sh
. "$here/lib.sh"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$vmm/status" 2>/dev/null; }

# wait_line TEXT SECONDS: until the guest printed TEXT (or the VMM ended)
wait_line() {
	local end=$((SECONDS + $2))
	while [ "$SECONDS" -lt "$end" ]; do
		grep -qx "$1" "$work/out" && return 0
		kill -0 "$vmm" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

"$krun" -m 1024 "$root" /bin/balloon_guest "$touch_mib" >"$work/out" 2>"$work/err" &
vmm=$!

if ! wait_line touched 900; then
	ko "guest touched $touch_mib MiB"
	exit 1
fi
peak=$(rss_kib)
ok "guest touched $touch_mib MiB (VMM VmRSS $((peak / 1024)) MiB)"
check "VMM's RSS holds the touched memory" [ "$peak" -ge $((touch_mib * 1024)) ]

touch "$root/go"
if ! wait_line freed 120; then
	ko "guest freed its memory"
	exit 1
fi
low=$peak
end=$((SECONDS + drop_wait_s))
while [ "$SECONDS" -lt "$end" ]; do
	now=$(rss_kib)
	[ -n "$now" ] || break
	[ "$now" -lt "$low" ] && low=$now
	[ $((peak - low)) -ge $((want_drop_mib * 1024)) ] && break
	sleep 0.5
done
waited=$((SECONDS - end + drop_wait_s))
check "VMM's RSS fell by >= $want_drop_mib MiB after the guest freed (by $(((peak - low) / 1024)) MiB in ${waited} s)" \
	[ $((peak - low)) -ge $((want_drop_mib * 1024)) ]

touch "$root/again"
if wait_line "reused ok" 600; then
	ok "guest reuses the memory given back"
else
	ko "guest reuses the memory given back"
fi
wait "$vmm"
rc=$?
vmm=
check "VM exits 0" [ "$rc" -eq 0 ]
