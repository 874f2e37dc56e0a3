#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes fuzz/corpus/bootparams/: seeds for fuzz_bootparams (input layout
in fuzz/fuzz_bootparams.c): the configs vm_create() sees for the bundled
kernel, an ELF vmlinux and a bzImage, with command lines like start.c's,
and the edges of the memory plan, the MP table and the zero page."""
import os
import struct

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "bootparams")
os.makedirs(out, exist_ok=True)

BUNDLE, HDR, HDR_RAW, RAW_CL, INITRD = 1, 2, 4, 8, 16
TSI, TSI_UNIX, DHCP = 32, 64, 128
DEFAULT = b"reboot=k panic=-1 panic_print=0 nomodule rw no-kvmapf"


def u8(v):
    return struct.pack("<B", v)


def u16(v):
    return struct.pack("<H", v)


def u32(v):
    return struct.pack("<I", v)


def u64(v):
    return struct.pack("<Q", v)


def mib(n):                 # get_ram selector 5: the operand in MiB
    return u8(5) + u16(n)


def near(sel, pages):       # get_ram/get_addr: selector, then pages
    return u8(sel) + u16(pages)


def pages_len(n):           # get_len selector 0: pages
    return u8(0) + u16(n)


def s(text):                # a str operand
    return u8(len(text)) + text


def op_append(t):
    return u8(0) + s(t)


def op_kv(k, v):
    return u8(1) + s(k) + s(v)


def op_quoted(t):
    return u8(2) + s(t)


def op_console(t):
    return u8(3) + s(t)


def op_virtio(base, size, irq):
    return u8(4) + u64(base) + u32(size) + u8(irq)


def header(version=0x020f, cmdline_size=2047):
    h = bytearray(123)      # struct setup_header, from 0x1f1 of a bzImage
    struct.pack_into("<B", h, 0, 27)                    # setup_sects
    struct.pack_into("<I", h, 3, 0x40000)               # syssize
    struct.pack_into("<H", h, 13, 0xaa55)               # boot_flag
    h[17:21] = b"HdrS"
    struct.pack_into("<H", h, 21, version)
    struct.pack_into("<B", h, 32, 1)                    # loadflags
    struct.pack_into("<I", h, 35, 0x100000)             # code32_start
    struct.pack_into("<I", h, 59, 0x7fffffff)           # initrd_addr_max
    struct.pack_into("<I", h, 63, 0x200000)             # kernel_alignment
    struct.pack_into("<B", h, 67, 1)                    # relocatable_kernel
    struct.pack_into("<H", h, 69, 0x7f)                 # xloadflags
    struct.pack_into("<I", h, 71, cmdline_size)
    struct.pack_into("<Q", h, 103, 0x1000000)           # pref_address
    struct.pack_into("<I", h, 111, 0x2000000)           # init_size
    return bytes(h)


def config(flags=0, flags2=0, ram=mib(512), bundle=b"", cpus=1, virtio=0,
           entry=0x1000000, limit=None, hdr=b"", initrd=b"", raw_cl=b"",
           line=DEFAULT, ops=b""):
    b = u8(flags) + u8(flags2) + ram + bundle + u16(cpus) + u8(virtio) + u64(entry)
    if limit is not None:
        b += u16(limit - 1)
    return b + hdr + initrd + raw_cl + u16(len(line)) + line + ops


krun_line = DEFAULT + b" console=hvc0 quiet rootfstype=virtiofs init=/init.krun"
seeds = {
    # what krun_start_enter builds for the bundled kernel (16 MiB load)
    "bundle_default": config(BUNDLE | TSI, ram=mib(1024), cpus=2, virtio=4,
                             bundle=near(1, 15) + pages_len(5120), line=krun_line),
    # a caller's line with init arguments after "--": every kernel
    # parameter added later must still land before it
    "bundle_dashes": config(BUNDLE | TSI | TSI_UNIX | DHCP, ram=mib(2048), cpus=8,
                            virtio=11, bundle=near(1, 15) + pages_len(5120),
                            line=b"console=ttyS0 rw -- /bin/sh -c true",
                            ops=op_console(b"hvc0")),
    "elf_builder_ops": config(ram=mib(256), cpus=4, virtio=2,
                              ops=op_kv(b"KRUN_WORKDIR", b"/my dir") + op_kv(b"EMPTY", b"") +
                              op_append(b"--") + op_quoted(b"hello world") +
                              op_console(b"ttyS0") + op_virtio(0xd0005000, 512, 9)),
    # a setup header from a bzImage; RAM above the MMIO gap
    "bzimage_high_ram": config(HDR, ram=near(2, 0x8000), cpus=16, virtio=3, hdr=header()),
    # boot protocol < 2.06: 255 characters at most, so this line is refused
    "bzimage_old_protocol": config(HDR | HDR_RAW, hdr=header(version=0x0205),
                                   line=b" ".join([b"opt%03d" % i for i in range(40)])),
    "bzimage_small_cmdline_size": config(HDR, hdr=header(cmdline_size=20)),
    "initrd": config(INITRD, ram=mib(256), initrd=pages_len(1024) + near(1, 16)),
    "initrd_too_big": config(INITRD, ram=mib(64), initrd=pages_len(0x4000) + near(1, 16)),
    # cmdline pointer into the MMIO gap: -EFAULT, nothing written
    "raw_cmdline_in_gap": config(RAW_CL, raw_cl=u64(0xd0000000) + u32(16)),
    "ram_below_minimum": config(ram=near(1, 1)),
    "ram_1tib": config(ram=near(4, 1), cpus=254),
    "ram_past_1tib": config(ram=near(4, 0), cpus=255),
    "no_cpus": config(cpus=0),
    "bundle_misaligned": config(BUNDLE, bundle=near(3, 16) + u8(1) + pages_len(16)),
    "bundle_past_gap": config(BUNDLE, ram=mib(4096), bundle=near(2, 0) + pages_len(1)),
    # a 40-character limit: -E2BIG on the way
    "small_limit": config(flags2=1, limit=40, virtio=2, line=b"rw",
                          ops=op_append(b"a" * 30) + op_kv(b"k", b"v v")),
    # U+00E0 is C3 A0 in UTF-8: the kernel splits words at 0xa0
    "nbsp_in_word": config(line=DEFAULT + b" init.greeting=voil\xc3\xa0",
                           ops=op_kv(b"GREETING", b"voil\xc3\xa0")),
}
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
