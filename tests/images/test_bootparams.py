"""The zero page layout against the kernel's struct, e820 encoding, initrd placement."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from images_factory import make_bzimage

from ember.arch.x86 import BootError
from ember.arch.x86 import bootparams as bp
from ember.arch.x86.bootparams import (
    E820Entry,
    E820Type,
    build_boot_params,
    decode_e820,
    plan_initrd,
)
from ember.arch.x86.bzimage import SETUP_HEADER_FIELDS, BzImage, LoadFlags

MIB = 1 << 20
BOOTPARAM_H = Path("/usr/include/x86_64-linux-gnu/asm/bootparam.h")

HEADER = BzImage.from_bytes(make_bzimage()).setup_header
LOW_ONLY = BzImage.from_bytes(make_bzimage(xloadflags=0x01)).setup_header
E820 = (
    E820Entry(0, 0x9FC00, E820Type.RAM),
    E820Entry(0x9FC00, 0x400, E820Type.RESERVED),
    E820Entry(0x100000, 255 * MIB, E820Type.RAM),
)


@pytest.fixture(scope="module")
def kernel_offsets(tmp_path_factory) -> dict[str, int]:
    """offsetof() of every field we use, from the system's <asm/bootparam.h>."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None or not BOOTPARAM_H.exists():
        pytest.skip("needs a C compiler and linux-libc-dev's asm/bootparam.h (make setup)")
    names = [f"hdr.{f.name}" for f in SETUP_HEADER_FIELDS] + [
        "acpi_rsdp_addr",
        "ext_ramdisk_image",
        "ext_ramdisk_size",
        "ext_cmd_line_ptr",
        "e820_entries",
        "sentinel",
        "e820_table",
    ]
    lines = "\n".join(
        f'    printf("{n} %zu\\n", offsetof(struct boot_params, {n}));' for n in names
    )
    src = tmp_path_factory.mktemp("offsets") / "offsets.c"
    src.write_text(
        "#include <stddef.h>\n#include <stdio.h>\n#include <asm/bootparam.h>\n"
        "int main(void) {\n"
        '    printf("sizeof %zu\\n", sizeof(struct boot_params));\n'
        '    printf("e820_entry %zu\\n", sizeof(struct boot_e820_entry));\n'
        f"{lines}\n    return 0;\n}}\n"
    )
    exe = src.with_suffix("")
    subprocess.run([cc, "-o", str(exe), str(src)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {k: int(v) for k, v in (line.split() for line in out.splitlines())}


def test_setup_header_offsets_match_kernel(kernel_offsets):
    for f in SETUP_HEADER_FIELDS:
        assert kernel_offsets[f"hdr.{f.name}"] == f.offset, f.name


def test_zero_page_offsets_match_kernel(kernel_offsets):
    assert kernel_offsets["sizeof"] == bp.ZERO_PAGE_SIZE
    assert kernel_offsets["e820_entry"] == bp.E820_ENTRY.size
    assert kernel_offsets["acpi_rsdp_addr"] == bp.ACPI_RSDP_ADDR
    assert kernel_offsets["ext_ramdisk_image"] == bp.EXT_RAMDISK_IMAGE
    assert kernel_offsets["ext_ramdisk_size"] == bp.EXT_RAMDISK_SIZE
    assert kernel_offsets["ext_cmd_line_ptr"] == bp.EXT_CMD_LINE_PTR
    assert kernel_offsets["e820_entries"] == bp.E820_ENTRIES
    assert kernel_offsets["sentinel"] == bp.SENTINEL
    assert kernel_offsets["e820_table"] == bp.E820_TABLE


def _u32(page: bytes, off: int) -> int:
    return struct.unpack_from("<I", page, off)[0]


def test_zero_page_fields():
    page = build_boot_params(HEADER, 0x20000, 30, 0xF000000, 3 * MIB, E820, acpi_rsdp_addr=0xE0000)
    assert len(page) == 4096
    assert page[0x210] == 0xFF  # type_of_loader
    assert page[0x211] == LoadFlags.LOADED_HIGH | LoadFlags.CAN_USE_HEAP
    assert struct.unpack_from("<H", page, 0x224)[0] == bp.HEAP_END_PTR
    assert _u32(page, 0x228) == 0x20000 and _u32(page, bp.EXT_CMD_LINE_PTR) == 0
    assert _u32(page, 0x218) == 0xF000000 and _u32(page, 0x21C) == 3 * MIB
    assert struct.unpack_from("<Q", page, bp.ACPI_RSDP_ADDR)[0] == 0xE0000
    assert page[bp.SENTINEL] == 0
    # Everything the loader does not write is the kernel's own header.
    for f in SETUP_HEADER_FIELDS:
        if f.name in {
            "type_of_loader",
            "loadflags",
            "heap_end_ptr",
            "cmd_line_ptr",
            "ramdisk_image",
            "ramdisk_size",
        }:
            continue
        got = struct.unpack_from("<" + f.fmt, page, f.offset)[0]
        assert got == getattr(HEADER, f.name), f.name


def test_e820_encoding_roundtrip():
    page = build_boot_params(HEADER, 0x20000, 0, e820=list(reversed(E820)))
    assert page[bp.E820_ENTRIES] == 3
    assert decode_e820(page) == list(E820)  # sorted by address
    first = page[bp.E820_TABLE : bp.E820_TABLE + 20]
    assert first == struct.pack("<QQI", 0, 0x9FC00, 1)


def test_addresses_above_4g_use_ext_fields():
    page = build_boot_params(HEADER, 0x1_2345_6000, 10, 0x2_0000_0000, 0x1_0000_1000, E820)
    assert _u32(page, 0x228) == 0x2345_6000 and _u32(page, bp.EXT_CMD_LINE_PTR) == 1
    assert _u32(page, 0x218) == 0 and _u32(page, bp.EXT_RAMDISK_IMAGE) == 2
    assert _u32(page, 0x21C) == 0x1000 and _u32(page, bp.EXT_RAMDISK_SIZE) == 1


def test_initrd_above_initrd_addr_max_refused_without_xlf():
    with pytest.raises(BootError, match="initrd_addr_max"):
        build_boot_params(LOW_ONLY, 0x20000, 10, 0x80000000, 4096, E820)


def test_above_4g_refused_without_xlf():
    with pytest.raises(BootError, match="XLF_CAN_BE_LOADED_ABOVE_4G"):
        build_boot_params(LOW_ONLY, 0x1_0000_0000, 10, e820=E820)
    with pytest.raises(BootError, match="initrd"):
        build_boot_params(LOW_ONLY, 0x20000, 10, 0xFFFF_F000, 0x2000, E820)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cmdline_len": 2048}, "cmdline_size"),
        ({"cmdline_addr": 0}, "out of range"),
        ({"initrd_addr": 0x1001, "initrd_size": 10}, "page aligned"),
        ({"initrd_addr": 0x1000, "initrd_size": 0}, "size of 0"),
        ({"e820": ()}, "empty"),
        ({"e820": (E820Entry(0, 0x1000, E820Type.RESERVED),)}, "no RAM"),
        (
            {"e820": (E820Entry(0, 0x2000, E820Type.RAM), E820Entry(0x1000, 0x1000, E820Type.RAM))},
            "overlap",
        ),
        ({"e820": (E820Entry(0x1000, 0, E820Type.RAM),)}, "not a valid range"),
        (
            {"e820": tuple(E820Entry(i * 0x1000, 0x1000, E820Type.RAM) for i in range(129))},
            "holds 128",
        ),
    ],
)
def test_bad_boot_params(kwargs, message):
    args = {"cmdline_addr": 0x20000, "cmdline_len": 10, "e820": E820, **kwargs}
    with pytest.raises(BootError, match=message):
        build_boot_params(HEADER, **args)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(1, 1 << 20), st.sampled_from(list(E820Type))),
        min_size=1,
        max_size=128,
    )
)
def test_e820_roundtrip_property(ranges):
    # Build non-overlapping ranges from sizes, with a gap after each.
    entries, addr = [], 0
    for size, kind in ranges:
        entries.append(E820Entry(addr, size, kind))
        addr += size + 0x1000
    entries[0] = E820Entry(0, entries[0].size, E820Type.RAM)
    page = build_boot_params(HEADER, 0x20000, 0, e820=entries)
    assert decode_e820(page) == entries


# --- initrd placement ---------------------------------------------------------

KERNEL_END = 0x1000000 + 0x3378000  # the Debian cloud kernel's runtime end


def test_initrd_goes_high_and_page_aligned():
    addr = plan_initrd(3 * MIB + 123, 256 * MIB, 0x7FFFFFFF, KERNEL_END)
    assert addr % 4096 == 0
    assert addr + 3 * MIB + 123 <= 256 * MIB
    assert 256 * MIB - (addr + 3 * MIB + 123) < 4096  # as high as possible


def test_initrd_capped_by_initrd_addr_max():
    addr = plan_initrd(MIB, 4096 * MIB, 0x7FFFFFFF, KERNEL_END)
    assert addr + MIB - 1 <= 0x7FFFFFFF
    assert addr == 0x80000000 - MIB


def test_initrd_exact_fit():
    size = 128 * MIB - KERNEL_END
    assert plan_initrd(size, 128 * MIB, 0x7FFFFFFF, KERNEL_END) == KERNEL_END


def test_initrd_too_big_for_memory():
    with pytest.raises(
        BootError, match=r"initrd of 200 MiB does not fit .*188.5 MiB free.*--memory"
    ):
        plan_initrd(200 * MIB, 256 * MIB, 0x7FFFFFFF, KERNEL_END)


def test_initrd_too_big_for_initrd_addr_max():
    with pytest.raises(BootError, match="initrd_addr_max 0x7ffffff.*smaller initrd"):
        plan_initrd(100 * MIB, 4096 * MIB, 0x7FFFFFF, KERNEL_END)


def test_initrd_memory_below_kernel():
    with pytest.raises(BootError, match="0 MiB free"):
        plan_initrd(4096, 32 * MIB, 0x7FFFFFFF, KERNEL_END)


def test_empty_initrd():
    with pytest.raises(BootError, match="empty"):
        plan_initrd(0, 256 * MIB, 0x7FFFFFFF, KERNEL_END)


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 1 << 33),
    st.integers(0, 1 << 34),
    st.integers(0, 1 << 32),
    st.integers(0, 1 << 33),
)
def test_initrd_placement_property(size, ram_end, addr_max, kernel_end):
    try:
        addr = plan_initrd(size, ram_end, addr_max, kernel_end)
    except BootError:
        # Refused only when no page-aligned slot exists.
        ceiling = min(ram_end, addr_max + 1)
        floor = -(-kernel_end // 4096) * 4096
        assert (ceiling - size) // 4096 * 4096 < floor
        return
    assert addr % 4096 == 0
    assert addr >= kernel_end
    assert addr + size <= ram_end
    assert addr + size - 1 <= addr_max


@settings(max_examples=200, deadline=None)
@given(
    st.integers(-1, 1 << 65),
    st.integers(-1, 4096),
    st.integers(-1, 1 << 65),
    st.integers(-1, 1 << 34),
    st.booleans(),
)
def test_build_boot_params_never_crashes(cmdline_addr, cmdline_len, initrd_addr, size, low):
    header = LOW_ONLY if low else HEADER
    try:
        page = build_boot_params(header, cmdline_addr, cmdline_len, initrd_addr, size, E820)
    except BootError as exc:
        assert str(exc)
        return
    assert len(page) == 4096
    got_cmdline = _u32(page, 0x228) | _u32(page, bp.EXT_CMD_LINE_PTR) << 32
    got_initrd = _u32(page, 0x218) | _u32(page, bp.EXT_RAMDISK_IMAGE) << 32
    got_size = _u32(page, 0x21C) | _u32(page, bp.EXT_RAMDISK_SIZE) << 32
    assert (got_cmdline, got_initrd, got_size) == (cmdline_addr, initrd_addr, size)
    if low:
        assert cmdline_addr + cmdline_len + 1 <= 1 << 32
        assert initrd_addr + size - 1 <= LOW_ONLY.initrd_addr_max or size == 0


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=bp.E820_MAX_ENTRIES * 20))
def test_decode_e820_on_garbage(count, table):
    page = bytearray(4096)
    page[bp.E820_ENTRIES] = count
    page[bp.E820_TABLE : bp.E820_TABLE + len(table)] = table
    page = bytes(page)
    try:
        entries = decode_e820(page)
    except BootError:
        return
    assert len(entries) == page[bp.E820_ENTRIES]
