"""Placement rules: in which order to try the hosts that can take a VM.

A placement gives each suitable host a key; the caller takes the host with the
least key (lowest id among equals) that the overload detector accepts with the
VM added. Taking the front of the order lazily gives exactly the host a full
scan would pick while running the detector only on the few hosts at the front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ember.cluster.power import power_of, power_scalar

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Candidates:
    """Suitable hosts for one VM (ids ascending) and what the ranking needs about them."""

    ids: np.ndarray
    #: MIPS the VM asks for; a column (VMs, 1) ranks several VMs at once (keys broadcast to (VMs, hosts))
    request: float | np.ndarray
    allocated: np.ndarray  # MIPS the hosts hand out now (tentative moves included)
    mips: np.ndarray
    measured_power: np.ndarray  # watts at the utilisation measured at the last update
    current_power: np.ndarray  # watts at the current allocation
    occupied: np.ndarray  # the host has VMs now
    power_kind: np.ndarray
    power_tables: np.ndarray


@dataclass(frozen=True)
class HostView:
    """One candidate host, as plain floats (for :meth:`Placement.key_one`)."""

    id: int
    allocated: float
    mips: float
    measured_power: float
    current_power: float
    occupied: bool
    watts: tuple[float, ...] | list[float]  # the host's power table


class Placement(Protocol):
    """Ranks candidates by one key: least first, lowest host id among equals."""

    @property
    def name(self) -> str: ...

    def key(self, c: Candidates) -> np.ndarray: ...

    def key_one(self, request: float, h: HostView) -> float:
        """:meth:`key` of one host, on plain floats (the same value, bit for bit)."""
        ...


def rank(placement: Placement, c: Candidates) -> np.ndarray:
    """All candidate ids in placement order (for callers that want the full list)."""
    import numpy as np

    return c.ids[np.lexsort((c.ids, placement.key(c)))]


@dataclass(frozen=True)
class Pabfd:
    """Power-aware best-fit decreasing: least increase in power first.

    ``wake_cost_includes_idle`` False is CloudSim's rule: the increase is
    measured from the power at the last measured utilisation, which for a host
    that is off is its idle power, so waking a host looks as cheap as its
    dynamic power. True charges an empty host its idle power and measures a
    running host's increase from its current allocation.
    """

    wake_cost_includes_idle: bool = True
    name: str = field(default="pabfd", init=False)
    uses_power = True
    #: the key depends on the host's load and model, not on its id
    by_id = False

    @property
    def monotone(self) -> bool:
        """A host's key never falls as VMs are added to it (for non-decreasing power tables).

        CloudSim's rule subtracts a constant (the measured power); ours
        subtracts the current power, and a step's slope can fall.
        """
        return not self.wake_cost_includes_idle

    def cost(self, c: Candidates) -> np.ndarray:
        import numpy as np

        after = power_of(c.power_tables, c.power_kind, (c.allocated + c.request) / c.mips)
        if self.wake_cost_includes_idle:
            return after - np.where(c.occupied, c.current_power, 0.0)
        extra: np.ndarray = after - c.measured_power
        return extra

    def key(self, c: Candidates) -> np.ndarray:
        return self.cost(c)

    def key_one(self, request: float, h: HostView) -> float:
        after = power_scalar(h.watts, (h.allocated + request) / h.mips)
        if self.wake_cost_includes_idle:
            return after - (h.current_power if h.occupied else 0.0)
        return after - h.measured_power


@dataclass(frozen=True)
class FirstFit:
    """The lowest host id that fits."""

    name: str = field(default="first-fit", init=False)
    #: keys never change with load (fit only shrinks)
    monotone = True
    uses_power = False
    by_id = True

    def key(self, c: Candidates) -> np.ndarray:
        return c.ids.astype(float)

    def key_one(self, request: float, h: HostView) -> float:
        return float(h.id)


@dataclass(frozen=True)
class FewestInstances:
    """Keep the number of running hosts low: the running host left with the least
    free MIPS first (best fit), an empty host only when no running one fits."""

    name: str = field(default="fewest-instances", init=False)
    by_id = False

    def key(self, c: Candidates) -> np.ndarray:
        import numpy as np

        free_after = c.mips - c.allocated - c.request
        # running hosts first (free MIPS is below any host's capacity), then empty ones
        order: np.ndarray = free_after + np.where(c.occupied, 0.0, EMPTY_PENALTY_MIPS)
        return order

    def key_one(self, request: float, h: HostView) -> float:
        return h.mips - h.allocated - request + (0.0 if h.occupied else EMPTY_PENALTY_MIPS)

#: Added to an empty host's key so every running host ranks before it.
EMPTY_PENALTY_MIPS = 1e12

PLACEMENTS: dict[str, type] = {"pabfd": Pabfd, "first-fit": FirstFit, "fewest-instances": FewestInstances}
