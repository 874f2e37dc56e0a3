#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: explicit multiport virtio-consoles (krun_add_virtio_console_
# multiport, krun_add_console_port_inout/_tty) driven by console_probe, a
# client of the public API.  Checked as a user would: console ids count the
# default console, the guest finds each port by name in
# /sys/class/virtio-ports in the order added, data goes both ways on every
# socketpair port, a terminal port shows the host terminal's size (and the
# new one after SIGWINCH), is raw while the VM runs and restored after, and
# its output reaches the host terminal; the guest's status is the process's;
# and a multiport console without ports is refused with -EINVAL.
# usage: test_console_ports.sh CONSOLE_PROBE LIBKRUNFW
set -u
probe=$(realpath "${1:?console_probe}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=lib.sh
. "$here/lib.sh"
new_demo_work console

probe_run() { # mode
	timeout -k 10 400 "$probe" "$root" "$1" </dev/null >"$work/out" 2>"$work/err"
	rc=$?
}

# The line of the guest's report for one port: "guest: port NAME vportXpY".
port_dev() { sed -n "s/^guest: port $1 //p" "$work/out" | head -1; }

probe_run ports
check "multiport console ids count the default console (1, 2)" \
	grep -qx "probe: multiport ids 1 2" "$work/out"
for name in alpha beta gamma; do
	check "port $name: guest reads PING, host reads PONG" \
		grep -qx "probe: exchange $name ok" "$work/out"
done
a=$(port_dev alpha) b=$(port_dev beta) g=$(port_dev gamma) t=$(port_dev term)
dev=${a%p0}
in_order() { [ -n "$a" ] && [ "$a" = "${dev}p0" ] && [ "$b" = "${dev}p1" ] && [ "$g" = "${dev}p2" ]; }
check "ports are in call order on one device (${a:-?} ${b:-?} ${g:-?})" in_order
other_dev() { [ -n "$t" ] && [ "${t%p*}" != "$dev" ]; }
check "the second multiport console is another device (${t:-?})" other_dev
check "tty port: guest sees the host terminal's size" \
	grep -q "^guest: term size 40 100 on /dev/hvc" "$work/out"
# The kernel's console=hvc0 must stay on the default console, whichever
# device's handshake the guest finishes first.
check "hvc0 stays the default console: the terminal port is hvc1" \
	grep -q "^guest: term size 40 100 on /dev/hvc1$" "$work/out"
check "tty port: guest output reaches the host terminal" grep -qx "probe: tty ok" "$work/out"
check "tty port: the terminal is raw while the VM runs" \
	grep -qx "probe: tty raw while the VM runs: yes" "$work/out"
check "tty port: SIGWINCH brings the new size to the guest" \
	grep -qx "guest: term size after resize 50 120" "$work/out"
check "tty port: the terminal's modes are restored after the VM" \
	grep -qx "probe: tty raw after the VM: no" "$work/out"
exited_0() { grep -qx "probe: guest status 0" "$work/out" && [ "$rc" -eq 0 ]; }
check "guest exits 0 and so does the probe" exited_0

probe_run empty
refused() { [ "$rc" -eq 0 ] && grep -qx "probe: start returned -22" "$work/out"; }
check "zero-port multiport console: krun_start_enter returns -EINVAL" refused
check "zero-port multiport console: the log says why" grep -q "has no ports" "$work/err"
