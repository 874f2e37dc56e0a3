#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: what upstream's examples/chroot_vm.c gets with
# --net_mode=PASST, through chroot_vm_calls (its calls, order and
# arguments): passt started by the example itself (socket pair, `passt -f
# --fd N`), its fd given to krun_set_passt_fd()
# (v1.19.0) or to krun_add_net_unixstream() with COMPAT_NET_FEATURES (the
# later example).  No DHCP flag, as upstream: eth0 comes up without an
# address and the command configures it, then fetches a page from a host
# HTTP server on 127.0.0.1 through passt's gateway mapping.  All of it in a
# network namespace of the test's own (lo and a dummy 198.51.100.1/24).
# usage: test_chroot_vm_passt.sh CHROOT_VM_CALLS LIBKRUNFW
set -u
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
enter_net_namespace "$0" "$@"
probe=$(realpath "${1:?chroot_vm_calls}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH

command -v passt >/dev/null || { echo "FAIL passt is not installed (tools/install-deps.sh)"; exit 1; }
add_passt_uplink || exit 1
work=$(mktemp -d /tmp/krun-chroot-vm-passt.XXXXXX)
pids=()
# passt started with --fd quits when the VM's end of the pair closes.
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
mkdir -p "$work/www"
echo "from the host" >"$work/www/index.html"
host_httpd 127.0.0.1:8081 "$work/www" || exit 1

cat >"$root/passt-vm.sh" <<'SH'
echo "guest: TEST=$TEST nproc-limit=$(ulimit -u) cpus=$(grep -c ^processor /proc/cpuinfo)"
echo "guest: eth0 addresses before setup: $(ip -4 -o addr show eth0 | wc -l)"
ip link set eth0 up && ip addr add 198.51.100.1/24 dev eth0 &&
	ip route add default via 198.51.100.254
echo "guest: host page: $(timeout 60 wget -q -O - http://198.51.100.254:8081/index.html)"
exit 3
SH

# boot NAME CHROOT_VM_OPTIONS...: one VM with the given network options.
boot() {
	local name=$1
	shift
	timeout -k 10 600 "$probe" "$@" "$root" /bin/sh /passt-vm.sh \
		</dev/null >"$work/out" 2>"$work/err"
	rc=$?
	check "$name: env, rlimit and vCPUs reach the guest" \
		grep -qx "guest: TEST=works nproc-limit=4096 cpus=4" "$work/out"
	check "$name: eth0 has no address until the command sets one (no DHCP flag)" \
		grep -qx "guest: eth0 addresses before setup: 0" "$work/out"
	check "$name: the guest fetches from the host's 127.0.0.1 through passt" \
		grep -qx "guest: host page: from the host" "$work/out"
	check "$name: the VM ends with the command's status (3)" [ "$rc" -eq 3 ]
	if [ "$rc" -ne 3 ]; then
		echo "--- stdout"; tail -20 "$work/out"; echo "--- stderr"; tail -20 "$work/err"
	fi
}

boot "PASST, passt started by the example, krun_set_passt_fd" --net_mode=PASST
boot "PASST, krun_add_net_unixstream(COMPAT_NET_FEATURES)" --net_mode=PASST \
	--net-call=add_net_unixstream
