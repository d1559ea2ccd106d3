"""A 16550A UART at register level (COM1: ports 0x3f8-0x3ff, IRQ 4).

The model follows the National/TI PC16550D data sheet and what Linux's 8250
driver checks when it probes and starts a port:

* ``autoconfig`` writes IER 0x00/0x0f and expects bits 4-7 to read back 0, so
  IER keeps only its low four bits (that also fails the XScale UUE probe).
* its loop-back test sets MCR = LOOP|OUT2|RTS and expects MSR[7:4] = 0x90, so
  in loop-back the modem inputs are wired to the MCR outputs (CTS=RTS, DSR=DTR,
  RI=OUT1, DCD=OUT2).
* FCR enable must make IIR[7:6] read 0b11 (a 16550A), while IIR bit 5 (the
  16750's 64-byte FIFO) and bit 4 stay 0 whatever FCR/LCR say, so neither the
  16750 nor the NatSemi probe matches; writing 256 bytes in loop-back leaves
  exactly 16 in the receive FIFO (``size_fifo``), so it is not a U6 16550A.
* ``serial8250_do_startup`` enables IER.THRI, reads IIR, disables and
  re-enables it and reads IIR again: a THR-empty interrupt must be reported
  each time THRI goes 0 -> 1 while the transmitter is empty.
* on a PC the UART's interrupt output reaches the interrupt controller only
  when MCR.OUT2 is set (it enables the board's IRQ buffer); Linux sets OUT2
  whenever the port has an IRQ. The line we drive is therefore
  ``interrupt pending and MCR.OUT2``. We gate on the OUT2 *bit*, as Super I/O
  UARTs do internally, so interrupts keep working in loop-back mode.

Simplifications, all visible to a guest only as timing:

* Transmission is instantaneous: a THR write goes straight to the output
  sink, so LSR.THRE and LSR.TEMT are always set and the transmit FIFO is
  always empty; the THR-empty interrupt re-arms right after each write.
* Receive timing: host input is delivered in bursts (one ``enqueue_input``
  call). The character timeout (IIR 0x0c) of real hardware fires four
  character times after the last byte arrived while the FIFO holds fewer bytes
  than its trigger level. Here no more bytes can arrive until the next burst,
  so the timeout is treated as already expired: whenever the FIFO holds data
  below its trigger level the timeout indication is pending. The guest sees the
  same interrupt sequence, only without the 4-character delay.
* Host input that does not fit in the receive FIFO waits in a bounded
  host-side backlog and moves into the FIFO as the guest reads RBR, so host
  input never overruns the FIFO (a terminal has no wire that keeps clocking in
  bytes). Only when the backlog is full is input dropped, and
  ``stats().input_dropped`` counts it. Overruns (LSR.OE) do happen in
  loop-back mode, where the guest's own transmitter feeds its receiver.
* The host can send a break (:meth:`Serial.send_break`, what a terminal's
  Break key does; Linux turns it into a SysRq prefix on a serial console). It
  arrives in order with the data as a 0 character carrying LSR.BI, shown when
  that character reaches the top of the FIFO, with LSR bit 7 set while a break
  character is anywhere in the FIFO. No parity or framing errors are ever
  generated. Baud rate and line format are stored and reported but do not
  slow anything down.

Thread safety: ``read``/``write`` come from vCPU threads and
``enqueue_input`` from an input thread; one lock per device serialises them.
The output sink and the IRQ line are called with the lock held, so bytes
reach the sink in the guest's order; neither may call back into the UART.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ember.devices.errors import DeviceError, DeviceStateError
from ember.devices.legacy.pio import PioDevice, check_byte
from ember.log import get_logger

TYPE_CHECKING = False  # typing and dataclasses stay off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from typing import ClassVar

    from ember.devices.legacy.irq import IrqLine
    from ember.devices.legacy.state import SerialState, SerialStats

log = get_logger(__name__)

# Register offsets from the base port.
RBR_THR_DLL = 0  # receive buffer (read) / transmit holding (write) / divisor low (DLAB)
IER_DLM = 1  # interrupt enable / divisor high (DLAB)
IIR_FCR = 2  # interrupt identification (read) / FIFO control (write)
LCR = 3
MCR = 4
LSR = 5
MSR = 6
SCR = 7

# IER bits. A 16550A implements only the low nibble.
IER_RDI = 0x01  # received data available (and character timeout)
IER_THRI = 0x02  # transmit holding register empty
IER_RLSI = 0x04  # receiver line status
IER_MSI = 0x08  # modem status
IER_MASK = 0x0F

# IIR values: bit 0 = no interrupt pending, bits 3:1 = source, 7:6 = FIFOs on.
IIR_NO_INT = 0x01
IIR_MSI = 0x00
IIR_THRI = 0x02
IIR_RDI = 0x04
IIR_RLSI = 0x06
IIR_TIMEOUT = 0x0C
IIR_FIFO_ENABLED = 0xC0

# FCR bits.
FCR_ENABLE = 0x01
FCR_CLEAR_RX = 0x02
FCR_CLEAR_TX = 0x04
FCR_DMA_MODE = 0x08
FCR_TRIGGER_MASK = 0xC0
FCR_TRIGGER_SHIFT = 6
#: Bits of FCR the chip remembers (the clear bits are self-clearing).
FCR_STORED = FCR_ENABLE | FCR_DMA_MODE | FCR_TRIGGER_MASK
#: Receive FIFO trigger levels selected by FCR[7:6].
RX_TRIGGER_LEVELS = (1, 4, 8, 14)

# LCR bits.
LCR_DLAB = 0x80

# MCR bits. Bits 7:5 do not exist on a 16550A and read as 0.
MCR_DTR = 0x01
MCR_RTS = 0x02
MCR_OUT1 = 0x04
MCR_OUT2 = 0x08
MCR_LOOP = 0x10
MCR_MASK = 0x1F

# LSR bits.
LSR_DR = 0x01
LSR_OE = 0x02
LSR_PE = 0x04
LSR_FE = 0x08
LSR_BI = 0x10
LSR_THRE = 0x20
LSR_TEMT = 0x40
LSR_FIFO_ERROR = 0x80  # a character with PE/FE/BI is somewhere in the receive FIFO
#: Error bits that reading LSR clears and that raise the line status interrupt.
LSR_ERRORS = LSR_OE | LSR_PE | LSR_FE | LSR_BI
#: Marks a receive-FIFO entry as a break (its character is 0): entries are ints.
RX_BREAK = 0x100

# MSR bits: deltas in the low nibble, current inputs in the high nibble.
MSR_DCTS = 0x01
MSR_DDSR = 0x02
MSR_TERI = 0x04
MSR_DDCD = 0x08
MSR_DELTAS = 0x0F
MSR_CTS = 0x10
MSR_DSR = 0x20
MSR_RI = 0x40
MSR_DCD = 0x80
#: Inputs of a terminal that is always attached and ready: carrier, DSR, CTS.
MSR_CONNECTED = MSR_DCD | MSR_DSR | MSR_CTS

#: Depth of each FIFO on a 16550A.
FIFO_SIZE = 16
#: With FIFOs off the receiver holds one byte (the RBR).
RBR_SIZE = 1
#: The UART's reference clock divided by 16: baud = this / divisor.
BAUD_BASE = 1_843_200 // 16
#: Divisor after power-on (undefined on the chip): 12 = 9600 baud.
DEFAULT_DIVISOR = 12
#: Default bound of the host-side input backlog.
DEFAULT_INPUT_BUFFER = 64 * 1024


class Serial(PioDevice):
    """A 16550A UART: ``read``/``write`` its eight registers, feed it input."""

    NAME: ClassVar[str] = "serial"
    PORT_BASE: ClassVar[int] = 0x3F8
    PORT_LEN: ClassVar[int] = 8
    IRQ: ClassVar[int] = 4

    def __init__(
        self,
        out: Callable[[bytes], None],
        irq: IrqLine,
        *,
        input_buffer_size: int = DEFAULT_INPUT_BUFFER,
    ) -> None:
        super().__init__()
        if not isinstance(input_buffer_size, int) or input_buffer_size < 0:
            raise DeviceError(
                f"serial: input buffer size {input_buffer_size!r} must be a non-negative int"
            )
        self._out = out
        self._irq = irq
        self._input_buffer_size = input_buffer_size
        self._irq_level = False
        self._ier = 0
        self._lcr = 0
        self._mcr = 0
        self._scr = 0
        self._dll = DEFAULT_DIVISOR & 0xFF
        self._dlm = DEFAULT_DIVISOR >> 8
        self._fcr = 0
        self._lsr_errors = 0
        self._msr_deltas = 0
        self._thr_pending = False
        self._rx: deque[int] = deque()
        self._backlog: deque[int] = deque()
        # Counters.
        self._tx_bytes = 0
        self._rx_bytes = 0
        self._loopback_bytes = 0
        self._overruns = 0
        self._input_dropped = 0
        self._irq_raises = 0
        self._breaks = 0

    # -- host side ---------------------------------------------------------

    def enqueue_input(self, data: bytes) -> int:
        """Queue bytes typed on the host for the guest; returns how many were accepted.

        Bytes go into the receive FIFO while it has room and wait in the
        bounded backlog otherwise; what does not fit in the backlog is dropped
        and counted in ``stats().input_dropped``.
        """
        data = bytes(data)
        with self._lock:
            # Bytes already waiting go first, so only fill the FIFO directly
            # when nothing is queued ahead of this data.
            direct = 0
            if not self._backlog and not self._mcr & MCR_LOOP:
                direct = min(self._rx_room(), len(data))
                self._rx.extend(data[:direct])
                self._rx_bytes += direct
            rest = data[direct:]
            kept = rest[: self._input_buffer_size - len(self._backlog)]
            self._backlog.extend(kept)
            dropped = len(rest) - len(kept)
            if dropped:
                # Warn once; a paste into a guest that never reads would flood the log.
                report = log.debug if self._input_dropped else log.warning
                self._input_dropped += dropped
                report(
                    "serial: input backlog full (%d bytes), dropped %d bytes",
                    self._input_buffer_size,
                    dropped,
                )
            self._update_irq()
            return direct + len(kept)

    def send_break(self) -> bool:
        """Queue a break condition behind any waiting input; False if it was dropped."""
        with self._lock:
            if not self._backlog and not self._mcr & MCR_LOOP and self._rx_room():
                self._rx.append(RX_BREAK)
                self._rx_bytes += 1
            elif len(self._backlog) < self._input_buffer_size:
                self._backlog.append(RX_BREAK)
            else:
                self._input_dropped += 1
                return False
            self._breaks += 1
            self._update_irq()
            return True

    def stats(self) -> SerialStats:
        from ember.devices.legacy.state import SerialStats

        with self._lock:
            return SerialStats(
                tx_bytes=self._tx_bytes,
                rx_bytes=self._rx_bytes,
                loopback_bytes=self._loopback_bytes,
                overruns=self._overruns,
                input_dropped=self._input_dropped,
                input_pending=len(self._backlog),
                irq_raises=self._irq_raises,
                breaks=self._breaks,
            )

    @property
    def irq_level(self) -> bool:
        """The level the device currently drives on its IRQ line."""
        with self._lock:
            return self._irq_level

    def pending_interrupt(self) -> int:
        """IIR bits 3:0 as the guest would read them, without the read's side effects."""
        with self._lock:
            return self._pending_interrupt()

    @property
    def rx_fifo_len(self) -> int:
        with self._lock:
            return len(self._rx)

    @property
    def baud_rate(self) -> int:
        """The baud rate the guest programmed (0 when the divisor is 0)."""
        with self._lock:
            divisor = self._dlm << 8 | self._dll
        return BAUD_BASE // divisor if divisor else 0

    # -- register decoding -------------------------------------------------

    def _read_byte(self, offset: int) -> int:
        dlab = self._lcr & LCR_DLAB
        if offset == RBR_THR_DLL:
            return self._dll if dlab else self._read_rbr()
        if offset == IER_DLM:
            return self._dlm if dlab else self._ier
        if offset == IIR_FCR:
            return self._read_iir()
        if offset == LCR:
            return self._lcr
        if offset == MCR:
            return self._mcr
        if offset == LSR:
            return self._read_lsr()
        if offset == MSR:
            return self._read_msr()
        return self._scr

    def _write_byte(self, offset: int, value: int) -> None:
        dlab = self._lcr & LCR_DLAB
        if offset == RBR_THR_DLL:
            if dlab:
                self._dll = value
            else:
                self._write_thr(value)
        elif offset == IER_DLM:
            if dlab:
                self._dlm = value
            else:
                self._write_ier(value)
        elif offset == IIR_FCR:
            self._write_fcr(value)
        elif offset == LCR:
            self._lcr = value
        elif offset == MCR:
            self._write_mcr(value)
        elif offset == LSR:
            # LSR is read-only on a 16550A (writing it is a factory test mode).
            log.debug("serial: write %#04x to read-only LSR ignored", value)
        elif offset == MSR:
            log.debug("serial: write %#04x to read-only MSR ignored", value)
        else:
            self._scr = value

    # -- registers -----------------------------------------------------------

    def _read_rbr(self) -> int:
        if not self._rx:
            return 0
        value = self._rx.popleft() & 0xFF
        self._feed_rx()
        self._update_irq()
        return value

    def _write_thr(self, value: int) -> None:
        if self._mcr & MCR_LOOP:
            # Loop-back: the transmitter's output is wired to the receiver.
            self._loopback_bytes += 1
            if len(self._rx) < self._rx_capacity():
                self._rx.append(value)
            else:
                self._overrun(value)
        else:
            self._tx_bytes += 1
            self._out(bytes((value,)))
        # The byte left at once, so the holding register is empty again.
        self._thr_pending = True
        self._update_irq()

    def _overrun(self, value: int) -> None:
        self._overruns += 1
        self._lsr_errors |= LSR_OE
        if not self._fifo_enabled():
            # Without FIFOs the new character overwrites the unread one;
            # with FIFOs it is lost in the shift register.
            self._rx[-1] = value

    def _write_ier(self, value: int) -> None:
        old = self._ier
        self._ier = value & IER_MASK
        if self._ier & IER_THRI and not old & IER_THRI:
            # Enabling THRI while the transmitter is empty raises it at once.
            self._thr_pending = True
        self._update_irq()

    def _read_iir(self) -> int:
        pending = self._pending_interrupt()
        if pending == IIR_THRI:
            # Reading IIR clears a THR-empty interrupt when it is the one shown.
            self._thr_pending = False
            self._update_irq()
        return pending | (IIR_FIFO_ENABLED if self._fifo_enabled() else 0)

    def _write_fcr(self, value: int) -> None:
        was_enabled = self._fifo_enabled()
        if not value & FCR_ENABLE:
            # The other FCR bits are only programmed together with FCR0.
            self._fcr = 0
            if was_enabled:
                self._rx.clear()
        else:
            self._fcr = value & FCR_STORED
            if not was_enabled or value & FCR_CLEAR_RX:
                self._rx.clear()
            # FCR_CLEAR_TX: the transmit FIFO is always empty here.
        self._feed_rx()
        self._update_irq()

    def _write_mcr(self, value: int) -> None:
        before = self._modem_inputs()
        was_loop = self._mcr & MCR_LOOP
        self._mcr = value & MCR_MASK
        after = self._modem_inputs()
        changed = before ^ after
        if changed & MSR_CTS:
            self._msr_deltas |= MSR_DCTS
        if changed & MSR_DSR:
            self._msr_deltas |= MSR_DDSR
        if before & MSR_RI and not after & MSR_RI:
            self._msr_deltas |= MSR_TERI  # trailing edge of ring indicator
        if changed & MSR_DCD:
            self._msr_deltas |= MSR_DDCD
        if was_loop and not self._mcr & MCR_LOOP:
            self._feed_rx()  # the receiver is connected to the host again
        self._update_irq()

    def _read_lsr(self) -> int:
        value = LSR_THRE | LSR_TEMT | self._lsr_errors
        rx = self._rx
        changed = bool(self._lsr_errors)
        if rx:
            value |= LSR_DR
            if rx[0] & RX_BREAK:
                # The break belongs to the character at the top of the FIFO;
                # reading LSR reports it once, the 0 character stays to be read.
                value |= LSR_BI
                rx[0] &= 0xFF
                changed = True
            if self._fifo_enabled() and (value & LSR_BI or any(e & RX_BREAK for e in rx)):
                value |= LSR_FIFO_ERROR
        if changed:
            self._lsr_errors = 0
            self._update_irq()
        return value

    def _read_msr(self) -> int:
        value = self._modem_inputs() | self._msr_deltas
        if self._msr_deltas:
            self._msr_deltas = 0
            self._update_irq()
        return value

    # -- internal logic --------------------------------------------------------

    def _fifo_enabled(self) -> bool:
        return bool(self._fcr & FCR_ENABLE)

    def _rx_capacity(self) -> int:
        return FIFO_SIZE if self._fifo_enabled() else RBR_SIZE

    def _rx_room(self) -> int:
        return self._rx_capacity() - len(self._rx)

    def _rx_trigger(self) -> int:
        return RX_TRIGGER_LEVELS[(self._fcr & FCR_TRIGGER_MASK) >> FCR_TRIGGER_SHIFT]

    def _modem_inputs(self) -> int:
        """MSR[7:4]: the modem inputs, wired to the MCR outputs in loop-back."""
        mcr = self._mcr
        if not mcr & MCR_LOOP:
            return MSR_CONNECTED
        value = 0
        if mcr & MCR_RTS:
            value |= MSR_CTS
        if mcr & MCR_DTR:
            value |= MSR_DSR
        if mcr & MCR_OUT1:
            value |= MSR_RI
        if mcr & MCR_OUT2:
            value |= MSR_DCD
        return value

    def _feed_rx(self) -> None:
        """Move waiting host input into the receive FIFO while there is room."""
        if self._mcr & MCR_LOOP:
            return  # in loop-back the receiver hears only the transmitter
        capacity = self._rx_capacity()
        while self._backlog and len(self._rx) < capacity:
            self._rx.append(self._backlog.popleft())
            self._rx_bytes += 1

    def _pending_interrupt(self) -> int:
        """The highest-priority enabled interrupt, as IIR bits 3:0."""
        ier = self._ier
        if ier & IER_RLSI and (self._lsr_errors or (self._rx and self._rx[0] & RX_BREAK)):
            return IIR_RLSI
        if ier & IER_RDI and self._rx:
            if self._fifo_enabled() and len(self._rx) < self._rx_trigger():
                return IIR_TIMEOUT  # see the module docstring: expired at once
            return IIR_RDI
        if ier & IER_THRI and self._thr_pending:
            return IIR_THRI
        if ier & IER_MSI and self._msr_deltas:
            return IIR_MSI
        return IIR_NO_INT

    def _update_irq(self) -> None:
        level = self._pending_interrupt() != IIR_NO_INT and bool(self._mcr & MCR_OUT2)
        if level != self._irq_level:
            self._irq_level = level
            if level:
                self._irq_raises += 1
            self._irq.set_level(level)

    # -- state -------------------------------------------------------------------

    def save(self) -> SerialState:
        from ember.devices.legacy.state import SerialState

        with self._lock:
            return SerialState(
                ier=self._ier,
                lcr=self._lcr,
                mcr=self._mcr,
                scr=self._scr,
                dll=self._dll,
                dlm=self._dlm,
                fcr=self._fcr,
                lsr_errors=self._lsr_errors,
                msr_deltas=self._msr_deltas,
                thr_pending=self._thr_pending,
                rx_fifo=bytes(e & 0xFF for e in self._rx),
                backlog=bytes(e & 0xFF for e in self._backlog),
                rx_breaks=tuple(i for i, e in enumerate(self._rx) if e & RX_BREAK),
                backlog_breaks=tuple(i for i, e in enumerate(self._backlog) if e & RX_BREAK),
            )

    @classmethod
    def restore(
        cls,
        state: SerialState,
        out: Callable[[bytes], None],
        irq: IrqLine,
        *,
        input_buffer_size: int = DEFAULT_INPUT_BUFFER,
    ) -> Serial:
        """Rebuild a UART from ``state``, checking it as strictly as guest writes are.

        The IRQ line is driven to the level the restored registers imply.
        """
        from ember.devices.legacy.state import SerialState

        if not isinstance(state, SerialState):
            raise DeviceStateError(f"serial: expected a SerialState, got {type(state).__name__}")
        dev = cls(out, irq, input_buffer_size=input_buffer_size)
        name = cls.NAME
        dev._ier = check_byte(name, "IER", state.ier, IER_MASK)
        dev._lcr = check_byte(name, "LCR", state.lcr)
        dev._mcr = check_byte(name, "MCR", state.mcr, MCR_MASK)
        dev._scr = check_byte(name, "SCR", state.scr)
        dev._dll = check_byte(name, "DLL", state.dll)
        dev._dlm = check_byte(name, "DLM", state.dlm)
        dev._fcr = check_byte(name, "FCR", state.fcr, FCR_STORED)
        if dev._fcr and not dev._fcr & FCR_ENABLE:
            raise DeviceStateError(
                f"serial: saved FCR {state.fcr:#04x} has FIFO options without FIFO enable"
            )
        dev._lsr_errors = check_byte(name, "LSR error bits", state.lsr_errors, LSR_ERRORS)
        dev._msr_deltas = check_byte(name, "MSR delta bits", state.msr_deltas, MSR_DELTAS)
        if not isinstance(state.thr_pending, bool):
            raise DeviceStateError(f"serial: saved thr_pending {state.thr_pending!r} is not a bool")
        dev._thr_pending = state.thr_pending
        for field in ("rx_fifo", "backlog"):
            if not isinstance(getattr(state, field), bytes):
                raise DeviceStateError(f"serial: saved {field} is not bytes")
        if len(state.rx_fifo) > dev._rx_capacity():
            raise DeviceStateError(
                f"serial: saved receive FIFO holds {len(state.rx_fifo)} bytes, more than "
                f"the {dev._rx_capacity()} the UART holds with FCR={state.fcr:#04x}"
            )
        if len(state.backlog) > input_buffer_size:
            raise DeviceStateError(
                f"serial: saved input backlog of {len(state.backlog)} bytes exceeds the "
                f"input buffer size {input_buffer_size}; restore with a larger input_buffer_size"
            )
        dev._rx.extend(state.rx_fifo)
        dev._backlog.extend(state.backlog)
        for field, data, queue in (
            ("rx_breaks", state.rx_fifo, dev._rx),
            ("backlog_breaks", state.backlog, dev._backlog),
        ):
            for i in _check_break_positions(field, getattr(state, field), data):
                queue[i] = RX_BREAK
        with dev._lock:
            dev._feed_rx()
            dev._update_irq()
        return dev


def _check_break_positions(field: str, positions: object, data: bytes) -> tuple[int, ...]:
    """Validate saved break positions: increasing indices of 0 bytes in ``data``."""
    if not isinstance(positions, tuple):
        raise DeviceStateError(f"serial: saved {field} is not a tuple of positions")
    last = -1
    for i in positions:
        if not isinstance(i, int) or isinstance(i, bool) or not last < i < len(data):
            raise DeviceStateError(
                f"serial: saved {field} {positions!r} are not increasing positions "
                f"below {len(data)}"
            )
        if data[i] != 0:
            raise DeviceStateError(f"serial: saved {field} marks byte {i}, which is not 0")
        last = i
    return positions


_STATE_TYPES = ('SerialState', 'SerialStats')


def __getattr__(name: str) -> object:
    # The plain-data state types live in ember.devices.legacy.state (dataclasses,
    # kept off the start-up path); they stay importable from here.
    if name in _STATE_TYPES:
        from ember.devices.legacy import state

        return getattr(state, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
