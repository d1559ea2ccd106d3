"""CMOS RTC against a fixed, injectable clock: BCD/binary, 12/24 h, setting the time."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from device_fakes import RecordingIrq
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ember.devices.errors import DeviceAccessError, DeviceError, DeviceStateError
from ember.devices.legacy import rtc as r
from ember.devices.legacy.rtc import Rtc, RtcState

INDEX, DATA = 0, 1


class FakeClock:
    def __init__(self, when: datetime) -> None:
        self.now = when.timestamp()

    def __call__(self) -> float:
        return self.now


# A Wednesday.
WHEN = datetime(2026, 11, 25, 23, 9, 51, 500000, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(WHEN)


@pytest.fixture
def rtc(clock: FakeClock) -> Rtc:
    return Rtc(clock)


def get(rtc: Rtc, index: int) -> int:
    rtc.write(INDEX, index)
    return rtc.read(DATA)


def put(rtc: Rtc, index: int, value: int) -> None:
    rtc.write(INDEX, index)
    rtc.write(DATA, value)


def time_regs(rtc: Rtc) -> dict[str, int]:
    names = ("sec", "min", "hour", "dow", "day", "month", "year", "century")
    return {n: get(rtc, i) for n, i in zip(names, r.TIME_REGISTERS, strict=True)}


def test_ports() -> None:
    assert (Rtc.PORT_BASE, Rtc.PORT_LEN, Rtc.IRQ) == (0x70, 2, 8)


def test_bcd_24h_default(rtc: Rtc) -> None:
    assert get(rtc, r.REG_B) == r.B_24H
    assert time_regs(rtc) == {
        "sec": 0x51, "min": 0x09, "hour": 0x23, "dow": 4,
        "day": 0x25, "month": 0x11, "year": 0x26, "century": 0x20,
    }  # fmt: skip


def test_binary_mode(rtc: Rtc) -> None:
    put(rtc, r.REG_B, r.B_24H | r.B_DM_BINARY)
    assert time_regs(rtc) == {
        "sec": 51, "min": 9, "hour": 23, "dow": 4,
        "day": 25, "month": 11, "year": 26, "century": 20,
    }  # fmt: skip


@pytest.mark.parametrize(
    "hour, bcd, binary",
    [(0, 0x12, 12), (1, 0x01, 1), (11, 0x11, 11), (12, 0x92, 0x8C), (23, 0x91, 0x8B)],
)
def test_12_hour_mode(clock: FakeClock, hour: int, bcd: int, binary: int) -> None:
    clock.now = WHEN.replace(hour=hour).timestamp()
    rtc = Rtc(clock)
    put(rtc, r.REG_B, 0)  # 12 h, BCD
    assert get(rtc, r.HOURS) == bcd
    put(rtc, r.REG_B, r.B_DM_BINARY)
    assert get(rtc, r.HOURS) == binary


def test_time_follows_the_clock(rtc: Rtc, clock: FakeClock) -> None:
    clock.now += 9  # 23:10:00.5
    assert get(rtc, r.SECONDS) == 0x00 and get(rtc, r.MINUTES) == 0x10


def test_set_time_with_set_bit(rtc: Rtc, clock: FakeClock) -> None:
    put(rtc, r.REG_B, r.B_24H | r.B_SET)
    frozen = time_regs(rtc)
    clock.now += 5
    assert time_regs(rtc) == frozen  # SET freezes the registers
    assert not get(rtc, r.REG_A) & r.A_UIP
    for index, value in [
        (r.SECONDS, 0x58), (r.MINUTES, 0x59), (r.HOURS, 0x23), (r.DAY_OF_MONTH, 0x31),
        (r.MONTH, 0x12), (r.YEAR, 0x99), (r.CENTURY, 0x19),
    ]:  # fmt: skip
        put(rtc, index, value)
    put(rtc, r.REG_B, r.B_24H)
    assert rtc.guest_datetime() == datetime(1999, 12, 31, 23, 59, 58, tzinfo=UTC)
    clock.now += 3
    regs = time_regs(rtc)
    assert (regs["century"], regs["year"], regs["month"], regs["day"]) == (0x20, 0x00, 0x01, 0x01)
    assert (regs["hour"], regs["min"], regs["sec"], regs["dow"]) == (0, 0, 0x01, 7)  # Saturday
    assert rtc.save().offset_seconds < 0


def test_set_time_in_binary_12h_mode(rtc: Rtc) -> None:
    # Mode first: SET freezes the bytes in the encoding they were latched in
    # (the chip does not convert them when DM changes).
    put(rtc, r.REG_B, r.B_DM_BINARY)
    put(rtc, r.REG_B, r.B_SET | r.B_DM_BINARY)
    put(rtc, r.HOURS, 0x80 | 12)  # 12 PM = noon
    put(rtc, r.REG_B, r.B_DM_BINARY)
    assert rtc.guest_datetime().hour == 12


def test_direct_write_without_set_moves_the_clock(rtc: Rtc) -> None:
    put(rtc, r.MINUTES, 0x30)
    assert rtc.guest_datetime() == datetime(2026, 11, 25, 23, 30, 51, tzinfo=UTC)


def test_impossible_time_is_kept_but_clock_unchanged(rtc: Rtc) -> None:
    put(rtc, r.REG_B, r.B_24H | r.B_SET)
    put(rtc, r.MONTH, 0x13)
    put(rtc, r.REG_B, r.B_24H)
    assert rtc.save().offset_seconds == 0
    put(rtc, r.DAY_OF_MONTH, 0x3A)  # not BCD
    assert rtc.save().offset_seconds == 0
    assert get(rtc, r.MONTH) == 0x11


def test_uip_in_the_last_244_us(rtc: Rtc, clock: FakeClock) -> None:
    assert get(rtc, r.REG_A) == r.DEFAULT_A
    clock.now = WHEN.replace(microsecond=999_900).timestamp()
    assert get(rtc, r.REG_A) == r.DEFAULT_A | r.A_UIP
    put(rtc, r.REG_A, 0xFF)
    assert get(rtc, r.REG_A) == 0xFF  # stored without bit 7, UIP derived
    clock.now = WHEN.replace(microsecond=0).timestamp()
    assert get(rtc, r.REG_A) == 0x7F


def test_update_flag_and_irq(clock: FakeClock) -> None:
    irq = RecordingIrq()
    rtc = Rtc(clock, irq)
    put(rtc, r.REG_A, 0x20)  # no periodic rate
    assert get(rtc, r.REG_C) == 0
    clock.now += 1
    assert get(rtc, r.REG_C) == r.C_UF  # flag without IRQF: UIE is off
    put(rtc, r.REG_B, r.B_24H | r.B_UIE)
    clock.now += 1
    rtc.poll()
    assert irq.level
    assert get(rtc, r.REG_C) == r.C_IRQF | r.C_UF
    assert not irq.level
    assert get(rtc, r.REG_C) == 0


def test_periodic_flag(rtc: Rtc, clock: FakeClock) -> None:
    put(rtc, r.REG_B, r.B_24H | r.B_PIE)
    get(rtc, r.REG_C)
    clock.now += 0.0005  # half a 1024 Hz period
    assert get(rtc, r.REG_C) == 0
    clock.now += 0.0006
    assert get(rtc, r.REG_C) == r.C_IRQF | r.C_PF


def test_set_clears_uie(rtc: Rtc) -> None:
    put(rtc, r.REG_B, r.B_SET | r.B_UIE | r.B_24H)
    assert get(rtc, r.REG_B) == r.B_SET | r.B_24H


def test_nvram_index_and_nmi_mask(rtc: Rtc) -> None:
    put(rtc, 0x40, 0xA5)
    assert get(rtc, 0x40) == 0xA5
    rtc.write(INDEX, 0x80 | 0x40)
    assert rtc.nmi_masked
    assert rtc.read(DATA) == 0xA5
    assert rtc.read(INDEX) == 0xFF
    rtc.write(INDEX, 0x7F)
    assert not rtc.nmi_masked
    rtc.write(DATA, 0x11)
    assert rtc.nvram()[0x7F] == 0x11


def test_read_only_registers(rtc: Rtc) -> None:
    put(rtc, r.REG_D, 0)
    assert get(rtc, r.REG_D) == r.D_VRT
    put(rtc, r.REG_C, 0xFF)
    assert get(rtc, r.REG_C) == 0


def test_memory_size_bytes(rtc: Rtc) -> None:
    rtc.set_memory_size(512 * r.MIB, 2048 * r.MIB)
    cmos = rtc.nvram()
    assert cmos[0x15] | cmos[0x16] << 8 == 640
    assert cmos[0x17] | cmos[0x18] << 8 == 0xFFFF  # 511 MiB of KiB does not fit
    assert cmos[0x30] | cmos[0x31] << 8 == 0xFFFF
    assert cmos[0x34] | cmos[0x35] << 8 == (512 - 16) * 16
    assert cmos[0x5B] | cmos[0x5C] << 8 | cmos[0x5D] << 16 == 2048 * 16
    rtc.set_memory_size(8 * r.MIB)
    cmos = rtc.nvram()
    assert cmos[0x17] | cmos[0x18] << 8 == 7 * 1024
    assert cmos[0x34] | cmos[0x35] << 8 == 0
    with pytest.raises(DeviceError):
        rtc.set_memory_size(-1)
    with pytest.raises(DeviceError):
        rtc.set_memory_size(5 * 1024 * r.MIB)


def test_bad_accesses(rtc: Rtc) -> None:
    with pytest.raises(DeviceAccessError):
        rtc.read(2)
    # A 16-bit write to 0x70 writes the index and the data byte in one go.
    rtc.write(INDEX, 0x5A40, 2)
    assert get(rtc, 0x40) == 0x5A


def test_save_restore_keeps_offset(rtc: Rtc, clock: FakeClock) -> None:
    put(rtc, r.MINUTES, 0x00)
    put(rtc, 0x50, 0x42)
    rtc.write(INDEX, 0x80 | 0x21)
    state = rtc.save()
    later = FakeClock(WHEN)
    later.now += 3600
    copy = Rtc.restore(state, later)
    assert copy.save() == state
    assert copy.guest_datetime() == datetime(2026, 11, 26, 0, 0, 51, tzinfo=UTC)
    assert copy.nmi_masked


def test_far_future_clock_is_clamped(clock: FakeClock) -> None:
    rtc = Rtc(clock)
    put(rtc, r.CENTURY, 0x99)
    put(rtc, r.YEAR, 0x99)
    put(rtc, r.MONTH, 0x12)
    put(rtc, r.DAY_OF_MONTH, 0x31)
    put(rtc, r.HOURS, 0x23)
    put(rtc, r.MINUTES, 0x59)
    clock.now += 10 * 365 * 86400
    assert get(rtc, r.CENTURY) == 0x99 and get(rtc, r.SECONDS) == 0x59


def _cmos(**changes: int) -> bytes:
    cmos = bytearray(r._default_cmos())
    for index, value in changes.items():
        cmos[int(index[1:], 16)] = value
    return bytes(cmos)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"cmos": bytes(127)}, "128 bytes"),
        ({"cmos": "x"}, "not bytes"),
        ({"cmos": _cmos(x0a=0xA6)}, "register A"),
        ({"cmos": _cmos(x0c=0x01)}, "register C"),
        ({"cmos": _cmos(x0d=0x00)}, "register D"),
        ({"index": 0x80}, "index"),
        ({"nmi_masked": 1}, "nmi_masked"),
        ({"offset_seconds": 1.5}, "offset"),
        ({"offset_seconds": 10**13}, "offset"),
    ],
)
def test_hostile_states_rejected(change: dict[str, object], message: str) -> None:
    state = replace(RtcState(cmos=r._default_cmos()), **change)  # type: ignore[arg-type]
    with pytest.raises(DeviceStateError, match=message):
        Rtc.restore(state, FakeClock(WHEN))


def test_alarm_flag_and_next_event_delay(clock: FakeClock) -> None:
    irq = RecordingIrq()
    rtc = Rtc(clock, irq)  # 23:09:51.5
    put(rtc, r.REG_A, 0x20)  # no periodic rate
    assert rtc.next_event_delay() is None  # nothing enabled
    put(rtc, r.HOURS_ALARM, 0x23)
    put(rtc, r.MINUTES_ALARM, 0x10)
    put(rtc, r.SECONDS_ALARM, 0x00)
    put(rtc, r.REG_B, r.B_24H | r.B_AIE)
    assert rtc.next_event_delay() == pytest.approx(8.5)
    clock.now += 8
    rtc.poll()
    assert not irq.level
    clock.now += 1  # 23:10:00.5
    rtc.poll()
    assert irq.level
    assert rtc.next_event_delay() is None  # IRQF is up until C is read
    assert get(rtc, r.REG_C) == r.C_IRQF | r.C_AF | r.C_UF
    assert not irq.level
    assert rtc.next_event_delay() == pytest.approx(86400 - 0.5)


def test_alarm_dont_care_and_12h(clock: FakeClock) -> None:
    rtc = Rtc(clock)
    put(rtc, r.REG_B, r.B_AIE)  # 12 h, BCD
    put(rtc, r.HOURS_ALARM, 0x91)  # 11 PM
    put(rtc, r.MINUTES_ALARM, 0xFF)  # any minute
    put(rtc, r.SECONDS_ALARM, 0xC0)  # any second
    assert rtc.next_event_delay() == pytest.approx(0.5)
    clock.now += 1
    assert get(rtc, r.REG_C) & r.C_AF
    put(rtc, r.HOURS_ALARM, 0x25)  # not an hour in 12 h mode: never matches
    assert rtc.next_event_delay() is None


def test_next_event_delay_for_update_and_periodic(rtc: Rtc) -> None:
    put(rtc, r.REG_B, r.B_24H | r.B_UIE)
    assert rtc.next_event_delay() == pytest.approx(0.5)
    put(rtc, r.REG_B, r.B_24H | r.B_PIE)  # rate 6 = 1024 Hz
    delay = rtc.next_event_delay()
    assert delay is not None and 0 <= delay <= 1 / 1024


def _brute_next_alarm(hours: set[int], minutes: set[int], seconds: set[int], after: int) -> int:
    t = after + 1
    while True:
        tod = t % 86400
        if tod // 3600 in hours and tod // 60 % 60 in minutes and tod % 60 in seconds:
            return t
        t += 1


field = st.one_of(st.just(None), st.integers(0, 59))


@settings(max_examples=25, deadline=None)
# Boundaries: the last seconds of a minute, an hour and a day.
@example(5, 59, 59, 5 * 3600 + 3598)
@example(5, None, None, 5 * 3600 + 3598)
@example(None, 30, 59, 30 * 60 + 58)
@example(None, None, 59, 58)
@example(0, 0, 0, 86399)
@example(23, 59, 59, 86400 + 86398)
@given(st.one_of(st.just(None), st.integers(0, 23)), field, field, st.integers(0, 2 * 86400))
def test_next_alarm_matches_brute_force(
    hour: int | None, minute: int | None, second: int | None, after: int
) -> None:
    rtc = Rtc(FakeClock(WHEN))
    put(rtc, r.REG_B, r.B_24H | r.B_DM_BINARY)
    for index, value in (
        (r.HOURS_ALARM, hour),
        (r.MINUTES_ALARM, minute),
        (r.SECONDS_ALARM, second),
    ):
        put(rtc, index, 0xFF if value is None else value)
    expected = _brute_next_alarm(
        set(range(24)) if hour is None else {hour},
        set(range(60)) if minute is None else {minute},
        set(range(60)) if second is None else {second},
        after,
    )
    assert rtc._next_alarm(after) == expected
