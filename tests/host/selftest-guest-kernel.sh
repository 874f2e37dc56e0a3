#!/bin/bash
# End-to-end check of our guest kernel with the peer VMM (QEMU -M microvm):
# boots it on a virtio-fs root served by QEMU's virtiofsd, with 2 vCPUs, and
# checks that it prints its version, brings up both CPUs, runs /init, and that
# the VM ends by itself when /init exits (krunfw/patches/0001) for each
# reboot method given (default: t, the triple fault).
#
# usage: selftest-guest-kernel.sh [--reboot t,k] [VMLINUX]
#   VMLINUX defaults to the cached build of krunfw/build-kernel.sh.
# Runs itself inside the nested test host when this machine has no real KVM.
# Prints PASS or FAIL; exit 0 on PASS.
# KRUN_SELFTEST_CPU picks the guest CPU model: -cpu host gives a silent guest
# under the nested test host (seen 2026-11-29), the plain qemu64 model boots.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
reboot_methods=t

if [ "${1:-}" = --reboot ]; then
	reboot_methods=${2:?}
	shift 2
fi

if [ "${1:-}" != --inner ]; then
	vmlinux=${1:-}
	if [ -z "$vmlinux" ]; then
		entry=$("$here/../../krunfw/build-kernel.sh" --lookup) || {
			echo "selftest: guest kernel not built (krunfw/build-kernel.sh OUT_DIR)"; echo FAIL; exit 1; }
		vmlinux=$entry/vmlinux
	fi
	vmlinux=$(realpath -e "$vmlinux") || { echo FAIL; exit 1; }
	exec "$here/run-in-kvm-host" --timeout "${KRUN_SELFTEST_TIMEOUT:-300}" -- \
		"$here/selftest-guest-kernel.sh" --reboot "$reboot_methods" --inner "$vmlinux"
fi
vmlinux=$2

work=$(mktemp -d)
trap 'kill $vfs_pid 2>/dev/null; rm -rf "$work"' EXIT
vfs_pid=

# A root with nothing but a static busybox: /init reports and exits.
root=$work/root
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev"
cp /bin/busybox "$root/bin/busybox"
cat > "$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
echo "SELFTEST-INIT: pid=$$ release=$(/bin/busybox uname -r) online=$(/bin/busybox cat /sys/devices/system/cpu/online) nproc=$(/bin/busybox nproc)"
EOF
chmod +x "$root/init"

failures=0
check() {
	if grep -qE -- "$2" "$3"; then
		echo "ok: $1"
	else
		echo "FAIL: $1 (no /$2/ in console output)"
		failures=$((failures + 1))
	fi
}

boot_once() {
	local method=$1 log=$work/console-$1.log sock=$work/vfs-$1.sock
	/usr/lib/qemu/virtiofsd --socket-path="$sock" -o source="$root" -o cache=auto \
		>"$work/virtiofsd-$method.log" 2>&1 &
	vfs_pid=$!
	for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done

	local start end rc
	start=$(date +%s.%N)
	timeout -k 5 "${KRUN_SELFTEST_GUEST_TIMEOUT:-120}" qemu-system-x86_64 \
		-M microvm,x-option-roms=off,rtc=off,isa-serial=on,acpi=off,memory-backend=mem \
		-enable-kvm -cpu "${KRUN_SELFTEST_CPU:-qemu64}" -m 128 -smp 2 \
		-object memory-backend-memfd,id=mem,size=128M,share=on \
		-chardev socket,id=vfs,path="$sock" \
		-device vhost-user-fs-device,queue-size=1024,chardev=vfs,tag=/dev/root \
		-kernel "$vmlinux" \
		-append "console=ttyS0 reboot=$method panic=-1 rootfstype=virtiofs rw init=/init" \
		-nodefaults -no-user-config -nographic -no-reboot -serial stdio \
		</dev/null >"$log" 2>&1
	rc=$?
	end=$(date +%s.%N)
	wait $vfs_pid 2>/dev/null
	vfs_pid=

	echo "--- guest console (reboot=$method) ---"
	tr -d '\r' < "$log" | sed 's/^/  | /'
	echo "guest boot to exit (reboot=$method): $(echo "$end - $start" | bc) s, qemu exit $rc"
	check "kernel version banner" '^Linux version 6\.1' "$log"
	check "2 CPUs brought up" 'smp: Brought up 1 node, 2 CPUs' "$log"
	check "init ran as PID 1 and saw 2 CPUs" 'SELFTEST-INIT: pid=1 .*online=0-1 nproc=2' "$log"
	if grep -q 'Kernel panic' "$log"; then
		echo "FAIL: kernel panicked"
		failures=$((failures + 1))
	fi
	if [ $rc = 0 ]; then
		echo "ok: VM ended by itself after init exited"
	else
		echo "FAIL: qemu exit status $rc (124: the VM did not end)"
		failures=$((failures + 1))
	fi
}

echo "test host: $(uname -r), $(nproc) CPUs"
for method in ${reboot_methods//,/ }; do
	boot_once "$method"
done

if [ $failures = 0 ]; then
	echo PASS
	exit 0
fi
echo "FAIL ($failures checks)"
exit 1
