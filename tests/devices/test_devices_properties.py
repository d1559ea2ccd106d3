"""Property tests: arbitrary guest access sequences against every legacy device.

Whatever a guest (or a buggy caller) does, a device raises nothing but
DeviceAccessError for accesses it cannot decode, keeps its invariants, and its
saved state restores to an identical device.
"""

from __future__ import annotations

from typing import Any

from device_fakes import RecordingIrq, Sink
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ember.devices.errors import DeviceAccessError
from ember.devices.legacy import serial as s
from ember.devices.legacy.i8042 import CTR_AUXINT, CTR_KBDINT, FLAG_AUX, I8042, OUTPUT_QUEUE_SIZE
from ember.devices.legacy.pio import PioDevice
from ember.devices.legacy.rtc import B_DM_BINARY, B_SET, C_IRQF, REG_B, REG_C, TIME_REGISTERS, Rtc
from ember.devices.legacy.serial import Serial

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

sizes = st.sampled_from([0, 1, 1, 1, 2, 3, 4])
values = st.one_of(st.integers(0, 255), st.integers(-1, 2**32))


def accesses(port_len: int) -> st.SearchStrategy[tuple[Any, ...]]:
    offsets = st.one_of(st.integers(0, port_len - 1), st.integers(-2, port_len + 2))
    return st.one_of(
        st.tuples(st.just("read"), offsets, sizes),
        st.tuples(st.just("write"), offsets, values, sizes),
        # The same byte write many times: fills FIFOs and buffers quickly.
        st.tuples(
            st.just("repeat"), st.integers(0, port_len - 1), st.integers(0, 255), st.integers(2, 40)
        ),
    )


def valid(dev: PioDevice, offset: int, size: int, value: int | None = None) -> bool:
    ok = size in (1, 2, 4) and 0 <= offset < dev.PORT_LEN
    if value is not None:
        ok = ok and 0 <= value < 1 << (8 * size)
    return ok


def apply(dev: PioDevice, op: tuple[Any, ...]) -> None:
    """Run one access; only undecodable ones may raise, and only DeviceAccessError."""
    if op[0] == "read":
        _, offset, size = op
        try:
            value = dev.read(offset, size)
        except DeviceAccessError:
            assert not valid(dev, offset, size)
        else:
            assert valid(dev, offset, size)
            assert 0 <= value < 1 << (8 * size)
    elif op[0] == "repeat":
        _, offset, value, count = op
        for _ in range(count):
            dev.write(offset, value)
    else:
        _, offset, value, size = op
        try:
            dev.write(offset, value, size)
        except DeviceAccessError:
            assert not valid(dev, offset, size, value)
        else:
            assert valid(dev, offset, size, value)


def check_serial(uart: Serial, irq: RecordingIrq) -> None:
    state = uart.save()
    capacity = s.FIFO_SIZE if state.fcr & s.FCR_ENABLE else 1
    assert len(state.rx_fifo) <= capacity
    assert len(state.backlog) <= 32
    if state.backlog and not state.mcr & s.MCR_LOOP:
        assert len(state.rx_fifo) == capacity  # waiting input never skips free room
    pending = uart.pending_interrupt()
    assert irq.level == uart.irq_level == (pending != s.IIR_NO_INT and bool(state.mcr & s.MCR_OUT2))
    copy = Serial.restore(state, Sink(), RecordingIrq(), input_buffer_size=32)
    assert copy.save() == state


serial_ops = st.lists(
    st.one_of(
        accesses(Serial.PORT_LEN),
        st.tuples(st.just("input"), st.binary(max_size=40)),
        st.tuples(st.just("break")),
    ),
    max_size=80,
)


# A starting configuration, so short random sequences reach deep states
# (FIFOs on, loop-back, interrupts enabled) often.
serial_setups = st.tuples(
    st.sampled_from([0x00, 0x01, 0x41, 0x81, 0xC9]),  # FCR
    st.sampled_from([0x00, 0x08, 0x0B, 0x18, 0x1F]),  # MCR
    st.sampled_from([0x00, 0x01, 0x02, 0x0F]),  # IER
)


@SETTINGS
@given(serial_setups, serial_ops)
def test_serial_survives_any_access_sequence(
    setup: tuple[int, int, int], ops: list[tuple[Any, ...]]
) -> None:
    irq, sink = RecordingIrq(), Sink()
    uart = Serial(sink, irq, input_buffer_size=32)
    for offset, value in zip((s.IIR_FCR, s.MCR, s.IER_DLM), setup, strict=True):
        uart.write(offset, value)
    offered = accepted = 0
    for op in ops:
        if op[0] == "input":
            n = uart.enqueue_input(op[1])
            assert 0 <= n <= len(op[1])
            offered, accepted = offered + len(op[1]), accepted + n
        elif op[0] == "break":
            ok = uart.send_break()
            offered, accepted = offered + 1, accepted + int(ok)
        else:
            apply(uart, op)
        check_serial(uart, irq)
    st_ = uart.stats()
    assert st_.input_dropped == offered - accepted
    assert st_.tx_bytes == len(sink.data)


def check_i8042(ctl: I8042, kbd: RecordingIrq, aux: RecordingIrq) -> None:
    state = ctl.save()
    assert len(state.output) == len(state.output_flags) <= OUTPUT_QUEUE_SIZE
    head_aux = bool(state.output) and bool(state.output_flags[0] & FLAG_AUX)
    ctr = state.ram[0]
    assert kbd.level == (bool(state.output) and not head_aux and bool(ctr & CTR_KBDINT))
    assert aux.level == (head_aux and bool(ctr & CTR_AUXINT))
    copy = I8042.restore(state, lambda: None)
    assert copy.save() == state


@SETTINGS
@given(st.lists(accesses(I8042.PORT_LEN), max_size=80))
def test_i8042_survives_any_access_sequence(ops: list[tuple[Any, ...]]) -> None:
    kbd, aux = RecordingIrq(), RecordingIrq()
    resets = []
    ctl = I8042(lambda: resets.append(1), kbd, aux)
    for op in ops:
        apply(ctl, op)
        check_i8042(ctl, kbd, aux)
    assert len(resets) <= ctl.stats().resets


class StepClock:
    def __init__(self) -> None:
        self.now = 1_764_112_191.25  # late 2025

    def __call__(self) -> float:
        return self.now


rtc_ops = st.lists(
    st.one_of(
        accesses(Rtc.PORT_LEN),
        st.tuples(st.just("tick"), st.floats(0, 100_000, allow_nan=False)),
        st.tuples(st.just("poll")),
        # Select a clock register and read it, the common guest pattern.
        st.tuples(st.just("time"), st.sampled_from(TIME_REGISTERS)),
    ),
    max_size=80,
)


@SETTINGS
@given(st.sampled_from([0x00, 0x02, 0x04, 0x06, 0x80, 0x52]), rtc_ops)
def test_rtc_survives_any_access_sequence(reg_b: int, ops: list[tuple[Any, ...]]) -> None:
    clock, irq = StepClock(), RecordingIrq()
    rtc = Rtc(clock, irq)
    rtc.write(0, REG_B)
    rtc.write(1, reg_b)
    for op in ops:
        if op[0] == "tick":
            clock.now += op[1]
        elif op[0] == "poll":
            rtc.poll()
        elif op[0] == "time":
            rtc.write(0, op[1])
            value = rtc.read(1)
            b = rtc.nvram()[REG_B]
            if not b & (B_SET | B_DM_BINARY):  # a live BCD read is always valid BCD
                assert value & 0x0F <= 9 and (value & 0x7F) >> 4 <= 9
        else:
            apply(rtc, op)
        state = rtc.save()
        assert irq.level == rtc.irq_level == bool(state.cmos[REG_C] & C_IRQF)
        assert Rtc.restore(state, clock).save() == state
