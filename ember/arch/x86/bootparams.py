"""Build the Linux zero page (``struct boot_params``) and plan where the initrd goes.

Pure functions: data in, bytes or addresses out. The VMM's builder writes the
results into guest memory. The flow for a bzImage boot::

    image = BzImage.from_path(kernel)                      # ember.arch.x86.bzimage
    cmdline = Cmdline.parse(text, image.cmdline_max)       # ember.arch.x86.cmdline
    initrd_addr = plan_initrd(len(initrd), ram_end, image.initrd_addr_max, image.kernel_end)
    zero_page = build_boot_params(image.setup_header, CMDLINE_ADDR, len(cmdline),
                                  initrd_addr, len(initrd), e820)
    # builder: write kernel_bytes at image.load_address, cmdline.to_bytes() at
    # CMDLINE_ADDR, the initrd at initrd_addr, zero_page at ZERO_PAGE_ADDR,
    # then enter image.entry64 in long mode with rsi = ZERO_PAGE_ADDR.

Offsets are those of Documentation/arch/x86/zero-page.rst and
arch/x86/include/uapi/asm/bootparam.h.
"""

from __future__ import annotations

import itertools
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from ember.arch.x86.bzimage import (
    FIELD_BY_NAME,
    SETUP_HEADER_LIMIT,
    SETUP_HEADER_OFFSET,
    LoadFlags,
    SetupHeader,
)
from ember.arch.x86.errors import BootError

#: struct boot_params is exactly one page.
ZERO_PAGE_SIZE = 4096
PAGE_SIZE = 4096
MIB = 1 << 20
_4G = 1 << 32
_U64_LIMIT = 1 << 64

# Offsets in struct boot_params outside the setup header (zero-page.rst).
ACPI_RSDP_ADDR = 0x070  # u64, physical address of the ACPI RSDP
EXT_RAMDISK_IMAGE = 0x0C0  # u32, ramdisk_image bits 63..32
EXT_RAMDISK_SIZE = 0x0C4  # u32, ramdisk_size bits 63..32
EXT_CMD_LINE_PTR = 0x0C8  # u32, cmd_line_ptr bits 63..32
E820_ENTRIES = 0x1E8  # u8, number of entries in e820_table
SENTINEL = 0x1EF  # u8; a non-zero value tells the kernel the loader did not clear boot_params
E820_TABLE = 0x2D0  # struct boot_e820_entry[E820_MAX_ENTRIES_ZEROPAGE]
#: Entries the zero page has room for (E820_MAX_ENTRIES_ZEROPAGE).
E820_MAX_ENTRIES = 128
#: struct boot_e820_entry { __u64 addr; __u64 size; __u32 type; } __packed
E820_ENTRY = struct.Struct("<QQI")
assert E820_ENTRY.size == 20

#: type_of_loader 0xff: "undefined" boot loader (boot.rst: use 0xff if no ID is assigned).
LOADER_TYPE_UNDEFINED = 0xFF
#: heap_end_ptr is relative to the real-mode code start, minus 0x200 (boot.rst).
#: ember never runs the real-mode setup code, but a loader that sets CAN_USE_HEAP
#: must give a value; 0xfe00 is the conventional "setup + heap end at 64 KiB".
HEAP_END_PTR = 0xFE00
#: Command lines live in low memory for kernels that cannot take ext_cmd_line_ptr.
_LOW_CMDLINE_LIMIT = _4G


class E820Type(IntEnum):
    """Memory types of the e820 map (arch/x86/include/asm/e820/types.h)."""

    RAM = 1
    RESERVED = 2
    ACPI = 3
    NVS = 4
    UNUSABLE = 5
    PMEM = 7
    PRAM = 12
    SOFT_RESERVED = 0xEFFFFFFF


@dataclass(frozen=True)
class E820Entry:
    """One range of guest physical memory and its type."""

    addr: int
    size: int
    type: E820Type

    @property
    def end(self) -> int:
        return self.addr + self.size

    def encode(self) -> bytes:
        return E820_ENTRY.pack(self.addr, self.size, int(self.type))

    def __str__(self) -> str:
        return f"[mem {self.addr:#018x}-{self.end - 1:#018x}] {self.type.name.lower()}"


def validate_e820(entries: Iterable[E820Entry]) -> tuple[E820Entry, ...]:
    """Return the entries sorted by address; raise BootError if they cannot be a memory map."""
    table = tuple(sorted(entries, key=lambda e: e.addr))
    if not table:
        raise BootError("the e820 map is empty: the kernel would see no memory")
    if len(table) > E820_MAX_ENTRIES:
        raise BootError(
            f"the e820 map has {len(table)} entries; the zero page holds {E820_MAX_ENTRIES}"
        )
    for e in table:
        if not isinstance(e.type, E820Type):
            raise BootError(f"e820 entry at {e.addr:#x} has unknown type {e.type!r}")
        if e.addr < 0 or e.size <= 0 or e.end > _U64_LIMIT:
            raise BootError(f"e820 entry addr={e.addr:#x} size={e.size:#x} is not a valid range")
    for prev, cur in itertools.pairwise(table):
        if cur.addr < prev.end:
            raise BootError(f"e820 entries overlap: {prev} and {cur}")
    if not any(e.type is E820Type.RAM for e in table):
        raise BootError("the e820 map has no RAM entry")
    return table


def encode_e820(entries: Sequence[E820Entry]) -> bytes:
    """The e820 table as it sits in the zero page (entries back to back, 20 bytes each)."""
    return b"".join(e.encode() for e in validate_e820(entries))


def decode_e820(zero_page: bytes) -> list[E820Entry]:
    """Read the e820 map back out of a zero page (for tests and ``ember inspect``)."""
    if len(zero_page) < ZERO_PAGE_SIZE:
        raise BootError(f"a zero page is {ZERO_PAGE_SIZE} bytes, got {len(zero_page)}")
    count = zero_page[E820_ENTRIES]
    if count > E820_MAX_ENTRIES:
        raise BootError(f"zero page claims {count} e820 entries; at most {E820_MAX_ENTRIES}")
    out = []
    for i in range(count):
        addr, size, kind = E820_ENTRY.unpack_from(zero_page, E820_TABLE + i * E820_ENTRY.size)
        try:
            etype = E820Type(kind)
        except ValueError:
            raise BootError(f"e820 entry {i} has unknown type {kind}") from None
        out.append(E820Entry(addr, size, etype))
    return out


def _put(page: bytearray, name: str, value: int) -> None:
    f = FIELD_BY_NAME[name]
    struct.pack_into("<" + f.fmt, page, f.offset, value)


def build_boot_params(
    header: SetupHeader,
    cmdline_addr: int,
    cmdline_len: int,
    initrd_addr: int = 0,
    initrd_size: int = 0,
    e820: Sequence[E820Entry] = (),
    *,
    acpi_rsdp_addr: int = 0,
) -> bytes:
    """The 4096-byte zero page for a 64-bit boot.

    ``cmdline_len`` is the length without the terminating NUL (the kernel finds
    the end by the NUL; the length is only checked against ``cmdline_size``).
    ``initrd_size`` 0 means no initrd. Addresses at or above 4 GiB go into the
    ``ext_*`` high halves and need a kernel with XLF_CAN_BE_LOADED_ABOVE_4G.
    """
    if cmdline_len < 0 or cmdline_len > header.cmdline_size:
        raise BootError(
            f"command line of {cmdline_len} bytes exceeds the kernel's cmdline_size "
            f"of {header.cmdline_size}"
        )
    _check_address("command line", cmdline_addr, cmdline_len + 1, header)
    if initrd_size < 0 or initrd_addr < 0:
        raise BootError("initrd address and size must not be negative")
    if initrd_size:
        _check_address("initrd", initrd_addr, initrd_size, header)
        if initrd_addr % PAGE_SIZE:
            raise BootError(f"initrd address {initrd_addr:#x} is not page aligned")
        if initrd_addr + initrd_size - 1 > header.initrd_addr_max and not header.loads_above_4g:
            raise BootError(
                f"initrd at {initrd_addr:#x}+{initrd_size:#x} ends above the kernel's "
                f"initrd_addr_max {header.initrd_addr_max:#x}"
            )
    elif initrd_addr:
        raise BootError("an initrd address was given with an initrd size of 0")
    if acpi_rsdp_addr < 0 or acpi_rsdp_addr >= _U64_LIMIT:
        raise BootError(f"ACPI RSDP address {acpi_rsdp_addr:#x} is out of range")
    table = validate_e820(e820)

    page = bytearray(ZERO_PAGE_SIZE)
    # Start from the kernel's own header, as boot.rst asks, then fill in what a
    # boot loader "writes" (type "write"/"modify" in boot.rst's field table).
    raw = header.raw[: SETUP_HEADER_LIMIT - SETUP_HEADER_OFFSET]
    page[SETUP_HEADER_OFFSET : SETUP_HEADER_OFFSET + len(raw)] = raw
    _put(page, "type_of_loader", LOADER_TYPE_UNDEFINED)
    _put(page, "loadflags", (header.loadflags | LoadFlags.CAN_USE_HEAP) & 0xFF)
    _put(page, "heap_end_ptr", HEAP_END_PTR)
    _put(page, "cmd_line_ptr", cmdline_addr & 0xFFFFFFFF)
    struct.pack_into("<I", page, EXT_CMD_LINE_PTR, cmdline_addr >> 32)
    _put(page, "ramdisk_image", initrd_addr & 0xFFFFFFFF)
    _put(page, "ramdisk_size", initrd_size & 0xFFFFFFFF)
    struct.pack_into("<I", page, EXT_RAMDISK_IMAGE, initrd_addr >> 32)
    struct.pack_into("<I", page, EXT_RAMDISK_SIZE, initrd_size >> 32)
    struct.pack_into("<Q", page, ACPI_RSDP_ADDR, acpi_rsdp_addr)
    page[E820_ENTRIES] = len(table)
    encoded = b"".join(e.encode() for e in table)
    page[E820_TABLE : E820_TABLE + len(encoded)] = encoded
    return bytes(page)


def _check_address(what: str, addr: int, size: int, header: SetupHeader) -> None:
    if addr <= 0 or addr + size > _U64_LIMIT:
        raise BootError(f"{what} address {addr:#x} (+{size:#x}) is out of range")
    if addr + size > _LOW_CMDLINE_LIMIT and not header.loads_above_4g:
        raise BootError(
            f"{what} at {addr:#x} ends above 4 GiB, but this kernel cannot take boot data "
            "there (xloadflags.XLF_CAN_BE_LOADED_ABOVE_4G is clear)"
        )


def plan_initrd(initrd_size: int, ram_end: int, initrd_addr_max: int, kernel_end: int) -> int:
    """Choose the guest physical address for an initrd of ``initrd_size`` bytes.

    The highest page-aligned address such that the whole initrd lies below both
    ``ram_end`` (end of the RAM region it goes in) and ``initrd_addr_max`` (the
    last byte address the kernel allows), and above ``kernel_end`` (the kernel
    and its decompression area). Going high is what boot loaders do: it keeps
    the initrd out of the kernel's way while it decompresses and sets up.
    """
    if initrd_size <= 0:
        raise BootError("the initrd is empty; give a non-empty initramfs or no --initrd")
    ceiling = min(ram_end, initrd_addr_max + 1)
    addr = (ceiling - initrd_size) // PAGE_SIZE * PAGE_SIZE
    floor = (kernel_end + PAGE_SIZE - 1) // PAGE_SIZE * PAGE_SIZE
    if addr < floor:
        room = max(0, ceiling - floor)
        if initrd_addr_max + 1 < ram_end:
            where = f"below the kernel's initrd_addr_max {initrd_addr_max:#x}"
            advice = "use a smaller initrd"
        else:
            where = f"below the end of RAM at {_mib(ram_end)}"
            advice = "give the VM more memory (--memory) or use a smaller initrd"
        raise BootError(
            f"initrd of {_mib(initrd_size)} does not fit {where} above the kernel, which needs "
            f"memory up to {_mib(kernel_end)} ({_mib(room)} free there); {advice}"
        )
    return addr


def _mib(n: int) -> str:
    value = n / MIB
    return f"{value:.0f} MiB" if value == int(value) else f"{value:.1f} MiB"


__all__ = [
    "E820_MAX_ENTRIES",
    "E820_TABLE",
    "ZERO_PAGE_SIZE",
    "E820Entry",
    "E820Type",
    "build_boot_params",
    "decode_e820",
    "encode_e820",
    "plan_initrd",
    "validate_e820",
]
