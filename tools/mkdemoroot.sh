#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Builds a small root filesystem for krun from Debian's busybox-static:
#   tools/mkdemoroot.sh DIR            busybox root (seconds)
#   tools/mkdemoroot.sh --debian DIR   full Debian root with debootstrap
# The directory is only (re)populated when missing or incomplete.
set -euo pipefail

debian=0
if [ "${1:-}" = "--debian" ]; then
	debian=1
	shift
fi
dir=${1:?usage: mkdemoroot.sh [--debian] DIR}

if [ "$debian" -eq 1 ]; then
	[ -x "$dir/usr/bin/apt-get" ] && exit 0
	command -v debootstrap >/dev/null || { echo "mkdemoroot: install debootstrap" >&2; exit 1; }
	debootstrap --variant=minbase bookworm "$dir"
	exit 0
fi

busybox=/bin/busybox
[ -x "$busybox" ] || busybox=/usr/bin/busybox
file "$busybox" 2>/dev/null | grep -q "statically linked" ||
	{ echo "mkdemoroot: needs a static busybox (apt-get install busybox-static)" >&2; exit 1; }
[ -x "$dir/bin/busybox" ] && [ -L "$dir/bin/sh" ] && exit 0

mkdir -p "$dir"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,root,home,var/tmp}
chmod 1777 "$dir/tmp" "$dir/var/tmp"
cp "$busybox" "$dir/bin/busybox"
for applet in $("$dir/bin/busybox" --list); do
	[ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
done
cat >"$dir/etc/passwd" <<'PW'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
PW
cat >"$dir/etc/group" <<'GR'
root:x:0:
nogroup:x:65534:
GR
echo "krun-demo" >"$dir/etc/hostname"
