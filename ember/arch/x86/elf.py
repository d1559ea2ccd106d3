"""A small ELF reader for kernels: program headers and notes, nothing else.

Hand-written rather than pyelftools because it runs on every ``ember run`` and
pyelftools costs ~70 ms to import, more than the whole boot we aim for. Every
offset and length is checked against the file, so a hostile or truncated image
gives a BootError, never an IndexError.
"""

from __future__ import annotations

import struct

from ember.arch.x86.errors import BootError
from ember.record import Record

ELF_MAGIC = b"\x7fELF"
ELFCLASS32, ELFCLASS64 = 1, 2
ELFDATA2LSB = 1
EM_386, EM_X86_64 = 3, 62
PT_LOAD, PT_NOTE = 1, 4
ET_EXEC = 2

_EHDR64 = struct.Struct("<16sHHIQQQIHHHHHH")
_EHDR32 = struct.Struct("<16sHHIIIIIHHHHHH")
_PHDR64 = struct.Struct("<IIQQQQQQ")
_PHDR32 = struct.Struct("<IIIIIIII")
_NHDR = struct.Struct("<III")


class Segment(Record):
    """A PT_LOAD program header: file bytes to copy to a guest-physical address."""

    __slots__ = ("file_offset", "filesz", "memsz", "paddr")

    def __init__(self, paddr: int, file_offset: int, filesz: int, memsz: int) -> None:
        self.paddr = paddr
        self.file_offset = file_offset
        self.filesz = filesz
        self.memsz = memsz


class ElfImage(Record):
    __slots__ = ("entry", "notes", "path", "segments")

    def __init__(self, path: str, entry: int, segments: tuple[Segment, ...],
                 notes: tuple[tuple[bytes, int, bytes], ...]) -> None:
        self.path = path
        self.entry = entry
        self.segments = segments
        self.notes = notes  # (name, type, desc)

    def note(self, name: bytes, type_: int) -> bytes | None:
        for n, t, d in self.notes:
            if n == name and t == type_:
                return d
        return None


def is_elf(data: bytes) -> bool:
    return data[:4] == ELF_MAGIC


def parse_elf(data: bytes, path: str = "<kernel>") -> ElfImage:
    if len(data) < 52 or not is_elf(data):
        raise BootError(f"{path} is not an ELF file")
    klass, endian = data[4], data[5]
    if endian != ELFDATA2LSB:
        raise BootError(f"{path}: big-endian ELF cannot be an x86 kernel")
    if klass == ELFCLASS64:
        if len(data) < _EHDR64.size:
            raise BootError(f"{path}: ELF header truncated")
        (_, _etype, machine, _v, entry, phoff, _sh, _f, _eh, phentsize, phnum, *_rest) = _EHDR64.unpack_from(data)
        phdr = _PHDR64
    elif klass == ELFCLASS32:
        (_, _etype, machine, _v, entry, phoff, _sh, _f, _eh, phentsize, phnum, *_rest) = _EHDR32.unpack_from(data)
        phdr = _PHDR32
    else:
        raise BootError(f"{path}: unknown ELF class {klass}")
    if machine not in (EM_X86_64, EM_386):
        raise BootError(f"{path}: ELF machine {machine} is not x86 (need EM_X86_64 or EM_386)")
    if phentsize != phdr.size or phnum == 0 or phoff + phnum * phentsize > len(data):
        raise BootError(f"{path}: program headers are missing or run past the end of the file")
    segments, notes = [], []
    for i in range(phnum):
        fields = phdr.unpack_from(data, phoff + i * phentsize)
        if phdr is _PHDR64:
            p_type, _flags, off, _va, pa, filesz, memsz, _al = fields
        else:
            p_type, off, _va, pa, filesz, memsz, _flags, _al = fields
        if p_type in (PT_LOAD, PT_NOTE) and (off + filesz > len(data) or filesz > memsz and p_type == PT_LOAD):
            raise BootError(f"{path}: segment {i} runs past the end of the file")
        if p_type == PT_LOAD and memsz:
            segments.append(Segment(pa, off, filesz, memsz))
        elif p_type == PT_NOTE:
            notes.extend(_parse_notes(data[off:off + filesz], path))
    if not segments:
        raise BootError(f"{path}: no loadable segment")
    return ElfImage(path, entry, tuple(segments), tuple(notes))


def _parse_notes(blob: bytes, path: str) -> list[tuple[bytes, int, bytes]]:
    out = []
    pos = 0
    while pos + _NHDR.size <= len(blob):
        namesz, descsz, ntype = _NHDR.unpack_from(blob, pos)
        pos += _NHDR.size
        name_end = pos + namesz
        desc_start = pos + ((namesz + 3) & ~3)
        desc_end = desc_start + descsz
        if desc_end > len(blob):
            raise BootError(f"{path}: an ELF note runs past its segment")
        out.append((blob[pos:name_end].rstrip(b"\0"), ntype, blob[desc_start:desc_end]))
        pos = desc_start + ((descsz + 3) & ~3)
    return out
