"""Legacy PC devices emulated at register level: 16550A UART, i8042, CMOS RTC, IOAPIC.

Each device holds no file descriptors: the VMM's port bus calls
``read(offset, size)``/``write(offset, value, size)`` with offsets relative to
the device's ``PORT_BASE``, and interrupts leave through an injected
``IrqLine`` (ember.devices.legacy.irq). State is saved as a frozen dataclass
of plain data (ember.devices.legacy.state) and restored through the same
checks guest writes go through.

Names are imported on first use, so that importing one device does not load
them all (start-up time).
"""

_EXPORTS = {
    "I8042": "i8042", "I8042State": "state", "I8042Stats": "state", "Ioapic": "ioapic",
    "IoapicState": "state", "NoIrqLine": "irq",
    "PioDevice": "pio", "Rtc": "rtc", "RtcState": "state", "Serial": "serial",
    "SerialState": "state", "SerialStats": "state",
}
__all__ = sorted(_EXPORTS)  # noqa: PLE0605 - lazy exports: the keys of _EXPORTS


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
