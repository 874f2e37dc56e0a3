#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: the bundled guest kernel in each krun_set_kernel format boots
# and runs a workload from a virtio-fs root (krun --kernel), and an
# initramfs passed with it is what the kernel runs first.
#   elf         the vmlinux
#   raw         a bzImage (sniffed), and the flat bundle image upstream's RAW
#               means (loaded at 2 GiB, entered at its first byte)
#   image-gz/-bz2/-zstd  the vmlinux compressed with Debian's gzip, bzip2, zstd
#   pe-gz       the gzipped vmlinux in a minimal PE file, once with Linux's
#               zboot header naming the payload and once without (found by
#               upstream's scan for the first gzip magic)
#   initramfs   a gzip newc cpio whose /init prints a marker read from the
#               archive, then mounts the virtio-fs root and switch_roots to
#               the usual init, so the workload and its exit status still work
# Corrupt images: a truncated gzip kernel and a bomb are refused with a clear
# error and exit status 125, not a crash.
# usage: test_kernel_formats.sh KRUN_TOOL LIBKRUNFW VMLINUX BZIMAGE BUNDLE_BIN
set -u
krun=$(realpath "${1:?krun tool}")
export KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
vmlinux=$(realpath "${3:?vmlinux}")
bzimage=$(realpath "${4:?bzImage}")
bundle=$(realpath "${5:?krunfw_bundle.bin}")
here=$(cd "$(dirname "$0")" && pwd)

work=$(mktemp -d /tmp/krun-kfmt.XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
root=$work/root
"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
# shellcheck source=lib.sh
. "$here/lib.sh"
k=$work/k
mkdir -p "$k"

# Fast levels: the test host runs these under emulation.
gzip -1 -n -c "$vmlinux" >"$k/vmlinux.gz"
bzip2 -1 -c "$vmlinux" >"$k/vmlinux.bz2"
zstd -q -1 -c "$vmlinux" >"$k/vmlinux.zst"

# mkpe OUT PAYLOAD zboot|plain: a PE32+ file (DOS header, PE signature, COFF
# header for x86-64, no sections) with PAYLOAD at 0x200.
mkpe() {
	python3 - "$@" <<'EOF'
import struct, sys
out, payload, kind = sys.argv[1], open(sys.argv[2], 'rb').read(), sys.argv[3]
hdr = bytearray(0x200)
hdr[0:2] = b'MZ'
if kind == 'zboot':
    # drivers/firmware/efi/libstub/zboot-header.S: type, payload offset/size, compression
    hdr[4:8] = b'zimg'
    struct.pack_into('<II', hdr, 8, 0x200, len(payload))
    hdr[0x18:0x1c] = b'gzip'
struct.pack_into('<I', hdr, 0x3c, 0x80)
hdr[0x80:0x84] = b'PE\0\0'
# Machine x86-64, 0 sections, no optional header, executable image.
struct.pack_into('<HHIIIHH', hdr, 0x84, 0x8664, 0, 0, 0, 0, 0, 0x0002)
open(out, 'wb').write(bytes(hdr) + payload)
EOF
}
mkpe "$k/vmlinux-zboot.efi" "$k/vmlinux.gz" zboot
mkpe "$k/vmlinux-plain.efi" "$k/vmlinux.gz" plain

# boot NAME FORMAT KERNEL MEM [krun options...]: the workload prints a line
# and exits 7; its output and status are what a user sees.
boot() {
	local name=$1 fmt=$2 kernel=$3 mem=$4
	shift 4
	run -m "$mem" --kernel "$kernel" --kernel-format "$fmt" "$@" -- \
		/bin/sh -c 'echo "workload ran on $(uname -r)"; exit 7'
	if [ "$rc" -eq 7 ] && grep -q "^workload ran on 6\.1\." "$work/out"; then
		ok "$name: boots and runs the workload (exit 7)"
	else
		ko "$name: boots and runs the workload (exit 7)" "status $rc"
	fi
}

boot elf elf "$vmlinux" 256
boot bzimage_as_raw raw "$bzimage" 256
# 2 GiB + the image + the room after it.
boot raw_flat_bundle raw "$bundle" 2304
boot image_gz image-gz "$k/vmlinux.gz" 256
boot image_bz2 image-bz2 "$k/vmlinux.bz2" 256
boot image_zstd image-zstd "$k/vmlinux.zst" 256
boot pe_gz_zboot pe-gz "$k/vmlinux-zboot.efi" 256
boot pe_gz_scanned pe-gz "$k/vmlinux-plain.efi" 256

# The flat image with too little RAM: refused before the VM starts.
run -m 256 --kernel "$bundle" --kernel-format raw -- /bin/true
check "raw_flat_bundle in 256 MiB: refused (125) saying why" \
	bash -c "[ $rc -eq 125 ] && grep -q 'RAW kernel is loaded at 2 GiB' '$work/err'"

# Truncated: the cheap check at krun_set_kernel passes, the load refuses.
head -c $(($(stat -c %s "$k/vmlinux.gz") - 100)) "$k/vmlinux.gz" >"$k/truncated.gz"
run -m 256 --kernel "$k/truncated.gz" --kernel-format image-gz -- /bin/true
check "truncated image-gz: refused (125) as truncated" \
	bash -c "[ $rc -eq 125 ] && grep -q 'truncated' '$work/err'"
# A bomb: an ELF header then 160 MiB of zeros, in ~160 KiB; the guest has 128.
python3 -c '
import sys, struct
eh = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HHI", 2, 62, 1)
sys.stdout.buffer.write(eh + bytes(64 * 1024 - len(eh)))' >"$k/bomb.head"
{ cat "$k/bomb.head"; head -c 160M /dev/zero; } | gzip -1 -n >"$k/bomb.gz"
run -m 128 --kernel "$k/bomb.gz" --kernel-format image-gz -- /bin/true
check "decompression bomb: refused (125) at the guest's RAM" \
	bash -c "[ $rc -eq 125 ] && grep -q 'larger than the 134217728 bytes allowed' '$work/err'"

# --- initramfs -----------------------------------------------------------
# newc cpio written here (device nodes need no privilege this way).
mkcpio() {
	python3 - "$@" <<'EOF'
import os, stat, sys
out = sys.argv[1]
entries = []  # (name, mode, data, rdev)
def add(name, mode, data=b'', rdev=(0, 0)):
    entries.append((name, mode, data, rdev))
for d in ('dev', 'bin', 'proc', 'newroot'):
    add(d, stat.S_IFDIR | 0o755)
add('dev/console', stat.S_IFCHR | 0o600, rdev=(5, 1))
add('bin/busybox', stat.S_IFREG | 0o755, open('/bin/busybox', 'rb').read())
add('bin/sh', stat.S_IFLNK | 0o777, b'busybox')
add('marker.txt', stat.S_IFREG | 0o644, b'cpio-marker-5f3a\n')
add('init', stat.S_IFREG | 0o755, b'''#!/bin/sh
/bin/busybox mount -t proc proc /proc
echo "initramfs init: $(/bin/busybox cat /marker.txt) as pid $$"
/bin/busybox mount -t virtiofs /dev/root /newroot &&
	exec /bin/busybox switch_root /newroot /init.krun
echo "initramfs init: no root to switch to"
/bin/busybox reboot -f
''')
def rec(ino, name, mode, data, rdev):
    n = name.encode() + b'\0'
    h = b'070701' + b''.join(b'%08X' % v for v in (
        ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(n), 0))
    b = h + n
    b += b'\0' * (-len(b) % 4) + data
    return b + b'\0' * (-len(b) % 4)
blob = b''.join(rec(i + 1, *e) for i, e in enumerate(entries))
blob += rec(0, 'TRAILER!!!', 0, b'', (0, 0))
open(out, 'wb').write(blob + b'\0' * (-len(blob) % 512))
EOF
}
mkcpio "$k/initramfs.cpio"
gzip -1 -n -c "$k/initramfs.cpio" >"$k/initramfs.cpio.gz"
# What /dev/console shows before the workload starts (the initramfs init's
# output) only reaches a --console-output file, so these boots use one.
boot_initramfs() { # NAME FORMAT KERNEL [INITRAMFS]
	local name=$1 fmt=$2 kernel=$3 initrd=${4:-}
	rm -f "$work/console"
	run -m 256 --kernel "$kernel" --kernel-format "$fmt" ${initrd:+--initramfs "$initrd"} \
		--console-output "$work/console" -- \
		/bin/sh -c 'echo "workload ran on $(uname -r)"; exit 7'
	if [ "$rc" -eq 7 ] && grep -q "^workload ran on 6\.1\." "$work/console"; then
		ok "$name: boots and runs the workload (exit 7)"
	else
		ko "$name: boots and runs the workload (exit 7)" "status $rc"
		tail -20 "$work/console" 2>/dev/null
	fi
}
boot_initramfs initramfs_elf elf "$vmlinux" "$k/initramfs.cpio.gz"
check "initramfs_elf: its /init ran first, as PID 1, with the archive's files" \
	grep -q "^initramfs init: cpio-marker-5f3a as pid 1" "$work/console"
boot_initramfs initramfs_bzimage raw "$bzimage" "$k/initramfs.cpio.gz"
check "initramfs_bzimage: its /init ran first" \
	grep -q "^initramfs init: cpio-marker-5f3a" "$work/console"
boot_initramfs initramfs_image_zstd image-zstd "$k/vmlinux.zst" "$k/initramfs.cpio.gz"
check "initramfs_image_zstd: its /init ran first" \
	grep -q "^initramfs init: cpio-marker-5f3a" "$work/console"
# Without one, the same kernel never prints the marker (the check can fail).
boot_initramfs no_initramfs elf "$vmlinux"
check "no_initramfs: no marker" bash -c "! grep -q 'initramfs init' '$work/console'"

# Larger than RAM below the MMIO gap above the kernel: refused, saying why.
head -c 200M /dev/zero >"$k/huge.img"
run -m 128 --kernel "$vmlinux" --kernel-format elf --initramfs "$k/huge.img" -- /bin/true
check "initramfs larger than guest RAM: refused (125) saying it does not fit" \
	bash -c "[ $rc -eq 125 ] && grep -q 'initramfs (200 MiB) does not fit' '$work/err'"
