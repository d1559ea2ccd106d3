"""What a run measures (model section 9), accumulated from state-history entries.

Hosts and VMs record an entry ``(t, allocated, requested, flag)`` at every
update instant; an entry at the same time as the previous one replaces it.
Each interval between consecutive entries is judged by the entry at its start.
The accumulators close an interval when the next entry arrives, so nothing is
kept per entry and a 40,000-VM day needs no history lists.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

JOULES_PER_KWH = 3.6e6


class HostLedger:
    """Per-host pending entries and the SLATAH / activity sums they close into."""

    def __init__(self, mips: np.ndarray, initially_on: np.ndarray) -> None:
        import numpy as np

        n = mips.shape[0]
        self.mips = mips
        self.t = np.full(n, -1.0)
        self.alloc = np.zeros(n)
        self.req = np.zeros(n)
        self.active = np.zeros(n, dtype=bool)
        self.final_active = initially_on.copy()  # state of the last closed entry
        self.on_since = np.zeros(n)
        self.active_time = 0.0
        self.violation_time = 0.0
        self.util_time = 0.0
        self.first_t: float | None = None
        self.last_t = 0.0
        self.shutdowns = 0
        self.on_durations = 0.0

    def record(self, t: float, alloc: np.ndarray, req: np.ndarray) -> None:

        if self.first_t is None:
            self.first_t = t
        self.last_t = t
        closing = (self.t >= 0) & (self.t < t)
        if closing.any():
            self._close(closing, t)
        self.t[:] = t
        self.alloc = alloc.copy()
        self.req = req.copy()
        self.active = alloc > 0

    def _close(self, closing: np.ndarray, t: float) -> None:

        dt = t - self.t
        act = closing & self.active
        self.active_time += float(dt[act].sum())
        self.violation_time += float(dt[act & (self.alloc < self.req)].sum())
        self.util_time += float((dt[act] * self.alloc[act] / self.mips[act]).sum())
        self._transitions(closing)

    def _transitions(self, which: np.ndarray) -> None:
        down = which & self.final_active & ~self.active
        up = which & ~self.final_active & self.active
        self.shutdowns += int(down.sum())
        self.on_durations += float((self.t[down] - self.on_since[down]).sum())
        self.on_since[up] = self.t[up]
        self.final_active[which] = self.active[which]

    def finish(self) -> None:

        self._transitions(self.t >= 0)


class VmLedger:
    """Per-VM pending entries and the PDM sums they close into."""

    def __init__(self, n: int) -> None:
        import numpy as np

        self.t = np.full(n, -1.0)
        self.alloc = np.zeros(n)
        self.req = np.zeros(n)
        self.migrating = np.zeros(n, dtype=bool)
        self.requested_mips_s = 0.0
        self.allocated_mips_s = 0.0
        self.migration_shortfall_mips_s = 0.0

    def record(self, t: float, on: np.ndarray, alloc: np.ndarray, req: np.ndarray, migrating: np.ndarray) -> None:
        closing = on & (self.t >= 0) & (self.t < t)
        if closing.any():
            dt = t - self.t[closing]
            r, a, m = self.req[closing], self.alloc[closing], self.migrating[closing]
            self.requested_mips_s += float((r * dt).sum())
            self.allocated_mips_s += float((a * dt).sum())
            short = m & (a < r)
            self.migration_shortfall_mips_s += float(((r - a) * dt)[short].sum())
        self.t[on] = t
        self.alloc[on] = alloc[on]
        self.req[on] = req[on]
        self.migrating[on] = migrating[on]


@dataclass
class Result:
    """Metrics of one run; SLATAH, PDM and SLAV are fractions."""

    trace: str
    policy: str
    model: str
    seed: int
    fixes: list[str]
    hosts: int
    vms: int
    energy_kwh: float
    migrations: int
    slatah: float
    pdm: float
    slav: float
    esv: float
    mean_active_hosts: float
    mean_active_utilization: float
    shutdowns: int
    mean_time_before_shutdown_s: float
    mean_migration_time_s: float
    vms_removed: int
    wall_s: float = 0.0
    series: dict[str, list[float]] = field(default_factory=dict)

    def as_dict(self, series: bool = False) -> dict[str, Any]:
        out = asdict(self)
        if not series:
            out.pop("series")
        return out
