#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: what upstream's examples/chroot_vm.c (TSI mode) gets, through
# chroot_vm_calls (the same calls, order and arguments).  In one boot the
# guest sees TEST=works, RLIMIT_NPROC 4096, 4 CPUs and cwd /; fetches a page
# from a host HTTP server on 127.0.0.1; and serves busybox httpd on guest
# port 8000, which the host reaches on 18000 (the example's port map).
# usage: test_chroot_vm.sh CHROOT_VM_CALLS LIBKRUNFW
set -u
probe=$(realpath "${1:?chroot_vm_calls}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-chroot-vm.XXXXXX)
srv=""
trap '[ -n "$srv" ] && kill "$srv" 2>/dev/null; rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
mkdir -p "$work/www" "$root/www"
echo "from the host" >"$work/www/index.html"
echo "from the guest" >"$root/www/index.html"

# shellcheck source=lib.sh
. "$here/lib.sh"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
busybox httpd -f -p "127.0.0.1:$port" -h "$work/www" &
srv=$!

cat >"$root/chroot-vm.sh" <<SH
echo "guest: TEST=\$TEST nproc-limit=\$(ulimit -u) cpus=\$(grep -c ^processor /proc/cpuinfo) cwd=\$(pwd)"
echo "guest: host page: \$(wget -q -O - http://127.0.0.1:$port/index.html)"
httpd -f -p 8000 -h /www &
echo "guest: httpd started"
for i in \$(seq 600); do ls /www | grep -qx fetched && break; sleep 0.5; done
exit 3
SH

timeout -s KILL 600 "$probe" "$root" /bin/sh /chroot-vm.sh </dev/null >"$work/out" 2>"$work/err" &
vm=$!
fetched=""
for _ in $(seq 600); do
	if grep -q "guest: httpd started" "$work/out" 2>/dev/null; then
		fetched=$(curl -sf --max-time 30 http://127.0.0.1:18000/index.html) && break
	fi
	kill -0 "$vm" 2>/dev/null || break
	sleep 0.5
done
touch "$root/www/fetched"
wait "$vm"
rc=$?

check "chroot_vm calls: env, rlimit, vCPUs and workdir reach the guest" \
	grep -qx "guest: TEST=works nproc-limit=4096 cpus=4 cwd=/" "$work/out"
check "chroot_vm calls: the guest fetches from the host's 127.0.0.1 through TSI" \
	grep -qx "guest: host page: from the host" "$work/out"
check "chroot_vm calls: host port 18000 reaches the guest's httpd on 8000" \
	[ "$fetched" = "from the guest" ]
check "chroot_vm calls: the VM ends with the command's status (3)" [ "$rc" -eq 3 ]
if [ "$rc" -ne 3 ] || [ -z "$fetched" ]; then
	echo "--- stdout"; tail -20 "$work/out"; echo "--- stderr"; tail -20 "$work/err"
fi
