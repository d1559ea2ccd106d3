"""Parse a Linux bzImage: its real-mode setup header and its protected-mode kernel.

The flow of a 64-bit Linux boot (Documentation/arch/x86/boot.rst, "64-bit boot protocol"):

1. :meth:`BzImage.from_path` reads the file and validates the setup header at
   offset 0x1f1 (:class:`SetupHeader`): the 0xAA55 boot flag, the ``HdrS``
   magic, a protocol version new enough to advertise a 64-bit entry point, and
   every length and offset against the size of the file.
2. The VMM copies :attr:`BzImage.kernel_bytes` (the protected-mode kernel,
   everything after the ``setup_sects`` real-mode sectors) to guest physical
   :attr:`BzImage.load_address`. The real-mode setup code is never run: a VMM
   enters the kernel directly in long mode.
3. The kernel will decompress itself into ``[runtime_start, runtime_start +
   init_size)``; :attr:`BzImage.kernel_end` is the first byte an initrd may use
   (see :func:`ember.arch.x86.bootparams.plan_initrd`).
4. :func:`ember.arch.x86.bootparams.build_boot_params` turns the header plus the
   command line, initrd and e820 map into the 4096-byte zero page.
5. The vCPU starts at :attr:`BzImage.entry64` (``load_address + 0x200``) in
   long mode, with identity-mapped page tables, a flat GDT, interrupts off, and
   ``rsi`` = guest physical address of the zero page.

Nothing here touches guest memory: data in, values out.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, fields
from enum import IntFlag
from pathlib import Path
from typing import ClassVar

from ember.arch.x86.errors import BootError
from ember.log import get_logger

log = get_logger(__name__)

#: Offset of ``struct setup_header`` inside the boot sector and the zero page.
SETUP_HEADER_OFFSET = 0x1F1
#: The setup header ends where boot_params' ``_pad7`` starts; nothing after it is header.
SETUP_HEADER_LIMIT = 0x290
#: ``boot_flag`` of every bootable x86 image (the legacy boot sector signature).
BOOT_FLAG_MAGIC = 0xAA55
#: ``header`` = "HdrS" in little endian; present from protocol 2.00 on.
HDRS_MAGIC = 0x53726448
#: The first byte of ``jump`` is a short JMP (0xEB) over the header; its
#: displacement byte tells how long the header is.
SHORT_JMP_OPCODE = 0xEB
#: Sector size of the real-mode setup code.
SECTOR_SIZE = 512
#: ``setup_sects == 0`` means 4, for compatibility with ancient images.
LEGACY_SETUP_SECTS = 4
#: The 64-bit entry point is this far into the protected-mode kernel.
ENTRY64_OFFSET = 0x200
#: ``kernel_info`` starts with this magic (protocol 2.15).
KERNEL_INFO_MAGIC = b"LToP"
#: Refuse images bigger than this before reading them (a kernel is tens of MiB).
MAX_IMAGE_SIZE = 512 << 20


def protocol(major: int, minor: int) -> int:
    """The 16-bit ``version`` value of boot protocol ``major.minor``."""
    return (major << 8) | minor


def format_protocol(version: int) -> str:
    return f"{version >> 8}.{version & 0xFF:02d}"


#: Oldest protocol ember boots. 2.12 (Linux 3.8) introduced ``xloadflags`` with
#: XLF_KERNEL_64, the only way a bzImage says "I have a 64-bit entry point at
#: +0x200"; older headers cannot tell a 64-bit kernel from a 32-bit one, and we
#: never run the real-mode setup code that would otherwise sort it out. 2.12
#: also implies everything else we rely on: cmdline_size (2.06), relocatable
#: kernels (2.05), pref_address and init_size (2.10).
MIN_PROTOCOL = protocol(2, 12)


class LoadFlags(IntFlag):
    """``loadflags`` (offset 0x211)."""

    LOADED_HIGH = 0x01  # protected-mode code goes at 0x100000 (bzImage), not 0x10000
    KASLR_FLAG = 0x02  # set by the kernel itself
    QUIET_FLAG = 0x20  # ask the decompressor not to print
    KEEP_SEGMENTS = 0x40  # obsolete (2.07)
    CAN_USE_HEAP = 0x80  # heap_end_ptr is valid


class XLoadFlags(IntFlag):
    """``xloadflags`` (offset 0x236, protocol 2.12)."""

    XLF_KERNEL_64 = 0x01  # has the 64-bit entry point at +0x200
    XLF_CAN_BE_LOADED_ABOVE_4G = 0x02  # kernel/boot_params/cmdline/ramdisk may sit above 4 GiB
    XLF_EFI_HANDOVER_32 = 0x04
    XLF_EFI_HANDOVER_64 = 0x08
    XLF_EFI_KEXEC = 0x10
    XLF_5LEVEL = 0x20
    XLF_5LEVEL_ENABLED = 0x40


@dataclass(frozen=True)
class HeaderField:
    """One field of ``struct setup_header``: absolute offset, struct format, first protocol."""

    name: str
    offset: int
    fmt: str
    since: int

    @property
    def size(self) -> int:
        return struct.calcsize("<" + self.fmt)

    @property
    def end(self) -> int:
        return self.offset + self.size


def _f(name: str, offset: int, fmt: str, since: tuple[int, int] = (2, 0)) -> HeaderField:
    return HeaderField(name, offset, fmt, protocol(*since))


#: ``struct setup_header`` (arch/x86/include/uapi/asm/bootparam.h), offsets as
#: in boot.rst's table, i.e. relative to the start of the boot sector / zero page.
SETUP_HEADER_FIELDS: tuple[HeaderField, ...] = (
    _f("setup_sects", 0x1F1, "B", (0, 0)),
    _f("root_flags", 0x1F2, "H", (0, 0)),
    _f("syssize", 0x1F4, "I", (0, 0)),  # 16-byte paragraphs; 32 bits from 2.04
    _f("ram_size", 0x1F8, "H", (0, 0)),
    _f("vid_mode", 0x1FA, "H", (0, 0)),
    _f("root_dev", 0x1FC, "H", (0, 0)),
    _f("boot_flag", 0x1FE, "H", (0, 0)),
    _f("jump", 0x200, "H"),
    _f("header", 0x202, "I"),
    _f("version", 0x206, "H"),
    _f("realmode_swtch", 0x208, "I"),
    _f("start_sys_seg", 0x20C, "H"),
    _f("kernel_version", 0x20E, "H"),
    _f("type_of_loader", 0x210, "B"),
    _f("loadflags", 0x211, "B"),
    _f("setup_move_size", 0x212, "H"),
    _f("code32_start", 0x214, "I"),
    _f("ramdisk_image", 0x218, "I"),
    _f("ramdisk_size", 0x21C, "I"),
    _f("bootsect_kludge", 0x220, "I"),
    _f("heap_end_ptr", 0x224, "H", (2, 1)),
    _f("ext_loader_ver", 0x226, "B", (2, 2)),
    _f("ext_loader_type", 0x227, "B", (2, 2)),
    _f("cmd_line_ptr", 0x228, "I", (2, 2)),
    _f("initrd_addr_max", 0x22C, "I", (2, 3)),
    _f("kernel_alignment", 0x230, "I", (2, 5)),
    _f("relocatable_kernel", 0x234, "B", (2, 5)),
    _f("min_alignment", 0x235, "B", (2, 10)),
    _f("xloadflags", 0x236, "H", (2, 12)),
    _f("cmdline_size", 0x238, "I", (2, 6)),
    _f("hardware_subarch", 0x23C, "I", (2, 7)),
    _f("hardware_subarch_data", 0x240, "Q", (2, 7)),
    _f("payload_offset", 0x248, "I", (2, 8)),
    _f("payload_length", 0x24C, "I", (2, 8)),
    _f("setup_data", 0x250, "Q", (2, 9)),
    _f("pref_address", 0x258, "Q", (2, 10)),
    _f("init_size", 0x260, "I", (2, 10)),
    _f("handover_offset", 0x264, "I", (2, 11)),
    _f("kernel_info_offset", 0x268, "I", (2, 15)),
)

FIELD_BY_NAME: dict[str, HeaderField] = {f.name: f for f in SETUP_HEADER_FIELDS}


@dataclass(frozen=True)
class SetupHeader:
    """The fields of ``struct setup_header`` read from a bzImage.

    Field names and meanings are the kernel's. Fields newer than the image's
    protocol ``version`` read as 0. ``raw`` holds the header bytes exactly as in
    the file, from 0x1f1 to the end the ``jump`` instruction declares, so the
    zero page can start from a faithful copy (boot.rst: "copy the setup header
    into the zero page").
    """

    setup_sects: int
    root_flags: int
    syssize: int
    ram_size: int
    vid_mode: int
    root_dev: int
    boot_flag: int
    jump: int
    header: int
    version: int
    realmode_swtch: int
    start_sys_seg: int
    kernel_version: int
    type_of_loader: int
    loadflags: int
    setup_move_size: int
    code32_start: int
    ramdisk_image: int
    ramdisk_size: int
    bootsect_kludge: int
    heap_end_ptr: int
    ext_loader_ver: int
    ext_loader_type: int
    cmd_line_ptr: int
    initrd_addr_max: int
    kernel_alignment: int
    relocatable_kernel: int
    min_alignment: int
    xloadflags: int
    cmdline_size: int
    hardware_subarch: int
    hardware_subarch_data: int
    payload_offset: int
    payload_length: int
    setup_data: int
    pref_address: int
    init_size: int
    handover_offset: int
    kernel_info_offset: int
    raw: bytes

    FIELDS: ClassVar[tuple[HeaderField, ...]] = SETUP_HEADER_FIELDS

    @classmethod
    def from_bytes(cls, data: bytes | bytearray | memoryview) -> SetupHeader:
        """Decode the header from the start of an image (or of a zero page).

        Checks only what decoding needs (magics, version, header length);
        :meth:`BzImage.from_bytes` validates the values against the file.
        """
        data = memoryview(data)
        minimum = FIELD_BY_NAME["version"].end
        if len(data) < minimum:
            raise BootError(
                f"image is {len(data)} bytes, too short for a Linux setup header "
                f"(needs at least {minimum:#x} bytes): not a bzImage, or a truncated file"
            )
        boot_flag = _read(data, "boot_flag")
        if boot_flag != BOOT_FLAG_MAGIC:
            raise BootError(
                f"no x86 boot signature: boot_flag at 0x1fe is {boot_flag:#06x}, expected "
                f"{BOOT_FLAG_MAGIC:#06x}; this is not a Linux bzImage"
            )
        magic = _read(data, "header")
        if magic != HDRS_MAGIC:
            raise BootError(
                f"no 'HdrS' magic at 0x202 (found {bytes(data[0x202:0x206])!r}): not a Linux "
                "bzImage, or a kernel older than boot protocol 2.00"
            )
        version = _read(data, "version")
        if version < MIN_PROTOCOL:
            raise BootError(
                f"kernel uses boot protocol {format_protocol(version)}; ember needs "
                f"{format_protocol(MIN_PROTOCOL)} or newer (Linux 3.8+), the first protocol "
                "whose xloadflags can say the kernel has a 64-bit entry point"
            )
        if data[0x200] != SHORT_JMP_OPCODE:
            raise BootError(
                f"setup header is malformed: expected a short jump (0xeb) at 0x200, found "
                f"{data[0x200]:#04x}"
            )
        # The jump skips the header, so its target is where the header ends.
        header_end = min(0x202 + data[0x201], SETUP_HEADER_LIMIT)
        needed = max(f.end for f in SETUP_HEADER_FIELDS if f.since <= version)
        if header_end < needed:
            raise BootError(
                f"setup header is malformed: protocol {format_protocol(version)} defines fields "
                f"up to {needed:#x}, but the header's jump ends it at {header_end:#x}"
            )
        if len(data) < header_end:
            raise BootError(
                f"image is {len(data)} bytes, truncated inside its setup header "
                f"(which ends at {header_end:#x})"
            )
        values = {
            f.name: (_read(data, f.name) if f.since <= version and f.end <= header_end else 0)
            for f in SETUP_HEADER_FIELDS
        }
        return cls(**values, raw=bytes(data[SETUP_HEADER_OFFSET:header_end]))

    @property
    def protocol(self) -> str:
        """The boot protocol version as text, e.g. ``"2.15"``."""
        return format_protocol(self.version)

    @property
    def setup_size(self) -> int:
        """Bytes of the real-mode part (boot sector + setup code) at the start of the file."""
        sects = self.setup_sects or LEGACY_SETUP_SECTS
        return (sects + 1) * SECTOR_SIZE

    @property
    def relocatable(self) -> bool:
        return bool(self.relocatable_kernel)

    @property
    def loads_above_4g(self) -> bool:
        """The kernel accepts boot_params, command line and initrd above 4 GiB."""
        return bool(self.xloadflags & XLoadFlags.XLF_CAN_BE_LOADED_ABOVE_4G)

    def values(self) -> dict[str, int]:
        """Every numeric field by name (for ``--json`` output and logs)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "raw"}


def _read(data: memoryview, name: str) -> int:
    f = FIELD_BY_NAME[name]
    value: int = struct.unpack_from("<" + f.fmt, data, f.offset)[0]
    return value


def _is_power_of_two(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def _align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment


@dataclass(frozen=True)
class BzImage:
    """A validated bzImage: its setup header and the protected-mode kernel to load.

    Build one with :meth:`from_path` or :meth:`from_bytes`; every instance has
    passed the checks, so the properties below are safe to use as they are.
    """

    name: str
    setup_header: SetupHeader
    kernel_bytes: bytes

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> BzImage:
        """Read and validate a bzImage file. Raises :class:`BootError` for any bad input."""
        p = Path(path)
        try:
            st = p.stat()
        except FileNotFoundError:
            raise BootError(f"kernel image {p} does not exist") from None
        except OSError as exc:
            raise BootError(f"cannot read kernel image {p}: {exc.strerror}") from None
        if not p.is_file():
            raise BootError(f"kernel image {p} is not a regular file")
        if st.st_size > MAX_IMAGE_SIZE:
            raise BootError(
                f"kernel image {p} is {st.st_size >> 20} MiB; a bzImage is tens of MiB "
                f"(limit {MAX_IMAGE_SIZE >> 20} MiB): wrong file?"
            )
        try:
            data = p.read_bytes()
        except OSError as exc:
            raise BootError(f"cannot read kernel image {p}: {exc.strerror}") from None
        return cls.from_bytes(data, name=str(p))

    @classmethod
    def from_bytes(cls, data: bytes, name: str = "<bytes>") -> BzImage:
        """Validate an in-memory image; ``name`` appears in error messages."""
        if data[:4] == b"\x7fELF":
            raise BootError(
                f"{name} is an ELF file (a vmlinux or a PVH kernel), not a bzImage; "
                "boot it through the PVH/ELF loader instead"
            )
        try:
            hdr = SetupHeader.from_bytes(data)
            _validate(hdr, data)
        except BootError as exc:
            raise BootError(f"{name}: {exc}") from None
        image = cls(name=name, setup_header=hdr, kernel_bytes=bytes(data[hdr.setup_size :]))
        log.debug(
            "%s: boot protocol %s, %d setup sectors, %d kernel bytes for %#x",
            name,
            hdr.protocol,
            hdr.setup_sects,
            len(image.kernel_bytes),
            image.load_address,
        )
        return image

    @property
    def load_address(self) -> int:
        """Guest physical address for :attr:`kernel_bytes`: ``code32_start`` (1 MiB for a bzImage)."""
        return self.setup_header.code32_start

    @property
    def entry64(self) -> int:
        """Guest physical address of the 64-bit entry point (``rsi`` = zero page)."""
        return self.load_address + ENTRY64_OFFSET

    @property
    def runtime_start(self) -> int:
        """Where the kernel decompresses itself to (boot.rst, "init_size" pseudo-code)."""
        hdr = self.setup_header
        if not hdr.relocatable:
            return hdr.pref_address
        return _align_up(max(self.load_address, hdr.pref_address), hdr.kernel_alignment)

    @property
    def kernel_end(self) -> int:
        """First guest physical byte above everything the kernel uses while it starts.

        That is the loaded image and the ``init_size`` bytes it decompresses into;
        an initrd must go above this.
        """
        loaded_end = self.load_address + len(self.kernel_bytes)
        return max(loaded_end, self.runtime_start + self.setup_header.init_size)

    @property
    def cmdline_max(self) -> int:
        """Longest command line the kernel accepts, not counting the terminating NUL."""
        return self.setup_header.cmdline_size

    @property
    def initrd_addr_max(self) -> int:
        """Highest guest physical address any byte of the initrd may occupy."""
        return self.setup_header.initrd_addr_max


def _validate(hdr: SetupHeader, data: bytes) -> None:
    """Check the header's values against each other and the file; raise BootError."""
    file_size = len(data)
    if not hdr.loadflags & LoadFlags.LOADED_HIGH:
        raise BootError(
            "this is a zImage (loadflags.LOADED_HIGH clear, loaded at 0x10000); "
            "ember boots only bzImage kernels"
        )
    if not hdr.xloadflags & XLoadFlags.XLF_KERNEL_64:
        raise BootError(
            "kernel has no 64-bit entry point (xloadflags.XLF_KERNEL_64 clear): a 32-bit "
            "kernel? ember boots x86-64 kernels only"
        )
    # (setup_sects+1)*512 >= 1024 always covers the header, which ends by 0x290.
    setup_size = hdr.setup_size
    if setup_size >= file_size:
        raise BootError(
            f"setup_sects={hdr.setup_sects} says the setup code is {setup_size} bytes but the "
            f"file is only {file_size} bytes: truncated file or not a bzImage"
        )
    kernel_size = file_size - setup_size
    if hdr.syssize == 0 or hdr.syssize * 16 > kernel_size:
        raise BootError(
            f"syssize says the protected-mode kernel is {hdr.syssize * 16} bytes, but the file "
            f"holds {kernel_size} bytes after the setup code: truncated file?"
        )
    if kernel_size <= ENTRY64_OFFSET:
        raise BootError(f"protected-mode kernel is only {kernel_size} bytes: no 64-bit entry point")
    if hdr.code32_start == 0 or hdr.code32_start + kernel_size > 1 << 32:
        raise BootError(
            f"code32_start {hdr.code32_start:#x} is not a usable load address for a "
            f"{kernel_size}-byte kernel"
        )
    if hdr.relocatable:
        if not _is_power_of_two(hdr.kernel_alignment):
            raise BootError(f"kernel_alignment {hdr.kernel_alignment:#x} is not a power of two")
        if 1 << hdr.min_alignment > hdr.kernel_alignment:
            raise BootError(
                f"min_alignment 2^{hdr.min_alignment} exceeds kernel_alignment "
                f"{hdr.kernel_alignment:#x}"
            )
    if hdr.cmdline_size == 0:
        raise BootError("cmdline_size is 0: the kernel accepts no command line")
    if hdr.initrd_addr_max == 0:
        raise BootError("initrd_addr_max is 0: nowhere to put an initrd")
    if hdr.init_size == 0:
        raise BootError("init_size is 0: the kernel does not say how much memory it needs")
    if hdr.payload_length and hdr.payload_offset + hdr.payload_length > kernel_size:
        raise BootError(
            f"compressed payload [{hdr.payload_offset:#x}, "
            f"{hdr.payload_offset + hdr.payload_length:#x}) runs past the end of the "
            f"{kernel_size}-byte kernel: truncated file?"
        )
    if hdr.handover_offset and hdr.handover_offset >= kernel_size:
        raise BootError(
            f"handover_offset {hdr.handover_offset:#x} is past the end of the "
            f"{kernel_size}-byte kernel"
        )
    if hdr.kernel_info_offset:
        start = setup_size + hdr.kernel_info_offset
        if hdr.kernel_info_offset + len(KERNEL_INFO_MAGIC) > kernel_size:
            raise BootError(
                f"kernel_info_offset {hdr.kernel_info_offset:#x} is past the end of the "
                f"{kernel_size}-byte kernel"
            )
        if data[start : start + len(KERNEL_INFO_MAGIC)] != KERNEL_INFO_MAGIC:
            raise BootError(
                f"kernel_info at kernel offset {hdr.kernel_info_offset:#x} lacks its "
                f"{KERNEL_INFO_MAGIC!r} magic: corrupt image"
            )


__all__ = [
    "BOOT_FLAG_MAGIC",
    "ENTRY64_OFFSET",
    "HDRS_MAGIC",
    "MIN_PROTOCOL",
    "SETUP_HEADER_FIELDS",
    "SETUP_HEADER_OFFSET",
    "BzImage",
    "HeaderField",
    "LoadFlags",
    "SetupHeader",
    "XLoadFlags",
]
