#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Runs the meson-registered tests of some suites and counts test cases.

Every test binary or script prints one line per case, "PASS name" or
"FAIL name" (tests/unit/test.h does this).  A test that exits non-zero
without printing a FAIL line (a crash, a sanitizer report, a timeout)
counts as one failed case, so nothing can fail silently.

usage: run-tests.py BUILDDIR SUITE [SUITE...]
Prints the cases, then "N passed, N failed" for the suites run.

KRUN_TESTS_DEADLINE=EPOCH-SECONDS bounds the whole run: a test gets at most
what is left (less a margin for the summary), and a test the deadline no
longer reaches is a failed case naming it, so a slow machine ends with a
summary that says what did not run instead of being killed from outside.

For the nested test host (tests/host/run-in-kvm-host), whose emulated KVM
may stop running guests (some of its boots never run one): KRUN_TESTS_PROBE is a command that
checks that KVM still runs one; after a test timed out it is run, and when
it fails the run stops with status 75 (the wrapper then boots a fresh test
host and runs this again) without counting that test.  KRUN_TESTS_STATE
names a file keeping each finished test's counts: a run that finds it
prints and counts those tests and runs only the others.
"""
import json
import os
import shlex
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


# Left of the budget for reporting after the last test; a test that would get
# less than MIN_TEST_SECONDS is not started.
SUMMARY_MARGIN = 15
MIN_TEST_SECONDS = 30
PROBE_SECONDS = 60
HOST_BROKEN_STATUS = 75


def run_one(t, builddir, deadline):
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
    if deadline is not None:
        timeout = min(timeout or deadline, deadline - start)
    p = subprocess.Popen(t["cmd"], cwd=t.get("workdir") or builddir, env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    out, timed_out = collect(p, timeout)
    rc = p.returncode if p.returncode is not None else -1
    kill_group(p.pid)
    p.wait()
    note = "\n[timed out after %.0fs]\n" % timeout if timed_out else ""
    return rc, out.decode(errors="replace") + note, time.monotonic() - start, timed_out


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
                return b"".join(chunks), False
            if deadline is not None and now > deadline:
                kill_group(p.pid)
                p.wait()
                return b"".join(chunks), True
            if sel.select(timeout=0.5):
                data = os.read(p.stdout.fileno(), 65536)
                if not data:
                    p.wait()
                    return b"".join(chunks), False
                chunks.append(data)


def kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_deadline():
    """The deadline in time.monotonic()'s terms."""
    deadline = os.environ.get("KRUN_TESTS_DEADLINE")
    if not deadline:
        return None
    return time.monotonic() + float(deadline) - time.time() - SUMMARY_MARGIN


def host_still_runs_guests():
    probe = os.environ.get("KRUN_TESTS_PROBE")
    if not probe:
        return True
    try:
        return subprocess.run(shlex.split(probe), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              timeout=PROBE_SECONDS).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def load_state(path):
    done = {}
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                entry = json.loads(line)
                done[entry["name"]] = entry
    return done


def save_state(path, entry):
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(entry) + "\n")
            f.flush()
            os.fsync(f.fileno())


def slowest_line(times, count=6):
    top = sorted(times, key=lambda nt: -nt[1])[:count]
    return "slowest: " + ", ".join("%s %.0fs" % nt for nt in top)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    builddir, suites = sys.argv[1], set(sys.argv[2:])
    deadline = run_deadline()
    state = os.environ.get("KRUN_TESTS_STATE")
    done = load_state(state)
    passed = failed = skipped = 0
    times = []
    for t in load_tests(builddir, suites):
        header = "== %s [%s]" % (t["name"], ",".join(t.get("suite", [])))
        if t["name"] in done:
            e = done[t["name"]]
            print("%s %d passed, %d failed (in an earlier test host)" % (header, e["passed"], e["failed"]))
            passed, failed, skipped = passed + e["passed"], failed + e["failed"], skipped + e["skipped"]
            times.append((t["name"], e["seconds"]))
            continue
        if deadline is not None and deadline - time.monotonic() < MIN_TEST_SECONDS:
            failed += 1
            print(header + " not run")
            print("  FAIL %s (not run: the run's deadline came first)" % t["name"], flush=True)
            continue
        rc, output, secs, timed_out = run_one(t, builddir, deadline)
        if timed_out and not host_still_runs_guests():
            print("%s timed out after %.0fs and the test host no longer runs a guest: "
                  "stopping for a fresh one" % (header, secs), flush=True)
            return HOST_BROKEN_STATUS
        times.append((t["name"], secs))
        cases = [CASE.match(l) for l in output.splitlines()]
        cases = [m for m in cases if m]
        p = sum(1 for m in cases if m.group(1) == "PASS")
        f = sum(1 for m in cases if m.group(1) == "FAIL")
        s = sum(1 for m in cases if m.group(1) == "SKIP")
        # Failures the test could not report itself.
        own = []
        if timed_out:
            last = [l for l in output.splitlines() if l.strip()][-3:-1]
            own.append("%s (timed out after %.0fs; last output: %s)" %
                       (t["name"], secs, " | ".join(last)[:300]))
        elif rc != 0 and f == 0:
            own.append("%s (exit status %s)" % (t["name"], rc))
        if rc == 0 and p + f + s == 0:
            # A test that ran nothing is a defect, not a pass.
            own.append("%s (reported no cases)" % t["name"])
        if own and f == 0:
            f = 1
        passed, failed, skipped = passed + p, failed + f, skipped + s
        save_state(state, {"name": t["name"], "passed": p, "failed": f, "skipped": s, "seconds": secs})
        print("%s %d passed, %d failed%s (%.1fs)" %
              (header, p, f, ", %d skipped" % s if s else "", secs), flush=True)
        if f or os.environ.get("KRUN_TEST_VERBOSE"):
            sys.stdout.write(output if output.endswith("\n") else output + "\n")
        else:
            for m in cases:
                if m.group(1) != "PASS":
                    print("  %s %s" % (m.group(1), m.group(2)))
        for line in own:
            print("  FAIL " + line, flush=True)
    if len(times) > 1:
        print(slowest_line(times))
    line = "%d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
