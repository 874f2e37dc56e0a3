#!/usr/bin/env python3
"""Check a built libkrunfw.so against the ABI 5 contract and its vmlinux.

usage: check-bundle.py LIBKRUNFW.so VMLINUX
"""

import ctypes
import importlib.util
import os
import subprocess
import sys


def load_mkbundle():
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "mkbundle.py")
    spec = importlib.util.spec_from_file_location("mkbundle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(lib_path, vmlinux):
    failures = []

    def check(cond, what):
        print("%s: %s" % ("ok" if cond else "FAIL", what))
        if not cond:
            failures.append(what)

    exported = subprocess.run(["nm", "-D", "--defined-only", lib_path], check=True,
                              capture_output=True, text=True).stdout.split()
    names = sorted(n for n in exported[2::3])
    check(names == ["krunfw_get_kernel", "krunfw_get_version"],
          "exports exactly krunfw_get_kernel/krunfw_get_version (got %s)" % names)

    lib = ctypes.CDLL(lib_path)
    lib.krunfw_get_version.restype = ctypes.c_int
    lib.krunfw_get_kernel.restype = ctypes.c_void_p
    lib.krunfw_get_kernel.argtypes = [ctypes.POINTER(ctypes.c_size_t)] * 3
    load, entry, size = ctypes.c_size_t(), ctypes.c_size_t(), ctypes.c_size_t()
    ptr = lib.krunfw_get_kernel(ctypes.byref(load), ctypes.byref(entry), ctypes.byref(size))

    check(lib.krunfw_get_version() == 5, "krunfw_get_version() == 5")
    check(ptr is not None and ptr % 0x10000 == 0, "bundle pointer 64 KiB aligned (%#x)" % (ptr or 0))
    check(load.value == 0x1000000, "load_addr == 0x1000000 (%#x)" % load.value)
    check(size.value > 0 and size.value % 0x10000 == 0, "size multiple of 64 KiB (%#x)" % size.value)
    check(load.value <= entry.value < load.value + size.value,
          "entry %#x inside the bundle" % entry.value)

    want_load, want_entry, image = load_mkbundle().describe(vmlinux)
    check((want_load, want_entry, len(image)) == (load.value, entry.value, size.value),
          "metadata matches vmlinux")
    got = ctypes.string_at(ptr, size.value) if ptr else b""
    check(got == image, "bundle bytes match vmlinux PT_LOAD segments")

    # Guest writes land in this memory when the VMM maps it directly.
    if ptr:
        ctypes.memset(ptr + size.value - 1, 0, 1)
        check(True, "bundle memory is writable")

    print("PASS" if not failures else "FAIL")
    return 0 if not failures else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.stderr.write(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
