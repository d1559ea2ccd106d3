"""The user-space IOAPIC: registers, edge and level delivery, EOI, routes, state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ember.devices.errors import DeviceAccessError, DeviceStateError
from ember.devices.legacy.ioapic import (
    IOEOI,
    IOREGSEL,
    IOWIN,
    NUM_PINS,
    RTE_MASKED,
    Ioapic,
    entry_to_msi,
)
from ember.devices.legacy.state import IoapicState

LEVEL, ACTIVE_LOW, LOGICAL = 1 << 15, 1 << 13, 1 << 11


class Recorder:
    def __init__(self) -> None:
        self.msis: list[tuple[int, int]] = []
        self.routes: list[tuple[tuple[int, int, int], ...]] = []

    def deliver(self, address: int, data: int) -> None:
        self.msis.append((address, data))

    def set_routes(self, routes: object) -> None:
        self.routes.append(tuple(routes))  # type: ignore[arg-type]


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def ioapic(rec: Recorder) -> Ioapic:
    return Ioapic(rec.deliver, rec.set_routes, ioapic_id=2)


def reg_write(io: Ioapic, reg: int, value: int) -> None:
    io.write(IOREGSEL, reg, 4)
    io.write(IOWIN, value, 4)


def reg_read(io: Ioapic, reg: int) -> int:
    io.write(IOREGSEL, reg, 4)
    return io.read(IOWIN, 4)


def program(io: Ioapic, pin: int, low: int, dest: int = 0) -> None:
    reg_write(io, 0x11 + 2 * pin, dest << 24)
    reg_write(io, 0x10 + 2 * pin, low)


def test_identification_registers(ioapic: Ioapic) -> None:
    assert reg_read(ioapic, 0x00) == 2 << 24
    assert reg_read(ioapic, 0x01) == 0x20 | (NUM_PINS - 1) << 16
    assert reg_read(ioapic, 0x02) == 2 << 24
    reg_write(ioapic, 0x00, 5 << 24)
    assert reg_read(ioapic, 0x00) == 5 << 24
    reg_write(ioapic, 0x01, 0)  # read-only
    assert reg_read(ioapic, 0x01) & 0xFF == 0x20
    assert reg_read(ioapic, 0x3F + 2) == 0  # past the last entry


def test_entries_start_masked_and_keep_read_only_bits(ioapic: Ioapic) -> None:
    for pin in range(NUM_PINS):
        assert reg_read(ioapic, 0x10 + 2 * pin) == RTE_MASKED
        assert reg_read(ioapic, 0x11 + 2 * pin) == 0
    reg_write(ioapic, 0x10, 0xFFFF_FFFF)  # delivery status and remote IRR are read-only
    assert reg_read(ioapic, 0x10) == 0xFFFF_FFFF & ~(1 << 12) & ~(1 << 14) & 0x1FFFF
    reg_write(ioapic, 0x11, 0xFFFF_FFFF)
    assert reg_read(ioapic, 0x11) == 0xFF00_0000


def test_edge_pin_delivers_its_msi_once_per_rising_edge(ioapic: Ioapic, rec: Recorder) -> None:
    program(ioapic, 4, 0x31, dest=1)
    ioapic.set_level(4, True)
    ioapic.set_level(4, True)  # still high: no new edge
    ioapic.set_level(4, False)
    ioapic.set_level(4, True)
    assert rec.msis == [(0xFEE0_1000, 0x31)] * 2
    assert rec.routes == []  # edge pins need no EOI exits, so no routing-table updates


def test_masked_edge_is_latched_until_unmasked(ioapic: Ioapic, rec: Recorder) -> None:
    program(ioapic, 1, 0x40 | RTE_MASKED)
    ioapic.set_level(1, True)
    ioapic.set_level(1, False)
    assert rec.msis == []
    program(ioapic, 1, 0x40)
    assert rec.msis == [(0xFEE0_0000, 0x40)]


def test_level_pin_waits_for_eoi_and_fires_again_while_high(ioapic: Ioapic, rec: Recorder) -> None:
    program(ioapic, 9, 0x50 | LEVEL)
    assert rec.routes[-1] == ((9, 0xFEE0_0000, 0x50 | 0xC000),)
    ioapic.set_level(9, True)
    ioapic.set_level(9, True)
    assert rec.msis == [(0xFEE0_0000, 0x50 | 0xC000)]
    assert reg_read(ioapic, 0x10 + 18) & (1 << 14)  # remote IRR
    ioapic.end_of_interrupt(0x51)  # another vector: no effect
    assert len(rec.msis) == 1
    ioapic.end_of_interrupt(0x50)  # line still high: fires again
    assert len(rec.msis) == 2
    ioapic.set_level(9, False)
    ioapic.write(IOEOI, 0x50, 4)  # EOI register (version 0x20)
    assert len(rec.msis) == 2
    assert not reg_read(ioapic, 0x10 + 18) & (1 << 14)


def test_routes_change_only_when_level_entries_change(ioapic: Ioapic, rec: Recorder) -> None:
    program(ioapic, 3, 0x60 | LEVEL)
    n = len(rec.routes)
    program(ioapic, 3, 0x60 | LEVEL)  # rewritten unchanged (Linux does this)
    program(ioapic, 5, 0x70)  # an edge pin
    assert len(rec.routes) == n
    program(ioapic, 3, 0x60 | LEVEL | RTE_MASKED)
    assert rec.routes[-1] == ()


def test_active_low_pins_assert_on_low(ioapic: Ioapic, rec: Recorder) -> None:
    ioapic.set_level(10, True)  # idle level of an active-low line
    program(ioapic, 10, 0x22 | LEVEL | ACTIVE_LOW)
    assert rec.msis == []
    ioapic.set_level(10, False)
    assert rec.msis == [(0xFEE0_0000, 0x22 | 0xC000)]


def test_logical_destination_and_delivery_mode_reach_the_msi() -> None:
    assert entry_to_msi(0x41 | LOGICAL | (1 << 8) | (0x3 << 56)) == (0xFEE0_3004, 0x141)


@pytest.mark.parametrize("offset,size", [(0, 1), (0, 2), (0, 8), (2, 4), (0x1000, 4), (-4, 4)])
def test_bad_accesses_are_refused(ioapic: Ioapic, offset: int, size: int) -> None:
    with pytest.raises(DeviceAccessError, match="aligned 4-byte"):
        ioapic.read(offset, size)
    with pytest.raises(DeviceAccessError):
        ioapic.write(offset, 0, size)


def test_unknown_offsets_read_zero(ioapic: Ioapic) -> None:
    assert ioapic.read(0x20, 4) == 0
    ioapic.write(0x20, 0xFFFF_FFFF, 4)


def test_state_round_trip(ioapic: Ioapic, rec: Recorder) -> None:
    program(ioapic, 9, 0x50 | LEVEL, dest=1)
    ioapic.set_level(9, True)
    saved = ioapic.save()
    other_rec = Recorder()
    other = Ioapic(other_rec.deliver, other_rec.set_routes)
    other.restore(saved)
    assert other.save() == saved
    assert other_rec.routes[-1] == ((9, 0xFEE0_1000, 0x50 | 0xC000),)
    other.end_of_interrupt(0x50)  # the remote IRR came along: the EOI re-fires the high line
    assert other_rec.msis == [(0xFEE0_1000, 0x50 | 0xC000)]


@pytest.mark.parametrize("bad", [
    IoapicState(entries=(0,) * 3),
    IoapicState(id=16, entries=(0,) * NUM_PINS),
    IoapicState(irr=1 << NUM_PINS, entries=(0,) * NUM_PINS),
    IoapicState(entries=(1 << 40,) + (0,) * (NUM_PINS - 1)),
    IoapicState(lines=True, entries=(0,) * NUM_PINS),  # type: ignore[arg-type]
])
def test_corrupt_state_is_refused_and_nothing_changes(ioapic: Ioapic, bad: IoapicState) -> None:
    before = ioapic.save()
    with pytest.raises(DeviceStateError, match="corrupt"):
        ioapic.restore(bad)
    assert ioapic.save() == before


_ops = st.one_of(
    st.tuples(st.just("write"), st.sampled_from([0, 0x10, 0x40, 0x20]), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("read"), st.sampled_from([0, 0x10, 0x40]), st.just(0)),
    st.tuples(st.just("line"), st.integers(0, NUM_PINS - 1), st.booleans()),
    st.tuples(st.just("eoi"), st.integers(0, 255), st.just(0)),
)


@given(st.lists(_ops, max_size=60))
def test_any_guest_sequence_keeps_the_chip_consistent(ops: list[tuple[str, int, int]]) -> None:
    rec = Recorder()
    io = Ioapic(rec.deliver, rec.set_routes)
    for kind, a, b in ops:
        if kind == "write":
            io.write(a, b, 4)
        elif kind == "read":
            assert 0 <= io.read(a, 4) < 2**32
        elif kind == "line":
            io.set_level(a, bool(b))
        else:
            io.end_of_interrupt(a)
    state = io.save()
    for entry in state.entries:
        assert not entry & (1 << 14) or entry & LEVEL  # remote IRR only on level pins
        assert not entry & (1 << 12)
    for address, data in rec.msis:
        assert address & 0xFFF0_0000 == 0xFEE0_0000
        assert data < 1 << 16
    Ioapic(Recorder().deliver).restore(state)  # whatever a guest does can be saved and restored
