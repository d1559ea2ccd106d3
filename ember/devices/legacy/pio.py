"""Port-I/O plumbing shared by the legacy devices.

A device decodes single-byte registers. A 2- or 4-byte access (``inw``/``inl``)
is split into byte accesses to consecutive ports, lowest port in the least
significant byte, as the ISA bus does for 8-bit devices; bytes that fall past
the device's last port read as 0xff (a floating bus) and writes to them are
dropped. The whole access runs under the device's one lock.
"""

from __future__ import annotations

import threading

from ember.devices.errors import DeviceAccessError, DeviceStateError

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from typing import ClassVar

#: Access widths an x86 port-I/O instruction can have.
ACCESS_SIZES = (1, 2, 4)
#: What an undecoded byte on the ISA bus reads as.
FLOATING_BUS = 0xFF


class PioDevice:
    """Base of a port-I/O device: sized, checked access over byte registers.

    Subclasses set ``NAME``, ``PORT_BASE`` and ``PORT_LEN`` and implement
    ``_read_byte``/``_write_byte``, which run with ``self._lock`` held.
    """

    NAME: ClassVar[str] = "pio"
    #: Default first port of the device on a PC.
    PORT_BASE: ClassVar[int] = 0
    #: Number of consecutive ports the device decodes.
    PORT_LEN: ClassVar[int] = 1

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Only call the hook for subclasses that override it: it costs a call
        # on every access, and most devices have nothing to do there.
        self._has_after_access = type(self)._after_access is not PioDevice._after_access

    # -- the bus interface -------------------------------------------------

    def read(self, offset: int, size: int = 1) -> int:
        """Read ``size`` bytes at ``offset`` (relative to the device's base port)."""
        self._check_access(offset, size)
        with self._lock:
            if size == 1:  # the common case, kept short: it runs on every exit
                value = self._read_byte(offset) & 0xFF
            else:
                value = 0
                for i in range(size):
                    port = offset + i
                    byte = self._read_byte(port) if port < self.PORT_LEN else FLOATING_BUS
                    value |= (byte & 0xFF) << (8 * i)
        if self._has_after_access:
            self._after_access()
        return value

    def write(self, offset: int, value: int, size: int = 1) -> None:
        """Write ``size`` bytes of ``value`` at ``offset`` (relative to the base port)."""
        self._check_access(offset, size)
        if not isinstance(value, int) or not 0 <= value < (1 << (8 * size)):
            raise DeviceAccessError(
                f"{self.NAME}: value {value!r} does not fit a {size}-byte port write"
            )
        with self._lock:
            if size == 1:
                self._write_byte(offset, value)
            else:
                for i in range(size):
                    port = offset + i
                    if port < self.PORT_LEN:
                        self._write_byte(port, (value >> (8 * i)) & 0xFF)
        if self._has_after_access:
            self._after_access()

    # -- for subclasses ----------------------------------------------------

    def _read_byte(self, offset: int) -> int:
        raise NotImplementedError

    def _write_byte(self, offset: int, value: int) -> None:
        raise NotImplementedError

    def _after_access(self) -> None:
        """Runs after the lock is released: for callbacks that may re-enter the VMM."""

    def _check_access(self, offset: int, size: int) -> None:
        if size not in ACCESS_SIZES or not isinstance(size, int):
            raise DeviceAccessError(
                f"{self.NAME}: access size {size!r} is not one of {ACCESS_SIZES}"
            )
        if not isinstance(offset, int) or not 0 <= offset < self.PORT_LEN:
            raise DeviceAccessError(
                f"{self.NAME}: offset {offset!r} is outside the device's "
                f"{self.PORT_LEN} ports (0..{self.PORT_LEN - 1})"
            )


def check_byte(device: str, field: str, value: object, mask: int = 0xFF) -> int:
    """Validate one saved register: an int with no bits outside ``mask``."""
    if not isinstance(value, int) or isinstance(value, bool) or value & ~mask or value < 0:
        raise DeviceStateError(
            f"{device}: saved {field} {value!r} is not a register value "
            f"(allowed bits {mask:#04x}); the snapshot is corrupt or from another version"
        )
    return value
