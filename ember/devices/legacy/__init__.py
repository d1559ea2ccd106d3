"""Legacy PC devices emulated at register level: 16550A UART, i8042, CMOS RTC.

Each device holds no file descriptors: the VMM's port bus calls
``read(offset, size)``/``write(offset, value, size)`` with offsets relative to
the device's ``PORT_BASE``, and interrupts leave through an injected
:class:`~ember.devices.legacy.irq.IrqLine`. State is saved as a frozen
dataclass of plain data and restored through the same checks guest writes go
through.
"""

from ember.devices.legacy.i8042 import I8042, I8042State, I8042Stats
from ember.devices.legacy.irq import IrqLine, NoIrqLine
from ember.devices.legacy.pio import PioDevice
from ember.devices.legacy.rtc import Rtc, RtcState
from ember.devices.legacy.serial import Serial, SerialState, SerialStats

__all__ = [
    "I8042",
    "I8042State",
    "I8042Stats",
    "IrqLine",
    "NoIrqLine",
    "PioDevice",
    "Rtc",
    "RtcState",
    "Serial",
    "SerialState",
    "SerialStats",
]
