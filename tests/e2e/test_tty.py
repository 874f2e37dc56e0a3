#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""End-to-end: an interactive shell on a terminal.

Runs `krun ROOT /bin/sh` on a pseudo-terminal of a known size, types into it
as a user would and checks the screen: the window size reaches the guest,
line editing works, ^C interrupts the foreground program without killing
the shell, and the shell's exit status comes back.
usage: test_tty.py KRUN_TOOL LIBKRUNFW ROOT_BUILDER
"""
import fcntl
import os
import pty
import select
import struct
import subprocess
import sys
import tempfile
import termios
import time


def result(ok, name, detail=""):
    print(("PASS " if ok else "FAIL ") + name + ("" if ok or not detail else ": " + detail),
          flush=True)


class Term:
    def __init__(self, argv, rows, cols):
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            os.execv(argv[0], argv)
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        self.screen = b""

    def read_until(self, needle, timeout):
        end = time.monotonic() + timeout
        while needle.encode() not in self.screen:
            left = end - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.fd], [], [], left)
            if r:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    return needle.encode() in self.screen
                if not data:
                    return needle.encode() in self.screen
                self.screen += data
        return True

    def type(self, text):
        os.write(self.fd, text.encode())

    def wait(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                return os.waitstatus_to_exitcode(status)
            try:
                r, _, _ = select.select([self.fd], [], [], 0.2)
                if r:
                    self.screen += os.read(self.fd, 4096)
            except OSError:
                time.sleep(0.1)
        os.kill(self.pid, 9)
        return None


def main():
    krun, krunfw, mkroot = sys.argv[1:4]
    os.environ["KRUN_KRUNFW_PATH"] = os.path.realpath(krunfw)
    with tempfile.TemporaryDirectory(prefix="krun-tty.") as work:
        root = os.path.join(work, "root")
        subprocess.run([mkroot, root], check=True, stdout=subprocess.DEVNULL)
        t = Term([os.path.realpath(krun), "-e", "PS1=guest$ ", root, "/bin/sh"], 37, 101)
        booted = t.read_until("guest$ ", 120)
        result(booted, "interactive shell prompt on a terminal", repr(t.screen[-300:]))
        if not booted:
            t.wait(1)
            return
        t.type("stty size\n")
        result(t.read_until("37 101", 30), "window size reaches the guest", repr(t.screen[-200:]))
        t.type("echo ab\x7f\x7fxyz\n")
        result(t.read_until("\nxyz", 30), "line editing (backspace) in the guest",
               repr(t.screen[-200:]))
        t.type("sleep 1000; echo not-interrupted\n")
        time.sleep(2)
        t.type("\x03")
        t.type("echo after-ctrl-c\n")
        ok = t.read_until("\nafter-ctrl-c", 30)
        # The typed line echoes the words too; only output starts a line.
        result(ok and b"\nnot-interrupted" not in t.screen,
               "^C interrupts the foreground program, the shell survives",
               repr(t.screen[-300:]))
        t.type("exit 3\n")
        status = t.wait(60)
        result(status == 3, "shell exit status comes back", "status %r" % status)


if __name__ == "__main__":
    main()
