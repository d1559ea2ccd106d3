"""Plain-data state and statistics of the legacy devices (snapshots, migration, metrics).

Firecracker keeps each device's persisted state beside it in ``persist.rs``;
here the frozen dataclasses of all three legacy devices share this module, so
that ``ember run`` imports ``dataclasses`` only when something is saved,
restored or reported. Each device module re-exports its own types.
"""

from __future__ import annotations

from dataclasses import dataclass

from ember.devices.legacy.i8042 import DEFAULT_OUTPORT, DEFAULT_RAM
from ember.devices.legacy.serial import DEFAULT_DIVISOR


@dataclass(frozen=True)
class SerialState:
    """Everything a 16550A remembers, as plain data (for snapshots and migration)."""

    ier: int = 0
    lcr: int = 0
    mcr: int = 0
    scr: int = 0
    dll: int = DEFAULT_DIVISOR & 0xFF
    dlm: int = DEFAULT_DIVISOR >> 8
    #: FCR as last programmed (enable, DMA mode, trigger level bits only).
    fcr: int = 0
    #: LSR error bits (OE/PE/FE/BI) latched until LSR is read.
    lsr_errors: int = 0
    #: MSR delta bits latched until MSR is read.
    msr_deltas: int = 0
    #: The transmitter-empty interrupt is armed (cleared by IIR read or THR write).
    thr_pending: bool = False
    rx_fifo: bytes = b""
    #: Host input waiting for room in the receive FIFO.
    backlog: bytes = b""
    #: Positions in ``rx_fifo``/``backlog`` that are breaks (their byte is 0).
    rx_breaks: tuple[int, ...] = ()
    backlog_breaks: tuple[int, ...] = ()


@dataclass(frozen=True)
class SerialStats:
    """Counters since the device was created (not part of the saved state)."""

    tx_bytes: int
    rx_bytes: int
    loopback_bytes: int
    overruns: int
    input_dropped: int
    input_pending: int
    irq_raises: int
    breaks: int


@dataclass(frozen=True)
class I8042State:
    """The controller's memory as plain data."""

    ram: bytes = DEFAULT_RAM
    output_port: int = DEFAULT_OUTPORT
    #: A command still waiting for its data byte, or 0.
    pending_command: int = 0
    last_was_command: bool = False
    #: What port 0x60 reads once the queue is empty (the last byte read).
    last_data: int = 0
    output: bytes = b""
    #: One byte per output byte: FLAG_AUX, FLAG_TIMEOUT.
    output_flags: bytes = b""


@dataclass(frozen=True)
class I8042Stats:
    commands: int
    unknown_commands: int
    resets: int
    output_dropped: int


@dataclass(frozen=True)
class RtcState:
    """The CMOS bytes, the index latch and the guest's offset from host time."""

    cmos: bytes = b""
    index: int = 0
    nmi_masked: bool = False
    offset_seconds: int = 0


@dataclass(frozen=True)
class IoapicState:
    """The IOAPIC's registers and its input lines as plain data."""

    id: int = 0
    regsel: int = 0
    #: The 24 redirection entries, 64 bits each (Remote IRR included).
    entries: tuple[int, ...] = ()
    #: Input levels as the devices drive them, one bit per pin.
    lines: int = 0
    #: Interrupts waiting for delivery (latched edges, asserted levels), one bit per pin.
    irr: int = 0
