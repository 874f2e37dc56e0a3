#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end, load and leaks, through the krun tool:
#  1. KRUN_LOAD_PARALLEL (50) VMs at once, each with a root of its own: every
#     guest marks itself in a shared directory and waits until all of them
#     are there (so they really ran at the same time), then prints its index
#     from the command line, the index file of its own root and the sha256 of
#     a random file only its root has.  All must exit 0 with their own output.
#  2. KRUN_LOAD_SEQUENTIAL (40) short VMs, KRUN_LOAD_INFLIGHT (4) at a time:
#     the host's allocated file handles, processes, unix and TCP sockets,
#     shared memory, available memory and the VMs' TMPDIR after all of them
#     are what they were after the first 20.
# usage: test_load.sh KRUN_TOOL LIBKRUNFW
set -u
krun=$(realpath "${1:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
here=$(cd "$(dirname "$0")" && pwd)
parallel=${KRUN_LOAD_PARALLEL:-50}
sequential=${KRUN_LOAD_SEQUENTIAL:-40}
inflight=${KRUN_LOAD_INFLIGHT:-4}
warmup=20

work=$(mktemp -d /tmp/krun-load.XXXXXX)
trap 'rm -rf "$work"' EXIT
base=$work/base
"$here/../../tools/mkdemoroot.sh" "$base" >/dev/null || { echo "FAIL demo root"; exit 1; }
mkdir -p "$base/mnt" "$work/meet" "$work/tmp" "$work/res"

# shellcheck source=lib.sh
. "$here/lib.sh"

# The VMs' own temporary files (the library's, passt's) go here, so that
# what they leave behind can be counted.
export TMPDIR=$work/tmp

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

# --- 1. many at once -------------------------------------------------------
t0=$(now)
for i in $(seq "$parallel"); do
	cp -al "$base" "$work/root$i"
	echo "$i" >"$work/root$i/index"
	head -c 65536 /dev/urandom >"$work/root$i/data"
	sha256sum <"$work/root$i/data" | cut -d' ' -f1 >"$work/res/want$i"
done
pids=()
for i in $(seq "$parallel"); do
	timeout -k 10 900 "$krun" -m 64 -v "meet:$work/meet" "$work/root$i" /bin/sh -c '
		mount -t virtiofs meet /mnt || exit 90
		touch /mnt/vm$1
		n=0
		while [ "$(ls /mnt | wc -l)" -lt "$2" ]; do
			n=$((n + 1)); [ $n -le 1200 ] || exit 91
			sleep 0.5
		done
		echo "$1 $(cat /index) $(sha256sum /data | cut -d" " -f1)"' sh "$i" "$parallel" \
		</dev/null >"$work/res/out$i" 2>"$work/res/err$i" &
	pids+=($!)
done
bad_rc=0 bad_out=0
for i in $(seq "$parallel"); do
	wait "${pids[$((i - 1))]}"
	rc=$?
	if [ "$rc" -ne 0 ]; then
		bad_rc=$((bad_rc + 1))
		[ $bad_rc -le 3 ] && { echo "  VM $i exited $rc"; tail -5 "$work/res/err$i"; }
	fi
	[ "$(cat "$work/res/out$i")" = "$i $i $(cat "$work/res/want$i")" ] || bad_out=$((bad_out + 1))
done
echo "  $parallel VMs at once: $(elapsed "$t0") s"
check "$parallel VMs at once all exit 0" [ "$bad_rc" -eq 0 ]
check "$parallel VMs at once each print their own index and root's checksum" [ "$bad_out" -eq 0 ]
check "all $parallel VMs were running at the same time" \
	[ "$(ls "$work/meet" | wc -l)" -eq "$parallel" ]
for i in $(seq "$parallel"); do rm -rf "$work/root$i"; done

# --- 2. many in a row --------------------------------------------------------
# One lane runs its share of VMs one after the other; a failing VM is noted.
lane() { # lane-number, first, last
	local i
	for i in $(seq "$2" "$3"); do
		out=$(timeout -k 10 300 "$krun" -m 64 "$base" /bin/echo "vm $i" </dev/null 2>"$work/res/lane$1.err")
		rc=$?
		[ "$rc" -eq 0 ] && [ "$out" = "vm $i" ] && continue
		echo "$i rc=$rc out=$out" >>"$work/res/lane$1.bad"
		tail -5 "$work/res/lane$1.err" >>"$work/res/lane$1.bad"
	done
}
run_batch() { # first, last: split over $inflight lanes
	local first=$1 last=$2 n=$(($2 - $1 + 1)) l lpids=()
	for l in $(seq 0 $((inflight - 1))); do
		local a=$((first + n * l / inflight)) b=$((first + n * (l + 1) / inflight - 1))
		[ "$a" -le "$b" ] || continue
		lane "$l" "$a" "$b" &
		lpids+=($!)
	done
	wait "${lpids[@]}"
}

# What the host holds for VMs that are gone.  Counted in the test host,
# where nothing else runs; files are freed a little after a process ends,
# so a mismatch is measured again before it counts.
snapshot() {
	local files procs unix tcp shmem avail tmp
	files=$(cut -f1 /proc/sys/fs/file-nr)
	procs=$(find /proc -maxdepth 1 -name '[0-9]*' | wc -l)
	unix=$(($(wc -l </proc/net/unix) - 1))
	tcp=$(cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -vc local_address)
	shmem=$(awk '/^Shmem:/ { print $2 }' /proc/meminfo)
	avail=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
	tmp=$(find "$TMPDIR" -mindepth 1 | wc -l)
	echo "$files $procs $unix $tcp $shmem $avail $tmp"
}
same_as() { # reference snapshot: equal, available memory within 64 MiB
	local r=($1) s=($2)
	[ "${s[0]}" -le "${r[0]}" ] && [ "${s[1]}" -le "${r[1]}" ] && [ "${s[2]}" -le "${r[2]}" ] &&
		[ "${s[3]}" -le "${r[3]}" ] && [ "${s[4]}" -le $((r[4] + 1024)) ] &&
		[ "${s[5]}" -ge $((r[5] - 64)) ] && [ "${s[6]}" -eq 0 ]
}
settled_snapshot() { # reference (optional): measure until equal, up to 10 s
	local s
	for _ in $(seq 10); do
		s=$(snapshot)
		[ -z "${1:-}" ] || ! same_as "$1" "$s" || break
		sleep 1
	done
	echo "$s"
}

t0=$(now)
run_batch 1 "$warmup"
ref=$(settled_snapshot)
run_batch $((warmup + 1)) "$sequential"
end=$(settled_snapshot "$ref")
bad=$(cat "$work"/res/lane*.bad 2>/dev/null | grep -c ' rc=')
echo "  $sequential VMs, $inflight at a time: $(elapsed "$t0") s"
echo "  after $warmup / $sequential VMs (file handles, processes, unix sockets, tcp sockets," \
	"Shmem KiB, MemAvailable MiB, TMPDIR entries): $ref / $end"
[ "$bad" -eq 0 ] || head -20 "$work"/res/lane*.bad
check "$sequential short VMs all exit 0 with their output" [ "$bad" -eq 0 ]
check "after $sequential VMs the host holds no more than after $warmup" same_as "$ref" "$end"
check "the VMs left nothing in TMPDIR" [ "$(find "$TMPDIR" -mindepth 1 | wc -l)" -eq 0 ]
