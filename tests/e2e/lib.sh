# SPDX-License-Identifier: Apache-2.0
# Shared by the end-to-end scripts that drive the krun tool.  The caller sets
# $krun, $root (the guest's root directory) and $work (scratch directory).

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
