"""One consolidation round, and initial placement (section 7 of the model).

1. Overloaded hosts (detector), by id.
2. From each, take VMs (selector) until the detector is satisfied.
3. Place them, largest request first, skipping the overloaded hosts.
4. Underloaded hosts, least utilised first: move all of their VMs away or none.

Every move is tentative inside a scratch copy of the state; the result is a
:class:`Plan` listing the migrations. The input state is never modified.

Speed without changing a decision (a round places about a hundred VMs on a
PlanetLab day and tries a few hundred evacuations):

- per-host sums are folds in list order, so adding a VM is one more step
  of the fold and undoing it restores the saved values (no recomputation);
- the keys of a batch of VMs against every scanned host are one NumPy
  expression; after a placement only that host's column is stale, and
  with keys that only grow (CloudSim's PABFD) it is recomputed only when it
  reaches the front of a VM's order;
- the detector judges one host at a time with its scalar twin (same
  operations, sums in NumPy's order: bit-identical verdicts), LR first from
  linear sketches of the two histories when the margin is clear;
- an evacuation is skipped when a cheap bound proves it must fail (a VM
  larger than any host's free RAM or MIPS, or more demand than the hosts
  that can take any of them have free): it would have been undone anyway.
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ember.cluster.hostmodel import share_scale
from ember.cluster.policy.overload import Detector, Thr
from ember.cluster.policy.placement import Candidates as HostCandidates
from ember.cluster.policy.placement import HostView, Pabfd, Placement
from ember.cluster.policy.selection import Candidates as VmCandidates
from ember.cluster.policy.selection import Mmt, Selector
from ember.cluster.policy.state import (
    BITS_PER_BYTE,
    MIGRATION_LINK_SHARE,
    ClusterState,
    HostTable,
    Migration,
    Plan,
)
from ember.cluster.power import power_of, power_scalar

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

#: Hosts checked in the first batch of a placement, and how the batch grows.
FIRST_CHUNK = 4
CHUNK_GROWTH = 4


@dataclass(frozen=True)
class Policy:
    """A complete consolidation policy."""

    detector: Detector = field(default_factory=lambda: Thr(0.8))
    selector: Selector = field(default_factory=Mmt)
    placement: Placement = field(default_factory=Pabfd)
    #: Evacuate and switch off underloaded hosts (step 4).
    consolidate_underloaded: bool = True
    #: CloudSim lets a host that just received a VM from an overloaded host be
    #: evacuated in the same round, so that VM is moved twice (its exclusion
    #: list is built from an empty map). False keeps those hosts.
    evacuate_fresh_targets: bool = False
    name: str = field(default="")


#: Refusals by the detector after which a placement sorts the rest instead of
#: taking one minimum at a time (a 20,000-host scan can refuse many).
ARGMIN_REFUSALS = 8
#: Up to this many VMs a changed host's keys are recomputed in plain Python, beyond in NumPy.
RERANK_IN_PYTHON = 8
#: Up to this many VMs a host's history is summed in plain Python, beyond in NumPy.
FOLD_IN_PYTHON = 3
#: VMs ranked against the hosts at once by :meth:`_Scratch.place_all` (bounds the key matrix).
PLACE_BATCH = 64
#: ... and at most about this many (VM, host) keys at once (scans of 20,000 hosts).
BATCH_CELLS = 1 << 16
#: Relative slack of the capacity sums that prove an evacuation cannot succeed
#: (sums in another order than the per-host bookkeeping may differ in the last bits).
SUM_SLACK = 1e-9
#: Absolute slack (MIPS, MB, Mbit/s) of the same sums.
SUM_SLACK_ABS = 1e-6

_GROUP_CACHE: list[tuple[tuple[object, ...], np.ndarray]] = []


def _host_groups(h: HostTable) -> np.ndarray:
    """Group id per host: hosts alike in power model and every capacity share one.

    The engine passes the same host columns every round; the grouping is kept
    for the last set of columns (held by reference, so identity is a safe key).
    """
    import numpy as np

    cols = (h.power_kind, h.mips, h.core_mips, h.ram_mb, h.bw_mbps, h.storage_mb)
    if _GROUP_CACHE and all(a is b for a, b in zip(_GROUP_CACHE[0][0], cols)):
        return _GROUP_CACHE[0][1]
    table = np.column_stack(cols).astype(float)
    _, group = np.unique(table, axis=0, return_inverse=True)
    group = group.ravel()
    _GROUP_CACHE[:] = [(cols, group)]
    return group


#: What :meth:`_Scratch.add` saves to undo itself: the host's sums, count, history and sketch.
_Saved = tuple[float, float, float, float, float, float, float, float, int, "list[float] | None", "list[float] | None"]

_MONOTONE_CACHE: list[tuple[np.ndarray, bool]] = []
#: Floating-point neighbours of each 10 % step checked by :func:`_power_monotone`.
STEP_NEIGHBOURS = 64


def _power_monotone(tables: np.ndarray) -> bool:
    """Does every power table give non-decreasing watts as utilisation grows, as computed?

    Within a 10 % step the interpolation is monotone operation by
    operation; at a step the two formulas meet, and rounding could put the
    value just below the step above the value at it. Checked once per table.
    """
    import numpy as np

    if _MONOTONE_CACHE and (_MONOTONE_CACHE[0][0] is tables or np.array_equal(_MONOTONE_CACHE[0][0], tables)):
        return _MONOTONE_CACHE[0][1]
    ok = True
    for watts in tables.tolist():
        if any(b < a for a, b in itertools.pairwise(watts)):
            ok = False
            break
        for k in range(1, len(watts)):
            u = k / (len(watts) - 1)
            for _ in range(STEP_NEIGHBOURS):
                u = math.nextafter(u, -math.inf)
            prev = power_scalar(watts, u)
            for _ in range(2 * STEP_NEIGHBOURS):
                u = math.nextafter(u, math.inf)
                now = power_scalar(watts, u)
                if now < prev:
                    ok = False
                prev = now
    _MONOTONE_CACHE[:] = [(tables, ok)]
    return ok


def _monotone(placement: Placement, tables: np.ndarray) -> bool:
    """Do *placement*'s keys only grow as VMs are added to a host (so stale keys are lower bounds)?"""
    if not getattr(placement, "monotone", False):
        return False
    return not getattr(placement, "uses_power", True) or _power_monotone(tables)


class Exclusion:
    """Hosts a placement must not use. It only grows (:meth:`add`), so a scan that
    follows it drops the new hosts instead of searching the whole fleet again."""

    def __init__(self, mask: np.ndarray) -> None:
        self.mask = mask.copy()
        self.added: list[int] = []

    def add(self, host: int) -> None:
        if not self.mask[host]:
            self.mask[host] = True
            self.added.append(host)


class _Scratch:
    """Mutable per-host aggregates of a tentative allocation.

    Every aggregate equals a fold, in the host's list order (own VMs, then VMs
    migrating in), of its VMs' values, so adding a VM at the end of a host
    with nothing migrating in is one more step of the fold and needs no
    recomputation; a removal recomputes the host, and undoing an add restores
    the saved values. The per-host values live twice: plain floats for the
    one-host arithmetic of placement and detection, and NumPy columns for the
    scans over all hosts.
    """

    def __init__(self, state: ClusterState) -> None:
        import numpy as np

        h, v = state.hosts, state.vms
        self.state = state
        self.n = n = len(h)
        self.floor = state.floor_shares
        self.interval = float(state.interval_s)
        self.req = v.requested.astype(float)
        self.vm_mips = v.mips.astype(float)
        self.ram_mb = v.ram_mb.astype(float)
        self.ram_demand = v.ram_demand.astype(float)
        self.bw_demand = v.bw_demand.astype(float)
        self.size = v.size_mb.astype(float)
        self.hist = v.history
        self.mips = h.mips.astype(float)
        self.core = h.core_mips.astype(float)
        self.mig_rate = h.bw_mbps.astype(float) / BITS_PER_BYTE * MIGRATION_LINK_SHARE
        self.kind = h.power_kind
        # host lists in placement order (built on first use); VMs migrating in apart
        placed = np.flatnonzero(v.host >= 0)
        placed = placed[np.lexsort((placed, v.order[placed], v.host[placed]))]
        self._placed_l = placed.tolist()
        self._starts = np.searchsorted(v.host[placed], np.arange(n + 1)).tolist()
        self._vms: dict[int, list[int]] = {}
        inflight = np.flatnonzero((v.target >= 0) & v.migrating)
        self.incoming: dict[int, list[int]] = {}
        for vm, dst in zip(inflight.tolist(), v.target[inflight].tolist()):
            self.incoming.setdefault(int(dst), []).append(vm)
        self._aggregate_all(placed, inflight)
        # plain-Python copies for the one-host arithmetic
        self.req_l = self.req.tolist()
        #: MIPS each VM holds in its host's scheduler; the same as its request
        #: except during initial placement (see place_new)
        self.reserve_l = self.req_l
        self.vm_mips_l = self.vm_mips.tolist()
        self.ram_l = self.ram_mb.tolist()
        self.ram_demand_l = self.ram_demand.tolist()
        self.bw_demand_l = self.bw_demand.tolist()
        self.size_l = self.size.tolist()
        self.migrating_l = v.migrating.tolist()
        self.mips_l = self.mips.tolist()
        self.core_l = self.core.tolist()
        self.mig_rate_l = self.mig_rate.tolist()
        self.kind_l = h.power_kind.tolist()
        self.watts = h.power_tables.tolist()
        self.ram_cap_l = h.ram_mb.astype(float).tolist()
        self.bw_cap_l = h.bw_mbps.astype(float).tolist()
        self.storage_l = h.storage_mb.astype(float).tolist()
        self.ask_l = self.ask_total.tolist()
        self.alloc_l = self.alloc.tolist()
        self.req_sum_l = self.req_sum.tolist()
        self.ram_used_l = self.ram_used.tolist()
        self.bw_used_l = self.bw_used.tolist()
        self.size_used_l = self.size_used.tolist()
        self.max_ram_l = self.max_ram.tolist()
        self.count_l = self.count.tolist()
        self.ram_free = h.ram_mb - self.ram_used
        self.bw_free = h.bw_mbps - self.bw_used
        self.size_free = h.storage_mb - self.size_used
        self.p_measured = power_of(h.power_tables, h.power_kind, h.utilization)
        self.p_current = power_of(h.power_tables, h.power_kind, self.alloc / self.mips)
        #: utilisation histories as plain lists, converted on first use
        self._hrow: dict[int, list[float]] = {}
        self._vrow: dict[int, list[float]] = {}
        self._views: dict[int, HostView] = {}
        #: bumped whenever a host changes (caches below are checked against it)
        self.version = 0
        self._bounds_cache: tuple[object, int, int, float, float] | None = None
        self.use(Thr())
        self._init_pool()

    # -- the pool of hosts worth scanning -------------------------------------
    def _init_pool(self) -> None:
        """Group empty hosts that were off: within a group only the lowest id can ever win.

        Hosts alike in power model and capacities that hold no VM and were off
        at the last update look the same to every placement (same fit, same
        key, no detector check), so a scan needs only the lowest id of each
        group. ``pool`` marks the hosts worth scanning: every other host plus
        one representative per group; at 20,000 mostly idle hosts this keeps a
        scan to the few hundred that matter.
        """
        import numpy as np

        h = self.state.hosts
        self.group = _host_groups(h)
        self.group_l = self.group.tolist()
        measured_off = h.utilization == 0
        self.measured_off = measured_off.tolist()
        receiving = np.zeros(self.n, dtype=bool)
        receiving[np.fromiter(self.incoming, dtype=np.intp, count=len(self.incoming))] = True
        self.idle = (self.count == 0) & ~receiving & measured_off
        self.pool = ~self.idle
        idle_ids = np.flatnonzero(self.idle)
        _, first = np.unique(self.group[idle_ids], return_index=True)
        self.pool[idle_ids[first]] = True
        #: idle hosts per group as heaps, built when a group first changes
        self.heaps: dict[int, list[int]] = {}
        #: bumped whenever ``idle`` or ``pool`` changes (scans cached against it)
        self.pool_version = 0
        self._scan_cache: tuple[Exclusion, int, np.ndarray, int] | None = None

    def _heap(self, group: int) -> list[int]:
        import numpy as np

        heap = self.heaps.get(group)
        if heap is None:
            heap = np.flatnonzero(self.idle & (self.group == group)).tolist()  # ascending: a heap
            self.heaps[group] = heap
        return heap

    def _repool(self, host: int) -> None:
        """Keep ``pool`` right after *host*'s VM list changed."""
        import heapq

        idle = not self.count_l[host] and host not in self.incoming and self.measured_off[host]
        if idle == self.idle[host]:
            return
        heap = self._heap(self.group_l[host])
        self.idle[host] = idle
        self.pool_version += 1
        old = heap[0] if heap else -1
        if idle:
            heapq.heappush(heap, host)
        while heap and not self.idle[heap[0]]:
            heapq.heappop(heap)  # lazily drop hosts that took a VM
        new = heap[0] if heap else -1
        self.pool[host] = not idle
        if old >= 0 and old != new:
            self.pool[old] = not self.idle[old]
        if new >= 0:
            self.pool[new] = True

    # -- aggregates ------------------------------------------------------------
    def _aggregate_all(self, placed: np.ndarray, inflight: np.ndarray) -> None:
        """All hosts' aggregates at once (what :meth:`refresh` computes for one)."""
        import numpy as np

        v = self.state.vms
        n = self.n
        at = np.concatenate([v.host[placed], v.target[inflight]]).astype(np.intp)
        ids = np.concatenate([placed, inflight]).astype(np.intp)
        asks = np.minimum(self.req[ids], self.core[at])
        total = np.bincount(at, asks, minlength=n)
        over = total > self.mips
        scale = share_scale(total, self.mips)
        self.ask_total = total
        if self.floor and over.any():
            floored = np.bincount(at, np.floor(asks * scale[at]), minlength=n)
            self.alloc = np.where(over, floored, total)
        else:
            self.alloc = np.where(over, self.mips, total)
        self.avail = np.where(over, 0.0, self.mips - total)
        self.req_sum = np.bincount(at, self.req[ids], minlength=n)
        self.ram_used = np.bincount(at, self.ram_demand[ids], minlength=n)
        self.bw_used = np.bincount(at, self.bw_demand[ids], minlength=n)
        self.size_used = np.bincount(at, self.size[ids], minlength=n)
        self.count = np.bincount(v.host[placed].astype(np.intp), minlength=n)
        self.max_ram = np.zeros(n)
        np.maximum.at(self.max_ram, at, self.ram_mb[ids])
        self._placed = placed
        self._hhist: np.ndarray | None = None

    @property
    def hhist(self) -> np.ndarray:
        """(hosts, W) host utilisation histories as they were before any move (computed on first use).

        Each row is the fold, in list order, of the host's VMs' rows scaled to
        the host: summed position by position over all hosts at once, which is
        that same fold (np.add.at would be too, but is slow).
        """
        import numpy as np

        if self._hhist is None:
            v = self.state.vms
            placed = self._placed
            hosts = v.host[placed].astype(np.intp)
            rows = self.hist[placed] * (self.vm_mips[placed] / self.mips[hosts])[:, None]
            out = np.zeros((self.n, self.hist.shape[1]))
            if placed.size:
                first = np.searchsorted(hosts, hosts)  # index of each host's first VM (sorted by host)
                rank = np.arange(placed.size) - first
                for k in range(int(rank.max()) + 1):
                    at = rank == k
                    out[hosts[at]] += rows[at]
            self._hhist = out
        return self._hhist

    def host_vms(self, host: int) -> list[int]:
        """The VMs on *host* in list order (the list itself: callers may append)."""
        vms = self._vms.get(host)
        if vms is None:
            vms = self._placed_l[self._starts[host] : self._starts[host + 1]]
            self._vms[host] = vms
        return vms

    def hrow(self, host: int) -> list[float]:
        row = self._hrow.get(host)
        if row is None:
            row = self.hhist[host].tolist()
            self._hrow[host] = row
        return row

    def vrow(self, vm: int) -> list[float]:
        row = self._vrow.get(vm)
        if row is None:
            row = self.hist[vm].tolist()
            self._vrow[vm] = row
        return row

    def refresh(self, host: int) -> None:
        """Recompute one host's aggregates from its VM list (plain floats: lists are short)."""
        vms = self.host_vms(host)
        ids = vms + self.incoming.get(host, [])
        self.count_l[host] = len(vms)
        cap = self.mips_l[host]
        width = self.hist.shape[1]
        if not ids:
            self.ask_l[host] = self.alloc_l[host] = self.req_sum_l[host] = 0.0
            self.avail[host] = cap
            self.ram_used_l[host] = self.bw_used_l[host] = self.size_used_l[host] = self.max_ram_l[host] = 0.0
            self._hrow[host] = [0.0] * width
            self._hsk.pop(host, None)
            self._sync(host)
            return
        core = self.core_l[host]
        req = self.req_l
        asks = [min(self.reserve_l[i], core) for i in ids]
        total = 0.0
        for a in asks:
            total += a
        self.ask_l[host] = total
        if total > cap:
            scale = cap / total
            self.alloc_l[host] = float(sum(math.floor(a * scale) for a in asks)) if self.floor else cap
            self.avail[host] = 0.0  # an oversubscribed scheduler has nothing left to give
        else:
            self.alloc_l[host] = total
            self.avail[host] = cap - total
        self.req_sum_l[host] = sum(req[i] for i in ids)
        self.ram_used_l[host] = sum(self.ram_demand_l[i] for i in ids)
        self.bw_used_l[host] = sum(self.bw_demand_l[i] for i in ids)
        self.size_used_l[host] = sum(self.size_l[i] for i in ids)
        self.max_ram_l[host] = max(self.ram_l[i] for i in ids)
        self._hsk.pop(host, None)
        if not self.track:
            self._sync(host)
            return
        row: list[float] | None = None
        if len(vms) > FOLD_IN_PYTHON:
            import numpy as np

            # summing rows along axis 0 is the same fold, one row after the other
            own = np.array(vms, dtype=np.intp)
            row = (self.hist[own] * (self.vm_mips[own] / cap)[:, None]).sum(axis=0).tolist()
        else:
            for vm in vms:
                ratio = self.vm_mips_l[vm] / cap
                contrib = [x * ratio for x in self.vrow(vm)]
                row = contrib if row is None else [a + b for a, b in zip(row, contrib)]
        self._hrow[host] = row if row is not None else [0.0] * width
        self._sync(host)

    def _sync(self, host: int) -> None:
        """Copy *host*'s plain values into the scan columns."""
        self._views.pop(host, None)
        self.version += 1
        self.count[host] = self.count_l[host]
        self.alloc[host] = self.alloc_l[host]
        self.ram_free[host] = self.ram_cap_l[host] - self.ram_used_l[host]
        self.bw_free[host] = self.bw_cap_l[host] - self.bw_used_l[host]
        self.size_free[host] = self.storage_l[host] - self.size_used_l[host]
        self.p_current[host] = power_scalar(self.watts[self.kind_l[host]], self.alloc_l[host] / self.mips_l[host])
        self._repool(host)

    def _saved(self, host: int) -> _Saved:
        return (self.ask_l[host], self.alloc_l[host], float(self.avail[host]), self.req_sum_l[host],
                self.ram_used_l[host], self.bw_used_l[host], self.size_used_l[host], self.max_ram_l[host],
                self.count_l[host], self.hrow(host) if self.track else None, self._hsk.get(host))

    def add(self, host: int, vm: int, log: list[tuple[int, int, _Saved]] | None = None) -> None:
        """Put *vm* at the end of *host*'s list; *log* records how to undo it."""
        if log is not None:
            log.append((host, vm, self._saved(host)))
        self.host_vms(host).append(vm)
        cap = self.mips_l[host]
        ask = min(self.reserve_l[vm], self.core_l[host])
        total = self.ask_l[host] + ask
        if host in self.incoming or self.ask_l[host] > cap or total > cap:
            self.refresh(host)  # not a plain continuation of the fold
            return
        self.ask_l[host] = self.alloc_l[host] = total
        self.avail[host] = cap - total
        self.req_sum_l[host] += self.req_l[vm]
        self.ram_used_l[host] += self.ram_demand_l[vm]
        self.bw_used_l[host] += self.bw_demand_l[vm]
        self.size_used_l[host] += self.size_l[vm]
        self.max_ram_l[host] = max(self.max_ram_l[host], self.ram_l[vm])
        self.count_l[host] += 1
        if self.track:
            ratio = self.vm_mips_l[vm] / cap
            if self.count_l[host] == 1:
                self._hrow[host] = [x * ratio for x in self.vrow(vm)]
            else:
                self._hrow[host] = [a + b * ratio for a, b in zip(self.hrow(host), self.vrow(vm))]
            sk = self._hsk.get(host)
            if sk is not None:  # sketches are linear: counts by max, the rest by the same sum
                vs = self._vsk[vm]
                self._hsk[host] = [max(sk[0], vs[0])] + [x + ratio * y for x, y in zip(sk[1:], vs[1:])]
        self._sync(host)

    def undo(self, log: list[tuple[int, int, _Saved]], mark: int = 0) -> None:
        """Take back the adds recorded in *log* after position *mark*, newest first."""
        for host, vm, saved in reversed(log[mark:]):
            last = self.host_vms(host).pop()
            assert last == vm, "undo out of order"
            (self.ask_l[host], self.alloc_l[host], avail, self.req_sum_l[host], self.ram_used_l[host],
             self.bw_used_l[host], self.size_used_l[host], self.max_ram_l[host], self.count_l[host],
             row, sk) = saved
            self.avail[host] = avail
            if row is not None:
                self._hrow[host] = row
            if sk is None:
                self._hsk.pop(host, None)
            else:
                self._hsk[host] = sk
            self._sync(host)
        del log[mark:]

    def remove(self, host: int, vm: int) -> None:
        self.host_vms(host).remove(vm)
        self.refresh(host)

    # -- detection ---------------------------------------------------------------
    def use(self, detector: Detector) -> None:
        """Judge hosts with *detector* from now on (call before any move)."""
        self.detector = detector
        #: keep the hosts' histories up to date (a detector that ignores them needs none)
        self.track = bool(getattr(detector, "uses_history", True))
        self._one = getattr(detector, "overloaded_one", None)
        sketch = getattr(detector, "sketch", None) if self.track else None
        self._decide = getattr(detector, "overloaded_sketch", None) if sketch is not None else None
        self._sketch_one = getattr(detector, "sketch_one", None)
        self._hsk: dict[int, list[float]] = {}
        if self._decide is not None and self._sketch_one is not None:
            assert sketch is not None
            self._vsk: list[list[float]] = sketch(self.hist).tolist()
        else:
            self._decide = None

    def _verdict(self, util: float, history: list[float], horizon: float) -> bool:
        if self._one is not None:
            return bool(self._one(util, history, horizon))
        import numpy as np

        return bool(self.detector.overloaded(np.array([util]), np.array([history]), np.array([horizon]))[0])

    def overloaded(self, detector: Detector, hosts: np.ndarray) -> np.ndarray:
        """Detector verdict for the given hosts as they were before any move (batch)."""
        import numpy as np

        util = self.req_sum[hosts] / self.mips[hosts]
        horizon = np.ceil(self.max_ram[hosts] / self.mig_rate[hosts] / self.state.interval_s)
        history = self.hhist[hosts] if self.track else np.zeros((hosts.size, self.hist.shape[1]))
        return detector.overloaded(util, history, horizon)

    def host_overloaded(self, host: int) -> bool:
        """Detector verdict for *host* as it stands now."""
        util = self.req_sum_l[host] / self.mips_l[host]
        horizon = float(math.ceil(self.max_ram_l[host] / self.mig_rate_l[host] / self.interval))
        return self._verdict(util, self.hrow(host) if self.track else [], horizon)

    def overloaded_with(self, host: int, vm: int) -> bool:
        """Detector verdict for *host* if *vm* were added to it (nothing is changed)."""
        cap = self.mips_l[host]
        util = (self.req_sum_l[host] + self.req_l[vm]) / cap
        ram = self.max_ram_l[host]
        ram = max(ram, self.ram_l[vm])
        horizon = float(math.ceil(ram / self.mig_rate_l[host] / self.interval))
        if not self.track:
            return self._verdict(util, [], horizon)
        ratio = self.vm_mips_l[vm] / cap
        if self._decide is not None:
            sk = self._hsk.get(host)
            if sk is None:
                sk = self._hsk[host] = list(self._sketch_one(self.hrow(host)))  # type: ignore[misc]
            verdict = self._decide(util, sk, self._vsk[vm], ratio, horizon)
            if verdict is not None:
                return bool(verdict)
        row = [a + b * ratio for a, b in zip(self.hrow(host), self.vrow(vm))]
        return self._verdict(util, row, horizon)

    # -- placement -----------------------------------------------------------------
    def scan_ids(self, excluded: np.ndarray | Exclusion) -> np.ndarray:
        """Hosts a placement looks at: the pool minus *excluded*, ascending."""

        if not isinstance(excluded, Exclusion):
            return self._scan(excluded)
        cache = self._scan_cache
        if cache is not None and cache[0] is excluded and cache[1] == self.pool_version:
            ids, seen = cache[2], cache[3]
            if seen == len(excluded.added):
                return ids
            added = excluded.added[seen:]
            if not any(self.idle[host] for host in added):  # an idle one may split a group: scan afresh
                kept: np.ndarray = ids[~excluded.mask[ids]]
                self._scan_cache = (excluded, self.pool_version, kept, len(excluded.added))
                return kept
        ids = self._scan(excluded.mask)
        self._scan_cache = (excluded, self.pool_version, ids, len(excluded.added))
        return ids

    def _scan(self, excluded: np.ndarray) -> np.ndarray:
        import numpy as np

        scan = self.pool & ~excluded
        if (self.idle & excluded).any() and (self.idle & ~scan & ~excluded).any():
            scan = ~excluded  # a group split by the exclusion: scan every host
        return np.flatnonzero(scan)

    def _fit(self, ids: np.ndarray, vms: list[int]) -> np.ndarray:
        """(len(vms), len(ids)): does each VM fit on each host now?"""
        import numpy as np

        r = np.array([self.req_l[vm] for vm in vms])[:, None]
        fit: np.ndarray = (self.core[ids] >= r) & (self.avail[ids] >= r)
        fit &= self.size_free[ids] >= np.array([self.size_l[vm] for vm in vms])[:, None]
        for free, demand_l in ((self.ram_free, self.ram_demand_l), (self.bw_free, self.bw_demand_l)):
            demand = np.array([demand_l[vm] for vm in vms])[:, None]
            if (demand > 0).any():
                fit &= (free[ids] >= demand) | (demand <= 0)  # no demand: no check
        return fit

    def _rank(self, ids: np.ndarray, vms: list[int], policy: Policy,
              fit: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Fit and placement key of each VM of *vms* on each host of *ids* (inf where it does not fit)."""
        import numpy as np

        if fit is None:
            fit = self._fit(ids, vms)
        request = np.array([self.req_l[vm] for vm in vms])[:, None]
        key = np.asarray(policy.placement.key(self._candidates(ids, request)), dtype=float)
        return fit, np.where(fit, np.broadcast_to(key, fit.shape), math.inf)

    def _pick(self, vm: int, ids: np.ndarray, key: np.ndarray, check: bool = True,
              stale: Callable[[int], bool] | None = None, freshen: Callable[[], None] | None = None) -> int:
        """Index into *ids* of the host *vm* goes to, or -1: hosts in (key, id) order until
        the detector accepts one. An empty host skips the check: a single VM that fits
        is never refused. Usually the first host passes; after a few refusals sort the
        rest. Refused hosts get key inf in *key*, which must belong to the caller.

        ``stale(j)`` recomputes ``key[j]`` if it is out of date and says so (keys
        that only grow may be left stale until they reach the front);
        ``freshen()`` recomputes every stale key.
        """
        import numpy as np

        if not key.size:
            return -1
        alloc = self.alloc_l
        refusals = 0
        while refusals < ARGMIN_REFUSALS:
            j = int(key.argmin())  # the first of equal keys: the lowest id
            if key[j] == math.inf:
                return -1
            if stale is not None and stale(j):
                continue
            host = int(ids[j])
            if not check or alloc[host] == 0 or not self.overloaded_with(host, vm):
                return j
            key[j] = math.inf
            refusals += 1
        if freshen is not None:
            freshen()
        for j in np.lexsort((ids, key)).tolist():
            if key[j] == math.inf:
                return -1
            host = int(ids[j])
            if not check or alloc[host] == 0 or not self.overloaded_with(host, vm):
                return int(j)
        return -1

    def find_host(self, vm: int, excluded: np.ndarray | Exclusion, policy: Policy, check: bool = True) -> int:
        """The host *policy* places *vm* on, or -1 when none is suitable."""
        ids = self.scan_ids(excluded)
        _, key = self._rank(ids, [vm], policy)
        j = self._pick(vm, ids, key[0], check)
        return int(ids[j]) if j >= 0 else -1

    def place_all(self, vms: list[int], excluded: np.ndarray | Exclusion, policy: Policy, all_or_nothing: bool,
                  log: list[tuple[int, int, _Saved]] | None = None, check: bool = True,
                  settle: list[float] | None = None) -> list[int] | None:
        """Place *vms* one after the other (each sees the ones before); the hosts, -1 for a VM
        that fits nowhere. With *all_or_nothing*, None and nothing placed if one does not fit.
        ``check`` False skips the detector; ``settle[vm]`` is a VM's request once placed.

        The keys of a batch of VMs against every scanned host are computed at
        once. A placement changes one host, so only that host's column goes
        out of date: it is recomputed with the scalar twins, right away, or,
        when the placement's keys only grow with a host's load
        (``monotone``), only once it reaches the front of a VM's order (a
        stale key is then a lower bound, and the first minimum that is not
        stale is the true first minimum).
        """
        import numpy as np

        if log is None:
            log = []
        mark = len(log)
        out: list[int] = []
        key_one = getattr(policy.placement, "key_one", None)
        lazy = key_one is not None and _monotone(policy.placement, self.state.hosts.power_tables)
        #: alike empty hosts get alike keys (the key does not look at the host id)
        same_keys = getattr(policy.placement, "by_id", True) is False
        start = end = 0
        ids: np.ndarray | None = None
        key: np.ndarray | None = None
        step = ranked_at = 0  # adds so far; adds when the batch was ranked
        changed: dict[int, int] = {}  # host -> step of its last change
        fresh: dict[tuple[int, int], int] = {}  # (position, host) -> step its key was recomputed
        for i, vm in enumerate(vms):
            if key is None or i >= end:
                ids = self.scan_ids(excluded)
                rows = max(1, min(PLACE_BATCH, BATCH_CELLS // max(ids.size, 1)))
                start, end = i, min(i + rows, len(vms))
                if all_or_nothing and i == 0:
                    if self.none_fits(vms, ids):
                        return None
                    fit = self._fit(ids, vms)
                    if self.cannot_take_all(vms, ids, fit):
                        return None
                    fit = fit[: end - start]
                else:
                    fit = self._fit(ids, vms[start:end])
                # a host that takes none of the batch now never will (it only fills up)
                some = fit.any(axis=0)
                if not some.all():
                    ids, fit = ids[some], fit[:, some]
                _, key = self._rank(ids, vms[start:end], policy, fit)
                ranked_at = step
                changed.clear()  # every key of the batch is fresh
                fresh.clear()
            assert ids is not None
            row = key[i - start]
            stale = freshen = None
            if lazy and changed and key_one is not None:
                stale, freshen = self._stale_keys(i, vm, ids, row, changed, fresh, ranked_at, step, key_one)
            j = self._pick(vm, ids, row, check, stale, freshen)
            if j < 0:
                if all_or_nothing:
                    self.undo(log, mark)
                    return None
                out.append(-1)
                continue
            host = int(ids[j])
            woke = bool(self.idle[host])
            if woke and same_keys and i + 1 < end:
                # the next empty host of the group will rank exactly as this one did
                twin = key[i + 1 - start :, j].copy()
            if settle is not None:
                self.req_l[vm] = settle[vm]
            self.add(host, vm, log)
            out.append(host)
            step += 1
            changed[host] = step
            if i + 1 >= end:
                continue
            rest = vms[i + 1 : end]
            if not lazy:
                self._rerank_column(host, j, rest, key[i + 1 - start :], policy, key_one)
            if woke:  # the pool changed: the next empty host of the group joins the scan
                heap = self.heaps.get(self.group_l[host])
                joined = heap[0] if heap else -1
                mask = excluded.mask if isinstance(excluded, Exclusion) else excluded
                if joined < 0 or mask[joined]:
                    continue
                p = int(np.searchsorted(ids, joined))
                if p < ids.size and ids[p] == joined:
                    continue  # scanned already (every host was: a group split by the exclusion)
                ids = np.insert(ids, p, joined)
                key = np.insert(key, p, math.inf, axis=1)
                if same_keys:
                    key[i + 1 - start :, p] = twin
                else:
                    self._rerank_column(joined, p, rest, key[i + 1 - start :], policy, key_one)
        if not all_or_nothing:
            del log[mark:]
        return out

    def _stale_keys(self, i: int, vm: int, ids: np.ndarray, row: np.ndarray, changed: dict[int, int],
                    fresh: dict[tuple[int, int], int], ranked_at: int, step: int,
                    key_one: Callable[[float, HostView], float]) -> tuple[Callable[[int], bool], Callable[[], None]]:
        """The ``stale`` and ``freshen`` callbacks of :meth:`_pick` for the VM at position *i*."""
        import numpy as np

        request = self.req_l[vm]

        def recompute(j: int, host: int) -> None:
            row[j] = key_one(request, self._view(host)) if self._fits(host, vm) else math.inf
            fresh[(i, host)] = step

        def stale(j: int) -> bool:
            host = int(ids[j])
            last = changed.get(host)
            if last is None or fresh.get((i, host), ranked_at) >= last:
                return False
            recompute(j, host)
            return True

        def freshen() -> None:
            for host, last in changed.items():
                if fresh.get((i, host), ranked_at) < last:
                    j = int(np.searchsorted(ids, host))
                    if j < ids.size and ids[j] == host and row[j] != math.inf:  # inf: refused or no fit
                        recompute(j, host)

        return stale, freshen

    def _view(self, host: int) -> HostView:
        view = self._views.get(host)
        if view is None:
            view = HostView(host, self.alloc_l[host], self.mips_l[host], float(self.p_measured[host]),
                            float(self.p_current[host]), self.count_l[host] > 0, self.watts[self.kind_l[host]])
            self._views[host] = view
        return view

    def _rerank_column(self, host: int, j: int, vms: list[int], key: np.ndarray, policy: Policy,
                       key_one: object) -> None:
        """Recompute column *j* (host *host*) of *key* for *vms* after the host changed."""
        import numpy as np

        if key_one is not None and len(vms) <= RERANK_IN_PYTHON:
            view = self._view(host)
            for k, vm in enumerate(vms):
                key[k, j] = key_one(self.req_l[vm], view) if self._fits(host, vm) else math.inf  # type: ignore[operator]
            return
        one = np.array([host])
        _, col = self._rank(one, vms, policy)
        key[:, j] = col[:, 0]

    def _fits(self, host: int, vm: int) -> bool:
        """:meth:`_fit` of one VM on one host."""
        r = self.req_l[vm]
        if not (self.core_l[host] >= r and self.avail[host] >= r):
            return False
        if not self.storage_l[host] - self.size_used_l[host] >= self.size_l[vm]:
            return False
        ram = self.ram_demand_l[vm]
        if ram > 0 and not self.ram_cap_l[host] - self.ram_used_l[host] >= ram:
            return False
        bw = self.bw_demand_l[vm]
        return not (bw > 0 and not self.bw_cap_l[host] - self.bw_used_l[host] >= bw)

    def _candidates(self, ids: np.ndarray, request: float | np.ndarray) -> HostCandidates:
        return HostCandidates(
            ids=ids,
            request=request,
            allocated=self.alloc[ids],
            mips=self.mips[ids],
            measured_power=self.p_measured[ids],
            current_power=self.p_current[ids],
            occupied=self.count[ids] > 0,
            power_kind=self.kind[ids],
            power_tables=self.state.hosts.power_tables,
        )

    def cannot_fit_one(self, vms: list[int], excluded: Exclusion) -> bool:
        """:meth:`none_fits` against the hosts outside *excluded*, from maxima kept until a host changes.

        The maxima may cover a few hosts excluded since they were taken: a
        larger set of hosts, so a VM that exceeds them still fits nowhere.
        """
        import numpy as np

        cache = self._bounds_cache
        if cache is None or cache[0] is not excluded or cache[1] != self.version or cache[2] != self.pool_version:
            scan = self._scan_cache
            if scan is not None and scan[0] is excluded and scan[1] == self.pool_version:
                ids = scan[2]  # before the latest exclusions: a superset
            else:
                ids = self.scan_ids(excluded)
            ram = float(self.ram_free[ids].max()) if ids.size else -math.inf
            mips = float(np.minimum(self.avail[ids], self.core[ids]).max()) if ids.size else -math.inf
            cache = self._bounds_cache = (excluded, self.version, self.pool_version, ram, mips)
        need = max(self.ram_demand_l[vm] for vm in vms)
        if need > 0 and need > cache[3]:
            return True
        need = max(self.req_l[vm] for vm in vms)
        return bool(need > 0 and need > cache[4])

    def none_fits(self, vms: list[int], ids: np.ndarray) -> bool:
        """A quick look for a VM of *vms* whose RAM or MIPS exceeds what every host of *ids* has free."""
        import numpy as np

        if not vms:
            return False
        if not ids.size:
            return True
        ram = max(self.ram_demand_l[vm] for vm in vms)
        if ram > 0 and ram > float(self.ram_free[ids].max()):
            return True
        mips = max(self.req_l[vm] for vm in vms)
        return bool(mips > 0 and mips > float(np.minimum(self.avail[ids], self.core[ids]).max()))

    def cannot_take_all(self, vms: list[int], ids: np.ndarray, fit: np.ndarray) -> bool:
        """True when the hosts *ids* (scanned; *fit* from :meth:`_fit`) can certainly not
        take every VM of *vms*.

        Capacity only shrinks as VMs are added, so a VM that fits on no host
        now never will, and all of them together need at most the free
        capacity of the hosts any of them fits on. A cheap proof that an
        all-or-nothing evacuation fails, before placing anything.
        """
        if not fit.any(axis=1).all():
            return True
        if self.idle[ids].any():
            return False  # an empty host stands for its whole group: no sums
        usable = ids[fit.any(axis=0)]
        for free, demand_l in ((self.avail, self.req_l), (self.ram_free, self.ram_demand_l),
                               (self.bw_free, self.bw_demand_l), (self.size_free, self.size_l)):
            need = sum(demand_l[vm] for vm in vms)
            if need <= 0:
                continue
            have = float(free[usable].sum())
            if need > have * (1 + SUM_SLACK) + SUM_SLACK_ABS:
                return True
        return False

    def movable(self, host: int) -> list[int]:
        return [vm for vm in self.host_vms(host) if not self.migrating_l[vm]]

    def by_request(self, vms: list[int]) -> list[int]:
        """Largest request first; equal requests keep their order."""
        return sorted(vms, key=self.req_l.__getitem__, reverse=True)  # stable, like the key -request


def place_new(
    state: ClusterState, policy: Policy, vms: np.ndarray, check: bool = True, settled: np.ndarray | None = None
) -> np.ndarray:
    """Initial placement: put each VM of *vms* (in order) where *policy* says; -1 if none fits.

    The VMs must have ``host == -1`` in *state*; ``requested`` and
    ``ram_demand`` are what each asks for while it is being placed (CloudSim:
    its full MIPS and RAM), and that much stays reserved on its host. Once
    placed, a VM's request as the overload detector sees it becomes
    ``settled`` (default: unchanged); CloudSim's VMs ask for nothing until
    their workload starts, so there the detector only sees the VM being
    placed. ``check`` False places without consulting the detector (the
    first-fit baselines).
    """
    import numpy as np

    work = _Scratch(state)
    work.use(policy.detector)
    work.reserve_l = list(work.req_l)
    after = None if settled is None else settled.astype(float).tolist()
    none = np.zeros(work.n, dtype=bool)
    hosts = work.place_all(np.asarray(vms).tolist(), none, policy, all_or_nothing=False, check=check, settle=after)
    assert hosts is not None
    return np.array(hosts, dtype=np.intp).reshape(len(hosts))


def consolidate(state: ClusterState, policy: Policy, rng: np.random.Generator) -> Plan:
    """One consolidation round over *state*; returns the migrations to start."""
    import numpy as np

    work = _Scratch(state)
    vmh = state.vms.host
    detector = policy.detector
    work.use(detector)
    occupied = np.flatnonzero(work.count > 0)
    over_mask = np.zeros(work.n, dtype=bool)
    if occupied.size:
        over_mask[occupied] = work.overloaded(detector, occupied)
    overloaded = np.flatnonzero(over_mask).tolist()

    # 2. selection
    to_move: list[int] = []
    for host in overloaded:
        while True:
            movable = work.movable(host)
            if not movable:
                break
            idx = np.array(movable, dtype=np.intp)
            pick = policy.selector.select(
                VmCandidates(
                    ram_mb=work.ram_mb[idx],
                    utilization=work.req[idx] / work.vm_mips[idx],
                    history=state.vms.history[idx],
                    history_len=state.vms.history_len[idx],
                ),
                rng,
            )
            vm = movable[pick]
            to_move.append(vm)
            work.remove(host, vm)
            if not work.host_overloaded(host):
                break

    # 3. placement of the VMs taken off overloaded hosts
    moves: list[Migration] = []
    fresh_targets: set[int] = set()
    order = work.by_request(to_move)
    targets = work.place_all(order, Exclusion(over_mask), policy, all_or_nothing=False)
    assert targets is not None
    for vm, host in zip(order, targets):
        if host >= 0:
            moves.append(Migration(vm, int(vmh[vm]), host))
            fresh_targets.add(host)

    # 4. underloaded hosts
    evacuated: list[int] = []
    if policy.consolidate_underloaded:
        util = state.hosts.utilization
        off = util == 0
        skip_source = (over_mask | off).tolist()
        if not policy.evacuate_fresh_targets:
            for host in fresh_targets:
                skip_source[host] = True
        skip_target = Exclusion(over_mask | off)
        cands = np.flatnonzero((util > 0) & (util < 1))
        cands = cands[np.lexsort((cands, util[cands]))]
        undo_log: list[tuple[int, int, _Saved]] = []
        for host in cands.tolist():
            if skip_source[host]:
                continue
            if host in work.incoming:
                continue  # a VM is arriving
            movable = work.movable(host)
            if not movable:
                continue  # every VM is leaving already
            skip_source[host] = True
            skip_target.add(host)
            if work.cannot_fit_one(movable, skip_target):
                continue  # one of them fits nowhere: nothing moves
            order = work.by_request(movable)
            targets = work.place_all(order, skip_target, policy, all_or_nothing=True, log=undo_log)
            undo_log.clear()
            if targets is None:
                continue  # one VM fits nowhere: nothing moves
            placed = [Migration(vm, host, target) for vm, target in zip(order, targets)]
            if placed:
                evacuated.append(host)
                moves.extend(placed)
                for m in placed:
                    skip_source[m.target] = True
    log.debug("round: %d overloaded, %d moves, %d evacuated", len(overloaded), len(moves), len(evacuated))
    return Plan(tuple(moves), tuple(overloaded), tuple(evacuated))
