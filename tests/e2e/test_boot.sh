#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# End-to-end: boot the bundled kernel with 1, 4 and 32 vCPUs, 128 to 2048 MiB,
# and check from its console what a user would: the kernel version, the CPUs
# it brought up, the memory it saw, and that the VM ends by itself with
# status 0 when the kernel reboots (no root filesystem: panic=-1 reboots).
# A SIGTERM before the init runs ends the VM.
set -u
probe=${1:?boot_probe}
export KRUN_KRUNFW_PATH=${2:?libkrunfw.so.5}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

result() { # status name [detail]
	if [ "$1" -eq 0 ]; then echo "PASS $2"; else echo "FAIL $2${3:+: $3}"; fi
}

boot() { # vcpus ram [kernel]
	local log=$out/boot-$1-$2.log
	timeout -k 10 300 "$probe" "$@" >"$log" 2>"$log.err"
	echo $? >"$log.status"
}

check() { # vcpus ram
	local v=$1 m=$2 log=$out/boot-$1-$2.log name="boot_${1}cpu_${2}MiB"
	local status
	status=$(cat "$log.status")
	grep -q "Linux version 6\.1\." "$log"
	result $? "$name: kernel version printed"
	local cpus="CPUs"
	[ "$v" -eq 1 ] && cpus="CPU"
	grep -q "Brought up 1 node, $v $cpus" "$log"
	result $? "$name: $v vCPU(s) brought up" "$(grep -m1 'Brought up' "$log")"
	# "Memory: 106780K/130684K available": the second figure is what the
	# kernel found in the e820 map.
	local total
	total=$(sed -n 's/.*Memory: [0-9]*K\/\([0-9]*\)K available.*/\1/p' "$log" | head -1)
	local want=$((m * 1024))
	[ -n "$total" ] && [ "$total" -le "$want" ] && [ "$total" -ge $((want * 95 / 100)) ]
	result $? "$name: guest sees ~${m} MiB" "kernel saw ${total:-nothing}K, asked ${want}K"
	# Without it the kernel calibrates its LAPIC timer against the PIT for
	# a tenth of a second on every boot.
	grep -q "TSC deadline timer available" "$log"
	result $? "$name: TSC-deadline timer offered to the guest"
	[ "$status" -eq 0 ]
	result $? "$name: VM ends by itself with status 0" "status $status"
	if [ "$status" -ne 0 ] || [ -z "$total" ]; then
		echo "--- console of $name"; tail -30 "$log"; echo "--- stderr"; tail -10 "$log.err"
	fi
}

# 32 vCPUs on the nested host's 2: more vCPUs than host CPUs must still boot.
for cfg in "1 128" "4 128" "1 2048" "4 2048" "32 256"; do
	boot $cfg
	check $cfg
done

# krun_set_kernel: the same kernel as a bzImage and as an ELF vmlinux file.
for kernel in "${3:-}" "${4:-}"; do
	[ -n "$kernel" ] || continue
	name="boot_$(basename "$kernel")"
	boot 2 256 "$kernel"
	log=$out/boot-2-256.log
	grep -q "Linux version 6\.1\." "$log" && grep -q "Brought up 1 node, 2 CPUs" "$log"
	result $? "$name: krun_set_kernel boots it with 2 vCPUs"
	[ "$(cat "$log.status")" -eq 0 ]
	result $? "$name: VM ends by itself with status 0" "status $(cat "$log.status")"
done

# SIGTERM while the kernel still boots (no init listens for signals yet):
# the VM ends at once with 128+15, as a process would; it used to be
# swallowed, waiting for an init that a hung boot never starts.
log=$out/sigterm.log
"$probe" 1 128 >"$log" 2>"$log.err" &
pid=$!
# The kernel's first line shows the VM runs (a signal before the VMM
# blocks it would end the process the ordinary way, proving nothing).
waited=0
until grep -q "Linux version" "$log" || [ "$waited" -ge 600 ]; do sleep 0.1; waited=$((waited + 1)); done
kill -TERM "$pid"
waited=0
while kill -0 "$pid" 2>/dev/null && [ "$waited" -lt 60 ]; do sleep 0.5; waited=$((waited + 1)); done
kill -KILL "$pid" 2>/dev/null
wait "$pid"
status=$?
[ "$status" -eq 143 ]
result $? "boot_sigterm: SIGTERM during boot ends the VM with status 143 within 30 s" \
	"status $status; $(grep -m1 'signal' "$log.err")"
grep -q "before the guest init listens for signals: stopping the VM" "$log.err"
result $? "boot_sigterm: the VMM says why it stopped"
