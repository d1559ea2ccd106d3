"""The i8042 keyboard controller: enough for Linux to probe it, and the reset line.

Ports: data at 0x60 (offset 0) and status/command at 0x64 (offset 4). The
three ports in between are not the controller's (0x61 is "system control
port B", which KVM's in-kernel PIT emulates): they read 0xff and ignore
writes. Register the device once over 0x60-0x64 so port 0x64 is offset 4.

What is modelled:

* the controller's 32 bytes of RAM, byte 0 being the configuration byte (CTR)
  read with command 0x20 and written with 0x60 (0x21-0x3f / 0x61-0x7f reach
  the other bytes);
* self-test 0xaa -> 0x55, interface tests 0xab/0xa9 -> 0x00, keyboard and
  mouse port enable/disable (0xae/0xad, 0xa8/0xa7, reflected in CTR bits 4/5);
* the output port (0xd0 read, 0xd1 write, 0xdd/0xdf A20): clearing bit 0 asserts
  the CPU reset line, as does a pulse command 0xf0-0xfe with bit 0 clear (0xfe
  is what Linux's ``reboot=k`` writes). The reset line calls ``on_reset()``;
  the VMM stops the VM. The callback runs after the device lock is released.
* 0xd2/0xd3 (write the keyboard/mouse output buffer) and 0xd4 (send to the
  mouse). The AUX loop-back 0xd3 is how Linux finds and IRQ-tests the mouse port.
* No keyboard and no mouse are attached: a byte sent to either device is
  answered with 0xfe and the status TIMEOUT bit, as a real controller does when
  the device does not clock; Linux's atkbd/psmouse then give up at once
  instead of waiting for time-outs.

Interrupts: IRQ 1 while the output buffer holds a keyboard-side byte and CTR
bit 0 is set; IRQ 12 for a mouse-side byte and CTR bit 1. Both lines are ISA
edge-triggered on a PC, so when a read uncovers another byte for the same line
it is lowered and raised again to give the interrupt controller a fresh edge.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from ember.devices.errors import DeviceStateError
from ember.devices.legacy.irq import NoIrqLine
from ember.devices.legacy.pio import PioDevice, check_byte
from ember.log import get_logger

TYPE_CHECKING = False  # typing and dataclasses stay off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from typing import ClassVar

    from ember.devices.legacy.irq import IrqLine
    from ember.devices.legacy.state import I8042State, I8042Stats

log = get_logger(__name__)

DATA = 0  # port 0x60
COMMAND = 4  # port 0x64: status (read) / command (write)

# Status register bits.
STATUS_OBF = 0x01  # output buffer full: a byte waits at port 0x60
STATUS_IBF = 0x02  # input buffer full: never, we process writes at once
STATUS_SYS = 0x04  # system flag, mirrors CTR bit 2 (set after self-test/POST)
STATUS_CMD = 0x08  # the last write went to the command port
STATUS_UNLOCKED = 0x10  # keyboard not inhibited by the key lock
STATUS_AUXDATA = 0x20  # the waiting byte comes from the mouse port
STATUS_TIMEOUT = 0x40  # the device did not answer (here: no device attached)

# Configuration byte (CTR) bits.
CTR_KBDINT = 0x01
CTR_AUXINT = 0x02
CTR_SYS = 0x04
CTR_KBDDIS = 0x10
CTR_AUXDIS = 0x20
CTR_XLATE = 0x40
#: CTR as firmware leaves it: keyboard interrupt, POST passed, scan-code translation.
DEFAULT_CTR = CTR_KBDINT | CTR_SYS | CTR_XLATE

# Output port bits.
OUTPORT_RESET = 0x01  # 0 holds the CPU in reset
OUTPORT_A20 = 0x02
DEFAULT_OUTPORT = OUTPORT_RESET | OUTPORT_A20

# Commands.
CMD_READ_RAM = 0x20  # .. 0x3f
CMD_WRITE_RAM = 0x60  # .. 0x7f
CMD_AUX_DISABLE = 0xA7
CMD_AUX_ENABLE = 0xA8
CMD_AUX_TEST = 0xA9
CMD_SELF_TEST = 0xAA
CMD_KBD_TEST = 0xAB
CMD_KBD_DISABLE = 0xAD
CMD_KBD_ENABLE = 0xAE
CMD_READ_OUTPORT = 0xD0
CMD_WRITE_OUTPORT = 0xD1
CMD_WRITE_KBD_OUTBUF = 0xD2
CMD_WRITE_AUX_OUTBUF = 0xD3
CMD_WRITE_AUX = 0xD4
CMD_A20_OFF = 0xDD
CMD_A20_ON = 0xDF
CMD_PULSE_FIRST = 0xF0  # 0xf0-0xff pulse output port bits 3:0 low for 6 us

SELF_TEST_OK = 0x55
INTERFACE_TEST_OK = 0x00
#: What a controller returns for a device that does not answer.
NO_DEVICE_REPLY = 0xFE

RAM_SIZE = 32
#: Controller RAM at power-on: the configuration byte, then zeros.
DEFAULT_RAM = bytes([DEFAULT_CTR]) + bytes(RAM_SIZE - 1)
#: Depth of our output queue; the chip has one byte, the rest models the
#: devices' own small buffers. Bytes beyond it are dropped (and counted).
OUTPUT_QUEUE_SIZE = 16

# Per-byte flags in the output queue.
FLAG_AUX = 0x01
FLAG_TIMEOUT = 0x02
FLAGS_MASK = FLAG_AUX | FLAG_TIMEOUT

#: Commands followed by one data byte at port 0x60.
_WITH_DATA = frozenset(
    list(range(CMD_WRITE_RAM, CMD_WRITE_RAM + RAM_SIZE))
    + [CMD_WRITE_OUTPORT, CMD_WRITE_KBD_OUTBUF, CMD_WRITE_AUX_OUTBUF, CMD_WRITE_AUX]
)


class I8042(PioDevice):
    """The PC keyboard controller with no keyboard or mouse attached."""

    NAME: ClassVar[str] = "i8042"
    PORT_BASE: ClassVar[int] = 0x60
    PORT_LEN: ClassVar[int] = 5
    IRQ: ClassVar[int] = 1
    AUX_IRQ: ClassVar[int] = 12

    def __init__(
        self,
        on_reset: Callable[[], None],
        kbd_irq: IrqLine | None = None,
        aux_irq: IrqLine | None = None,
    ) -> None:
        super().__init__()
        self._on_reset = on_reset
        self._kbd_irq: IrqLine = kbd_irq or NoIrqLine()
        self._aux_irq: IrqLine = aux_irq or NoIrqLine()
        self._kbd_level = False
        self._aux_level = False
        self._ram = bytearray(DEFAULT_RAM)
        self._output_port = DEFAULT_OUTPORT
        self._pending = 0
        self._last_was_command = False
        self._last_data = 0
        self._out: deque[tuple[int, int]] = deque()
        self._reset_requested = 0
        self._commands = 0
        self._unknown = 0
        self._resets = 0
        self._dropped = 0

    # -- host side -----------------------------------------------------------

    def stats(self) -> I8042Stats:
        from ember.devices.legacy.state import I8042Stats

        with self._lock:
            return I8042Stats(self._commands, self._unknown, self._resets, self._dropped)

    @property
    def ctr(self) -> int:
        with self._lock:
            return self._ram[0]

    @property
    def a20_enabled(self) -> bool:
        with self._lock:
            return bool(self._output_port & OUTPORT_A20)

    @property
    def irq_levels(self) -> tuple[bool, bool]:
        """(IRQ 1, IRQ 12) as currently driven."""
        with self._lock:
            return self._kbd_level, self._aux_level

    # -- registers -------------------------------------------------------------

    def _read_byte(self, offset: int) -> int:
        if offset == DATA:
            return self._read_data()
        if offset == COMMAND:
            return self._status()
        return 0xFF  # not the controller's port

    def _write_byte(self, offset: int, value: int) -> None:
        if offset == DATA:
            self._last_was_command = False
            self._write_data(value)
        elif offset == COMMAND:
            self._last_was_command = True
            self._command(value)

    def _status(self) -> int:
        status = STATUS_UNLOCKED
        if self._ram[0] & CTR_SYS:
            status |= STATUS_SYS
        if self._last_was_command:
            status |= STATUS_CMD
        if self._out:
            status |= STATUS_OBF
            flags = self._out[0][1]
            if flags & FLAG_AUX:
                status |= STATUS_AUXDATA
            if flags & FLAG_TIMEOUT:
                status |= STATUS_TIMEOUT
        return status

    def _read_data(self) -> int:
        if not self._out:
            return self._last_data
        self._last_data, _ = self._out.popleft()
        self._update_irqs(new_byte=True)
        return self._last_data

    def _command(self, cmd: int) -> None:
        self._commands += 1
        self._pending = 0  # a new command abandons one waiting for data
        ram = self._ram
        if cmd in _WITH_DATA:
            self._pending = cmd
        elif CMD_READ_RAM <= cmd < CMD_READ_RAM + RAM_SIZE:
            self._push(ram[cmd - CMD_READ_RAM])
        elif cmd == CMD_AUX_DISABLE:
            ram[0] |= CTR_AUXDIS
        elif cmd == CMD_AUX_ENABLE:
            ram[0] &= ~CTR_AUXDIS
        elif cmd in (CMD_AUX_TEST, CMD_KBD_TEST):
            self._push(INTERFACE_TEST_OK)
        elif cmd == CMD_SELF_TEST:
            ram[0] |= CTR_SYS
            self._push(SELF_TEST_OK)
        elif cmd == CMD_KBD_DISABLE:
            ram[0] |= CTR_KBDDIS
        elif cmd == CMD_KBD_ENABLE:
            ram[0] &= ~CTR_KBDDIS
        elif cmd == CMD_READ_OUTPORT:
            self._push(self._output_port)
        elif cmd == CMD_A20_OFF:
            self._output_port &= ~OUTPORT_A20
        elif cmd == CMD_A20_ON:
            self._output_port |= OUTPORT_A20
        elif cmd >= CMD_PULSE_FIRST:
            if not cmd & OUTPORT_RESET:
                self._request_reset(f"pulse command {cmd:#04x}")
        else:
            self._unknown += 1
            log.debug("i8042: unknown command %#04x ignored", cmd)
        self._update_irqs()

    def _write_data(self, value: int) -> None:
        cmd, self._pending = self._pending, 0
        if CMD_WRITE_RAM <= cmd < CMD_WRITE_RAM + RAM_SIZE:
            self._ram[cmd - CMD_WRITE_RAM] = value
        elif cmd == CMD_WRITE_OUTPORT:
            self._output_port = value
            if not value & OUTPORT_RESET:
                self._request_reset(f"output port write {value:#04x}")
        elif cmd == CMD_WRITE_KBD_OUTBUF:
            self._push(value)
        elif cmd == CMD_WRITE_AUX_OUTBUF:
            self._push(value, FLAG_AUX)
        elif cmd == CMD_WRITE_AUX:
            self._push(NO_DEVICE_REPLY, FLAG_AUX | FLAG_TIMEOUT)  # no mouse attached
        else:
            self._push(NO_DEVICE_REPLY, FLAG_TIMEOUT)  # to the keyboard: none attached
        self._update_irqs()

    # -- internal ---------------------------------------------------------------

    def _push(self, value: int, flags: int = 0) -> None:
        if len(self._out) >= OUTPUT_QUEUE_SIZE:
            self._dropped += 1
            return
        self._out.append((value, flags))

    def _request_reset(self, why: str) -> None:
        self._resets += 1
        self._reset_requested += 1
        log.info("i8042: CPU reset line asserted (%s)", why)

    def _update_irqs(self, new_byte: bool = False) -> None:
        kbd = aux = False
        if self._out:
            aux_byte = bool(self._out[0][1] & FLAG_AUX)
            kbd = not aux_byte and bool(self._ram[0] & CTR_KBDINT)
            aux = aux_byte and bool(self._ram[0] & CTR_AUXINT)
        if new_byte:
            # A byte was taken: drop the line so the next one makes a new edge.
            self._set_kbd(False)
            self._set_aux(False)
        self._set_kbd(kbd)
        self._set_aux(aux)

    def _set_kbd(self, level: bool) -> None:
        if level != self._kbd_level:
            self._kbd_level = level
            self._kbd_irq.set_level(level)

    def _set_aux(self, level: bool) -> None:
        if level != self._aux_level:
            self._aux_level = level
            self._aux_irq.set_level(level)

    def _after_access(self) -> None:
        with self._lock:
            requests, self._reset_requested = self._reset_requested, 0
        if requests:  # one call however many pulses a wide access carried
            self._on_reset()

    # -- state --------------------------------------------------------------------

    def save(self) -> I8042State:
        from ember.devices.legacy.state import I8042State

        with self._lock:
            return I8042State(
                ram=bytes(self._ram),
                output_port=self._output_port,
                pending_command=self._pending,
                last_was_command=self._last_was_command,
                last_data=self._last_data,
                output=bytes(v for v, _ in self._out),
                output_flags=bytes(f for _, f in self._out),
            )

    @classmethod
    def restore(
        cls,
        state: I8042State,
        on_reset: Callable[[], None],
        kbd_irq: IrqLine | None = None,
        aux_irq: IrqLine | None = None,
    ) -> I8042:
        """Rebuild the controller from ``state``; IRQ lines are driven to match."""
        from ember.devices.legacy.state import I8042State

        if not isinstance(state, I8042State):
            raise DeviceStateError(f"i8042: expected an I8042State, got {type(state).__name__}")
        name = cls.NAME
        for field in ("ram", "output", "output_flags"):
            if not isinstance(getattr(state, field), bytes):
                raise DeviceStateError(f"i8042: saved {field} is not bytes")
        if len(state.ram) != RAM_SIZE:
            raise DeviceStateError(
                f"i8042: saved RAM is {len(state.ram)} bytes, the controller has {RAM_SIZE}"
            )
        if len(state.output) > OUTPUT_QUEUE_SIZE:
            raise DeviceStateError(
                f"i8042: saved output queue holds {len(state.output)} bytes, "
                f"more than {OUTPUT_QUEUE_SIZE}"
            )
        if len(state.output_flags) != len(state.output):
            raise DeviceStateError("i8042: saved output and output_flags differ in length")
        for flags in state.output_flags:
            check_byte(name, "output flag", flags, FLAGS_MASK)
        check_byte(name, "output port", state.output_port)
        check_byte(name, "last data", state.last_data)
        if state.pending_command != 0 and state.pending_command not in _WITH_DATA:
            raise DeviceStateError(
                f"i8042: saved pending command {state.pending_command!r} takes no data byte"
            )
        if not isinstance(state.last_was_command, bool):
            raise DeviceStateError("i8042: saved last_was_command is not a bool")
        dev = cls(on_reset, kbd_irq, aux_irq)
        dev._ram[:] = state.ram
        dev._output_port = state.output_port
        dev._pending = state.pending_command
        dev._last_was_command = state.last_was_command
        dev._last_data = state.last_data
        dev._out.extend(zip(state.output, state.output_flags, strict=True))
        with dev._lock:
            dev._update_irqs()
        return dev


_STATE_TYPES = ('I8042State', 'I8042Stats')


def __getattr__(name: str) -> object:
    # The plain-data state types live in ember.devices.legacy.state (dataclasses,
    # kept off the start-up path); they stay importable from here.
    if name in _STATE_TYPES:
        from ember.devices.legacy import state

        return getattr(state, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
