#!/bin/bash
# PID 1 of the nested test host (see run-in-kvm-host).
#
# The root is the build machine's / over read-only 9p. The job file, the
# command's output and its exit status travel through the writable 9p export
# tagged krun_results. Whatever happens, end with a reset: QEMU runs with
# -no-reboot, so a reset is how the wrapper learns we are done.

results=/run/krun-host/results

finish() {
	sync
	# reboot(2) straight away: there is no service manager to ask.
	/bin/busybox reboot -f 2>/dev/null
	# Fallback: PID 1 exiting panics, and panic=-1 resets immediately.
	exit "${1:-1}"
}

fail() {
	echo "host-init: $*" >&2
	[ -d "$results" ] && echo 125 > "$results/status"
	finish 125
}

mount -t proc proc /proc || fail "mount /proc"
mount -t sysfs sysfs /sys || fail "mount /sys"
mount -t devtmpfs devtmpfs /dev || fail "mount /dev"
# Writable scratch space on top of the read-only root.
for dir in /run /tmp /var/tmp; do
	mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$dir" || fail "mount $dir"
done
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts || fail "mount /dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm || fail "mount /dev/shm"
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr

mkdir -p "$results"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none krun_results "$results" ||
	fail "mount the results export"
[ -r "$results/job.sh" ] || fail "no job file"
# shellcheck source=/dev/null
. "$results/job.sh" || fail "bad job file"

for i in "${!JOB_RW_DIRS[@]}"; do
	dir=${JOB_RW_DIRS[$i]}
	mkdir -p "$dir" 2>/dev/null
	# cache=mmap: binaries built on this machine must be mappable from here.
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=mmap "krun_rw$i" "$dir" ||
		fail "mount writable $dir"
done

[ -s "$results/epoch" ] && date -s "@$(cat "$results/epoch")" >/dev/null 2>&1
/bin/busybox ip link set lo up 2>/dev/null || ip link set lo up 2>/dev/null
/bin/busybox hostname krun-test-host 2>/dev/null

# Guests started while the host still runs on tsc-early have been seen to
# hang; the switch to tsc comes a second or two into the boot.
cs=/sys/devices/system/clocksource/clocksource0/current_clocksource
for _ in $(seq 1 40); do
	[ "$(cat "$cs" 2>/dev/null)" = tsc ] && break
	sleep 0.2
done
if [ -n "${JOB_PROBE:-}" ] && ! timeout -k 2 30 sh -c "$JOB_PROBE" >/dev/null 2>&1; then
	echo 75 > "$results/status"
	finish 75
fi

# Tests may relax things (such as /dev/kvm's mode) only in this throwaway host.
export KRUN_IN_TEST_HOST=1
cd "$JOB_CWD" || fail "cd $JOB_CWD"
"${JOB_ARGV[@]}" </dev/null >>"$results/stdout" 2>>"$results/stderr"
status=$?
echo "$status" > "$results/status.tmp" && mv "$results/status.tmp" "$results/status"
finish "$status"
