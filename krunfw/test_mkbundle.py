#!/usr/bin/env python3
"""Unit test of mkbundle.py on a hand-made ELF, so the bundle layout is checked
without building a kernel."""

import importlib.util
import os
import struct
import sys
import tempfile

spec = importlib.util.spec_from_file_location(
    "mkbundle", os.path.join(os.path.dirname(os.path.abspath(__file__)), "mkbundle.py"))
mkbundle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mkbundle)

VIRT = 0xFFFFFFFF80000000


def make_elf(entry, segments):
    """segments: (vaddr, paddr, data, memsz) tuples; returns ELF64 bytes."""
    phoff, phentsize = 64, 56
    data_off = phoff + phentsize * (len(segments) + 1)
    ehdr = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, entry, phoff, 0, 0, 64, phentsize,
                        len(segments) + 1, 0, 0, 0)
    phdrs, blobs, off = b"", b"", data_off
    for vaddr, paddr, blob, memsz in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, 5, off, vaddr, paddr, len(blob), memsz, 0x1000)
        blobs += blob
        off += len(blob)
    phdrs += struct.pack("<IIQQQQQQ", 4, 4, 0, 0, 0, 0, 0, 4)  # a PT_NOTE to skip
    return ehdr + phdrs + blobs


failures = 0


def check(cond, what):
    global failures
    print("%s mkbundle %s" % ("PASS" if cond else "FAIL", what))
    failures += not cond


def describe(elf):
    with tempfile.NamedTemporaryFile() as f:
        f.write(elf)
        f.flush()
        return mkbundle.describe(f.name)


# Text at 16 MiB, data 8 KiB further with a BSS tail, listed out of order.
text = b"\x90" * 0x1800
data = b"\xab" * 0x100
elf = make_elf(VIRT + 0x1000000 + 0x40, [
    (VIRT + 0x1002000, 0x1002000, data, 0x5000),
    (VIRT + 0x1000000, 0x1000000, text, len(text)),
])
load, entry, image = describe(elf)
check(load == 0x1000000, "load address is the lowest p_paddr")
check(entry == 0x1000040, "virtual entry translated to physical")
check(len(image) == 0x10000, "image padded to 64 KiB, BSS excluded")
check(image[:len(text)] == text, "first segment at offset 0")
check(image[len(text):0x2000] == bytes(0x2000 - len(text)), "gap zero-filled")
check(image[0x2000:0x2100] == data, "second segment at its p_paddr offset")
check(image[0x2100:] == bytes(len(image) - 0x2100), "tail zero-filled")

# x86 vmlinux usually has the physical entry already.
load, entry, _ = describe(make_elf(0x1000000, [(VIRT + 0x1000000, 0x1000000, text, len(text))]))
check(entry == 0x1000000, "physical entry kept")

for name, elf in [
        ("entry outside segments", make_elf(0x5000000, [(VIRT + 0x1000000, 0x1000000, text, 0x1800)])),
        ("overlapping segments", make_elf(0x1000000, [(VIRT + 0x1000000, 0x1000000, text, 0x1800),
                                                      (VIRT + 0x1001000, 0x1001000, data, 0x100)])),
        ("not an ELF", b"MZ" + bytes(100))]:
    try:
        describe(elf)
        check(False, "rejects " + name)
    except mkbundle.BundleError:
        check(True, "rejects " + name)

sys.exit(1 if failures else 0)
