"""Register-level tests of the 16550A UART, including Linux 8250 probe sequences."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest
from device_fakes import RecordingIrq, Sink

from ember.devices.errors import DeviceAccessError, DeviceError, DeviceStateError
from ember.devices.legacy import serial as s
from ember.devices.legacy.serial import Serial, SerialState

RBR, IER, IIR, LCR, MCR, LSR, MSR, SCR = range(8)
FCR = IIR
OUT2 = s.MCR_OUT2


@pytest.fixture
def uart(sink: Sink, irq: RecordingIrq) -> Serial:
    return Serial(sink, irq)


def fifo_on(uart: Serial, trigger_bits: int = 0) -> None:
    uart.write(FCR, s.FCR_ENABLE | s.FCR_CLEAR_RX | s.FCR_CLEAR_TX | trigger_bits)


def test_reset_values(uart: Serial) -> None:
    assert uart.read(IER) == 0
    assert uart.read(IIR) == s.IIR_NO_INT
    assert uart.read(LCR) == 0
    assert uart.read(MCR) == 0
    assert uart.read(LSR) == s.LSR_THRE | s.LSR_TEMT
    assert uart.read(MSR) == s.MSR_DCD | s.MSR_DSR | s.MSR_CTS
    assert uart.read(SCR) == 0
    assert Serial.PORT_BASE == 0x3F8 and Serial.PORT_LEN == 8 and Serial.IRQ == 4


def test_thr_write_goes_to_sink_in_order(uart: Serial, sink: Sink) -> None:
    for ch in b"hello\n":
        uart.write(RBR, ch)
    assert sink.data == b"hello\n"
    assert uart.stats().tx_bytes == 6
    assert uart.read(LSR) & (s.LSR_THRE | s.LSR_TEMT) == s.LSR_THRE | s.LSR_TEMT


def test_dlab_switches_offsets_0_and_1_to_the_divisor(uart: Serial, sink: Sink) -> None:
    uart.write(IER, 0x05)
    uart.write(LCR, s.LCR_DLAB | 0x03)
    uart.write(RBR, 0x01)  # DLL
    uart.write(IER, 0x00)  # DLM
    assert uart.read(RBR) == 0x01 and uart.read(IER) == 0x00
    assert uart.baud_rate == 115200
    assert sink.data == b""  # the DLL write did not transmit
    uart.write(LCR, 0x03)
    assert uart.read(IER) == 0x05  # IER untouched by the DLM write
    uart.write(RBR, ord("x"))
    assert sink.data == b"x"
    uart.write(LCR, s.LCR_DLAB)
    uart.write(RBR, 0x00)
    assert uart.baud_rate == 0  # divisor 0: no rate rather than a division error


def test_scratch_register(uart: Serial) -> None:
    for value in (0xA5, 0x5A):
        uart.write(SCR, value)
        assert uart.read(SCR) == value


def test_linux_autoconfig_ier_and_loopback_probe(uart: Serial) -> None:
    # 8250 autoconfig: IER 0 then 0x0f must read back as written in bits 3:0,
    # and bits 7:4 must not stick (or it looks like an XScale with UUE).
    uart.write(IER, 0)
    assert uart.read(IER) & 0x0F == 0
    uart.write(IER, 0xFF)
    assert uart.read(IER) == 0x0F
    uart.write(IER, 0)
    # Loop test: MCR = LOOP | OUT2 | RTS must give MSR[7:4] == 0x90.
    uart.write(MCR, s.MCR_LOOP | 0x0A)
    assert uart.read(MSR) & 0xF0 == 0x90
    uart.write(MCR, 0)
    assert uart.read(MCR) == 0


def test_linux_autoconfig_identifies_a_16550a(uart: Serial) -> None:
    uart.write(FCR, s.FCR_ENABLE)
    assert uart.read(IIR) >> 6 == 3  # FIFOs present and working: 16550A branch
    # EFR probes: the register at offset 2 must not read 0 under LCR 0x80/0xbf.
    uart.write(LCR, 0x80)
    assert uart.read(IIR) != 0
    uart.write(LCR, 0xBF)
    assert uart.read(IIR) != 0
    # NatSemi probe: IIR bit 4 never mirrors MCR.LOOP under LCR 0xe0.
    uart.write(LCR, 0xE0)
    assert uart.read(IIR) & s.MCR_LOOP == 0
    # 16750 probe: FCR bit 5 must not show up as IIR bit 5, with or without DLAB.
    uart.write(LCR, 0)
    uart.write(FCR, s.FCR_ENABLE | 0x20)
    assert uart.read(IIR) >> 5 == 6
    uart.write(LCR, 0x80)
    uart.write(FCR, s.FCR_ENABLE | 0x20)
    assert uart.read(IIR) >> 5 == 6
    uart.write(LCR, 0)


def test_linux_size_fifo_counts_16(uart: Serial) -> None:
    # size_fifo(): FIFOs on, loop-back, 256 bytes out, count bytes back.
    uart.write(FCR, s.FCR_ENABLE | s.FCR_CLEAR_RX | s.FCR_CLEAR_TX)
    uart.write(MCR, s.MCR_LOOP)
    for i in range(256):
        uart.write(RBR, i)
    count = 0
    while uart.read(LSR) & s.LSR_DR and count < 256:
        assert uart.read(RBR) == count
        count += 1
    assert count == s.FIFO_SIZE
    assert uart.stats().overruns == 256 - s.FIFO_SIZE


def test_thre_interrupt_on_ier_enable_linux_startup_test(uart: Serial, irq: RecordingIrq) -> None:
    uart.write(MCR, OUT2)
    uart.write(IER, s.IER_THRI)
    assert irq.level
    iir1 = uart.read(IIR)
    assert iir1 & 0x0F == s.IIR_THRI
    assert not irq.level  # reading IIR cleared the THR-empty interrupt
    assert uart.read(IIR) == s.IIR_NO_INT
    uart.write(IER, 0)
    uart.write(IER, s.IER_THRI)  # 0 -> 1 re-asserts: Linux must not set UART_BUG_THRE
    assert uart.read(IIR) & 0x0F == s.IIR_THRI
    uart.write(IER, s.IER_THRI)  # 1 -> 1 does not
    assert uart.read(IIR) == s.IIR_NO_INT
    uart.write(RBR, ord("a"))  # transmitting empties THR again: re-armed
    assert irq.level
    assert uart.read(IIR) & 0x0F == s.IIR_THRI


def test_irq_is_gated_by_out2(uart: Serial, irq: RecordingIrq) -> None:
    uart.write(IER, s.IER_RDI)
    uart.enqueue_input(b"k")
    assert uart.pending_interrupt() == s.IIR_RDI
    assert not irq.level and irq.changes == []
    uart.write(MCR, OUT2 | s.MCR_DTR | s.MCR_RTS)
    assert irq.level
    uart.write(MCR, s.MCR_DTR)
    assert not irq.level
    uart.write(MCR, OUT2)
    assert uart.read(RBR) == ord("k")
    assert not irq.level
    assert irq.changes == [True, False, True, False]


def test_iir_priority_order(uart: Serial, irq: RecordingIrq) -> None:
    fifo_on(uart)  # trigger level 1
    uart.write(MCR, s.MCR_LOOP | OUT2)
    for i in range(s.FIFO_SIZE + 1):  # one overrun: line status
        uart.write(RBR, i)
    uart.write(MCR, s.MCR_LOOP | OUT2 | s.MCR_RTS)  # CTS changes: modem status delta
    uart.write(IER, s.IER_RDI | s.IER_THRI | s.IER_RLSI | s.IER_MSI)
    assert irq.level
    assert uart.read(IIR) == s.IIR_FIFO_ENABLED | s.IIR_RLSI
    lsr = uart.read(LSR)
    assert lsr & s.LSR_OE and lsr & s.LSR_DR
    assert uart.read(LSR) & s.LSR_OE == 0  # reading LSR cleared the error
    assert uart.read(IIR) & 0x0F == s.IIR_RDI
    while uart.read(LSR) & s.LSR_DR:
        uart.read(RBR)
    assert uart.read(IIR) & 0x0F == s.IIR_THRI  # read clears THRI ...
    assert uart.read(IIR) & 0x0F == s.IIR_MSI  # ... exposing modem status
    assert uart.read(MSR) & s.MSR_DCTS
    assert uart.read(IIR) & 0x0F == s.IIR_NO_INT
    assert not irq.level


def test_iir_read_does_not_clear_thri_when_a_higher_source_shows(uart: Serial) -> None:
    uart.write(IER, s.IER_RDI | s.IER_THRI)
    uart.enqueue_input(b"z")
    assert uart.read(IIR) & 0x0F == s.IIR_RDI
    uart.read(RBR)
    assert uart.read(IIR) & 0x0F == s.IIR_THRI


@pytest.mark.parametrize("level_index", range(4))
def test_fifo_trigger_levels_and_timeout(uart: Serial, level_index: int) -> None:
    trigger = s.RX_TRIGGER_LEVELS[level_index]
    fifo_on(uart, level_index << s.FCR_TRIGGER_SHIFT)
    uart.write(IER, s.IER_RDI)
    if trigger > 1:
        uart.enqueue_input(bytes(trigger - 1))
        # Below the trigger level: the (immediately expired) character timeout.
        assert uart.read(IIR) == s.IIR_FIFO_ENABLED | s.IIR_TIMEOUT
    uart.enqueue_input(b"x" * (trigger - uart.rx_fifo_len))
    assert uart.read(IIR) == s.IIR_FIFO_ENABLED | s.IIR_RDI
    uart.read(RBR)
    if trigger > 1:
        assert uart.read(IIR) & 0x0F == s.IIR_TIMEOUT


def test_fifo_disabled_holds_one_byte_and_backlog_feeds_it(uart: Serial) -> None:
    assert uart.enqueue_input(b"abc") == 3
    assert uart.rx_fifo_len == 1
    assert uart.read(IIR) & s.IIR_FIFO_ENABLED == 0
    got = bytearray()
    while uart.read(LSR) & s.LSR_DR:
        got.append(uart.read(RBR))
    assert bytes(got) == b"abc"
    assert uart.read(RBR) == 0  # empty RBR


def test_backlog_preserves_order_across_many_bursts(uart: Serial) -> None:
    fifo_on(uart)
    payload = bytes(range(256)) * 4
    for i in range(0, len(payload), 100):
        assert uart.enqueue_input(payload[i : i + 100]) == len(payload[i : i + 100])
    got = bytearray()
    while uart.read(LSR) & s.LSR_DR:
        got.append(uart.read(RBR))
    assert bytes(got) == payload
    st = uart.stats()
    assert st.rx_bytes == len(payload) and st.input_dropped == 0 and st.overruns == 0


def test_bounded_backlog_drops_and_counts(sink: Sink, irq: RecordingIrq) -> None:
    uart = Serial(sink, irq, input_buffer_size=10)
    fifo_on(uart)
    assert uart.enqueue_input(bytes(30)) == 26  # 16 in the FIFO + 10 waiting
    assert uart.stats().input_dropped == 4
    assert uart.stats().input_pending == 10
    assert uart.enqueue_input(b"more") == 0
    assert uart.stats().input_dropped == 8
    zero = Serial(sink, RecordingIrq(), input_buffer_size=0)
    assert zero.enqueue_input(b"ab") == 1  # the RBR only


def test_loopback_non_fifo_overrun_overwrites(uart: Serial, sink: Sink) -> None:
    uart.write(MCR, s.MCR_LOOP)
    uart.write(RBR, 1)
    uart.write(RBR, 2)
    assert sink.data == b""  # loop-back output never reaches the wire
    lsr = uart.read(LSR)
    assert lsr & s.LSR_OE and lsr & s.LSR_DR
    assert uart.read(RBR) == 2
    assert uart.stats().loopback_bytes == 2 and uart.stats().overruns == 1


def test_loopback_holds_host_input_until_it_ends(uart: Serial) -> None:
    fifo_on(uart)
    uart.write(MCR, s.MCR_LOOP)
    assert uart.enqueue_input(b"host") == 4
    uart.write(RBR, ord("L"))
    assert uart.read(RBR) == ord("L")
    assert not uart.read(LSR) & s.LSR_DR
    uart.write(MCR, 0)
    assert bytes(uart.read(RBR) for _ in range(4)) == b"host"


def test_loopback_modem_lines_and_deltas(uart: Serial, irq: RecordingIrq) -> None:
    uart.write(IER, s.IER_MSI)
    uart.write(MCR, s.MCR_LOOP)  # leaving "connected" inputs: CTS, DSR, DCD drop
    assert uart.read(MSR) == s.MSR_DCTS | s.MSR_DDSR | s.MSR_DDCD
    uart.write(MCR, s.MCR_LOOP | s.MCR_DTR | s.MCR_RTS | s.MCR_OUT1 | OUT2)
    assert irq.level
    msr = uart.read(MSR)
    assert msr & 0xF0 == s.MSR_CTS | s.MSR_DSR | s.MSR_RI | s.MSR_DCD
    assert msr & 0x0F == s.MSR_DCTS | s.MSR_DDSR | s.MSR_DDCD  # RI rising: no TERI
    assert not irq.level
    uart.write(MCR, s.MCR_LOOP | OUT2)
    assert uart.read(MSR) & 0x0F == s.MSR_DCTS | s.MSR_DDSR | s.MSR_TERI


def test_fcr_clear_and_toggle_clear_rx(uart: Serial) -> None:
    fifo_on(uart)
    uart.enqueue_input(b"abcd")
    uart.write(FCR, s.FCR_ENABLE | s.FCR_CLEAR_RX)
    assert uart.rx_fifo_len == 0
    uart.enqueue_input(b"ef")
    uart.write(FCR, 0)  # FIFOs off: both FIFOs cleared
    assert uart.rx_fifo_len == 0
    assert uart.read(IIR) & s.IIR_FIFO_ENABLED == 0


def test_bad_accesses_raise_device_errors(uart: Serial) -> None:
    with pytest.raises(DeviceAccessError, match="offset 8"):
        uart.read(8)
    with pytest.raises(DeviceAccessError, match="size 3"):
        uart.read(0, 3)
    with pytest.raises(DeviceAccessError):
        uart.write(-1, 0)
    with pytest.raises(DeviceAccessError, match="does not fit"):
        uart.write(0, 0x100)
    with pytest.raises(DeviceError):
        Serial(Sink(), RecordingIrq(), input_buffer_size=-1)


def test_wide_accesses_split_into_bytes(uart: Serial) -> None:
    uart.write(LCR, s.LCR_DLAB)
    uart.write(RBR, 0x0201, 2)
    assert uart.read(RBR) == 0x01 and uart.read(IER) == 0x02
    assert uart.read(RBR, 2) == 0x0201
    uart.write(SCR, 0x77)
    assert uart.read(6, 4) == 0xFFFF77B0  # MSR, SCR, then two ports past the end


def test_save_restore_round_trip_and_irq_level(sink: Sink, irq: RecordingIrq) -> None:
    uart = Serial(sink, irq, input_buffer_size=100)
    fifo_on(uart, 2 << s.FCR_TRIGGER_SHIFT)
    uart.write(MCR, OUT2 | s.MCR_DTR)
    uart.write(IER, s.IER_RDI | s.IER_MSI)
    uart.write(SCR, 0x42)
    uart.enqueue_input(bytes(range(40)))
    state = uart.save()
    assert len(state.rx_fifo) == 16 and len(state.backlog) == 24
    irq2 = RecordingIrq()
    copy = Serial.restore(state, Sink(), irq2, input_buffer_size=100)
    assert copy.save() == state
    assert irq2.level  # the restored UART drives its line as the original did
    assert bytes(copy.read(RBR) for _ in range(40)) == bytes(range(40))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rx_fifo": bytes(17), "fcr": s.FCR_ENABLE}, "receive FIFO holds 17"),
        ({"rx_fifo": b"ab"}, "receive FIFO holds 2"),
        ({"ier": 0x10}, "IER"),
        ({"mcr": 0x20}, "MCR"),
        ({"lcr": 256}, "LCR"),
        ({"dll": -1}, "DLL"),
        ({"fcr": 0xC0}, "without FIFO enable"),
        ({"fcr": s.FCR_ENABLE | s.FCR_CLEAR_RX}, "FCR"),
        ({"lsr_errors": s.LSR_THRE}, "LSR"),
        ({"msr_deltas": 0x10}, "MSR"),
        ({"thr_pending": 1}, "thr_pending"),
        ({"rx_fifo": "ab"}, "rx_fifo is not bytes"),
        ({"backlog": bytes(65)}, "backlog of 65 bytes"),
        ({"scr": True}, "SCR"),
    ],
)
def test_hostile_states_rejected(change: dict[str, object], message: str) -> None:
    bad = replace(SerialState(), **change)  # type: ignore[arg-type]
    with pytest.raises(DeviceStateError, match=message):
        Serial.restore(bad, Sink(), RecordingIrq(), input_buffer_size=64)


def test_restore_rejects_other_types() -> None:
    with pytest.raises(DeviceStateError, match="SerialState"):
        Serial.restore(object(), Sink(), RecordingIrq())  # type: ignore[arg-type]


def test_input_thread_and_vcpu_thread_concurrently(uart: Serial) -> None:
    fifo_on(uart)
    payload = bytes(i % 251 for i in range(20000))

    def feed() -> None:
        for i in range(0, len(payload), 64):
            chunk = payload[i : i + 64]
            assert uart.enqueue_input(chunk) == len(chunk)

    feeder = threading.Thread(target=feed)
    feeder.start()
    got = bytearray()
    while len(got) < len(payload):
        if uart.read(LSR) & s.LSR_DR:
            got.append(uart.read(RBR))
        elif not feeder.is_alive() and not uart.read(LSR) & s.LSR_DR:
            break
    feeder.join()
    assert bytes(got) == payload


def read_all(uart: Serial) -> list[tuple[int, int]]:
    """(LSR, RBR) pairs the way Linux's receive loop reads them."""
    out = []
    lsr = uart.read(LSR)
    while lsr & s.LSR_DR:
        out.append((lsr, uart.read(RBR)))
        lsr = uart.read(LSR)
    return out


def test_break_arrives_in_order_with_bi_on_its_character(uart: Serial) -> None:
    fifo_on(uart)
    uart.write(IER, s.IER_RLSI | s.IER_RDI)
    uart.enqueue_input(b"ab")
    assert uart.send_break()
    uart.enqueue_input(b"c")
    # The break is third in the FIFO: no line status interrupt yet, only data;
    # LSR bit 7 already says an error character is queued.
    assert uart.read(IIR) & 0x0F == s.IIR_RDI
    got = read_all(uart)
    assert [ch for _, ch in got] == [ord("a"), ord("b"), 0, ord("c")]
    assert [bool(lsr & s.LSR_BI) for lsr, _ in got] == [False, False, True, False]
    assert [bool(lsr & s.LSR_FIFO_ERROR) for lsr, _ in got] == [True, True, True, False]
    assert uart.stats().breaks == 1


def test_break_at_top_raises_line_status_interrupt(uart: Serial, irq: RecordingIrq) -> None:
    uart.write(MCR, OUT2)
    uart.write(IER, s.IER_RLSI)
    uart.send_break()
    assert irq.level and uart.read(IIR) & 0x0F == s.IIR_RLSI
    lsr = uart.read(LSR)
    assert lsr & (s.LSR_BI | s.LSR_DR) == s.LSR_BI | s.LSR_DR
    assert lsr & s.LSR_FIFO_ERROR == 0  # bit 7 exists only with FIFOs on
    assert not irq.level  # reported once; the 0 character is still there
    assert uart.read(LSR) & (s.LSR_BI | s.LSR_DR) == s.LSR_DR
    assert uart.read(RBR) == 0


def test_break_waits_in_the_backlog_and_survives_save_restore(sink: Sink) -> None:
    uart = Serial(sink, RecordingIrq(), input_buffer_size=8)
    fifo_on(uart)
    uart.enqueue_input(bytes(range(1, 17)))  # FIFO full
    uart.enqueue_input(b"x")
    assert uart.send_break()
    state = uart.save()
    assert state.backlog == b"x\x00" and state.backlog_breaks == (1,)
    copy = Serial.restore(state, Sink(), RecordingIrq(), input_buffer_size=8)
    assert copy.save() == state
    got = read_all(copy)
    assert [ch for _, ch in got][-2:] == [ord("x"), 0]
    assert got[-1][0] & s.LSR_BI
    full = Serial(sink, RecordingIrq(), input_buffer_size=0)
    full.enqueue_input(b"z")
    assert not full.send_break()
    assert full.stats().input_dropped == 1


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rx_fifo": b"\x00", "rx_breaks": (1,)}, "increasing positions"),
        ({"rx_fifo": b"a", "rx_breaks": (0,)}, "not 0"),
        ({"backlog": b"\x00\x00", "backlog_breaks": (1, 0)}, "increasing"),
        ({"backlog": b"\x00", "backlog_breaks": [0]}, "not a tuple"),
        ({"backlog": b"\x00", "backlog_breaks": (True,)}, "increasing"),
    ],
)
def test_hostile_break_positions_rejected(change: dict[str, object], message: str) -> None:
    bad = replace(SerialState(), **change)  # type: ignore[arg-type]
    with pytest.raises(DeviceStateError, match=message):
        Serial.restore(bad, Sink(), RecordingIrq(), input_buffer_size=64)
