#!/bin/sh
# PID 1 of the peer guest (QEMU microvm + virtiofsd). Our own VM runs its
# workloads through krun's init; the peer has no init of its own, so this script
# plays that role: mount what krun's init mounts that the workloads need,
# dispatch on its arguments, and reboot
# (reboot=t + QEMU -no-reboot: the VM process exits). The arguments come as
# krun_bench=ARG,ARG,... on the kernel command line, which the kernel hands to
# init as an environment variable (QEMU appends its own parameters at the end,
# so "-- ARGS" would swallow them).
#   true            run /bin/true            (boot to exit)
#   uptime FILE     write the uptime and CPU count to FILE (boot to init, from inside)
#   guest ARGS...   /bin/sh /krun-bench/guest.sh ARGS...
old_ifs=$IFS
IFS=,
# shellcheck disable=SC2086 # splitting on commas is the point
set -- $krun_bench
IFS=$old_ifs
# The guest kernel does not auto-mount devtmpfs (krun's init mounts it).
# First, and with no redirection: until it is there, "2>/dev/null" would
# create a regular file named null in the shared root on the host.
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mount -t proc proc /proc 2>/dev/null
case "$1" in
true) /bin/true ;;
uptime)
	read -r up _ </proc/uptime
	# CPU count too: proves -smp reached the guest (MP table from qboot).
	echo "$up $(grep -c ^processor /proc/cpuinfo)" >"$2"
	;;
guest) shift; /bin/sh /krun-bench/guest.sh "$@" ;;
esac
sync
reboot -f
