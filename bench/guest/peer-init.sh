#!/bin/sh
# PID 1 of the peer guest (QEMU microvm + virtiofsd). Our own VM runs its
# workloads through krun's init; the peer has no init of its own, so this script
# plays that role: mount what krun's init mounts that the workloads need,
# dispatch on the arguments after "--" on the kernel command line, and reboot
# (reboot=t + QEMU -no-reboot: the VM process exits).
#   true            run /bin/true            (boot to exit)
#   uptime FILE     write the uptime and CPU count to FILE (boot to init, from inside)
#   guest ARGS...   /bin/sh /krun-bench/guest.sh ARGS...
mount -t proc proc /proc 2>/dev/null
# The guest kernel does not auto-mount devtmpfs (krun's init mounts it).
[ -e /dev/null ] || mount -t devtmpfs devtmpfs /dev 2>/dev/null
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
