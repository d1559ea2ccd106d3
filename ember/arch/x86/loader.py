"""Kernel loaders behind one interface (rust-vmm linux-loader).

Two formats boot on x86: an ELF kernel with a PVH note (ember's test guest, or
a vmlinux built with CONFIG_PVH) entered in 32-bit protected mode with
``struct hvm_start_info``; and a bzImage through the Linux 64-bit boot
protocol with ``struct boot_params``. :func:`load_kernel` tells them apart by
their magic and returns the :class:`BootSetup` the vCPU is started with.
"""

from __future__ import annotations

import enum
import os
import struct

from ember.arch.x86 import layout
from ember.arch.x86.acpi import build_acpi
from ember.arch.x86.elf import is_elf, parse_elf
from ember.arch.x86.errors import BootError, CmdlineError
from ember.arch.x86.mptable import build_mptable
from ember.log import get_logger
from ember.memory import GuestMemory
from ember.record import Record

log = get_logger(__name__)

XEN_ELFNOTE_PHYS32_ENTRY = 18
HVM_START_MAGIC = 0x336EC578
HVM_START_INFO_VERSION = 1  # version 1 adds memmap_paddr/memmap_entries
_START_INFO = struct.Struct("<IIIIQQQQII")  # struct hvm_start_info (56 bytes)
_MEMMAP_ENTRY = struct.Struct("<QQII")  # struct hvm_memmap_table_entry (24 bytes)
_MODLIST_ENTRY = struct.Struct("<QQQQ")  # struct hvm_modlist_entry (32 bytes)
PVH_CMDLINE_MAX = 4095  # the test guest and Linux both stop at 2-4 KiB; longer is a mistake
MAX_KERNEL_FILE = 512 << 20


class BootMode(enum.Enum):
    PVH32 = "pvh"  # 32-bit protected mode, paging off, %ebx = hvm_start_info
    LINUX64 = "linux64"  # 64-bit long mode, identity paging, %rsi = boot_params


class BootSetup(Record):
    """How the boot vCPU starts: mode, entry point and the boot-information structure."""

    __slots__ = ("boot_info", "entry", "initrd", "kernel_end", "kernel_kind", "mode")

    def __init__(self, mode: BootMode, entry: int, boot_info: int, kernel_kind: str, kernel_end: int,
                 initrd: tuple[int, int] | None = None) -> None:
        self.mode = mode
        self.entry = entry
        self.boot_info = boot_info
        self.kernel_kind = kernel_kind
        self.kernel_end = kernel_end
        self.initrd = initrd


#: The setup header's ``header`` field: "HdrS" at offset 0x202 of every bzImage (boot.rst).
BZIMAGE_MAGIC_OFFSET = 0x202
BZIMAGE_MAGIC = b"HdrS"


def is_bzimage(head: bytes) -> bool:
    """Whether *head* (the file's first bytes) carries the Linux boot protocol's magic."""
    return head[BZIMAGE_MAGIC_OFFSET:BZIMAGE_MAGIC_OFFSET + len(BZIMAGE_MAGIC)] == BZIMAGE_MAGIC


def _read_file(p: str, what: str) -> bytes:
    try:
        if not os.path.isfile(p):
            raise BootError(f"{what} {p} does not exist or is not a regular file")
        if os.path.getsize(p) > MAX_KERNEL_FILE:
            raise BootError(f"{what} {p} is larger than {MAX_KERNEL_FILE >> 20} MiB: wrong file?")
        with open(p, "rb") as f:
            return f.read()
    except PermissionError:
        raise BootError(f"no permission to read {what} {p}") from None
    except OSError as exc:
        raise BootError(f"cannot read {what} {p}: {exc.strerror}") from None


def _check_cmdline(cmdline: str, limit: int) -> bytes:
    try:
        raw = cmdline.encode("ascii")
    except UnicodeEncodeError:
        raise CmdlineError("the kernel command line must be ASCII") from None
    if b"\0" in raw:
        raise CmdlineError("the kernel command line must not contain NUL bytes")
    if len(raw) > limit:
        raise CmdlineError(f"the kernel command line is {len(raw)} bytes; this kernel accepts at most {limit}")
    return raw


def load_kernel(
    mem: GuestMemory, kernel: str, cmdline: str, initrd: str | None, nr_cpus: int
) -> BootSetup:
    data = _read_file(kernel, "kernel")
    initrd_data = _read_file(initrd, "initrd") if initrd else None
    if is_elf(data):
        setup = _load_pvh(mem, data, kernel, cmdline, initrd_data)
    elif is_bzimage(data):
        setup = _load_bzimage(mem, data, kernel, cmdline, initrd_data)
    else:
        raise BootError(
            f"{kernel} is neither an ELF kernel with a PVH note nor a bzImage (no ELF magic, no 'HdrS' header)"
        )
    write_platform_tables(mem, nr_cpus)
    return setup


def write_platform_tables(mem: GuestMemory, nr_cpus: int) -> int:
    """The MP table (EBDA) and the ACPI tables (0xE0000); returns the RSDP address."""
    mp = build_mptable(layout.EBDA_START, nr_cpus)
    if layout.EBDA_START + len(mp) > layout.LOW_RAM_END:
        raise BootError(f"{nr_cpus} vCPUs do not fit in the MP table area")
    mem.write(layout.EBDA_START, mp)
    tables, rsdp = build_acpi(layout.ACPI_START, nr_cpus)
    if len(tables) > layout.ACPI_MAX_SIZE:
        raise BootError(f"ACPI tables for {nr_cpus} vCPUs do not fit their area")
    mem.write(layout.ACPI_START, tables)
    return rsdp


def _ram_low_end(mem: GuestMemory) -> int:
    return mem.regions[0].end


def _load_pvh(mem: GuestMemory, data: bytes, path: str, cmdline: str, initrd: bytes | None) -> BootSetup:
    elf = parse_elf(data, path)
    desc = elf.note(b"Xen", XEN_ELFNOTE_PHYS32_ENTRY)
    if desc is None:
        raise BootError(
            f"{path} is an ELF without a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY); ember boots ELF "
            "kernels through PVH only: build it with CONFIG_PVH, or use a bzImage"
        )
    if len(desc) not in (4, 8):
        raise BootError(f"{path}: the PVH entry note has {len(desc)} bytes, expected 4 or 8")
    entry = int.from_bytes(desc, "little")
    kernel_end = 0
    for seg in elf.segments:
        if seg.paddr < layout.LOW_RAM_END or not mem.is_valid(seg.paddr, seg.memsz):
            raise BootError(
                f"{path}: segment at {seg.paddr:#x}+{seg.memsz:#x} does not fit guest RAM above the boot area "
                f"(RAM ends at {_ram_low_end(mem):#x}); give the VM more --memory"
            )
        mem.write(seg.paddr, data[seg.file_offset:seg.file_offset + seg.filesz])
        kernel_end = max(kernel_end, seg.paddr + seg.memsz)
    if entry >= 1 << 32:
        raise BootError(f"{path}: PVH entry {entry:#x} is above 4 GiB")
    raw = _check_cmdline(cmdline, PVH_CMDLINE_MAX)
    mem.write(layout.CMDLINE_START, raw + b"\0")
    entries = layout.memory_map(mem.total_size)
    memmap = b"".join(_MEMMAP_ENTRY.pack(e.addr, e.size, e.type, 0) for e in entries)
    mem.write(layout.PVH_MEMMAP_START, memmap)
    nr_modules, initrd_place = 0, None
    if initrd is not None:
        addr = _place_high(mem, len(initrd), kernel_end, 1 << 32)
        mem.write(addr, initrd)
        mem.write(layout.PVH_MODLIST_START, _MODLIST_ENTRY.pack(addr, len(initrd), 0, 0))
        nr_modules, initrd_place = 1, (addr, len(initrd))
    info = _START_INFO.pack(
        HVM_START_MAGIC, HVM_START_INFO_VERSION, 0, nr_modules,
        layout.PVH_MODLIST_START if nr_modules else 0, layout.CMDLINE_START, layout.ACPI_START,
        layout.PVH_MEMMAP_START, len(entries), 0,
    )
    mem.write(layout.PVH_INFO_START, info)
    return BootSetup(BootMode.PVH32, entry, layout.PVH_INFO_START, "elf-pvh", kernel_end, initrd_place)


def _place_high(mem: GuestMemory, size: int, floor: int, ceiling: int) -> int:
    from ember.arch.x86.bootparams import plan_initrd

    return plan_initrd(size, min(_ram_low_end(mem), ceiling), ceiling - 1, floor)


def _load_bzimage(mem: GuestMemory, data: bytes, path: str, cmdline: str, initrd: bytes | None) -> BootSetup:
    from ember.arch.x86.bootparams import build_boot_params, plan_initrd
    from ember.arch.x86.bzimage import BzImage

    image = BzImage.from_bytes(data, name=path)
    raw = _check_cmdline(cmdline, min(image.cmdline_max, layout.CMDLINE_MAX_SIZE - 1))
    ram_end = _ram_low_end(mem)
    if image.kernel_end > ram_end:
        raise BootError(
            f"{path} needs guest RAM up to {image.kernel_end / 2**20:.0f} MiB to load and decompress; "
            f"give the VM more --memory (it has {ram_end >> 20} MiB below the 32-bit gap)"
        )
    mem.write(image.load_address, image.kernel_bytes)
    mem.write(layout.CMDLINE_START, raw + b"\0")
    initrd_place = None
    if initrd is not None:
        addr = plan_initrd(len(initrd), ram_end, image.initrd_addr_max, image.kernel_end)
        mem.write(addr, initrd)
        initrd_place = (addr, len(initrd))
    zero_page = build_boot_params(
        image.setup_header, layout.CMDLINE_START, len(raw),
        initrd_place[0] if initrd_place else 0, initrd_place[1] if initrd_place else 0,
        layout.e820_map(mem.total_size), acpi_rsdp_addr=layout.ACPI_START,
    )
    mem.write(layout.ZERO_PAGE_START, zero_page)
    log.info("bzImage protocol %s loaded at %#x", image.setup_header.protocol, image.load_address)
    return BootSetup(BootMode.LINUX64, image.entry64, layout.ZERO_PAGE_START,
                     f"bzImage (boot protocol {image.setup_header.protocol})", image.kernel_end, initrd_place)
