"""The I/O APIC (82093AA register model, version 0x20): ISA interrupt lines to MSIs.

With KVM's split irqchip the LAPICs stay in the kernel and the IOAPIC lives
here, as in QEMU's microvm and Cloud Hypervisor. The guest programs one
redirection entry per pin through two MMIO registers (IOREGSEL selects, IOWIN
reads or writes); a pin that fires is delivered as the MSI its entry describes,
through an injected ``deliver(address, data)`` (KVM_SIGNAL_MSI in the VMM).

Level-triggered pins follow the real chip: delivery sets the entry's Remote
IRR bit, and the pin cannot fire again until the guest's EOI for that vector
arrives (the LAPIC broadcast, which KVM turns into KVM_EXIT_IOAPIC_EOI, or a
write to the EOI register); a line still high then fires again. KVM only
exits on EOIs it knows about, so the level-triggered entries are also handed to
``set_routes`` (KVM_SET_GSI_ROUTING), but only when they change: the ioctl is
slow, and guests rewrite entries often.

Edge-triggered pins latch a rising edge in IRR while masked and deliver it on
unmask, as KVM's and QEMU's IOAPICs do.
"""

from __future__ import annotations

import threading

from ember.devices.errors import DeviceAccessError, DeviceStateError

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ember.devices.legacy.state import IoapicState

#: Redirection entries (pins); GSIs 0..NUM_PINS-1.
NUM_PINS = 24
#: Bytes of guest-physical space the chip decodes.
MMIO_SIZE = 0x1000
IOAPIC_VERSION = 0x20

# Direct registers (offsets in the MMIO window).
IOREGSEL = 0x00
IOWIN = 0x10
IOEOI = 0x40  # version 0x20: write a vector to end a level-triggered interrupt

# Indirect registers (IOREGSEL values).
REG_ID = 0x00
REG_VERSION = 0x01
REG_ARBITRATION = 0x02
REG_REDTBL = 0x10  # pin n: low dword at 0x10 + 2n, high dword at 0x11 + 2n

ID_SHIFT = 24
ID_MASK = 0xF << ID_SHIFT

# Redirection entry bits.
RTE_VECTOR = 0xFF
RTE_DELIVERY_MODE_SHIFT = 8
RTE_DELIVERY_MODE = 0x7 << RTE_DELIVERY_MODE_SHIFT
RTE_DEST_LOGICAL = 1 << 11
RTE_DELIVERY_STATUS = 1 << 12  # read-only: always idle here (delivery is synchronous)
RTE_ACTIVE_LOW = 1 << 13
RTE_REMOTE_IRR = 1 << 14  # read-only
RTE_LEVEL = 1 << 15
RTE_MASKED = 1 << 16
RTE_DEST_SHIFT = 56
RTE_DEST = 0xFF << RTE_DEST_SHIFT
#: Bits the guest can write (the rest are read-only or reserved).
RTE_WRITABLE = (RTE_VECTOR | RTE_DELIVERY_MODE | RTE_DEST_LOGICAL | RTE_ACTIVE_LOW
                | RTE_LEVEL | RTE_MASKED | RTE_DEST)
RTE_RESET = RTE_MASKED

# The MSI an entry becomes (Intel SDM vol. 3, 11.11 "Message Signalled Interrupts").
MSI_ADDRESS_BASE = 0xFEE0_0000
MSI_DEST_SHIFT = 12
MSI_DEST_LOGICAL = 1 << 2
MSI_LEVEL_ASSERT = 1 << 14
MSI_LEVEL_TRIGGER = 1 << 15

_U32 = 0xFFFF_FFFF
_U64 = (1 << 64) - 1


def entry_to_msi(entry: int) -> tuple[int, int]:
    """The (address, data) of the MSI that redirection entry *entry* sends."""
    address = MSI_ADDRESS_BASE | ((entry >> RTE_DEST_SHIFT) & 0xFF) << MSI_DEST_SHIFT
    if entry & RTE_DEST_LOGICAL:
        address |= MSI_DEST_LOGICAL
    data = entry & (RTE_VECTOR | RTE_DELIVERY_MODE)
    if entry & RTE_LEVEL:
        data |= MSI_LEVEL_TRIGGER | MSI_LEVEL_ASSERT
    return address, data


class IoapicPin:
    """One input line of the IOAPIC: the ``IrqLine`` a legacy device drives."""

    __slots__ = ("_ioapic", "pin")

    def __init__(self, ioapic: Ioapic, pin: int) -> None:
        self._ioapic = ioapic
        self.pin = pin

    def set_level(self, high: bool) -> None:
        self._ioapic.set_level(self.pin, high)


class Ioapic:
    NAME = "ioapic"

    def __init__(self, deliver: Callable[[int, int], object],
                 set_routes: Callable[[Sequence[tuple[int, int, int]]], None] | None = None,
                 ioapic_id: int = 0) -> None:
        self._deliver = deliver
        self._set_routes = set_routes
        self._lock = threading.Lock()
        self.id = ioapic_id & 0xF
        self.regsel = 0
        self.entries = [RTE_RESET] * NUM_PINS
        #: Input levels as the devices drive them (before polarity).
        self.lines = 0
        #: Pins with an interrupt waiting: edges latched, level lines asserted.
        self.irr = 0
        self._routes: tuple[tuple[int, int, int], ...] = ()
        #: Interrupts sent, by pin (statistics, not saved state).
        self.delivered = [0] * NUM_PINS

    def pin(self, pin: int) -> IoapicPin:
        if not 0 <= pin < NUM_PINS:
            raise ValueError(f"IOAPIC pin {pin} does not exist (0..{NUM_PINS - 1})")
        return IoapicPin(self, pin)

    # -- the bus interface -------------------------------------------------

    def read(self, offset: int, size: int = 4) -> int:
        self._check(offset, size)
        if offset == IOREGSEL:
            return self.regsel
        if offset == IOWIN:
            with self._lock:
                return self._read_register(self.regsel)
        return 0

    def write(self, offset: int, value: int, size: int = 4) -> None:
        self._check(offset, size)
        value &= _U32
        if offset == IOREGSEL:
            self.regsel = value & 0xFF
        elif offset == IOWIN:
            with self._lock:
                self._write_register(self.regsel, value)
        elif offset == IOEOI:
            self.end_of_interrupt(value & RTE_VECTOR)

    def _check(self, offset: int, size: int) -> None:
        # Only aligned dword accesses are defined (82093AA datasheet 3.0); a
        # guest that does something else gets an error for that access.
        if size != 4 or offset & 3 or not 0 <= offset < MMIO_SIZE:
            raise DeviceAccessError(
                f"ioapic: {size}-byte access at +{offset:#x}; the IOAPIC takes aligned 4-byte accesses")

    def _read_register(self, reg: int) -> int:
        if reg == REG_ID or reg == REG_ARBITRATION:
            return self.id << ID_SHIFT
        if reg == REG_VERSION:
            return IOAPIC_VERSION | (NUM_PINS - 1) << 16
        pin, high = divmod(reg - REG_REDTBL, 2)
        if 0 <= pin < NUM_PINS:
            entry = self.entries[pin]
            return (entry >> 32) & _U32 if high else entry & _U32
        return 0

    def _write_register(self, reg: int, value: int) -> None:
        if reg == REG_ID:
            self.id = (value & ID_MASK) >> ID_SHIFT
            return
        pin, high = divmod(reg - REG_REDTBL, 2)
        if not 0 <= pin < NUM_PINS:
            return  # the version, arbitration and unused registers are read-only
        old = self.entries[pin]
        if high:
            new = (old & _U32) | value << 32
        else:
            new = (old & ~_U32 & _U64) | value
        new = (new & RTE_WRITABLE) | (old & RTE_REMOTE_IRR)
        if not new & RTE_LEVEL:
            new &= ~RTE_REMOTE_IRR  # Remote IRR is undefined for edge-triggered pins
        self.entries[pin] = new
        self._refresh_level(pin)
        self._update_routes()
        self._service(pin)

    # -- interrupt lines ---------------------------------------------------

    def set_level(self, pin: int, high: bool) -> None:
        """A device drives input *pin* high or low."""
        bit = 1 << pin
        with self._lock:
            was = bool(self.lines & bit)
            if high:
                self.lines |= bit
            else:
                self.lines &= ~bit
            entry = self.entries[pin]
            if entry & RTE_LEVEL:
                self._refresh_level(pin)
            elif high != was and high != bool(entry & RTE_ACTIVE_LOW):
                self.irr |= bit  # an edge into the asserted state
            self._service(pin)

    def end_of_interrupt(self, vector: int) -> None:
        """The guest ended an interrupt with *vector*: level pins on it may fire again."""
        with self._lock:
            for pin, entry in enumerate(self.entries):
                if entry & RTE_REMOTE_IRR and entry & RTE_VECTOR == vector:
                    self.entries[pin] = entry & ~RTE_REMOTE_IRR
                    self._service(pin)

    def _refresh_level(self, pin: int) -> None:
        bit = 1 << pin
        entry = self.entries[pin]
        if not entry & RTE_LEVEL:
            return
        asserted = bool(self.lines & bit) != bool(entry & RTE_ACTIVE_LOW)
        if asserted:
            self.irr |= bit
        else:
            self.irr &= ~bit

    def _service(self, pin: int) -> None:
        bit = 1 << pin
        entry = self.entries[pin]
        if not self.irr & bit or entry & RTE_MASKED:
            return
        if entry & RTE_LEVEL:
            if entry & RTE_REMOTE_IRR:
                return
            self.entries[pin] = entry | RTE_REMOTE_IRR
        else:
            self.irr &= ~bit
        self.delivered[pin] += 1
        self._deliver(*entry_to_msi(entry))

    def _update_routes(self) -> None:
        if self._set_routes is None:
            return
        routes = tuple((pin, *entry_to_msi(e)) for pin, e in enumerate(self.entries)
                       if e & RTE_LEVEL and not e & RTE_MASKED)
        if routes != self._routes:
            self._routes = routes
            self._set_routes(routes)

    # -- state -------------------------------------------------------------

    def save(self) -> IoapicState:
        from ember.devices.legacy.state import IoapicState

        with self._lock:
            return IoapicState(id=self.id, regsel=self.regsel, entries=tuple(self.entries),
                               lines=self.lines, irr=self.irr)

    def restore(self, state: IoapicState) -> None:
        entries = tuple(state.entries)
        if len(entries) != NUM_PINS:
            raise DeviceStateError(f"ioapic: saved state has {len(entries)} entries, not {NUM_PINS}; "
                                   "the snapshot is corrupt or from another version")
        for name, value, limit in (("id", state.id, 0xF), ("regsel", state.regsel, 0xFF),
                                   ("lines", state.lines, (1 << NUM_PINS) - 1),
                                   ("irr", state.irr, (1 << NUM_PINS) - 1),
                                   *(("entry", e, _U64) for e in entries)):
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= limit:
                raise DeviceStateError(f"ioapic: saved {name} {value!r} is out of range (0..{limit:#x}); "
                                       "the snapshot is corrupt or from another version")
        if any(e & ~(RTE_WRITABLE | RTE_REMOTE_IRR) for e in entries):
            raise DeviceStateError("ioapic: a saved redirection entry has reserved bits set; "
                                   "the snapshot is corrupt or from another version")
        with self._lock:
            self.id, self.regsel, self.lines, self.irr = state.id, state.regsel, state.lines, state.irr
            self.entries = list(entries)
            self._routes = ()
            self._update_routes()
