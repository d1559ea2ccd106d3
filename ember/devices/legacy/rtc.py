"""The MC146818 CMOS real-time clock and its 128 bytes of NVRAM (ports 0x70/0x71).

Port 0x70 (offset 0) selects a CMOS byte with bits 6:0; bit 7 masks NMIs on a
PC (remembered and reported, nothing else: the VMM injects no NMIs from
here). Port 0x71 (offset 1) reads or writes the selected byte. Port 0x70 is
write-only on real boards and reads 0xff here.

The clock is the host's real time in UTC, from an injectable ``clock()``
(seconds since the epoch, ``time.time`` by default), plus a whole-second
offset the guest creates by setting the time. Registers:

* 0x00/0x02/0x04 seconds, minutes, hours; 0x06 day of week (1 = Sunday);
  0x07 day of month; 0x08 month; 0x09 year within the century; 0x32 century.
  Encoded in BCD, or binary when register B's DM bit (0x04) is set; hours in
  12-hour form (bit 7 = PM) unless register B bit 1 selects 24 hours. Reads
  return the time of the read; nothing needs to "tick".
* Register A: bit 7 UIP is set during the last 244 us of every second, the
  window in which the data sheet says an update is about to start (our update
  itself is instantaneous, so the time registers are never inconsistent). The
  divider and rate bits are stored; the divider does not stop the clock.
* Register B: bit 7 SET freezes the time registers so the guest can write a
  new time; clearing SET (or writing a time register while SET is clear)
  makes the written time current. Setting SET clears UIE, as on the chip.
* Register C: interrupt flags, cleared by reading. UF (update ended) and PF
  (periodic) are computed when C is read or when the VMM calls :meth:`poll`:
  UF if a second boundary passed since the last look, PF if at least one
  period of the rate in register A passed. IRQ 8 is driven from
  ``IRQF = flags & enables`` at those moments only, so without ``poll()``
  calls no RTC interrupt is delivered on time; :meth:`Rtc.next_event_delay`
  tells the VMM when the next enabled event is due, so it can arm a timer.
  AF (alarm) is set when a second matching the alarm bytes 0x01/0x03/0x05
  (0xc0-0xff = any value) passed since the last look.
* Register D: bit 7 VRT, "RAM and time valid", always set.

A guest write of an impossible time (bad BCD, month 13, February 30) is kept
in the registers but does not move the clock; it is logged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from ember.devices.errors import DeviceError, DeviceStateError
from ember.devices.legacy.irq import NoIrqLine
from ember.devices.legacy.pio import PioDevice, check_byte
from ember.log import get_logger

TYPE_CHECKING = False  # typing and dataclasses stay off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from datetime import datetime
    from typing import ClassVar

    from ember.devices.legacy.irq import IrqLine
    from ember.devices.legacy.state import RtcState

log = get_logger(__name__)

INDEX = 0  # port 0x70
DATA = 1  # port 0x71
INDEX_MASK = 0x7F
NMI_DISABLE = 0x80

CMOS_SIZE = 128

# Clock registers.
SECONDS = 0x00
SECONDS_ALARM = 0x01
MINUTES = 0x02
MINUTES_ALARM = 0x03
HOURS = 0x04
HOURS_ALARM = 0x05
DAY_OF_WEEK = 0x06
DAY_OF_MONTH = 0x07
MONTH = 0x08
YEAR = 0x09
REG_A = 0x0A
REG_B = 0x0B
REG_C = 0x0C
REG_D = 0x0D
CENTURY = 0x32  # the IBM PC/AT place, the one ACPI's FADT names by default
TIME_REGISTERS = (SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DAY_OF_MONTH, MONTH, YEAR, CENTURY)

# Register A.
A_UIP = 0x80
A_DIVIDER_MASK = 0x70
A_RATE_MASK = 0x0F
#: 32.768 kHz time base, 1024 Hz periodic rate: what firmware leaves behind.
DEFAULT_A = 0x26
#: UIP rises this long before each update.
UIP_LEAD_SECONDS = 244e-6

# Register B.
B_SET = 0x80
B_PIE = 0x40
B_AIE = 0x20
B_UIE = 0x10
B_SQWE = 0x08
B_DM_BINARY = 0x04
B_24H = 0x02
B_DSE = 0x01
DEFAULT_B = B_24H

# Register C.
C_IRQF = 0x80
C_PF = 0x40
C_AF = 0x20
C_UF = 0x10

# Register D.
D_VRT = 0x80

HOUR_PM = 0x80
#: An alarm byte with both top bits set matches every value.
ALARM_DONT_CARE = 0xC0
SECONDS_PER_DAY = 86400

# Memory-size bytes, as PC firmware and QEMU lay them out.
BASE_MEMORY_LO, BASE_MEMORY_HI = 0x15, 0x16  # KiB below 640 KiB
EXT_MEMORY_LO, EXT_MEMORY_HI = 0x17, 0x18  # KiB above 1 MiB (max 0xffff)
EXT_MEMORY2_LO, EXT_MEMORY2_HI = 0x30, 0x31  # same, second copy
MEM_ABOVE_16M_LO, MEM_ABOVE_16M_HI = 0x34, 0x35  # 64 KiB units above 16 MiB
MEM_ABOVE_4G = (0x5B, 0x5C, 0x5D)  # 64 KiB units above 4 GiB, 24 bits
KIB = 1024
MIB = 1024 * KIB
BASE_MEMORY_KIB = 640

#: Latest time the registers can show (century 99, year 99).
#: 9999-12-31 23:59:59 and 0001-01-01 00:00:00 UTC: what datetime can represent.
_MAX_TIMESTAMP = 253_402_300_799
_MIN_TIMESTAMP = -62_135_596_800
#: Bound on a saved offset: far beyond any clock the registers can show.
_MAX_OFFSET = _MAX_TIMESTAMP - _MIN_TIMESTAMP


def _default_cmos() -> bytes:
    cmos = bytearray(CMOS_SIZE)
    cmos[REG_A] = DEFAULT_A
    cmos[REG_B] = DEFAULT_B
    cmos[REG_D] = D_VRT
    return bytes(cmos)


class Rtc(PioDevice):
    """An MC146818 RTC showing host UTC time, with its battery-backed NVRAM."""

    NAME: ClassVar[str] = "rtc"
    PORT_BASE: ClassVar[int] = 0x70
    PORT_LEN: ClassVar[int] = 2
    IRQ: ClassVar[int] = 8

    def __init__(self, clock: Callable[[], float] = time.time, irq: IrqLine | None = None) -> None:
        super().__init__()
        self._clock = clock
        self._irq: IrqLine = irq or NoIrqLine()
        self._irq_level = False
        self._cmos = bytearray(_default_cmos())
        self._index = 0
        self._nmi_masked = False
        self._offset = 0
        now = self._guest_time()
        self._last_second = math.floor(now)
        self._last_periodic = now
        self._bad_time_writes = 0

    # -- host side -------------------------------------------------------------

    @property
    def nmi_masked(self) -> bool:
        with self._lock:
            return self._nmi_masked

    @property
    def irq_level(self) -> bool:
        with self._lock:
            return self._irq_level

    def guest_datetime(self) -> datetime:
        """The time the guest's clock shows now (UTC)."""
        with self._lock:
            return self._datetime(self._guest_time())

    def poll(self) -> None:
        """Update the interrupt flags from the clock and drive IRQ 8.

        Call it when :meth:`next_event_delay` says, or periodically.
        """
        with self._lock:
            self._refresh_flags()

    def next_event_delay(self) -> float | None:
        """Seconds until ``poll()`` would raise IRQ 8, or None if nothing is due.

        Counts only enabled interrupts (UIE, PIE, AIE in register B) and
        nothing while IRQF is already set (the line is high until the guest
        reads register C). The VMM can arm a timer with this instead of polling.
        """
        with self._lock:
            b = self._cmos[REG_B]
            if self._cmos[REG_C] & C_IRQF:
                return None
            now = self._guest_time()
            second = math.floor(now)
            delays = []
            if b & B_UIE and not b & B_SET:
                delays.append(second + 1 - now)
            period = self._periodic_seconds()
            if b & B_PIE and period is not None:
                delays.append(max(self._last_periodic + period - now, 0.0))
            if b & B_AIE and not b & B_SET:
                alarm = self._next_alarm(second)
                if alarm is not None:
                    delays.append(alarm - now)
            return min(delays) if delays else None

    def set_memory_size(self, below_4g: int, above_4g: int = 0) -> None:
        """Fill the firmware memory-size bytes for ``below_4g``/``above_4g`` bytes of RAM.

        Same layout as PC firmware and QEMU: 640 KiB base memory (0x15/0x16),
        KiB above 1 MiB (0x17/0x18 and 0x30/0x31, at most 0xffff), 64 KiB
        blocks above 16 MiB (0x34/0x35, at most 0xffff) and above 4 GiB
        (0x5b-0x5d, 24 bits).
        """
        for name, value in (("below_4g", below_4g), ("above_4g", above_4g)):
            if not isinstance(value, int) or value < 0:
                raise DeviceError(f"rtc: memory size {name}={value!r} must be a non-negative int")
        if below_4g > 4 * 1024 * MIB:
            raise DeviceError(f"rtc: below_4g={below_4g} is more than 4 GiB")
        ext_kib = min(max(below_4g - MIB, 0) // KIB, 0xFFFF)
        above_16m = min(max(below_4g - 16 * MIB, 0) // (64 * KIB), 0xFFFF)
        high = min(above_4g // (64 * KIB), 0xFFFFFF)
        with self._lock:
            cmos = self._cmos
            cmos[BASE_MEMORY_LO], cmos[BASE_MEMORY_HI] = (
                BASE_MEMORY_KIB & 0xFF,
                BASE_MEMORY_KIB >> 8,
            )
            cmos[EXT_MEMORY_LO], cmos[EXT_MEMORY_HI] = ext_kib & 0xFF, ext_kib >> 8
            cmos[EXT_MEMORY2_LO], cmos[EXT_MEMORY2_HI] = ext_kib & 0xFF, ext_kib >> 8
            cmos[MEM_ABOVE_16M_LO], cmos[MEM_ABOVE_16M_HI] = above_16m & 0xFF, above_16m >> 8
            for i, port in enumerate(MEM_ABOVE_4G):
                cmos[port] = (high >> (8 * i)) & 0xFF

    def nvram(self) -> bytes:
        """A copy of the 128 CMOS bytes as stored (time bytes as last latched)."""
        with self._lock:
            return bytes(self._cmos)

    # -- registers ---------------------------------------------------------------

    def _read_byte(self, offset: int) -> int:
        if offset == INDEX:
            return 0xFF  # the index latch is write-only
        index = self._index
        if index in TIME_REGISTERS:
            if self._cmos[REG_B] & B_SET:
                return self._cmos[index]  # frozen for the guest to edit
            return self._time_field(index, self._datetime(self._guest_time()))
        if index == REG_A:
            return self._cmos[REG_A] | (A_UIP if self._update_in_progress() else 0)
        if index == REG_C:
            self._refresh_flags()
            value = self._cmos[REG_C]
            self._cmos[REG_C] = 0
            self._update_irq()
            return value
        if index == REG_D:
            return D_VRT
        return self._cmos[index]

    def _write_byte(self, offset: int, value: int) -> None:
        if offset == INDEX:
            self._index = value & INDEX_MASK
            self._nmi_masked = bool(value & NMI_DISABLE)
            return
        index = self._index
        cmos = self._cmos
        if index in TIME_REGISTERS:
            if cmos[REG_B] & B_SET:
                cmos[index] = value
            else:
                self._latch_time()
                cmos[index] = value
                self._commit_time()
        elif index == REG_A:
            cmos[REG_A] = value & ~A_UIP
        elif index == REG_B:
            old = cmos[REG_B]
            if value & B_SET:
                value &= ~B_UIE
                if not old & B_SET:
                    self._latch_time()  # freeze what the guest is about to edit
            cmos[REG_B] = value
            if old & B_SET and not value & B_SET:
                self._commit_time()
            self._update_irq()
        elif index in (REG_C, REG_D):
            log.debug("rtc: write %#04x to read-only register %#04x ignored", value, index)
        else:
            cmos[index] = value

    # -- the clock ------------------------------------------------------------------

    def _guest_time(self) -> float:
        return self._clock() + self._offset

    @staticmethod
    def _datetime(seconds: float) -> datetime:
        from datetime import UTC, datetime  # on first clock read: keeps start-up lean

        clamped = min(max(math.floor(seconds), _MIN_TIMESTAMP), _MAX_TIMESTAMP)
        return datetime.fromtimestamp(clamped, tz=UTC)

    def _update_in_progress(self) -> bool:
        if self._cmos[REG_B] & B_SET:
            return False
        now = self._guest_time()
        return now - math.floor(now) >= 1.0 - UIP_LEAD_SECONDS

    def _encode(self, value: int) -> int:
        if self._cmos[REG_B] & B_DM_BINARY:
            return value
        return (value // 10) << 4 | value % 10

    def _decode(self, byte: int) -> int | None:
        if self._cmos[REG_B] & B_DM_BINARY:
            return byte
        hi, lo = byte >> 4, byte & 0x0F
        if hi > 9 or lo > 9:
            return None
        return hi * 10 + lo

    def _encode_hour(self, hour: int) -> int:
        if self._cmos[REG_B] & B_24H:
            return self._encode(hour)
        pm = HOUR_PM if hour >= 12 else 0
        return self._encode(hour % 12 or 12) | pm

    def _decode_hour(self, byte: int) -> int | None:
        if self._cmos[REG_B] & B_24H:
            return self._decode(byte)
        value = self._decode(byte & ~HOUR_PM)
        if value is None or not 1 <= value <= 12:
            return None
        return value % 12 + (12 if byte & HOUR_PM else 0)

    def _time_field(self, index: int, now: datetime) -> int:
        """One clock register's value for ``now`` in the current encoding."""
        if index == SECONDS:
            return self._encode(now.second)
        if index == MINUTES:
            return self._encode(now.minute)
        if index == HOURS:
            return self._encode_hour(now.hour)
        if index == DAY_OF_WEEK:
            return self._encode(now.isoweekday() % 7 + 1)  # Sunday = 1
        if index == DAY_OF_MONTH:
            return self._encode(now.day)
        if index == MONTH:
            return self._encode(now.month)
        if index == YEAR:
            return self._encode(now.year % 100)
        return self._encode(now.year // 100)  # CENTURY

    def _latch_time(self) -> None:
        """Write the current guest time into the time registers."""
        now = self._datetime(self._guest_time())
        for index in TIME_REGISTERS:
            self._cmos[index] = self._time_field(index, now)

    def _commit_time(self) -> None:
        """Make the time in the registers current, if it is a real time."""
        cmos = self._cmos
        fields = (
            self._decode(cmos[CENTURY]),
            self._decode(cmos[YEAR]),
            self._decode(cmos[MONTH]),
            self._decode(cmos[DAY_OF_MONTH]),
            self._decode_hour(cmos[HOURS]),
            self._decode(cmos[MINUTES]),
            self._decode(cmos[SECONDS]),
        )
        try:
            if any(f is None for f in fields):
                raise ValueError("not a number in the current BCD/binary mode")
            century, year, month, day, hour, minute, second = (int(f or 0) for f in fields)
            if century > 99 or year > 99:
                raise ValueError("century or year above 99")
            from datetime import UTC, datetime

            target = datetime(century * 100 + year, month, day, hour, minute, second, tzinfo=UTC)
        except ValueError as exc:
            self._bad_time_writes += 1
            log.warning("rtc: guest wrote an impossible time (%s); clock not changed", exc)
            return
        self._offset = int(target.timestamp()) - math.floor(self._clock())
        self._last_second = math.floor(self._guest_time())

    # -- interrupts -----------------------------------------------------------------

    def _periodic_seconds(self) -> float | None:
        rate = self._cmos[REG_A] & A_RATE_MASK
        if rate == 0:
            return None
        if rate < 3:
            rate += 7  # rates 1 and 2 repeat 8 and 9 with a 32.768 kHz base
        return float(1 << (rate - 1)) / 32768.0

    def _alarm_sets(self) -> tuple[range | tuple[int], ...] | None:
        """The hours, minutes and seconds the alarm matches; None if it can never match."""
        sets: list[range | tuple[int]] = []
        for index, limit in ((HOURS_ALARM, 24), (MINUTES_ALARM, 60), (SECONDS_ALARM, 60)):
            byte = self._cmos[index]
            if byte & ALARM_DONT_CARE == ALARM_DONT_CARE:
                sets.append(range(limit))
                continue
            value = self._decode_hour(byte) if index == HOURS_ALARM else self._decode(byte)
            if value is None or not 0 <= value < limit:
                return None
            sets.append((value,))
        return tuple(sets)

    def _next_alarm(self, after: int) -> int | None:
        """The first whole guest second later than ``after`` that the alarm matches."""
        sets = self._alarm_sets()
        if sets is None:
            return None
        hours, minutes, seconds = sets
        day_start = after - after % SECONDS_PER_DAY
        time_of_day = after - day_start
        for day in (0, SECONDS_PER_DAY):  # every pattern matches within a day
            for h in hours:
                if day == 0 and (h + 1) * 3600 <= time_of_day + 1:
                    continue  # the whole hour is already past
                for m in minutes:
                    base = day + h * 3600 + m * 60
                    if base + 59 <= time_of_day:
                        continue
                    for sec in seconds:
                        if base + sec > time_of_day:
                            return day_start + base + sec
        return None

    def _refresh_flags(self) -> None:
        now = self._guest_time()
        second = math.floor(now)
        flags = 0
        if not self._cmos[REG_B] & B_SET and second > self._last_second:
            flags |= C_UF
            alarm = self._next_alarm(self._last_second)
            if alarm is not None and alarm <= second:
                flags |= C_AF
        self._last_second = second
        period = self._periodic_seconds()
        if period is not None and now - self._last_periodic >= period:
            flags |= C_PF
            self._last_periodic = now
        self._cmos[REG_C] |= flags
        self._update_irq()

    def _update_irq(self) -> None:
        c = self._cmos[REG_C] & (C_PF | C_AF | C_UF)
        enables = self._cmos[REG_B]
        fired = (
            (c & C_PF and enables & B_PIE)
            or (c & C_AF and enables & B_AIE)
            or (c & C_UF and enables & B_UIE)
        )
        self._cmos[REG_C] = c | (C_IRQF if fired else 0)
        level = bool(fired)
        if level != self._irq_level:
            self._irq_level = level
            self._irq.set_level(level)

    # -- state ----------------------------------------------------------------------

    def save(self) -> RtcState:
        from ember.devices.legacy.state import RtcState

        with self._lock:
            return RtcState(
                cmos=bytes(self._cmos),
                index=self._index,
                nmi_masked=self._nmi_masked,
                offset_seconds=self._offset,
            )

    @classmethod
    def restore(
        cls,
        state: RtcState,
        clock: Callable[[], float] = time.time,
        irq: IrqLine | None = None,
    ) -> Rtc:
        """Rebuild the RTC; the guest keeps its offset from (the new host's) UTC."""
        from ember.devices.legacy.state import RtcState

        if not isinstance(state, RtcState):
            raise DeviceStateError(f"rtc: expected an RtcState, got {type(state).__name__}")
        if not isinstance(state.cmos, bytes) or len(state.cmos) != CMOS_SIZE:
            raise DeviceStateError(
                f"rtc: saved CMOS must be {CMOS_SIZE} bytes, got {len(state.cmos)!r}"
                if isinstance(state.cmos, bytes)
                else "rtc: saved CMOS is not bytes"
            )
        check_byte(cls.NAME, "index", state.index, INDEX_MASK)
        check_byte(cls.NAME, "register A", state.cmos[REG_A], 0xFF & ~A_UIP)
        check_byte(cls.NAME, "register C", state.cmos[REG_C], C_IRQF | C_PF | C_AF | C_UF)
        if state.cmos[REG_D] != D_VRT:
            raise DeviceStateError(f"rtc: saved register D {state.cmos[REG_D]:#04x} is not 0x80")
        if not isinstance(state.nmi_masked, bool):
            raise DeviceStateError("rtc: saved nmi_masked is not a bool")
        offset = state.offset_seconds
        if not isinstance(offset, int) or isinstance(offset, bool) or abs(offset) > _MAX_OFFSET:
            raise DeviceStateError(
                f"rtc: saved clock offset {offset!r} s is not a whole number of seconds "
                f"within {_MAX_OFFSET} of host time"
            )
        dev = cls(clock, irq)
        dev._cmos[:] = state.cmos
        dev._index = state.index
        dev._nmi_masked = state.nmi_masked
        dev._offset = offset
        dev._last_second = math.floor(dev._guest_time())
        dev._last_periodic = dev._guest_time()
        with dev._lock:
            dev._update_irq()
        return dev


_STATE_TYPES = ('RtcState',)


def __getattr__(name: str) -> object:
    # The plain-data state types live in ember.devices.legacy.state (dataclasses,
    # kept off the start-up path); they stay importable from here.
    if name in _STATE_TYPES:
        from ember.devices.legacy import state

        return getattr(state, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
