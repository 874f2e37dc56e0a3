#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the meson-registered tests of some suites and counts test cases.

Every test binary or script prints one line per case, "PASS name" or
"FAIL name" (tests/unit/test.h does this).  A test that exits non-zero
without printing a FAIL line (a crash, a sanitizer report, a timeout)
counts as one failed case, so nothing can fail silently.

usage: run-tests.py BUILDDIR SUITE [SUITE...]
Prints the cases, then "N passed, N failed" for the suites run.
"""
import json
import os
import re
import selectors
import signal
import subprocess
import sys
import time

CASE = re.compile(r"^(PASS|FAIL|SKIP) (\S.*)$")


def load_tests(builddir, suites):
    out = subprocess.run(["meson", "introspect", "--tests", builddir],
                         check=True, capture_output=True, text=True).stdout
    tests = []
    for t in json.loads(out):
        names = [s.split(":")[-1] for s in t.get("suite", [])]
        if any(s in suites for s in names):
            tests.append(t)
    return tests


def run_one(t, builddir):
    """Runs one test in its own process group and collects its output until
    it exits (or times out); then the group is killed.  A VMM, passt or
    server the test left behind must not hold the output pipe open: waiting
    for its end would never return."""
    env = dict(os.environ)
    env.update(t.get("env") or {})
    timeout = t.get("timeout") or 300
    if timeout <= 0:
        timeout = None
    start = time.monotonic()
    p = subprocess.Popen(t["cmd"], cwd=t.get("workdir") or builddir, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    out, note = collect(p, timeout)
    rc = p.returncode if p.returncode is not None else -1
    kill_group(p.pid)
    p.wait()
    return rc, out.decode(errors="replace") + note, time.monotonic() - start


def collect(p, timeout):
    """Output until the test exits and its pipe drains (at most a few
    seconds more, for stragglers), or until the timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    chunks, exited_at = [], None
    with selectors.DefaultSelector() as sel:
        sel.register(p.stdout, selectors.EVENT_READ)
        while True:
            now = time.monotonic()
            if exited_at is None and p.poll() is not None:
                exited_at = now
            if exited_at is not None and now - exited_at > 3:
                return b"".join(chunks), ""
            if deadline is not None and now > deadline:
                kill_group(p.pid)
                p.wait()
                return b"".join(chunks), "\n[timed out after %ss]\n" % timeout
            if sel.select(timeout=0.5):
                data = os.read(p.stdout.fileno(), 65536)
                if not data:
                    p.wait()
                    return b"".join(chunks), ""
                chunks.append(data)


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    builddir, suites = sys.argv[1], set(sys.argv[2:])
    passed = failed = skipped = 0
    for t in load_tests(builddir, suites):
        rc, output, secs = run_one(t, builddir)
        cases = [CASE.match(l) for l in output.splitlines()]
        cases = [m for m in cases if m]
        p = sum(1 for m in cases if m.group(1) == "PASS")
        f = sum(1 for m in cases if m.group(1) == "FAIL")
        s = sum(1 for m in cases if m.group(1) == "SKIP")
        if rc != 0 and f == 0:
            f = 1
            cases.append(re.match(r"(FAIL) (.*)", "FAIL %s (exit status %s)" % (t["name"], rc)))
        if rc == 0 and p + f + s == 0:
            # A test that ran nothing is a defect, not a pass.
            f = 1
            cases.append(re.match(r"(FAIL) (.*)", "FAIL %s (reported no cases)" % t["name"]))
        passed, failed, skipped = passed + p, failed + f, skipped + s
        print("== %s [%s] %d passed, %d failed%s (%.1fs)" %
              (t["name"], ",".join(t.get("suite", [])), p, f,
               ", %d skipped" % s if s else "", secs), flush=True)
        if f or os.environ.get("KRUN_TEST_VERBOSE"):
            sys.stdout.write(output if output.endswith("\n") else output + "\n")
        else:
            for m in cases:
                if m.group(1) != "PASS":
                    print("  %s %s" % (m.group(1), m.group(2)))
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
