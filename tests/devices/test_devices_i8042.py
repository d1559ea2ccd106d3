"""i8042 keyboard controller: Linux's probe sequence, the reset line, interrupts."""

from __future__ import annotations

from dataclasses import replace

import pytest
from device_fakes import RecordingIrq

from ember.devices.errors import DeviceAccessError, DeviceStateError
from ember.devices.legacy import i8042 as k
from ember.devices.legacy.i8042 import I8042, I8042State

DATA, CMD = 0, 4


class Resets:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def resets() -> Resets:
    return Resets()


@pytest.fixture
def kbd_irq() -> RecordingIrq:
    return RecordingIrq()


@pytest.fixture
def aux_irq() -> RecordingIrq:
    return RecordingIrq()


@pytest.fixture
def ctl(resets: Resets, kbd_irq: RecordingIrq, aux_irq: RecordingIrq) -> I8042:
    return I8042(resets, kbd_irq, aux_irq)


def command(ctl: I8042, cmd: int, *data: int) -> list[int]:
    """Issue a command the way Linux's i8042_command does and collect the reply."""
    ctl.write(CMD, cmd)
    for byte in data:
        assert not ctl.read(CMD) & k.STATUS_IBF
        ctl.write(DATA, byte)
    reply = []
    while ctl.read(CMD) & k.STATUS_OBF:
        reply.append(ctl.read(DATA))
    return reply


def test_ports_and_defaults(ctl: I8042) -> None:
    assert (I8042.PORT_BASE, I8042.PORT_LEN, I8042.IRQ, I8042.AUX_IRQ) == (0x60, 5, 1, 12)
    status = ctl.read(CMD)
    assert status != 0xFF  # Linux's "no controller" value
    assert status & k.STATUS_OBF == 0 and status & k.STATUS_SYS
    assert ctl.read(1) == ctl.read(2) == ctl.read(3) == 0xFF
    ctl.write(1, 0x12)  # port 0x61 is not ours: ignored


def test_linux_probe_sequence(ctl: I8042, resets: Resets) -> None:
    assert command(ctl, k.CMD_SELF_TEST) == [0x55]
    ctr = command(ctl, k.CMD_READ_RAM)
    assert ctr == [k.DEFAULT_CTR]
    new_ctr = (ctr[0] & ~k.CTR_KBDDIS) | k.CTR_AUXDIS
    assert command(ctl, k.CMD_WRITE_RAM, new_ctr) == []
    assert command(ctl, k.CMD_READ_RAM) == [new_ctr]
    assert ctl.read(CMD) & k.STATUS_CMD
    assert command(ctl, k.CMD_KBD_TEST) == [0x00]
    assert command(ctl, k.CMD_AUX_TEST) == [0x00]
    # Active-multiplexing probe: a plain controller echoes the AUX loop bytes.
    assert command(ctl, k.CMD_WRITE_AUX_OUTBUF, 0xF0) == [0xF0]
    # AUX disable/enable show in CTR bit 5.
    command(ctl, k.CMD_AUX_DISABLE)
    assert command(ctl, k.CMD_READ_RAM)[0] & k.CTR_AUXDIS
    command(ctl, k.CMD_AUX_ENABLE)
    assert not command(ctl, k.CMD_READ_RAM)[0] & k.CTR_AUXDIS
    command(ctl, k.CMD_KBD_DISABLE)
    assert command(ctl, k.CMD_READ_RAM)[0] & k.CTR_KBDDIS
    command(ctl, k.CMD_KBD_ENABLE)
    assert not command(ctl, k.CMD_READ_RAM)[0] & k.CTR_KBDDIS
    assert resets.count == 0
    assert ctl.stats().unknown_commands == 0


def test_aux_loop_sets_auxdata_and_raises_irq12(
    ctl: I8042, kbd_irq: RecordingIrq, aux_irq: RecordingIrq
) -> None:
    command(ctl, k.CMD_WRITE_RAM, k.CTR_KBDINT | k.CTR_AUXINT | k.CTR_SYS)
    ctl.write(CMD, k.CMD_WRITE_AUX_OUTBUF)
    ctl.write(DATA, 0x5A)
    status = ctl.read(CMD)
    assert status & k.STATUS_OBF and status & k.STATUS_AUXDATA
    assert aux_irq.level and not kbd_irq.level
    assert ctl.read(DATA) == 0x5A
    assert not aux_irq.level
    assert ctl.read(DATA) == 0x5A  # an empty buffer repeats the last byte


def test_keyboard_irq_needs_ctr_bit_and_gives_an_edge_per_byte(
    ctl: I8042, kbd_irq: RecordingIrq
) -> None:
    command(ctl, k.CMD_WRITE_RAM, k.CTR_SYS)  # keyboard interrupt off
    ctl.write(CMD, k.CMD_WRITE_KBD_OUTBUF)
    ctl.write(DATA, 0x1C)
    assert not kbd_irq.level
    assert ctl.read(DATA) == 0x1C
    command(ctl, k.CMD_WRITE_RAM, k.CTR_SYS | k.CTR_KBDINT)
    for byte in (0x01, 0x02):
        ctl.write(CMD, k.CMD_WRITE_KBD_OUTBUF)
        ctl.write(DATA, byte)
    assert kbd_irq.changes == [True]
    assert ctl.read(DATA) == 0x01
    assert kbd_irq.changes == [True, False, True]  # fresh edge for the second byte
    assert ctl.read(DATA) == 0x02
    assert kbd_irq.changes == [True, False, True, False]


def test_no_keyboard_or_mouse_answers_fe_with_timeout(ctl: I8042) -> None:
    ctl.write(DATA, 0xF2)  # atkbd GETID to the keyboard
    status = ctl.read(CMD)
    assert status & k.STATUS_TIMEOUT and not status & k.STATUS_AUXDATA
    assert ctl.read(DATA) == k.NO_DEVICE_REPLY
    assert not ctl.read(CMD) & k.STATUS_TIMEOUT
    ctl.write(CMD, k.CMD_WRITE_AUX)  # psmouse: send to the mouse
    ctl.write(DATA, 0xFF)
    status = ctl.read(CMD)
    assert status & (k.STATUS_TIMEOUT | k.STATUS_AUXDATA) == k.STATUS_TIMEOUT | k.STATUS_AUXDATA
    assert ctl.read(DATA) == k.NO_DEVICE_REPLY


def test_fe_pulse_resets(ctl: I8042, resets: Resets) -> None:
    ctl.write(CMD, 0xFE)
    assert resets.count == 1
    ctl.write(CMD, 0xFF)  # pulses nothing
    ctl.write(CMD, 0xF1)  # bit 0 set: the reset line is not pulsed
    assert resets.count == 1
    ctl.write(CMD, 0xF0)
    assert resets.count == 2 and ctl.stats().resets == 2


def test_output_port_write_reset_and_a20(ctl: I8042, resets: Resets) -> None:
    assert command(ctl, k.CMD_READ_OUTPORT) == [k.DEFAULT_OUTPORT]
    command(ctl, k.CMD_A20_OFF)
    assert not ctl.a20_enabled
    command(ctl, k.CMD_A20_ON)
    assert ctl.a20_enabled
    command(ctl, k.CMD_WRITE_OUTPORT, 0x03)
    assert resets.count == 0
    command(ctl, k.CMD_WRITE_OUTPORT, 0x02)  # bit 0 low: reset asserted
    assert resets.count == 1


def test_reset_callback_runs_outside_the_lock() -> None:
    seen = []

    def on_reset() -> None:
        # The VMM may look at the device (save it, read stats) when stopping:
        # that would deadlock if the callback ran under the device lock.
        seen.append(dev.stats().resets)
        dev.save()

    dev = I8042(on_reset)
    dev.write(CMD, 0xFE)
    assert seen == [1]


def test_ram_bytes_and_unknown_commands(ctl: I8042) -> None:
    command(ctl, k.CMD_WRITE_RAM + 5, 0xAB)
    assert command(ctl, k.CMD_READ_RAM + 5) == [0xAB]
    command(ctl, 0xC8)
    assert ctl.stats().unknown_commands == 1


def test_output_queue_is_bounded(ctl: I8042) -> None:
    for _ in range(k.OUTPUT_QUEUE_SIZE + 3):
        ctl.write(CMD, k.CMD_SELF_TEST)
    assert ctl.stats().output_dropped == 3
    assert len(ctl.save().output) == k.OUTPUT_QUEUE_SIZE


def test_bad_accesses(ctl: I8042) -> None:
    with pytest.raises(DeviceAccessError):
        ctl.read(5)
    with pytest.raises(DeviceAccessError):
        ctl.write(0, 256)


def test_save_restore_round_trip(ctl: I8042) -> None:
    command(ctl, k.CMD_WRITE_RAM, k.CTR_KBDINT | k.CTR_AUXINT)
    ctl.write(CMD, k.CMD_WRITE_AUX_OUTBUF)
    ctl.write(DATA, 0x77)
    ctl.write(CMD, k.CMD_WRITE_OUTPORT)  # left waiting for its data byte
    state = ctl.save()
    aux = RecordingIrq()
    copy = I8042.restore(state, Resets(), None, aux)
    assert copy.save() == state
    assert aux.level
    copy.write(DATA, 0x03)
    assert copy.a20_enabled


@pytest.mark.parametrize(
    "change, message",
    [
        ({"ram": bytes(31)}, "RAM is 31 bytes"),
        ({"output": bytes(17), "output_flags": bytes(17)}, "holds 17"),
        ({"output": b"a", "output_flags": b""}, "differ"),
        ({"output": b"a", "output_flags": b"\x04"}, "output flag"),
        ({"output_port": 256}, "output port"),
        ({"pending_command": 0xAA}, "takes no data"),
        ({"last_was_command": 0}, "not a bool"),
        ({"ram": "x" * 32}, "not bytes"),
    ],
)
def test_hostile_states_rejected(change: dict[str, object], message: str) -> None:
    with pytest.raises(DeviceStateError, match=message):
        I8042.restore(replace(I8042State(), **change), Resets())  # type: ignore[arg-type]
