"""Guest RAM: anonymous host mappings, each one KVM memory slot (rust-vmm vm-memory).

Every access is bounds-checked: an address or length that is not wholly inside
one region raises :class:`InvalidGuestAddress`, never touches host memory
outside the mapping. Devices get zero-copy ``memoryview`` slices with
:meth:`GuestMemory.view`.
"""

from __future__ import annotations

import ctypes
import mmap
import struct

from ember.memory.errors import InvalidGuestAddress
from ember.record import Record

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Iterator

PAGE_SIZE = 4096
_U8, _U16, _U32, _U64 = (struct.Struct(f) for f in ("<B", "<H", "<I", "<Q"))


class GuestRegion(Record):
    """One contiguous range of guest-physical memory backed by one host mapping."""

    __slots__ = ("guest_addr", "host_addr", "mapping", "size", "slot")

    def __init__(self, guest_addr: int, size: int, slot: int, mapping: mmap.mmap, host_addr: int = 0) -> None:
        self.guest_addr = guest_addr
        self.size = size
        self.slot = slot
        self.mapping = mapping
        self.host_addr = host_addr

    def __repr__(self) -> str:
        return f"GuestRegion(guest_addr={self.guest_addr:#x}, size={self.size:#x}, slot={self.slot})"

    @property
    def end(self) -> int:
        return self.guest_addr + self.size

    def contains(self, addr: int, length: int = 1) -> bool:
        return self.guest_addr <= addr and addr + length <= self.end


def _anonymous_mapping(size: int) -> tuple[mmap.mmap, int]:
    # MAP_NORESERVE: guest RAM is committed as the guest touches it, as in every VMM.
    flags = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS | getattr(mmap, "MAP_NORESERVE", 0)
    m = mmap.mmap(-1, size, flags=flags, prot=mmap.PROT_READ | mmap.PROT_WRITE)
    host = ctypes.addressof(ctypes.c_char.from_buffer(m))
    return m, host


class GuestMemory:
    """All guest RAM regions, sorted by guest address."""

    def __init__(self, layout: list[tuple[int, int]]) -> None:
        """*layout* is a list of (guest address, size) pairs, page aligned, not overlapping."""
        self.regions: list[GuestRegion] = []
        for slot, (gpa, size) in enumerate(sorted(layout)):
            if gpa % PAGE_SIZE or size % PAGE_SIZE or size <= 0:
                raise ValueError(f"region {gpa:#x}+{size:#x} is not page aligned")
            if self.regions and gpa < self.regions[-1].end:
                raise ValueError(f"region {gpa:#x} overlaps the previous one")
            m, host = _anonymous_mapping(size)
            self.regions.append(GuestRegion(gpa, size, slot, m, host))

    @property
    def total_size(self) -> int:
        return sum(r.size for r in self.regions)

    @property
    def end(self) -> int:
        return self.regions[-1].end if self.regions else 0

    def __iter__(self) -> Iterator[GuestRegion]:
        return iter(self.regions)

    def region_for(self, addr: int, length: int = 1) -> GuestRegion:
        if length < 0 or addr < 0:
            raise InvalidGuestAddress(addr, max(length, 0))
        for r in self.regions:
            if r.contains(addr, length):
                return r
        raise InvalidGuestAddress(addr, length)

    def is_valid(self, addr: int, length: int = 1) -> bool:
        try:
            self.region_for(addr, length)
        except InvalidGuestAddress:
            return False
        return True

    def host_address(self, addr: int) -> int:
        r = self.region_for(addr)
        return r.host_addr + (addr - r.guest_addr)

    def view(self, addr: int, length: int) -> memoryview:
        """A zero-copy view of guest memory (must lie within one region)."""
        r = self.region_for(addr, length)
        off = addr - r.guest_addr
        return memoryview(r.mapping)[off:off + length]

    def read(self, addr: int, length: int) -> bytes:
        r = self.region_for(addr, length)
        off = addr - r.guest_addr
        return r.mapping[off:off + length]

    def write(self, addr: int, data: bytes | bytearray | memoryview) -> None:
        n = len(data)
        r = self.region_for(addr, n)
        off = addr - r.guest_addr
        r.mapping[off:off + n] = data

    def fill(self, addr: int, length: int, byte: int = 0) -> None:
        self.write(addr, bytes([byte]) * length)

    def read_u8(self, addr: int) -> int:
        return int(_U8.unpack(self.read(addr, 1))[0])

    def read_u16(self, addr: int) -> int:
        return int(_U16.unpack(self.read(addr, 2))[0])

    def read_u32(self, addr: int) -> int:
        return int(_U32.unpack(self.read(addr, 4))[0])

    def read_u64(self, addr: int) -> int:
        return int(_U64.unpack(self.read(addr, 8))[0])

    def write_u8(self, addr: int, value: int) -> None:
        self.write(addr, _U8.pack(value))

    def write_u16(self, addr: int, value: int) -> None:
        self.write(addr, _U16.pack(value))

    def write_u32(self, addr: int, value: int) -> None:
        self.write(addr, _U32.pack(value))

    def write_u64(self, addr: int, value: int) -> None:
        self.write(addr, _U64.pack(value))

    def close(self) -> None:
        for r in self.regions:
            try:
                r.mapping.close()
            except BufferError:
                pass  # a view is still exported; the mapping is freed with the process
