#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: the serial console (krun_add_serial_console_default with
# krun_set_kernel_console "ttyS0", implicit virtio console off) driven by
# serial_probe, a client of the public API, over two pipes.  Checked as a
# user would: the kernel's boot messages and the workload's output arrive on
# the output pipe; a line, 5 bytes on a raw tty and 3000 bytes written to the
# input pipe reach the guest's reader intact; the guest's status is the
# process's.  With OEM strings (krun_set_smbios_oem_strings), the guest reads
# them back from its SMBIOS type 11 table in /sys/firmware/dmi.
# usage: test_serial.sh SERIAL_PROBE LIBKRUNFW
set -u
probe=$(realpath "${1:?serial_probe}")
KRUN_KRUNFW_PATH=$(realpath "${2:?libkrunfw.so.5}")
export KRUN_KRUNFW_PATH
here=$(cd "$(dirname "$0")" && pwd)

# shellcheck source=lib.sh
. "$here/lib.sh"
new_demo_work serial

oem1="krun-e2e-oem-one"
oem2="io.systemd.credential:krun=serial test"
timeout -k 10 400 "$probe" "$root" "$work/serial" "$work/payload" "$oem1" "$oem2" \
	</dev/null >"$work/out" 2>"$work/err"
rc=$?
serial=$work/serial
check "the VM's status is the workload's (7)" [ "$rc" = 7 ]
check "the kernel's boot messages arrive on the serial output fd" \
	grep -aq "Linux version" "$serial"
check "the kernel console is ttyS0" grep -aq "printk: console \[ttyS0\] enabled" "$serial"
check "the workload's output arrives on the serial output fd" grep -aq "@@READY@@" "$serial"
check "a line written to the input fd reaches the guest's reader" \
	grep -aq "GOT:hello-serial" "$serial"
check "bytes without a newline reach a raw-mode reader" grep -aq "GOT5:abcde" "$serial"
want=$(sha256sum <"$work/payload" | cut -d' ' -f1)
check "3000 bytes written to the input fd arrive intact (sha256)" \
	grep -aq "SUM:$want" "$serial"
# A whole line of the guest's output (the tty ends lines with CR LF).
has_line() { tr -d '\r' <"$serial" | grep -aqxF -- "$1"; }
check "SMBIOS type 11 holds the first OEM string" has_line "OEM:$oem1"
check "SMBIOS type 11 holds the second OEM string" has_line "OEM:$oem2"
check "the guest's DMI ids come from the SMBIOS table" \
	grep -aq "DMI: libkrun microVM, BIOS 0 01/01/2023" "$serial"
check "the kernel found the SMBIOS 3.0 entry point" grep -aq "SMBIOS 3.0.0 present" "$serial"
check "nothing went to the probe's stdout but its report" \
	bash -c "! grep -av '^probe: ' '$work/out'"
