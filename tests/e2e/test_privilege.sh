#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end, run as root on the host: guest root makes a set-uid binary, a
# device node and a trusted.* xattr on its virtio-fs root.  Each works in
# the guest (the set-uid copy runs with euid 0 for uid 1000, the node is the
# guest's /dev/null, the xattr reads back); on the host the binary has no
# set-id bit, the node is an empty 0600 regular file and the xattr is
# user.krun.trusted.*.  With KRUN_FS_PRIVILEGE=passthrough (upstream's
# behaviour, the caller's explicit choice) the host gets all three.  The
# guest's view is kept in user.* xattrs on the host file: where the share's
# filesystem has none (tmpfs before Linux 6.6) those requests fail with a
# clear error instead, and nothing reaches the host.
# usage: test_privilege.sh KRUN_TOOL LIBKRUNFW PRIVILEGE_GUEST_C SCRATCH_DIR
# (SCRATCH_DIR: on a filesystem with user.* xattrs, e.g. the build dir)
set -u
krun=$(realpath "${1:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
guest_src=$(realpath "${3:?privilege_guest.c}")
scratch=$(realpath "${4:?scratch dir with user xattrs}")
here=$(cd "$(dirname "$0")" && pwd)
PATH=$PATH:/usr/sbin:/sbin

[ "$(id -u)" -eq 0 ] || { echo "FAIL privilege test needs host root (the case that matters)"; exit 1; }
work=$(mktemp -d "$scratch/krun-privilege.XXXXXX")
tmpfs_work=$(mktemp -d /tmp/krun-privilege.XXXXXX)
trap 'rm -rf "$work" "$tmpfs_work"' EXIT

# shellcheck source=lib.sh
. "$here/lib.sh"

make_root() { # dir
	"$here/../../tools/mkdemoroot.sh" "$1" >/dev/null &&
		cc -static -O2 -o "$1/bin/privilege_guest" "$guest_src"
}

has_user_xattrs() { # dir
	python3 -c 'import os, sys
f = os.path.join(sys.argv[1], ".xattr-probe")
open(f, "w").close()
try:
    os.setxattr(f, "user.probe", b"1")
finally:
    os.unlink(f)' "$1" 2>/dev/null
}

host_xattr() { # file name: the value, empty when absent
	python3 -c 'import os, sys
try:
    print(os.getxattr(sys.argv[1], sys.argv[2]).decode())
except OSError:
    pass' "$1" "$2"
}

guest_checks() { # label
	check "$1: the guest sees its set-uid binary as mode 4755" \
		grep -qx "guest: mode 4755 seen" "$work/out"
	check "$1: run by uid 1000 in the guest it has euid 0" \
		grep -qx "guest: euid 0 uid 1000" "$work/out"
	check "$1: the guest's mknod c 1 3 is a char 1:3 node in the guest" \
		grep -qx "guest: char 1:3 seen" "$work/out"
	check "$1: the node behaves as the guest's /dev/null" \
		grep -qx "guest: node behaves as /dev/null" "$work/out"
	check "$1: the guest's trusted.* xattr reads back in the guest" \
		grep -qx "guest: trusted xattr read back" "$work/out"
	check "$1: the workload exits 0" [ "$rc" -eq 0 ]
}

has_user_xattrs "$work" || { echo "FAIL $scratch has no user.* xattrs"; exit 1; }
root=$work/root
make_root "$root" || { echo "FAIL build the guest root"; exit 1; }
unset KRUN_FS_PRIVILEGE
run -- /bin/privilege_guest setup
guest_checks confined
check "confined: the host file has no set-uid bit (mode 0755, owner root)" \
	[ "$(stat -c '%a %u' "$root/suid-euid" 2>/dev/null)" = "755 0" ]
check "confined: the host has an empty 0600 regular file, no device node" \
	[ "$(stat -c '%F %a %s' "$root/dev-null-node" 2>/dev/null)" = "regular empty file 600 0" ]
check "confined: no trusted.* xattr on the host" \
	[ -z "$(host_xattr "$root/xattr-file" trusted.krun-test)" ]
check "confined: the guest's value is kept as user.krun.trusted.*" \
	[ "$(host_xattr "$root/xattr-file" user.krun.trusted.krun-test)" = guest-value ]
# A second boot reads the same files back from what the host kept.
run -- /bin/sh -c 'stat -c "%a %u" /suid-euid; stat -c "%F %t:%T" /dev-null-node'
check "confined: a later boot still sees mode 4755 and the char 1:3 node" \
	sh -c "grep -qx '4755 0' '$work/out' && grep -qx 'character special file 1:3' '$work/out'"

# On tmpfs: it holds real device nodes and trusted.* xattrs (9p does not).
root=$tmpfs_work/root-passthrough
make_root "$root" || { echo "FAIL build the guest root"; exit 1; }
export KRUN_FS_PRIVILEGE=passthrough
run --log-level 2 -- /bin/privilege_guest setup
unset KRUN_FS_PRIVILEGE
guest_checks passthrough
check "passthrough: the host file is set-uid root (the caller chose it)" \
	[ "$(stat -c '%a %u' "$root/suid-euid" 2>/dev/null)" = "4755 0" ]
check "passthrough: the host has a real char 1:3 node" \
	[ "$(stat -c '%F %t:%T' "$root/dev-null-node" 2>/dev/null)" = "character special file 1:3" ]
check "passthrough: the trusted.* xattr is on the host" \
	[ "$(host_xattr "$root/xattr-file" trusted.krun-test)" = guest-value ]
check "passthrough: the VMM said so in its log" \
	grep -q "KRUN_FS_PRIVILEGE=passthrough" "$work/err"
export KRUN_FS_PRIVILEGE=everything
run -- /bin/true
unset KRUN_FS_PRIVILEGE
check "a KRUN_FS_PRIVILEGE value it does not know fails the start with a clear error" \
	sh -c "[ $rc -ne 0 ] && grep -q 'KRUN_FS_PRIVILEGE=everything: expected confined or passthrough' '$work/err'"

# A share without user.* xattrs: the guest gets errors, the host nothing.
if has_user_xattrs "$tmpfs_work"; then
	echo "SKIP no-xattr share: /tmp has user.* xattrs here (Linux 6.6+ tmpfs)"
else
	root=$tmpfs_work/root
	make_root "$root" || { echo "FAIL build the guest root"; exit 1; }
	run -- /bin/privilege_guest setup
	check "no user xattrs: chmod 4755 fails in the guest with EPERM" \
		grep -qx "guest: setuid setup failed: Operation not permitted" "$work/out"
	check "no user xattrs: mknod c 1 3 fails in the guest with EPERM" \
		grep -qx "guest: mknod failed: Operation not permitted" "$work/out"
	check "no user xattrs: a trusted.* xattr is refused (ENOTSUP)" \
		grep -qx "guest: setxattr trusted failed: Operation not supported" "$work/out"
	check "no user xattrs: the host got no set-uid bit and no node" \
		sh -c "[ \"\$(stat -c %a '$root/suid-euid')\" = 755 ] && [ ! -e '$root/dev-null-node' ]"
fi
