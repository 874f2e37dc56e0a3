#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Checks the krun command-line tool against a call-recording libkrun shim.
# Usage: test_krun_cli.sh PATH/TO/krun PATH/TO/krun_cli_shim.so
set -u
KRUN=$1
SHIM=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/root" "$T/vol"
fails=0

fail() { echo "FAIL $*"; fails=$((fails + 1)); }

# run NAME EXPECTED_RC ARGS... : runs krun with the shim, output in $T/out
run() {
	name=$1; want=$2; shift 2
	# verify_asan_link_order=0: in sanitizer builds the preloaded shim comes
	# before the ASan runtime, which is harmless here.
	env -i PATH=/usr/bin:/bin TERM=vt100 FROMHOST=hostval LD_PRELOAD="$SHIM" \
		ASAN_OPTIONS=verify_asan_link_order=0 \
		${START_ERRNO:+KRUN_SHIM_START_ERRNO=$START_ERRNO} \
		"$KRUN" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		fail "$name: exit $rc, expected $want"; cat "$T/out" "$T/err"; return 1
	fi
	echo "PASS $name"
}

# expect PATTERN : a fixed line must appear in the recorded output
expect() {
	grep -qxF -- "$1" "$T/out" || { fail "missing line: $1"; cat "$T/out"; }
}

START_ERRNO=
# --net: one card per option, in order, MACs one apart; -p needs passt or TSI.
run net 0 --net tap:tap7 --net unixgram:/run/gv.sock --net vfkit:/run/vf.sock \
	--net unixstream:/run/passt.sock "$T/root" /bin/true
expect "net_tap ctx=7 name=tap7 mac=5a:94:ef:e4:0c:ee features=0x4c83 flags=0x0"
expect "net_unixgram ctx=7 path=/run/gv.sock fd=-1 mac=5a:94:ef:e4:0c:ef features=0x4c83 flags=0x2"
expect "net_unixgram ctx=7 path=/run/vf.sock fd=-1 mac=5a:94:ef:e4:0c:f0 features=0x4c83 flags=0x3"
expect "net_unixstream ctx=7 path=/run/passt.sock fd=none mac=5a:94:ef:e4:0c:f1 features=0x4c83 flags=0x2"
run net_bad_spec 125 --net slirp "$T/root" /bin/true
run net_port_without_passt 125 --net tap:tap0 -p 80:80 "$T/root" /bin/true
run net_no_network 125 --net tap:tap0 --no-network "$T/root" /bin/true
run basic 0 "$T/root" /bin/echo hello world
expect "create_ctx"
expect "root ctx=7 $T/root"
expect "exec ctx=7 /bin/echo"
expect "argv: [hello] [world]"
expect "envp: [PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin] [TERM=vt100] [HOME=/root]"
expect "start_enter ctx=7"
grep -q vm_config "$T/out" && fail "basic: vm_config set without -c/-m"
grep -q nested_virt "$T/out" && fail "basic: nested virtualization asked for without --nested-virt"
run nested 0 --nested-virt "$T/root" /bin/true
expect "nested_virt ctx=7 1"
grep -q split_irqchip "$T/out" && fail "nested: split irqchip asked for without --split-irqchip"
run split 0 --split-irqchip "$T/root" /bin/true
expect "split_irqchip ctx=7 1"

run options 0 -c 2 -m 512 -e FOO=bar -e PATH=/x -e FROMHOST -e UNSET -w /tmp \
	-v data:"$T/vol":ro -v rw:"$T/vol" -u 1000:100 -r NOFILE=1024:2048 -r 6=1:2 \
	-l 3 --console-output "$T/console" "$T/root" /bin/sh -c 'exit 3'
expect "log_level 3"
expect "vm_config ctx=7 cpus=2 mem=512"
expect "virtiofs ctx=7 tag=data path=$T/vol shm=0 ro=1"
expect "virtiofs ctx=7 tag=rw path=$T/vol shm=0 ro=0"
expect "workdir ctx=7 /tmp"
expect "argv: [-c] [exit 3]"
expect "envp: [PATH=/x] [TERM=vt100] [HOME=/root] [FOO=bar] [FROMHOST=hostval]"
expect "rlimits: [7=1024:2048] [6=1:2]"
expect "console_output $T/console"
expect "setgid 100"
expect "setuid 1000"

# Option parsing stops at ROOTDIR: later dashes belong to the command.
run stop_at_root 0 "$T/root" /bin/ls -l -c 3
expect "argv: [-l] [-c] [3]"
grep -q vm_config "$T/out" && fail "stop_at_root: -c after ROOTDIR was parsed"

run inherit_env 0 --inherit-env -e FOO=1 "$T/root" /bin/true
expect "envp: [PATH=/usr/bin:/bin] [TERM=vt100] [FROMHOST=hostval] [LD_PRELOAD=$SHIM] [ASAN_OPTIONS=verify_asan_link_order=0] [FOO=1]"

printf '\177ELF\002\001\001' >"$T/vmlinux"
run kernel_elf 0 --kernel "$T/vmlinux" --kernel-cmdline "console=hvc0" "$T/root" /bin/true
expect "kernel $T/vmlinux format=1 initramfs=(null) cmdline=console=hvc0"
run kernel_named 0 --kernel "$T/vmlinux" --kernel-format image-gz "$T/root" /bin/true
expect "kernel $T/vmlinux format=4 initramfs=(null) cmdline=(null)"
head -c 514 /dev/zero >"$T/bz"; printf 'HdrS' >>"$T/bz"; head -c 64 /dev/zero >>"$T/bz"
run kernel_bzimage 0 --kernel "$T/bz" "$T/root" /bin/true
expect "kernel $T/bz format=0 initramfs=(null) cmdline=(null)"
printf 'junk' >"$T/junk"
run kernel_unknown 125 --kernel "$T/junk" "$T/root" /bin/true

START_ERRNO=19
run start_error 125 "$T/root" /bin/true
grep -q "No such device" "$T/err" || fail "start_error: errno text not printed"
START_ERRNO=

run help 0 --help
run version 0 --version
run no_args 125
run no_command 125 "$T/root"
run bad_root 125 "$T/nope" /bin/true
grep -q "No such file or directory" "$T/err" || fail "bad_root: errno text not printed"
run bad_cpus 125 -c 256 "$T/root" /bin/true
run bad_mem 125 -m 0 "$T/root" /bin/true
run bad_volume 125 -v novolume "$T/root" /bin/true
run bad_rlimit 125 -r NOFILE=1 "$T/root" /bin/true
run bad_user 125 -u abc "$T/root" /bin/true
run bad_option 125 --nope "$T/root" /bin/true
run bad_level 125 -l 9 "$T/root" /bin/true

echo "$fails failed"
[ "$fails" -eq 0 ]
