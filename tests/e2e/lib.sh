# SPDX-License-Identifier: Apache-2.0
# Shared by the end-to-end scripts that drive the krun tool.  The caller sets
# $krun, $root (the guest's root directory) and $work (scratch directory).

# new_demo_work NAME: a scratch directory $work (removed at exit, after a
# kill -9 of $vm when the caller set it) holding a demo root in $root.
new_demo_work() {
	work=$(mktemp -d "/tmp/krun-$1.XXXXXX") || exit 1
	vm=
	trap '[ -n "$vm" ] && kill -9 "$vm" 2>/dev/null; rm -rf "$work"' EXIT
	root=$work/root
	"$here/../../tools/mkdemoroot.sh" "$root" >/dev/null || { echo "FAIL demo root"; exit 1; }
}

ok() { echo "PASS $1"; }
ko() {
	echo "FAIL $1${2:+: $2}"
	[ -f "$work/out" ] && { echo "--- stdout"; tail -20 "$work/out"; }
	[ -f "$work/err" ] && { echo "--- stderr"; tail -20 "$work/err"; }
}
check() { # name, then a command whose status decides
	local name=$1
	shift
	if "$@"; then ok "$name"; else ko "$name"; fi
}

# run [krun options...] -- command...: stdout/stderr to $work/out,err; status in $rc
run() {
	local opts=()
	while [ "$1" != "--" ]; do opts+=("$1"); shift; done
	shift
	timeout -k 10 300 "$krun" "${opts[@]}" "$root" "$@" <"${stdin_file:-/dev/null}" \
		>"$work/out" 2>"$work/err"
	rc=$?
}

# enter_net_namespace "$0" "$@": runs the calling test again, once, in a
# network namespace of its own with only lo up, so that nothing it sends can
# leave the machine.
enter_net_namespace() {
	if [ "${KRUN_NET_TEST_NETNS:-}" != 1 ]; then
		KRUN_NET_TEST_NETNS=1 exec unshare --net -- "$@"
	fi
	ip link set lo up
}

# add_passt_uplink: passt copies the address and default route of the host's
# uplink to the guest; inside the namespace that is a dummy interface with
# 198.51.100.1/24 and a gateway 198.51.100.254 nobody answers for.
add_passt_uplink() {
	ip link add krun-dummy type dummy || {
		echo "FAIL dummy interface (host kernel without CONFIG_DUMMY?)"
		return 1
	}
	ip addr add 198.51.100.1/24 dev krun-dummy &&
		ip link set krun-dummy up &&
		ip route add default via 198.51.100.254 dev krun-dummy
}

# host_httpd ADDR:PORT DIR: busybox httpd serving DIR in the background, its
# pid added to $pids; returns once it answers (or fails after 10 s).
host_httpd() {
	busybox httpd -f -p "$1" -h "$2" &
	pids+=($!)
	for _ in $(seq 50); do
		curl -s -o /dev/null "http://$1/" && return 0
		sleep 0.2
	done
	echo "FAIL host httpd on $1 did not answer"
	return 1
}
