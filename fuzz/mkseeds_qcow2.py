#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes fuzz/corpus/qcow2/: seeds for fuzz_qcow2 (a 64-byte operation
script, then the image; see fuzz/fuzz_qcow2.c), qcow2 images built from
scratch here after the layout in QEMU's docs/interop/qcow2.txt: header,
refcount table and block, L1 and L2 tables, a few data, zero and
compressed clusters."""
import os
import struct

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "qcow2")
os.makedirs(out, exist_ok=True)

COPIED = 1 << 63
COMPRESSED = 1 << 62


def image(version=3, cluster_bits=9, size=1 << 20, refcount_order=4, data=(),
          zero=(), compressed=(), incompat=0, autoclear=0):
    cs = 1 << cluster_bits
    # clusters: 0 header, 1 reftable, 2 refblock, 3 L1, 4 L2, 5.. data
    l2_entries = cs // 8
    l1_size = max(1, -(-size // (cs * l2_entries)))
    assert l1_size * 8 <= cs
    nclusters = 5 + len(data)
    img = bytearray(nclusters * cs)
    hdr = struct.pack(">IIQIIQIIQQII Q", 0x514649fb, version, 0, 0, cluster_bits, size,
                      0, l1_size, 3 * cs, 1 * cs, 1, 0, 0)
    img[:len(hdr)] = hdr
    if version >= 3:
        img[72:104] = struct.pack(">QQQII", incompat, 0, autoclear, refcount_order, 104)
    struct.pack_into(">Q", img, cs, 2 * cs)
    bits = 1 << refcount_order
    for c in range(nclusters):
        if bits >= 8:
            n = bits // 8
            img[2 * cs + c * n:2 * cs + (c + 1) * n] = (1).to_bytes(n, "big")
        else:
            img[2 * cs + c * bits // 8] |= 1 << (c * bits % 8)
    struct.pack_into(">Q", img, 3 * cs, (4 * cs) | COPIED)
    for i, vc in enumerate(data):
        host = (5 + i) * cs
        struct.pack_into(">Q", img, 4 * cs + vc * 8, host | COPIED)
        img[host:host + cs] = bytes([(vc * 7 + 1) & 0xff]) * cs
    for vc in zero:
        struct.pack_into(">Q", img, 4 * cs + vc * 8, 1)
    for vc in compressed:
        struct.pack_into(">Q", img, 4 * cs + vc * 8, COMPRESSED | (5 * cs))
    return bytes(img)


def script(ro, ops):
    s = bytearray([ro])
    for op, length, off, extra in ops:
        s += struct.pack("<BHIB", op, length, off, extra)
    return bytes(s[:64].ljust(64, b"\0"))


rw_ops = [(1, 3, 1, 0x41), (0, 7, 0, 0), (2, 1, 3, 1), (3, 0, 9, 0), (1, 40, 100, 7),
          (4, 0, 0, 0), (0, 31, 0, 0), (1, 1, 1000, 3)]
seeds = {
    "v3_rw": script(0, rw_ops) + image(data=(0, 5), zero=(2,)),
    "v3_ro": script(1, rw_ops) + image(data=(0, 5), zero=(2,)),
    "v2_rw": script(0, rw_ops) + image(version=2, data=(1,)),
    "v3_4k_rc1": script(0, rw_ops) + image(cluster_bits=12, refcount_order=0, data=(0,)),
    "v3_rc64": script(0, rw_ops) + image(refcount_order=6, data=(3,)),
    "v3_compressed": script(0, rw_ops) + image(data=(0,), compressed=(1,)),
    "v3_dirty": script(1, rw_ops) + image(incompat=1, data=(0,)),
    "v3_autoclear": script(0, rw_ops) + image(autoclear=1, data=(0,)),
    "v3_grow": script(0, [(1, 31, i * 97, i) for i in range(8)]) + image(size=2 << 20),
}
for name, blob in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(blob)
