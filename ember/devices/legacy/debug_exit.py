"""The debug-exit port (QEMU's isa-debug-exit, kvm-unit-tests' exit path) and the POST-code port.

A one-byte write to port 0xf4 ends the VM with that byte as its status (QEMU
reports ``(status << 1) | 1``; ember reports the status itself). Port 0x80 is
the PC's POST-code port: Linux writes it as an I/O delay, test guests use it
as the cheapest possible port-I/O exit; the last code is kept for inspection.
"""

from __future__ import annotations

from ember.devices.legacy.pio import FLOATING_BUS, PioDevice

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import ClassVar


class DebugExit(PioDevice):
    NAME: ClassVar[str] = "debug-exit"
    PORT_BASE: ClassVar[int] = 0xF4
    PORT_LEN: ClassVar[int] = 1

    def __init__(self, on_exit: Callable[[int], None]) -> None:
        super().__init__()
        self._on_exit = on_exit
        self._status: int | None = None

    def _read_byte(self, offset: int) -> int:
        return FLOATING_BUS

    def _write_byte(self, offset: int, value: int) -> None:
        if self._status is None:
            self._status = value

    def _after_access(self) -> None:
        # Outside the device lock: stopping the VM kicks other vCPUs.
        if self._status is not None:
            status, self._status = self._status, None
            self._on_exit(status)


class PostCode(PioDevice):
    NAME: ClassVar[str] = "post"
    PORT_BASE: ClassVar[int] = 0x80
    PORT_LEN: ClassVar[int] = 1

    def __init__(self) -> None:
        super().__init__()
        self.last_code = 0
        self.writes = 0

    def _read_byte(self, offset: int) -> int:
        return self.last_code

    def _write_byte(self, offset: int, value: int) -> None:
        self.last_code = value
        self.writes += 1
