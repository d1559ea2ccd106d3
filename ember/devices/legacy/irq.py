"""The interrupt line a legacy device drives.

Devices never touch KVM: they are given an :class:`IrqLine` at construction
and set its level. The VMM implements it with ``KVM_IRQ_LINE`` on the in-kernel
irqchip; tests use a recording fake. Devices only call ``set_level`` when the
level actually changes, and they call it while holding their own lock, so two
threads can never deliver level changes out of order.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing stays off the start-up path (see ember/record.py)
if TYPE_CHECKING:
    from typing import Protocol

    class IrqLine(Protocol):
        """A level-triggered interrupt line into the guest's interrupt controller."""

        def set_level(self, high: bool) -> None:
            """Drive the line high (asserted) or low. Must not call back into the device."""


class NoIrqLine:
    """An unconnected line: for devices whose interrupt the VMM does not wire up."""

    def set_level(self, high: bool) -> None:
        del high
