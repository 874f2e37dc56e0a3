#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: upstream's "augmentfs" case.  The root has no host directory
# (krun_set_root(ctx, NULL)); the default init and a static busybox are
# injected as one-shot overlay files, data as persistent overlay files and
# nested overlay directories, /dev /proc /sys as overlay directories the init
# mounts on.  busybox sh checks the contents (whole, ranged, at and past EOF),
# that nothing can be written, that the directories are there and the
# pseudo filesystems mounted, and mounts a second hostless share that holds
# one overlay file; its output and exit status (42) come back.
set -u
probe=${1:?augmentfs_probe}
export KRUN_KRUNFW_PATH=${2:?libkrunfw.so.5}
busybox=${KRUN_TEST_BUSYBOX:-/bin/busybox}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ok() { echo "PASS $1"; }
ko() {
	echo "FAIL $1${2:+: $2}"
	echo "--- guest stdout"; tail -40 "$work/out"; echo "--- stderr"; tail -20 "$work/err"
}
if ! file -L "$busybox" 2>/dev/null | grep -q 'statically linked'; then
	echo "FAIL augmentfs: $busybox is not a static busybox (Debian: busybox-static)"
	exit 0
fi

# 10 000 bytes, every offset distinguishable.
seq 1 4000 | tr '\n' ' ' | head -c 10000 >"$work/content"
size=$(stat -c %s "$work/content")

# Guest side: "ok NAME" / "bad NAME" per check, "KEY value" for the host to
# compare.  t: the command must succeed; f: it must fail.
cat >"$work/script" <<GUEST
t() { n=\$1; shift; if "\$@"; then echo "ok \$n"; else echo "bad \$n"; fi; }
f() { n=\$1; shift; if "\$@" 2>/dev/null; then echo "bad \$n"; else echo "ok \$n"; fi; }
h=/data/hello.txt
echo "sha \$(sha256sum \$h | cut -d' ' -f1)"
echo "sha_again \$(cat \$h | sha256sum | cut -d' ' -f1)"
echo "range \$(dd if=\$h bs=1 skip=1000 count=20 2>/dev/null)"
echo "block \$(dd if=\$h bs=4096 skip=1 count=1 2>/dev/null | sha256sum | cut -d' ' -f1)"
echo "tail \$(dd if=\$h bs=1 skip=$((size - 5)) count=100 2>/dev/null | wc -c)"
echo "past \$(dd if=\$h bs=1 skip=$((size + 100)) count=10 2>/dev/null | wc -c)"
echo "size \$(stat -c %s \$h)"
echo "modes \$(stat -c '%a %h %u' \$h) \$(stat -c '%a %h' /data/nested) \$(stat -c '%a %u' /)"
echo "statfs \$(stat -f -c '%S %l' /)"
echo "leaf \$(cat /data/nested/deeper/leaf)"
f write sh -c "echo x >\$h"
f append sh -c "echo x >>\$h"
f trunc dd if=/dev/zero of=\$h count=0
f create touch /data/new
f create_root touch /newfile
f mkdir_root mkdir /newdir
f mkdir_overlay mkdir /data/nested/x
f rm rm \$h
f rmdir rmdir /data/nested/deeper
f mv mv \$h /data/moved
f chmod chmod 777 \$h
echo "sha_after \$(sha256sum \$h | cut -d' ' -f1)"
t nested test -d /data/nested/deeper
t empty_file sh -c "test -f /data/empty && test ! -s /data/empty"
t not_listed test -z "\$(ls -A /data)"
t dotdot test -f /data/nested/deeper/../../hello.txt
t init_one_shot test ! -e /init.krun
t busybox_one_shot test ! -e /bin/busybox
t missing test ! -e /etc
t proc grep -q '^proc /proc proc ' /proc/mounts
t sys sh -c "grep -q '^sysfs /sys sysfs ' /proc/mounts && test -d /sys/kernel"
t dev sh -c "grep -q ' /dev devtmpfs ' /proc/mounts && test -c /dev/null"
t root_virtiofs grep -q '^/dev/root / virtiofs ' /proc/mounts
t mount_extra mount -t virtiofs extra /mnt
echo "note \$(cat /mnt/note.txt)"
f extra_write touch /mnt/new
exit 42
GUEST

# The VMM relays SIGTERM to the workload: -k makes sure it ends.
timeout -k 10 300 "$probe" "$busybox" "$work/content" "$(cat "$work/script")" \
	</dev/null >"$work/out" 2>"$work/err"
rc=$?

if [ "$rc" -eq 42 ]; then ok "augmentfs: workload exit status reaches the host"
else ko "augmentfs: workload exit status reaches the host" "status $rc, want 42"; fi

value() { sed -n "s/^$1 //p" "$work/out" | head -1; }
expect() { # name key wanted
	local got
	got=$(value "$2")
	if [ "$got" = "$3" ]; then ok "augmentfs: $1"; else ko "augmentfs: $1" "got '$got', want '$3'"; fi
}
want_sha=$(sha256sum <"$work/content" | cut -d' ' -f1)
expect "overlay file contents" sha "$want_sha"
expect "persistent overlay file read again" sha_again "$want_sha"
expect "ranged read (dd bs=1 skip=1000 count=20)" range \
	"$(dd if="$work/content" bs=1 skip=1000 count=20 2>/dev/null)"
expect "ranged read (second 4 KiB block)" block \
	"$(dd if="$work/content" bs=4096 skip=1 count=1 2>/dev/null | sha256sum | cut -d' ' -f1)"
expect "read at EOF is short" tail 5
expect "read past EOF is empty" past 0
expect "size" size "$size"
expect "modes, link counts, owner (file, nested dir, root)" modes "644 1 0 750 2 755 0"
expect "statfs of the hostless root" statfs "4096 255"
expect "nested overlay file" leaf "leaf contents"
expect "contents unchanged after the write attempts" sha_after "$want_sha"
expect "overlay file on a second hostless share" note "extra note"

for n in write append trunc create create_root mkdir_root mkdir_overlay rm rmdir mv chmod \
	nested empty_file not_listed dotdot init_one_shot busybox_one_shot missing proc sys dev \
	root_virtiofs mount_extra extra_write; do
	if grep -qx "ok $n" "$work/out"; then ok "augmentfs: guest check $n"
	else ko "augmentfs: guest check $n" "$(grep -m1 " $n\$" "$work/out")"; fi
done
