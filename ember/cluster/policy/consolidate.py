"""One consolidation round, and initial placement (section 7 of the model).

1. Overloaded hosts (detector), by id.
2. From each, take VMs (selector) until the detector is satisfied.
3. Place them, largest request first, skipping the overloaded hosts.
4. Underloaded hosts, least utilised first: move all of their VMs away or none.

Every move is tentative inside a scratch copy of the state; the result is a
:class:`Plan` listing the migrations. The input state is never modified.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ember.cluster.hostmodel import share_scale
from ember.cluster.policy.overload import Detector, Thr
from ember.cluster.policy.placement import Candidates as HostCandidates
from ember.cluster.policy.placement import Pabfd, Placement
from ember.cluster.policy.selection import Candidates as VmCandidates
from ember.cluster.policy.selection import Mmt, Selector
from ember.cluster.policy.state import (
    BITS_PER_BYTE,
    MIGRATION_LINK_SHARE,
    ClusterState,
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


class _Scratch:
    """Mutable per-host aggregates of a tentative allocation."""

    def __init__(self, state: ClusterState) -> None:
        import numpy as np

        h, v = state.hosts, state.vms
        self.state = state
        self.n = len(h)
        self.floor = state.floor_shares
        self.req = v.requested.astype(float)
        self.vm_mips = v.mips.astype(float)
        self.ram_mb = v.ram_mb.astype(float)
        self.ram_demand = v.ram_demand.astype(float)
        self.bw_demand = v.bw_demand.astype(float)
        self.size = v.size_mb.astype(float)
        self.hist = v.history
        self.migrating = v.migrating
        self.mips = h.mips.astype(float)
        self.core = h.core_mips.astype(float)
        self.mig_rate = h.bw_mbps.astype(float) / BITS_PER_BYTE * MIGRATION_LINK_SHARE
        # host lists in placement order; VMs migrating in are tracked apart
        placed = np.flatnonzero(v.host >= 0)
        placed = placed[np.lexsort((placed, v.order[placed], v.host[placed]))]
        self.vms: list[list[int]] = [[] for _ in range(self.n)]
        for vm, host in zip(placed.tolist(), v.host[placed].tolist()):
            self.vms[host].append(vm)
        self.incoming: list[list[int]] = [[] for _ in range(self.n)]
        for vm in np.flatnonzero((v.target >= 0) & v.migrating).tolist():
            self.incoming[int(v.target[vm])].append(vm)
        self._aggregate_all(placed)
        # plain-Python copies for the per-host arithmetic of refresh()
        self.req_l = self.req.tolist()
        #: MIPS each VM holds in its host's scheduler; the same as its request
        #: except during initial placement (see place_new)
        self.reserve_l = self.req_l
        self.ram_l = self.ram_mb.tolist()
        self.ram_demand_l = self.ram_demand.tolist()
        self.bw_demand_l = self.bw_demand.tolist()
        self.size_l = self.size.tolist()
        self.mips_l = self.mips.tolist()
        self.core_l = self.core.tolist()
        self.kind_l = h.power_kind.tolist()
        self.watts = h.power_tables.tolist()
        self.ram_free = h.ram_mb - self.ram_used
        self.bw_free = h.bw_mbps - self.bw_used
        self.size_free = h.storage_mb - self.size_used
        self.p_measured = power_of(h.power_tables, h.power_kind, h.utilization)
        self.p_current = power_of(h.power_tables, h.power_kind, self.alloc / self.mips)
        self.kind = h.power_kind
        self._init_pool()

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
        cols = np.column_stack([h.power_kind, h.mips, h.core_mips, h.ram_mb, h.bw_mbps, h.storage_mb]).astype(float)
        _, self.group = np.unique(cols, axis=0, return_inverse=True)
        self.group = self.group.ravel()
        self.group_l = self.group.tolist()
        self.measured_off = (h.utilization == 0).tolist()
        self.idle = np.array([not self.vms[i] and not self.incoming[i] and self.measured_off[i] for i in range(self.n)])
        ngroups = int(self.group.max()) + 1 if self.n else 0
        self.heaps: list[list[int]] = [[] for _ in range(ngroups)]
        for host in np.flatnonzero(self.idle).tolist():
            self.heaps[self.group_l[host]].append(host)  # ascending: already a heap
        self.pool = ~self.idle
        for heap in self.heaps:
            if heap:
                self.pool[heap[0]] = True

    def _repool(self, host: int) -> None:
        """Keep ``pool`` right after *host*'s VM list changed."""
        import heapq

        idle = not self.vms[host] and not self.incoming[host] and self.measured_off[host]
        if idle == self.idle[host]:
            return
        self.idle[host] = idle
        heap = self.heaps[self.group_l[host]]
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

    def _aggregate_all(self, placed: np.ndarray) -> None:
        """All hosts' aggregates at once (what :meth:`refresh` computes for one)."""
        import numpy as np

        v = self.state.vms
        n = self.n
        inflight = np.flatnonzero((v.target >= 0) & v.migrating)
        at = np.concatenate([v.host[placed], v.target[inflight]]).astype(np.intp)
        ids = np.concatenate([placed, inflight]).astype(np.intp)
        asks = np.minimum(self.req[ids], self.core[at])
        total = np.bincount(at, asks, minlength=n)
        over = total > self.mips
        scale = share_scale(total, self.mips)
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
        self.hhist = np.zeros((n, self.hist.shape[1]))
        own_host = v.host[placed].astype(np.intp)
        np.add.at(self.hhist, own_host, self.hist[placed] * (self.vm_mips[placed] / self.mips[own_host])[:, None])

    def refresh(self, host: int) -> None:
        """Recompute one host's aggregates from its VM list (plain floats: lists are short)."""
        vms = self.vms[host]
        ids = vms + self.incoming[host]
        self.count[host] = len(vms)
        cap = self.mips_l[host]
        if not ids:
            self.alloc[host] = self.req_sum[host] = 0.0
            self.avail[host] = cap
            self.ram_used[host] = self.bw_used[host] = self.size_used[host] = self.max_ram[host] = 0.0
            self.hhist[host] = 0.0
            self._free(host)
            self._repool(host)
            return
        core = self.core_l[host]
        req = self.req_l
        asks = [min(self.reserve_l[i], core) for i in ids]
        total = 0.0
        for a in asks:
            total += a
        if total > cap:
            scale = cap / total
            self.alloc[host] = float(sum(math.floor(a * scale) for a in asks)) if self.floor else cap
            self.avail[host] = 0.0  # an oversubscribed scheduler has nothing left to give
        else:
            self.alloc[host] = total
            self.avail[host] = cap - total
        self.req_sum[host] = sum(req[i] for i in ids)
        self.ram_used[host] = sum(self.ram_demand_l[i] for i in ids)
        self.bw_used[host] = sum(self.bw_demand_l[i] for i in ids)
        self.size_used[host] = sum(self.size_l[i] for i in ids)
        self.max_ram[host] = max(self.ram_l[i] for i in ids)
        if vms:
            own = self._index(vms)
            self.hhist[host] = (self.hist[own] * (self.vm_mips[own] / cap)[:, None]).sum(axis=0)
        else:
            self.hhist[host] = 0.0
        self._free(host)
        self._repool(host)

    @staticmethod
    def _index(vms: list[int]) -> np.ndarray:
        import numpy as np

        return np.array(vms, dtype=np.intp)

    def _free(self, host: int) -> None:
        st = self.state.hosts
        self.ram_free[host] = st.ram_mb[host] - self.ram_used[host]
        self.bw_free[host] = st.bw_mbps[host] - self.bw_used[host]
        self.size_free[host] = st.storage_mb[host] - self.size_used[host]
        self.p_current[host] = power_scalar(self.watts[self.kind_l[host]], self.alloc[host] / self.mips_l[host])

    def add(self, host: int, vm: int) -> None:
        self.vms[host].append(vm)
        self.refresh(host)

    def remove(self, host: int, vm: int) -> None:
        self.vms[host].remove(vm)
        self.refresh(host)

    def overloaded(self, detector: Detector, hosts: np.ndarray) -> np.ndarray:
        """Detector verdict for the given hosts as they stand now."""
        import numpy as np

        util = self.req_sum[hosts] / self.mips[hosts]
        horizon = np.ceil(self.max_ram[hosts] / self.mig_rate[hosts] / self.state.interval_s)
        return detector.overloaded(util, self.hhist[hosts], horizon)

    def overloaded_with(self, detector: Detector, hosts: np.ndarray, vm: int) -> np.ndarray:
        """Detector verdict for each of *hosts* if *vm* were added to it (nothing is changed)."""
        import numpy as np

        cap = self.mips[hosts]
        util = (self.req_sum[hosts] + self.req_l[vm]) / cap
        hist = self.hhist[hosts] + self.hist[vm][None, :] * (self.vm_mips[vm] / cap)[:, None]
        max_ram = np.maximum(self.max_ram[hosts], self.ram_l[vm])
        horizon = np.ceil(max_ram / self.mig_rate[hosts] / self.state.interval_s)
        return detector.overloaded(util, hist, horizon)

    def find_host(self, vm: int, excluded: np.ndarray, policy: Policy, check: bool = True) -> int:
        """The host *policy* places *vm* on, or -1 when none is suitable."""
        import numpy as np

        r = self.req_l[vm]
        scan = self.pool & ~excluded
        if (self.idle & ~scan & ~excluded).any() and (self.idle & excluded).any():
            scan = ~excluded  # a group split by the exclusion: scan every host
        ids = np.flatnonzero(scan)
        fit = (self.core[ids] >= r) & (self.avail[ids] >= r) & (self.size_free[ids] >= self.size_l[vm])
        if self.ram_demand_l[vm] > 0:
            fit &= self.ram_free[ids] >= self.ram_demand_l[vm]
        if self.bw_demand_l[vm] > 0:
            fit &= self.bw_free[ids] >= self.bw_demand_l[vm]
        ids = ids[fit]
        if ids.size == 0:
            return -1
        occupied = self.count[ids] > 0
        cand = HostCandidates(
            ids=ids,
            request=r,
            allocated=self.alloc[ids],
            mips=self.mips[ids],
            measured_power=self.p_measured[ids],
            current_power=self.p_current[ids],
            occupied=occupied,
            power_kind=self.kind[ids],
            power_tables=self.state.hosts.power_tables,
        )
        key = policy.placement.key(cand)
        if not check:
            return int(ids[np.lexsort((ids, key))[0]])
        # Check the detector on the front of the order, a growing chunk at a
        # time: usually the first host passes, batching keeps NumPy's per-call
        # cost off the tail, and partitioning instead of sorting keeps a
        # 20,000-host scan linear. An empty host skips the check: a single VM
        # that fits is never refused.
        chunk = FIRST_CHUNK
        while ids.size:
            if ids.size > chunk:
                bound = np.partition(key, chunk - 1)[chunk - 1]
                sel = np.flatnonzero(key <= bound)  # every host tying the bound, so ids decide
            else:
                sel = np.arange(ids.size)
            sel = sel[np.lexsort((ids[sel], key[sel]))][:chunk]
            front = ids[sel]
            busy = self.alloc[front] != 0
            refused = np.zeros(front.size, dtype=bool)
            if busy.any():
                refused[busy] = self.overloaded_with(policy.detector, front[busy], vm)
            ok = np.flatnonzero(~refused)
            if ok.size:
                return int(front[ok[0]])
            keep = np.ones(ids.size, dtype=bool)
            keep[sel] = False
            ids, key = ids[keep], key[keep]
            chunk *= CHUNK_GROWTH
        return -1

    def movable(self, host: int) -> list[int]:
        return [vm for vm in self.vms[host] if not self.migrating[vm]]

    def by_request(self, vms: list[int]) -> list[int]:
        """Largest request first; equal requests keep their order."""
        return sorted(vms, key=lambda vm: -self.req[vm])


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
    work.reserve_l = list(work.req_l)
    after = work.req_l if settled is None else settled.astype(float).tolist()
    none = np.zeros(work.n, dtype=bool)
    out = np.full(len(vms), -1, dtype=np.intp)
    for i, vm in enumerate(np.asarray(vms).tolist()):
        host = work.find_host(vm, none, policy, check)
        if host >= 0:
            work.req_l[vm] = after[vm]
            work.add(host, vm)
            out[i] = host
    return out


def consolidate(state: ClusterState, policy: Policy, rng: np.random.Generator) -> Plan:
    """One consolidation round over *state*; returns the migrations to start."""
    import numpy as np

    work = _Scratch(state)
    vmh = state.vms.host
    occupied = np.flatnonzero(work.count > 0)
    over_mask = np.zeros(work.n, dtype=bool)
    if occupied.size:
        over_mask[occupied] = work.overloaded(policy.detector, occupied)
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
            if not work.overloaded(policy.detector, np.array([host]))[0]:
                break

    # 3. placement of the VMs taken off overloaded hosts
    moves: list[Migration] = []
    fresh_targets: set[int] = set()
    for vm in work.by_request(to_move):
        host = work.find_host(vm, over_mask, policy)
        if host >= 0:
            work.add(host, vm)
            moves.append(Migration(vm, int(vmh[vm]), host))
            fresh_targets.add(host)

    # 4. underloaded hosts
    evacuated: list[int] = []
    if policy.consolidate_underloaded:
        util = state.hosts.utilization
        off = util == 0
        skip_source = over_mask | off
        if not policy.evacuate_fresh_targets and fresh_targets:
            skip_source = skip_source.copy()
            skip_source[list(fresh_targets)] = True
        skip_target = over_mask | off
        cands = np.flatnonzero((util > 0) & (util < 1))
        cands = cands[np.lexsort((cands, util[cands]))]
        for host in cands.tolist():
            if skip_source[host]:
                continue
            movable = work.movable(host)
            if not movable or work.incoming[host]:
                continue  # every VM is leaving already, or one is arriving
            skip_source[host] = skip_target[host] = True
            placed: list[Migration] = []
            for vm in work.by_request(movable):
                target = work.find_host(vm, skip_target, policy)
                if target < 0:
                    for m in placed:
                        work.remove(m.target, m.vm)
                    placed = []
                    break
                work.add(target, vm)
                placed.append(Migration(vm, host, target))
            if placed:
                evacuated.append(host)
                moves.extend(placed)
                for m in placed:
                    skip_source[m.target] = True
    log.debug("round: %d overloaded, %d moves, %d evacuated", len(overloaded), len(moves), len(evacuated))
    return Plan(tuple(moves), tuple(overloaded), tuple(evacuated))
