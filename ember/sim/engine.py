"""The simulation loop (model sections 4-6): updates, energy, consolidation, migrations.

Everything per host or per VM is a NumPy column; one update instant costs a
handful of vectorised passes, and a consolidation round calls the policy code
of :mod:`ember.cluster.policy` on a frozen snapshot.

Two model modes: ``cloudsim`` reproduces CloudSim 3.0.3 with its quirks;
``ember`` (default) fixes them (:data:`FIXES` names each fix).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ember.cluster.hostmodel import floor_shares, share_scale
from ember.cluster.policy import (
    ClusterState,
    HostTable,
    Plan,
    Policy,
    VmTable,
    consolidate,
    parse_policy,
    place_new,
)
from ember.cluster.policy.overload import Lrr
from ember.cluster.policy.placement import FirstFit, Pabfd
from ember.cluster.policy.selection import Mc
from ember.cluster.policy.state import migration_seconds
from ember.cluster.power import power_of
from ember.sim import datacenter
from ember.sim.errors import SimError
from ember.sim.metrics import JOULES_PER_KWH, HostLedger, Result, VmLedger
from ember.sim.trace import Trace

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

MODELS = ("ember", "cloudsim")
#: Baselines that are not consolidation policies.
BASELINES = ("npa", "dvfs")
#: Policies of the study (CloudSim's examples/power/planetlab), for ``compare``.
STUDY_POLICIES: tuple[str, ...] = BASELINES + tuple(
    f"{d}-{s}-{p}" for d, p in (("thr", "0.8"), ("iqr", "1.5"), ("mad", "2.5"), ("lr", "1.2"), ("lrr", "1.2"))
    for s in ("mmt", "mc", "rs", "mu")
)
#: Observations of utilisation history kept per VM (CloudSim's PowerVm.HISTORY_LENGTH).
HISTORY_LENGTH = 30
#: Regular updates happen this long after each interval boundary: CloudSim's
#: cloudlets are submitted at 0.1 s and its datacentre ticks from there.
UPDATE_OFFSET_S = 0.1
#: Share of its CPU a migrating VM keeps on the source (10 % degradation).
MIGRATION_KEEP = 0.9
#: Share of a migrating VM's CPU the destination reserves.
MIGRATION_RESERVE = 0.1
#: CloudSim counts utilisation in (1, 1.01) as 1.
UTILIZATION_ROUNDING = 1.01

#: What ember mode changes with respect to CloudSim 3.0.3 (model section 10).
FIXES: dict[str, str] = {
    "vms-stay": "a VM asking 0 MIPS stays for the whole day instead of vanishing",
    "ram-constrains": "RAM and network limit placement all day, not only at t = 0",
    "robust-lrr": "LRR is a bisquare-reweighted regression, not plain least squares",
    "wake-cost": "PABFD charges an empty host its idle power when waking it",
    "exact-shares": "oversubscribed CPU shares are not floored to whole MIPS",
    "single-move": "a host that just received a VM is not evacuated in the same round",
}
#: What both modes keep although it is debatable (reported with every run).
KEPT = "every incoming migration counts as SLA-violation time on its destination"


@dataclass(frozen=True)
class RunConfig:
    policy: str = "thr-mmt-0.8"
    model: str = "ember"
    hosts: int = datacenter.DEFAULT_HOSTS
    seed: int = 0
    placement: str = "pabfd"


def resolve_policy(cfg: RunConfig) -> Policy | None:
    """The consolidation policy of *cfg* in its model mode, or None for a baseline."""
    if cfg.policy in BASELINES:
        return None
    policy = parse_policy(cfg.policy, cfg.placement)
    if cfg.model == "cloudsim":
        det = policy.detector
        if isinstance(det, Lrr):
            det = dataclasses.replace(det, robust=False)  # CloudSim never applies the weights
        place = policy.placement
        if isinstance(place, Pabfd):
            place = Pabfd(wake_cost_includes_idle=False)
        sel = policy.selector
        if isinstance(sel, Mc):
            sel = dataclasses.replace(sel, householder=True)  # commons-math's regression, bit for bit
        policy = dataclasses.replace(policy, detector=det, selector=sel, placement=place,
                                     evacuate_fresh_targets=True)
    return policy


class Simulation:
    """One run of one policy over one trace."""

    def __init__(self, trace: Trace, cfg: RunConfig) -> None:
        import numpy as np

        if cfg.model not in MODELS:
            raise SimError(f"unknown model {cfg.model!r}; choose from {', '.join(MODELS)}")
        if cfg.hosts < 1:
            raise SimError(f"--hosts must be at least 1, got {cfg.hosts}")
        if cfg.seed < 0:
            raise SimError(f"--seed must be 0 or more, got {cfg.seed}")
        self.cfg = cfg
        self.trace = trace
        self.cloudsim = cfg.model == "cloudsim"
        self.policy = resolve_policy(cfg)
        self.rng = np.random.default_rng(cfg.seed)
        h = datacenter.hosts(cfg.hosts)
        self.h = h
        self.tables = datacenter.power_tables()
        v = datacenter.vms(trace.vms)
        self.v = v
        n = trace.vms
        self.interval = trace.interval_s
        # utilisation samples, plus a copy of the last so interpolation past it is flat
        self.demand = np.concatenate([trace.utilization, trace.utilization[:, -1:]], axis=1)
        self.host_of = np.full(n, -1, dtype=np.intp)
        self.order = np.zeros(n, dtype=np.int64)
        self.alive = np.ones(n, dtype=bool)
        self.migrating = np.zeros(n, dtype=bool)
        self.hist = np.zeros((n, HISTORY_LENGTH))
        self.hist_len = np.zeros(n, dtype=np.intp)
        self.seq = 0
        # migrations in flight: parallel lists, in start order
        self.m_vm: list[int] = []
        self.m_dst: list[int] = []
        self.m_end: list[float] = []
        self.m_seq: list[int] = []  # position of the VM in its destination's list
        self.migrations = 0
        self.migration_time = 0.0
        self.removed = 0
        self.energy_j = 0.0
        self.t_last = 0.0
        self.u_last = np.zeros(cfg.hosts)
        self.series: dict[str, list[float]] = {"t": [], "active_hosts": [], "active_utilization": []}
        #: Called after every update instant as observer(t, state, sim) (tests check invariants).
        self.observer: Callable[[float, dict[str, np.ndarray], Simulation], None] | None = None
        #: Called with every consolidation plan as on_plan(t, plan).
        self.on_plan: Callable[[float, Plan], None] | None = None

    # -- state at an instant ------------------------------------------------
    def utilization_at(self, t: float) -> np.ndarray:
        """Every VM's utilisation at *t*: a sample on the grid, else linear between samples."""
        import math

        pos = t / self.interval
        lo = math.floor(pos)
        hi = math.ceil(pos)
        if t % self.interval == 0 or lo == hi:
            return self.demand[:, int(pos)]
        d1, d2 = self.demand[:, lo], self.demand[:, hi]
        delta = (d2 - d1) / ((hi - lo) * self.interval)
        between: np.ndarray = d1 + delta * (t - lo * self.interval)
        return between

    def state(self, t: float) -> dict[str, np.ndarray]:
        """CPU sharing on every host at *t* (model section 5)."""
        import numpy as np

        nh = self.cfg.hosts
        req = np.where(self.alive, self.utilization_at(t) * self.v.mips, 0.0)
        on = self.alive & (self.host_of >= 0)
        host = np.where(on, self.host_of, 0)
        ask = np.where(on, np.minimum(req, self.h.core_mips[host]), 0.0)
        mvm = np.array(self.m_vm, dtype=np.intp)
        mdst = np.array(self.m_dst, dtype=np.intp)
        in_ask = np.minimum(req[mvm], self.h.core_mips[mdst]) * MIGRATION_RESERVE
        ask_total = np.bincount(host, ask, minlength=nh) + np.bincount(mdst, in_ask, minlength=nh)
        scale = share_scale(ask_total, self.h.mips)
        mig = self.migrating & on
        # source: scale, then keep 90 % while migrating, then (CloudSim) floor;
        # destination: 10 % of the ask, then scale, then floor (CloudSim's order)
        raw = ask * scale[host] * np.where(mig, MIGRATION_KEEP, 1.0)
        alloc = np.where(on, floor_shares(raw, scale[host] < 1, self.cloudsim), 0.0)
        in_alloc = floor_shares(in_ask * scale[mdst], scale[mdst] < 1, self.cloudsim)
        # the source is charged for the whole VM: the 90 % share divided by 0.9
        charged = np.where(mig, alloc / MIGRATION_KEEP, alloc)
        # Per-host sums run in the order of the host's VM list (placements and
        # completed migrations append, so do migrations as they start), one
        # addition after the other as CloudSim does: a different order changes
        # the last bits, and a tie between hosts can then break the other way.
        own = np.flatnonzero(on)
        at = np.concatenate([self.host_of[own], mdst])
        seq = np.argsort(np.concatenate([self.order[own], np.array(self.m_seq, dtype=np.int64)]), kind="stable")
        at = at[seq]
        used = np.bincount(at, np.concatenate([charged[own], in_alloc])[seq], minlength=nh)
        requested = np.bincount(at, np.concatenate([req[own], req[mvm]])[seq], minlength=nh)
        util = used / self.h.mips
        util = np.where((util > 1) & (util < UTILIZATION_ROUNDING), 1.0, util)
        return {"req": req, "on": on, "alloc": alloc, "used": used, "requested": requested, "util": util, "mig": mig}

    # -- update instants ----------------------------------------------------
    def update(self, t: float, regular: bool) -> dict[str, np.ndarray]:
        """Bring everything to *t*: entries, energy since the last instant, VM histories."""
        import numpy as np

        s = self.state(t)
        dt = t - self.t_last
        if dt > 0:
            if self.cfg.policy == "npa":
                self.energy_j += float(self.h_peak.sum()) * dt
            else:
                was = self.u_last > 0
                p0 = power_of(self.tables, self.h.kind, self.u_last)
                p1 = power_of(self.tables, self.h.kind, s["util"])
                # host by host, one addition after the other (CloudSim's order)
                joules = np.where(was, (p0 + (p1 - p0) / 2) * dt, 0.0)
                self.energy_j += float(np.cumsum(joules)[-1]) if joules.size else 0.0
        self.t_last = t
        if regular:
            self.hist[:, 1:] = self.hist[:, :-1]
            # the utilisation itself, not request / MIPS (which can differ in the last bit)
            self.hist[:, 0] = np.where(self.alive, self.utilization_at(t), 0.0)
            self.hist_len = np.minimum(self.hist_len + self.alive, HISTORY_LENGTH)
        self.record(t, s)
        return s

    def record(self, t: float, s: dict[str, np.ndarray]) -> None:
        self.hosts_ledger.record(t, s["used"], s["requested"])
        self.vms_ledger.record(t, s["on"], s["alloc"], s["req"], s["mig"])
        self.u_last = s["util"]
        if self.observer:
            self.observer(t, s, self)

    def complete(self, t: float) -> None:
        """Finish the migrations ending at *t*, in the order they started."""
        import numpy as np

        keep = [i for i, end in enumerate(self.m_end) if end != t]
        done = [i for i, end in enumerate(self.m_end) if end == t]
        for i in done:
            vm = self.m_vm[i]
            self.host_of[vm] = self.m_dst[i]
            self.order[vm] = self._next_seq()
        self.m_vm = [self.m_vm[i] for i in keep]
        self.m_dst = [self.m_dst[i] for i in keep]
        self.m_end = [self.m_end[i] for i in keep]
        self.m_seq = [self.m_seq[i] for i in keep]
        self.migrating[:] = False
        if self.m_vm:
            self.migrating[np.array(self.m_vm, dtype=np.intp)] = True

    def _next_seq(self) -> int:
        self.seq += 1
        return self.seq

    # -- decisions ------------------------------------------------------------
    def snapshot(self, s: dict[str, np.ndarray]) -> ClusterState:
        import numpy as np

        keep_ram = not self.cloudsim  # CloudSim asks 0 MB and 0 Mbit/s once a VM runs
        target = np.full(self.trace.vms, -1, dtype=np.intp)
        for vm, dst in zip(self.m_vm, self.m_dst):
            target[vm] = dst
        return ClusterState(
            HostTable(self.h.mips, self.h.core_mips, self.h.ram_mb, self.h.bw_mbps, self.h.storage_mb,
                      self.h.kind, self.tables, s["util"]),
            VmTable(np.where(self.alive, self.host_of, -1), self.order, self.v.mips, s["req"], self.v.ram_mb,
                    self.v.ram_mb if keep_ram else np.zeros(self.trace.vms),
                    self.v.bw_mbps if keep_ram else np.zeros(self.trace.vms),
                    self.v.storage_mb, self.hist, self.hist_len, self.migrating.copy(), target),
            self.interval,
            floor_shares=self.cloudsim,
        )

    def place_initial(self) -> None:
        """t = 0: every VM asks its full MIPS and RAM; all hosts are at utilisation 0."""
        import numpy as np

        n = self.trace.vms
        st = ClusterState(
            HostTable(self.h.mips, self.h.core_mips, self.h.ram_mb, self.h.bw_mbps, self.h.storage_mb,
                      self.h.kind, self.tables, np.zeros(self.cfg.hosts)),
            VmTable(np.full(n, -1, dtype=np.intp), np.zeros(n, dtype=np.int64), self.v.mips, self.v.mips.copy(),
                    self.v.ram_mb, self.v.ram_mb, self.v.bw_mbps, self.v.storage_mb,
                    np.zeros((n, HISTORY_LENGTH)), np.zeros(n, dtype=np.intp), np.zeros(n, dtype=bool),
                    np.full(n, -1, dtype=np.intp)),
            self.interval,
            floor_shares=self.cloudsim,
        )
        if self.policy is None:
            hosts = place_new(st, Policy(placement=FirstFit()), np.arange(n), check=False)
        else:
            # CloudSim's VMs ask for nothing once created until their workload
            # starts, so each check sees only the VM being placed.
            hosts = place_new(st, self.policy, np.arange(n), settled=np.zeros(n))
        missing = int((hosts < 0).sum())
        if missing:
            raise SimError(
                f"{missing} of {n} VMs do not fit on {self.cfg.hosts} hosts at start; "
                f"run with more hosts (--hosts)"
            )
        self.host_of = hosts.astype(np.intp)
        self.order = np.arange(1, n + 1, dtype=np.int64)
        self.seq = n

    def start_migrations(self, t: float, s: dict[str, np.ndarray]) -> None:
        assert self.policy is not None
        plan = consolidate(self.snapshot(s), self.policy, self.rng)
        if self.on_plan:
            self.on_plan(t, plan)
        for m in plan.migrations:
            seconds = migration_seconds(float(self.v.ram_mb[m.vm]), float(self.h.bw_mbps[m.target]))
            self.m_vm.append(m.vm)
            self.m_dst.append(m.target)
            self.m_end.append(t + seconds)
            self.m_seq.append(self._next_seq())  # appended to the destination's list
            self.migrating[m.vm] = True
            self.migration_time += seconds
        self.migrations += len(plan.migrations)

    # -- the day ----------------------------------------------------------------
    def run(self, progress: Callable[[int, int], None] | None = None) -> Result:
        import numpy as np

        wall = time.perf_counter()
        self.h_peak = self.tables[self.h.kind, -1]
        self.place_initial()
        initially_on = np.bincount(self.host_of, minlength=self.cfg.hosts) > 0
        self.hosts_ledger = HostLedger(self.h.mips, initially_on)
        self.vms_ledger = VmLedger(self.trace.vms)
        steps = self.trace.samples - 1
        consolidating = self.policy is not None
        for k in range(1, steps + 1):
            t = k * self.interval + UPDATE_OFFSET_S
            self.finish_migrations(before=t)
            s = self.update(t, regular=True)
            if self.cloudsim:
                gone = s["on"] & ~self.migrating & (s["req"] == 0)
                if gone.any():
                    self.alive[gone] = False
                    self.host_of[gone] = -1
                    self.removed += int(gone.sum())
            if consolidating:
                self.start_migrations(t, s)
                if self.m_vm:
                    s = self.state(t)
                    self.record(t, s)
            self.series["t"].append(t)
            active = s["used"] > 0
            self.series["active_hosts"].append(float(active.sum()))
            self.series["active_utilization"].append(float(s["util"][active].mean()) if active.any() else 0.0)
            if progress:
                progress(k, steps)
        self.finish_migrations(before=self.trace.samples * self.interval)
        self.hosts_ledger.finish()
        return self.result(time.perf_counter() - wall)

    def finish_migrations(self, before: float) -> None:
        for end in sorted({e for e in self.m_end if e < before}):
            self.update(end, regular=False)
            self.complete(end)
            self.record(end, self.state(end))

    def result(self, wall: float) -> Result:
        hl, vl = self.hosts_ledger, self.vms_ledger
        slatah = hl.violation_time / hl.active_time if hl.active_time else 0.0
        pdm = vl.migration_shortfall_mips_s / vl.requested_mips_s if vl.requested_mips_s else 0.0
        energy = self.energy_j / JOULES_PER_KWH
        span = (hl.last_t - hl.first_t) if hl.first_t is not None else 0.0
        return Result(
            trace=self.trace.name,
            policy=self.cfg.policy,
            model=self.cfg.model,
            seed=self.cfg.seed,
            fixes=[] if self.cloudsim else list(FIXES),
            hosts=self.cfg.hosts,
            vms=self.trace.vms,
            energy_kwh=energy,
            migrations=self.migrations,
            slatah=slatah,
            pdm=pdm,
            slav=slatah * pdm,
            esv=energy * slatah * pdm,
            mean_active_hosts=hl.active_time / span if span else 0.0,
            mean_active_utilization=hl.util_time / hl.active_time if hl.active_time else 0.0,
            shutdowns=hl.shutdowns,
            mean_time_before_shutdown_s=hl.on_durations / hl.shutdowns if hl.shutdowns else 0.0,
            mean_migration_time_s=self.migration_time / self.migrations if self.migrations else 0.0,
            vms_removed=self.removed,
            wall_s=wall,
            series=self.series,
        )


def run(trace: Trace, cfg: RunConfig, progress: Callable[[int, int], None] | None = None) -> Result:
    """Simulate *cfg* over *trace*."""
    return Simulation(trace, cfg).run(progress)
