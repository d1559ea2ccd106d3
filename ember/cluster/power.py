"""Host power models: SPECpower tables with linear interpolation.

A table gives watts at 0, 10, ..., 100 % CPU. Between the 10 % points the power
is interpolated linearly, computed the way CloudSim 3.0.3's
``PowerModelSpecPower`` does it (floor point plus slope times offset) so that
ties between hosts break identically.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: Number of table steps: 0 %, 10 %, ..., 100 %.
STEPS = 10


@dataclass(frozen=True)
class PowerModel:
    """Watts at 0, 10, ..., 100 % CPU (eleven values, non-decreasing)."""

    name: str
    watts: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.watts) != STEPS + 1:
            raise ValueError(f"power model {self.name}: need {STEPS + 1} values, got {len(self.watts)}")
        if any(b < a for a, b in zip(self.watts, self.watts[1:])):
            raise ValueError(f"power model {self.name}: watts must not decrease with utilisation")

    @property
    def idle(self) -> float:
        return self.watts[0]

    @property
    def peak(self) -> float:
        return self.watts[-1]

    def power(self, utilization: float) -> float:
        """Watts at *utilization* (a fraction, clipped to [0, 1])."""
        return power_scalar(self.watts, utilization)


def table_array(models: list[PowerModel] | tuple[PowerModel, ...]) -> np.ndarray:
    """Stack the models' tables into a (models, 11) array for :func:`power_of`."""
    import numpy as np

    return np.array([m.watts for m in models], dtype=float)


def power_of(tables: np.ndarray, kind: np.ndarray, utilization: np.ndarray) -> np.ndarray:
    """Watts of hosts whose model is ``tables[kind]`` at *utilization* (vectorised).

    Utilisation is clipped to [0, 1]: CloudSim rounds values just above 1 down
    (``HostDynamicWorkload.getUtilizationOfCpu``) and never evaluates beyond.
    """
    import numpy as np

    u = np.minimum(np.maximum(np.asarray(utilization, dtype=float), 0.0), 1.0)
    scaled = u * STEPS
    lo = np.floor(scaled)
    base = np.asarray(kind, dtype=np.intp) * (STEPS + 1)
    flat = tables.ravel()
    p_lo = flat[base + lo.astype(np.intp)]
    p_hi = flat[base + np.ceil(scaled).astype(np.intp)]
    # Same operation order as CloudSim: floor power + slope * (u - floor/10) * 100.
    watts: np.ndarray = p_lo + (p_hi - p_lo) / STEPS * (u - lo / STEPS) * 100.0
    return watts


def power_scalar(watts: tuple[float, ...] | list[float], utilization: float) -> float:
    """:func:`power_of` for one host, without NumPy overhead."""
    import math

    u = min(max(utilization, 0.0), 1.0)
    scaled = u * STEPS
    lo = math.floor(scaled)
    p_lo, p_hi = watts[lo], watts[math.ceil(scaled)]
    return p_lo + (p_hi - p_lo) / STEPS * (u - lo / STEPS) * 100.0


#: HP ProLiant ML110 G4 (Intel Xeon 3040), SPECpower_ssj2008.
HP_ML110_G4 = PowerModel("HP ProLiant ML110 G4", (86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117))
#: HP ProLiant ML110 G5 (Intel Xeon 3075), SPECpower_ssj2008.
HP_ML110_G5 = PowerModel("HP ProLiant ML110 G5", (93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135))
