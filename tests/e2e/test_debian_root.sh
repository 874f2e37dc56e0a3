#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: a real Debian root filesystem made with debootstrap (prepared
# by tests/run-all before the VM tier: the test host has no network) runs
# its package tools in the microVM.
# usage: test_debian_root.sh KRUN_TOOL LIBKRUNFW DEBIAN_ROOT
set -u
krun=${1:?krun tool}
export KRUN_KRUNFW_PATH=${2:?libkrunfw.so.5}
root=${3:?debian root}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

if [ ! -x "$root/usr/bin/apt-get" ]; then
	echo "FAIL debian root: $root is missing (tools/mkdemoroot.sh --debian $root)"
	exit 1
fi
want_pkgs=$(find "$root/var/lib/dpkg/info" -name '*.list' | wc -l)

timeout -k 10 300 "$krun" -m 512 "$root" /usr/bin/apt-get --version >"$out/apt" 2>"$out/apt.err"
rc=$?
if [ "$rc" -eq 0 ] && grep -q "^apt [0-9]" "$out/apt"; then
	echo "PASS debian root: apt-get --version"
else
	echo "FAIL debian root: apt-get --version (status $rc)"; head -5 "$out/apt" "$out/apt.err"
fi

timeout -k 10 300 "$krun" -m 512 "$root" /bin/sh -c 'dpkg -l | grep -c "^ii"' >"$out/dpkg" 2>"$out/dpkg.err"
rc=$?
got=$(head -1 "$out/dpkg")
# dpkg -l lists every installed package; the host sees one .list per package.
if [ "$rc" -eq 0 ] && [ -n "$got" ] && [ "$got" -ge $((want_pkgs * 9 / 10)) ]; then
	echo "PASS debian root: dpkg -l lists the $got installed packages"
else
	echo "FAIL debian root: dpkg -l (status $rc, $got of ~$want_pkgs packages)"; head -5 "$out/dpkg.err"
fi
