"""Builders of small synthetic bzImages for the parser tests.

The layout follows boot.rst: ``setup_sects`` 512-byte sectors of real-mode code
(boot sector included) with the header at 0x1f1, then the protected-mode kernel.
Field values default to those of a modern relocatable x86-64 kernel.
"""

from __future__ import annotations

import struct

from ember.arch.x86.bzimage import FIELD_BY_NAME, KERNEL_INFO_MAGIC

SETUP_SECTS = 4
KERNEL_SIZE = 0x4000
KERNEL_INFO_OFFSET = 0x1000

DEFAULTS: dict[str, int] = {
    "setup_sects": SETUP_SECTS,
    "syssize": KERNEL_SIZE // 16,
    "boot_flag": 0xAA55,
    "jump": 0xEB | (0x6A << 8),  # short jmp over a header ending at 0x26c
    "header": 0x53726448,
    "version": 0x020F,
    "loadflags": 0x01,
    "code32_start": 0x100000,
    "initrd_addr_max": 0x7FFFFFFF,
    "kernel_alignment": 0x200000,
    "relocatable_kernel": 1,
    "min_alignment": 21,
    "xloadflags": 0x03,
    "cmdline_size": 2047,
    "payload_offset": 0x200,
    "payload_length": 0x1000,
    "pref_address": 0x1000000,
    "init_size": 0x2000000,
    "handover_offset": 0x300,
    "kernel_info_offset": KERNEL_INFO_OFFSET,
}


def make_bzimage(kernel_size: int = KERNEL_SIZE, **overrides: int) -> bytes:
    """A minimal valid bzImage; keyword arguments override header fields by name."""
    values = {**DEFAULTS, **overrides}
    sects = values["setup_sects"] or 4
    setup = bytearray((sects + 1) * 512)
    for name, value in values.items():
        f = FIELD_BY_NAME[name]
        struct.pack_into("<" + f.fmt, setup, f.offset, value)
    kernel = bytearray(b"\x90" * kernel_size)
    kio = values["kernel_info_offset"]
    if kio and kio + 4 <= kernel_size:
        kernel[kio : kio + 4] = KERNEL_INFO_MAGIC
    return bytes(setup + kernel)


def patch(data: bytes, **fields: int) -> bytes:
    """``data`` with header fields overwritten in place (the layout is not rebuilt)."""
    out = bytearray(data)
    for name, value in fields.items():
        f = FIELD_BY_NAME[name]
        struct.pack_into("<" + f.fmt, out, f.offset, value)
    return bytes(out)
