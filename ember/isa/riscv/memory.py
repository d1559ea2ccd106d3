"""The guest's address space: one flat, lazily allocated host mapping.

A guest address *is* an offset into one anonymous host ``mmap`` (pages are only
backed when touched), which lets generated code access memory with a single
``struct.unpack_from(mem, addr)``: an address past the end raises, which the
engines turn into a guest fault. Layout, low to high::

    0 .. NULL_LIMIT           never mapped by the loader (programs start at 0x10000)
    ELF segments, then brk    heap grows up from the end of .bss
    ... gap ...
    mmap area                 anonymous/file mappings, allocated downwards
    stack                     STACK_SIZE below the top of the space

Limitation (documented in docs/isa.md): loads and stores into unmapped holes
*inside* the space read zeros instead of faulting; only instruction fetches are
checked against the mapped executable ranges.
"""

from __future__ import annotations

import mmap as _mmap

from ember.isa.riscv.errors import GuestFault
from ember.log import get_logger

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from typing import Literal

log = get_logger(__name__)

PAGE = 4096
#: Size of the emulated address space (virtual; pages are backed on first touch).
SPACE_SIZE = 1 << 30
#: Addresses below this are never part of a segment (catches null jumps).
NULL_LIMIT = 0x10000
STACK_SIZE = 8 << 20
#: Top of the mmap area; mappings are handed out downwards from here.
MMAP_TOP = SPACE_SIZE - STACK_SIZE - 16 * PAGE
#: Segments must end below this, so the heap and mmap area have room.
LOAD_LIMIT = SPACE_SIZE // 2
#: Names (in translated code) and struct formats of the typed memory views:
#: unsigned and signed halfwords, words and doublewords.
VIEW_FORMATS: dict[str, Literal["H", "h", "I", "i", "Q"]] = {"MH": "H", "MSH": "h", "MW": "I", "MSW": "i", "MQ": "Q"}


def page_up(n: int) -> int:
    return (n + PAGE - 1) & ~(PAGE - 1)


class AddressSpace:
    """Guest memory plus the bookkeeping brk/mmap and instruction fetches need.

    (A plain class, not a dataclass: ``dataclasses`` is off the start-up path.)
    """

    def __init__(self, size: int = SPACE_SIZE) -> None:
        self.size = size
        self.mem = _mmap.mmap(-1, size, flags=_mmap.MAP_PRIVATE | _mmap.MAP_ANONYMOUS)
        #: [lo, hi) ranges instruction fetch may read from.
        self.exec_ranges: list[tuple[int, int]] = []
        #: Pages lying wholly inside one executable range: instruction fetch
        #: checks a page number here instead of walking the ranges.
        self.exec_pages: set[int] = set()
        self.brk_start = 0
        self.brk = 0
        self.mmap_low = MMAP_TOP
        #: freed mmap regions (addr, length) available for reuse.
        self.free: list[tuple[int, int]] = []
        self._views: dict[str, memoryview] = {}

    def views(self) -> dict[str, memoryview]:
        """Typed views of the whole space for aligned accesses from translated
        code (``MQ[addr >> 3]``: one subscript instead of a struct call and a
        tuple). Released by :meth:`close`."""
        if not self._views:
            raw = memoryview(self.mem)
            self._views = {name: raw.cast(fmt) for name, fmt in VIEW_FORMATS.items()}
            self._views["_raw"] = raw
        return self._views

    def close(self) -> None:
        for view in self._views.values():
            view.release()
        self._views = {}
        self.mem.close()

    # -- raw access for the loader and syscalls (bounds-checked) ----------
    def check(self, addr: int, length: int) -> None:
        if addr < 0 or length < 0 or addr + length > self.size:
            raise GuestFault(f"access to unmapped memory 0x{addr:x} (+{length})")

    def read(self, addr: int, length: int) -> bytes:
        self.check(addr, length)
        return self.mem[addr:addr + length]

    def write(self, addr: int, data: bytes) -> None:
        self.check(addr, len(data))
        self.mem[addr:addr + len(data)] = data

    def cstring(self, addr: int, limit: int = 4096) -> bytes:
        self.check(addr, 1)
        end = self.mem.find(b"\0", addr, min(self.size, addr + limit))
        if end < 0:
            raise GuestFault(f"unterminated string at 0x{addr:x}")
        return self.mem[addr:end]

    def zero(self, addr: int, length: int) -> None:
        """Give [addr, addr+length) back its fresh-mapping contents (zeros)."""
        self.check(addr, length)
        lo, hi = page_up(addr), (addr + length) & ~(PAGE - 1)
        if hi > lo:
            # Dropping private anonymous pages zero-fills them without a copy.
            self.mem.madvise(_mmap.MADV_DONTNEED, lo, hi - lo)
            self.mem[addr:lo] = bytes(lo - addr)
            self.mem[hi:addr + length] = bytes(addr + length - hi)
        else:
            self.mem[addr:addr + length] = bytes(length)

    # -- instruction fetch ---------------------------------------------------
    def executable(self, addr: int, length: int = 2) -> bool:
        return any(lo <= addr and addr + length <= hi for lo, hi in self.exec_ranges)

    def _pages(self) -> None:
        pages: set[int] = set()
        for lo, hi in self.exec_ranges:
            pages.update(range(page_up(lo) // PAGE, hi // PAGE))
        self.exec_pages = pages

    def add_exec(self, lo: int, hi: int) -> None:
        self.exec_ranges.append((lo, hi))
        self._pages()

    def remove_exec(self, lo: int, hi: int) -> None:
        kept: list[tuple[int, int]] = []
        for a, b in self.exec_ranges:
            if b <= lo or a >= hi:
                kept.append((a, b))
                continue
            if a < lo:
                kept.append((a, lo))
            if b > hi:
                kept.append((hi, b))
        self.exec_ranges = kept
        self._pages()

    # -- brk and mmap ----------------------------------------------------------
    def set_brk(self, addr: int) -> int:
        """The brk syscall: move the break if possible; returns the current break."""
        if addr < self.brk_start or addr > self.mmap_low - PAGE:
            return self.brk
        if addr > self.brk:
            self.zero(self.brk, addr - self.brk)
        self.brk = addr
        return self.brk

    def map_anywhere(self, length: int) -> int | None:
        length = page_up(length)
        for i, (addr, size) in enumerate(self.free):
            if size >= length:
                if size == length:
                    del self.free[i]
                else:
                    self.free[i] = (addr + length, size - length)
                self.zero(addr, length)
                return addr
        low = self.mmap_low - length
        if low < page_up(self.brk) + PAGE:
            return None
        self.mmap_low = low
        return low

    def unmap(self, addr: int, length: int) -> None:
        length = page_up(length)
        self.remove_exec(addr, addr + length)
        if addr == self.mmap_low:
            self.mmap_low += length
        elif self.mmap_low < addr < MMAP_TOP:
            self.free.append((addr, length))
