"""The I/O bus: sorted, non-overlapping ranges; a lookup finds exactly the range holding the address."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ember.vmm.bus import IoBus
from ember.vmm.errors import VmError


class Dev:
    def read(self, offset: int, size: int) -> int:
        return offset

    def write(self, offset: int, value: int, size: int) -> None:
        pass


@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(1, 64)), max_size=30),
       st.lists(st.integers(0, 0x10040), max_size=50))
def test_find_agrees_with_a_linear_scan(ranges: list[tuple[int, int]], probes: list[int]) -> None:
    bus = IoBus("pio")
    accepted: list[tuple[int, int]] = []
    for base, length in ranges:
        overlaps = any(base < b + n and b < base + length for b, n in accepted)
        if overlaps:
            with pytest.raises(VmError, match="overlaps"):
                bus.insert(base, length, Dev(), f"d{base}")
        else:
            bus.insert(base, length, Dev(), f"d{base}")
            accepted.append((base, length))
    for addr in probes:
        expect = [b for b, n in accepted if b <= addr < b + n]
        found = bus.find(addr)
        assert (found.base if found else None) == (expect[0] if expect else None)


def test_empty_range_is_refused() -> None:
    with pytest.raises(VmError, match="empty range"):
        IoBus("mmio").insert(0x1000, 0, Dev(), "nothing")
