#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs meson test suites of a build made with -Db_sanitize=address,undefined
# (tests/run-tests.py) and fails if any process left an ASan, UBSan or
# LeakSanitizer report.  Reports go to files rather than stderr: a test that
# expects a non-zero exit status, or ignores stderr, would otherwise let
# one through.  The library runs the leak check itself before
# krun_start_enter's _exit() (which skips LSan's atexit check).
# usage: run-sanitized.sh BUILDDIR SUITE...
# Prints run-tests.py's cases, one more for the reports, and the summary.
set -uo pipefail
build=${1:?build directory}
shift
here=$(cd "$(dirname "$0")" && pwd)
reports=$(mktemp -d "${TMPDIR:-/tmp}/krun-sanitizer.XXXXXX")
log=$(mktemp "${TMPDIR:-/tmp}/krun-sanitized.XXXXXX")
trap 'rm -rf "$reports" "$log"' EXIT
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:log_path=$reports/asan"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan"
export LSAN_OPTIONS="log_path=$reports/lsan"

"$here/run-tests.py" "$build" "$@" >"$log" 2>&1
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
grep -vE '^[0-9]+ passed, [0-9]+ failed' "$log"
passed=${summary%% passed*}
failed=${summary#*passed, }
failed=${failed%% failed*}
[ -n "$summary" ] || { passed=0; failed=1; echo "FAIL run-tests.py reported no summary"; }
# A build without the suite's tests (e.g. -Dkernel=false) must not pass as clean.
if [ "$((passed + failed))" -eq 0 ]; then
	echo "FAIL no test of suites $* in $build"
	failed=1
fi

found=$(find "$reports" -type f | wc -l)
if [ "$found" -eq 0 ]; then
	echo "PASS no sanitizer report from any process of suites $*"
	passed=$((passed + 1))
else
	echo "FAIL $found sanitizer report(s) from suites $*:"
	for f in "$reports"/*; do
		echo "--- $f"
		head -60 "$f"
	done
	failed=$((failed + 1))
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
