#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes fuzz/corpus/loader/: seeds for fuzz_loader (input layout in
fuzz/fuzz_loader.c), made from scratch: a tiny ELF vmlinux and a tiny
bzImage, both as raw images and as the target's structured form, and
the headers of the compressed formats the loaders refuse."""
import os
import struct

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "loader")
os.makedirs(out, exist_ok=True)
MIB = 1 << 20


def elf(paddr=MIB, vaddr=0xffffffff81000000, filesz=0x800, memsz=0x1000):
    ehdr = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    ehdr += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, paddr + 0x40, 64, 0, 0,
                        64, 56, 2, 0, 0, 0)
    ph = struct.pack("<IIQQQQQQ", 1, 7, 0x1000, vaddr, paddr, filesz, memsz, 0x1000)
    ph += struct.pack("<IIQQQQQQ", 4, 4, 0x200, 0, 0, 0x10, 0x10, 4)
    img = bytearray(0x1000 + filesz)
    img[:len(ehdr) + len(ph)] = ehdr + ph
    for i in range(filesz):
        img[0x1000 + i] = (i * 13 + 1) & 0xff
    return bytes(img)


def bzimage(setup_sects=1, syssize_bytes=0x1000, pref=MIB, init_size=0x4000):
    img = bytearray((setup_sects + 1) * 512 + syssize_bytes)
    struct.pack_into("<B", img, 0x1f1, setup_sects)
    struct.pack_into("<I", img, 0x1f4, syssize_bytes // 16)
    struct.pack_into("<H", img, 0x1fe, 0xaa55)
    img[0x202:0x206] = b"HdrS"
    struct.pack_into("<H", img, 0x206, 0x020f)
    struct.pack_into("<I", img, 0x228, 0x20000)          # cmd_line_ptr
    struct.pack_into("<H", img, 0x236, 0x3)              # xloadflags
    struct.pack_into("<I", img, 0x238, 2047)             # cmdline_size
    struct.pack_into("<Q", img, 0x258, pref)             # pref_address
    struct.pack_into("<I", img, 0x260, init_size)        # init_size
    for i in range((setup_sects + 1) * 512, len(img)):
        img[i] = (i * 5 + 3) & 0xff
    return bytes(img)


seeds = {
    # mode 0: the image as it is; byte 1: RAM layout
    "raw_elf": bytes([0, 4]) + elf(),
    "raw_elf_two_regions": bytes([4, 0x30]) + elf(paddr=8 * MIB, filesz=0x100, memsz=0x8000),
    # layout 1: RAM is [0, 1 MiB + 128 KiB); the segment ends at its top
    "raw_elf_top_of_ram": bytes([0, 1]) + elf(paddr=MIB + 128 * 1024 - 0x1000, memsz=0x1000),
    "raw_bzimage": bytes([0, 4]) + bzimage(),
    "raw_bzimage_init_size_past_ram": bytes([0, 0]) + bzimage(init_size=2 * MIB),
    "raw_gzip": bytes([0, 0]) + b"\x1f\x8b\x08" + bytes(64),
    # the 64-bit entry (load + 0x200) past a 0x200-byte payload: refused
    "raw_bzimage_short_payload": bytes([0, 4]) + bzimage(syssize_bytes=0x200, init_size=0),
    # mode 1: structured ELF: flags, phnum, extra/4, e_entry (sel 1),
    # one PT_LOAD: type 0, offset (sel 0), filesz (sel 0), memsz-filesz
    # (sel 0), paddr (sel 2), vaddr (sel 2)
    "elf_built": bytes([1, 4, 0, 1]) + struct.pack("<H", 0x100) + bytes([1]) +
    struct.pack("<H", 0) + bytes([0]) + bytes([0]) + struct.pack("<H", 0x100) +
    bytes([0]) + struct.pack("<H", 0x200) + bytes([0]) + struct.pack("<H", 0x100) +
    bytes([2]) + struct.pack("<H", 0) + bytes([2]) + struct.pack("<H", 0),
    # mode 2: structured bzImage: header bytes, flags, setup_sects,
    # syssize (sel 0), init_size (sel 0), pref_address (sel 2), extra
    "bzimage_built": bytes([2, 4]) + bzimage()[0x1f1:0x1f1 + 0x7b] + bytes([0, 1]) +
    bytes([0]) + struct.pack("<H", 0x1000) + bytes([0]) + struct.pack("<H", 0x2000) +
    bytes([2]) + struct.pack("<H", 0) + struct.pack("<H", 0),
}
# mode 3: byte 2 picks the magic (gzip, bzip2, xz, zstd, lz4, lz4 legacy),
# the rest follows it; mode bit 2 also runs both loaders on it
for i, name in enumerate(["gzip", "bzip2", "xz", "zstd", "lz4", "lz4_legacy"]):
    seeds["compressed_" + name] = bytes([3 | 4, 4, i]) + bytes(range(32))
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
