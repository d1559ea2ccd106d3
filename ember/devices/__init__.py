"""Emulated devices. ``legacy`` holds the PC's ISA devices (UART, i8042, RTC).

Devices are plain objects driven by the VMM's I/O bus; see docs/devices.md.
"""

from ember.devices.errors import DeviceAccessError, DeviceError, DeviceStateError

__all__ = ["DeviceAccessError", "DeviceError", "DeviceStateError"]
