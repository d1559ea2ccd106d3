"""Loading a static RV64 ELF executable and building the Linux initial stack.

Only what a static executable needs: the ELF header, the program headers and
the PT_LOAD segments. Every field that is used is bounds-checked first, so a
truncated or hostile file ends in an :class:`ElfError` naming the problem.
"""

from __future__ import annotations

import os
import struct

from ember.isa.riscv.errors import ElfError
from ember.isa.riscv.memory import (
    LOAD_LIMIT,
    NULL_LIMIT,
    PAGE,
    SPACE_SIZE,
    STACK_SIZE,
    AddressSpace,
    page_up,
)
from ember.log import get_logger

log = get_logger(__name__)

EM_RISCV = 243
ET_EXEC, ET_DYN = 2, 3
PT_LOAD, PT_INTERP, PT_PHDR = 1, 3, 6
PF_X = 1
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
#: Where a static-pie (ET_DYN without an interpreter) is placed.
PIE_BASE = 0x40000

# auxv keys (include/uapi/linux/auxvec.h)
AT_NULL, AT_PHDR, AT_PHENT, AT_PHNUM, AT_PAGESZ, AT_BASE, AT_FLAGS, AT_ENTRY = 0, 3, 4, 5, 6, 7, 8, 9
AT_UID, AT_EUID, AT_GID, AT_EGID, AT_PLATFORM, AT_HWCAP, AT_CLKTCK = 11, 12, 13, 14, 15, 16, 17
AT_SECURE, AT_RANDOM, AT_EXECFN = 23, 25, 31
#: AT_HWCAP for RV64IMAFDC: one bit per single-letter extension ('a' is bit 0).
HWCAP_IMAFDC = sum(1 << (ord(c) - ord("a")) for c in "imafdc")


class Image:
    """What the loader placed in memory (a plain class: ``dataclasses`` is off
    the start-up path)."""

    __slots__ = ("brk", "entry", "phdr", "phnum")

    def __init__(self, entry: int, phdr: int, phnum: int, brk: int) -> None:
        self.entry = entry
        self.phdr = phdr
        self.phnum = phnum
        self.brk = brk


def load_elf(data: bytes, space: AddressSpace) -> Image:
    """Copy the PT_LOAD segments of ``data`` into ``space``."""
    if len(data) < EHDR.size:
        raise ElfError(f"file too short for an ELF header ({len(data)} bytes)")
    (ident, e_type, machine, _ver, entry, phoff, _shoff, _flags, _ehsize, phentsize,
     phnum, _shentsize, _shnum, _shstrndx) = EHDR.unpack_from(data)
    if ident[:4] != b"\x7fELF":
        raise ElfError("not an ELF file (bad magic)")
    if ident[4] != 2 or ident[5] != 1:
        raise ElfError("not a 64-bit little-endian ELF file; ember runs RV64 executables")
    if machine != EM_RISCV:
        raise ElfError(f"ELF machine is {machine}, not RISC-V ({EM_RISCV})")
    if e_type not in (ET_EXEC, ET_DYN):
        raise ElfError(f"ELF type {e_type} is not an executable")
    if phentsize != PHDR.size or phnum == 0:
        raise ElfError(f"bad program header table (entry size {phentsize}, count {phnum})")
    if phoff + phnum * PHDR.size > len(data):
        raise ElfError("program header table extends past the end of the file (truncated?)")
    phdrs = [PHDR.unpack_from(data, phoff + i * PHDR.size) for i in range(phnum)]
    if any(p[0] == PT_INTERP for p in phdrs):
        raise ElfError("dynamically linked executable; ember runs static ones (link with -static)")
    bias = PIE_BASE if e_type == ET_DYN else 0
    loads = [p for p in phdrs if p[0] == PT_LOAD]
    if not loads:
        raise ElfError("no PT_LOAD segment")
    end = 0
    phdr_addr = 0
    for p_type, p_flags, off, vaddr, _paddr, filesz, memsz, _align in phdrs:
        if p_type == PT_PHDR:
            phdr_addr = vaddr + bias
        if p_type != PT_LOAD:
            continue
        vaddr += bias
        if filesz > memsz:
            raise ElfError(f"segment at 0x{vaddr:x}: file size exceeds memory size")
        if off + filesz > len(data):
            raise ElfError(f"segment at 0x{vaddr:x} extends past the end of the file (truncated?)")
        if vaddr < NULL_LIMIT or vaddr + memsz > LOAD_LIMIT:
            raise ElfError(
                f"segment 0x{vaddr:x}-0x{vaddr + memsz:x} is outside the loadable range "
                f"0x{NULL_LIMIT:x}-0x{LOAD_LIMIT:x}")
        space.write(vaddr, data[off:off + filesz])
        if p_flags & PF_X:
            space.add_exec(vaddr, vaddr + memsz)
        if off <= phoff < off + filesz and not phdr_addr:
            phdr_addr = vaddr + (phoff - off)
        end = max(end, vaddr + memsz)
    if not space.executable(entry + bias):
        raise ElfError(f"entry point 0x{entry + bias:x} is not in an executable segment")
    space.brk_start = space.brk = page_up(end)
    return Image(entry + bias, phdr_addr, phnum, space.brk)


def build_stack(space: AddressSpace, image: Image, argv: list[str], env: list[str],
                execfn: str) -> int:
    """Lay out argc, argv, envp and auxv at the top of the stack; returns sp."""
    top = SPACE_SIZE - PAGE  # keep a page between the stack and the end of the space
    strings = bytearray()

    def put(blob: bytes) -> int:
        strings.extend(blob)
        return len(strings) - len(blob)  # offset, fixed up below

    arg_offs = [put(a.encode() + b"\0") for a in argv]
    env_offs = [put(e.encode() + b"\0") for e in env]
    exec_off = put(execfn.encode() + b"\0")
    plat_off = put(b"riscv64\0")
    rand_off = put(os.urandom(16))
    base = (top - len(strings)) & ~15
    if top - base > STACK_SIZE // 2:
        raise ElfError("arguments and environment do not fit on the guest stack")
    space.write(base, bytes(strings))
    aux = [
        (AT_PHDR, image.phdr), (AT_PHENT, PHDR.size), (AT_PHNUM, image.phnum),
        (AT_PAGESZ, PAGE), (AT_BASE, 0), (AT_FLAGS, 0), (AT_ENTRY, image.entry),
        (AT_UID, os.getuid()), (AT_EUID, os.geteuid()), (AT_GID, os.getgid()),
        (AT_EGID, os.getegid()), (AT_HWCAP, HWCAP_IMAFDC), (AT_CLKTCK, 100),
        (AT_SECURE, 0), (AT_RANDOM, base + rand_off), (AT_EXECFN, base + exec_off),
        (AT_PLATFORM, base + plat_off), (AT_NULL, 0),
    ]
    words = [len(argv)] + [base + o for o in arg_offs] + [0] + [base + o for o in env_offs] + [0]
    for key, value in aux:
        words += [key, value]
    sp = (base - 8 * len(words)) & ~15
    space.write(sp, struct.pack(f"<{len(words)}Q", *words))
    return sp
