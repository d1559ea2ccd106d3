"""One I/O bus for port I/O and one for MMIO: sorted, non-overlapping ranges (kvmtool mmio.c).

A guest exit at an address finds the device whose range holds it and calls
``read(offset, size)``/``write(offset, value, size)`` with the offset from the
device's base. Addresses with no device are counted by the caller and read as
all ones, like an unclaimed ISA/PCI cycle.
"""

from __future__ import annotations

import bisect

from ember.record import Record
from ember.vmm.errors import VmError

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Protocol

    class BusDevice(Protocol):
        def read(self, offset: int, size: int) -> int: ...

        def write(self, offset: int, value: int, size: int) -> None: ...


class BusRange(Record):
    __slots__ = ("base", "device", "length", "name")

    def __init__(self, base: int, length: int, device: BusDevice, name: str) -> None:
        self.base = base
        self.length = length
        self.device = device
        self.name = name

    @property
    def end(self) -> int:
        return self.base + self.length


class IoBus:
    def __init__(self, name: str) -> None:
        self.name = name
        self._bases: list[int] = []
        self._ranges: list[BusRange] = []

    def insert(self, base: int, length: int, device: BusDevice, name: str) -> None:
        if length <= 0:
            raise VmError(f"{self.name} bus: {name} has an empty range")
        i = bisect.bisect_left(self._bases, base)
        new = BusRange(base, length, device, name)
        if i > 0 and self._ranges[i - 1].end > base or i < len(self._ranges) and self._ranges[i].base < new.end:
            raise VmError(f"{self.name} bus: {name} at {base:#x}+{length:#x} overlaps another device")
        self._bases.insert(i, base)
        self._ranges.insert(i, new)

    def find(self, addr: int) -> BusRange | None:
        i = bisect.bisect_right(self._bases, addr) - 1
        if i >= 0:
            r = self._ranges[i]
            if addr < r.end:
                return r
        return None

    def __iter__(self) -> Iterator[BusRange]:
        return iter(self._ranges)
