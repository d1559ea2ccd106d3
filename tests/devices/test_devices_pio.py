"""The PioDevice base: access checks, wide-access splitting, the after-access hook."""

from __future__ import annotations

from typing import ClassVar

import pytest

from ember.devices.errors import DeviceAccessError
from ember.devices.legacy.pio import PioDevice


class Regs(PioDevice):
    NAME: ClassVar[str] = "regs"
    PORT_LEN: ClassVar[int] = 3

    def __init__(self) -> None:
        super().__init__()
        self.regs = bytearray(3)
        self.log: list[tuple[str, int, int]] = []

    def _read_byte(self, offset: int) -> int:
        self.log.append(("r", offset, self.regs[offset]))
        return self.regs[offset]

    def _write_byte(self, offset: int, value: int) -> None:
        self.log.append(("w", offset, value))
        self.regs[offset] = value


class Hooked(Regs):
    def __init__(self) -> None:
        super().__init__()
        self.hooks = 0

    def _after_access(self) -> None:
        assert not self._lock.locked()  # outside the device lock
        self.hooks += 1


def test_wide_access_is_split_low_port_first() -> None:
    dev = Regs()
    dev.write(1, 0xBBAA, 2)
    assert dev.log == [("w", 1, 0xAA), ("w", 2, 0xBB)]
    assert dev.read(0, 4) == 0xFFBBAA00  # the fourth byte is past the device
    dev.write(2, 0x11223344, 4)  # bytes past the end are dropped
    assert dev.regs[2] == 0x44


@pytest.mark.parametrize(
    "offset, size, value", [(3, 1, 0), (-1, 1, 0), (0, 3, 0), (0, 1, 256), (0, 2, -1), (0, 1.0, 0)]
)
def test_bad_accesses(offset: int, size: int, value: int) -> None:
    dev = Regs()
    with pytest.raises(DeviceAccessError):
        dev.write(offset, value, size)
    if value == 0:
        with pytest.raises(DeviceAccessError):
            dev.read(offset, size)
    assert dev.log == []


def test_after_access_hook_runs_only_when_overridden() -> None:
    dev = Hooked()
    dev.write(0, 1)
    dev.read(0, 2)
    assert dev.hooks == 2
    assert not Regs()._has_after_access
