#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes fuzz/corpus/kformats/: seeds for fuzz_kformats (input layout in
fuzz/fuzz_kformats.c): a tiny ELF vmlinux compressed by the harness in each
format and PE wrapping, streams made here with Python's gzip and bz2, a cut
stream and a bomb."""
import bz2
import gzip
import os
import struct

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "kformats")
os.makedirs(out, exist_ok=True)
MIB = 1 << 20


def elf(paddr=MIB, filesz=0x800, memsz=0x1000):
    ehdr = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, paddr + 0x40, 64, 0, 0,
                        64, 56, 1, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, 0xffffffff81000000, paddr,
                     filesz, memsz, 0x1000)
    img = bytearray(0x1000 + filesz)
    img[:len(ehdr) + len(ph)] = ehdr + ph
    for i in range(filesz):
        img[0x1000 + i] = (i * 13 + 1) & 0xff
    return bytes(img)


def seed(name, mode, arg, body):
    with open(os.path.join(out, name), "wb") as f:
        f.write(bytes([mode, arg]) + body)


img = elf()
for i, kind in enumerate(["gzip", "bzip2", "zstd", "pe_zboot"]):
    seed("elf_%s_compressed_by_harness" % kind, 4 | i, 15, img)
seed("elf_pe_scanned_compressed_by_harness", 4 | 3 | 16, 15, img)
seed("elf_gzip_stream", 0, 15, gzip.compress(img, mtime=0))
seed("elf_bzip2_stream", 1, 15, bz2.compress(img))
seed("elf_gzip_cut", 4 | 8, 3, img)
seed("zeros_bomb_over_cap", 4, 0, bytes(200 * 1024))
