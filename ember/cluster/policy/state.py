"""The cluster as the policies see it: frozen tables of hosts and VMs, and the decisions.

Columns are NumPy arrays (one entry per host or per VM), so a policy looks at
a data centre of 20,000 hosts without building 60,000 objects. The policies
never modify them; the simulator or the cluster manager builds a new state
for every decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

#: Bits per byte, for link rates in Mbit/s against sizes in MB.
BITS_PER_BYTE = 8
#: Share of a host's link a migration may use (the other half carries VM traffic).
MIGRATION_LINK_SHARE = 0.5


@dataclass(frozen=True)
class HostTable:
    """Hosts, one entry per host id."""

    mips: np.ndarray  # total CPU capacity (cores x core MIPS)
    core_mips: np.ndarray  # one core: the most a single-core VM can get
    ram_mb: np.ndarray
    bw_mbps: np.ndarray  # network link, Mbit/s
    storage_mb: np.ndarray
    power_kind: np.ndarray  # row of power_tables describing the host
    power_tables: np.ndarray  # (models, 11) watts at 0, 10, ..., 100 %
    utilization: np.ndarray  # CPU utilisation measured at the last update (0 = off)

    def __len__(self) -> int:
        return int(self.mips.shape[0])


@dataclass(frozen=True)
class VmTable:
    """VMs, one entry per VM id."""

    host: np.ndarray  # current host, -1 when not placed
    order: np.ndarray  # position key in its host's list (placement sequence)
    mips: np.ndarray  # capacity of the VM's single core
    requested: np.ndarray  # MIPS the VM asks for now
    ram_mb: np.ndarray  # configured RAM: what a migration copies
    ram_demand: np.ndarray  # RAM a host must have free to take it
    bw_demand: np.ndarray  # Mbit/s a host must have free to take it
    size_mb: np.ndarray  # image size (host storage)
    history: np.ndarray  # (vms, W) utilisation, newest first, 0-padded
    history_len: np.ndarray  # observations recorded per VM
    migrating: np.ndarray  # a migration of this VM is in flight
    target: np.ndarray  # destination of the migration in flight, else -1

    def __len__(self) -> int:
        return int(self.host.shape[0])


@dataclass(frozen=True)
class ClusterState:
    hosts: HostTable
    vms: VmTable
    interval_s: float  # time between consolidation rounds
    #: The CPU scheduler floors every share when a host is oversubscribed
    #: (CloudSim's VmSchedulerTimeSharedOverSubscription); False shares exactly.
    floor_shares: bool = False


@dataclass(frozen=True)
class Migration:
    vm: int
    source: int
    target: int


@dataclass(frozen=True)
class Plan:
    """What one consolidation round decided."""

    migrations: tuple[Migration, ...]
    overloaded: tuple[int, ...]
    evacuated: tuple[int, ...]  # underloaded hosts all of whose VMs move away


def migration_seconds(ram_mb: float, bw_mbps: float) -> float:
    """Time to copy *ram_mb* over the migration share of a *bw_mbps* link."""
    return ram_mb / (bw_mbps / BITS_PER_BYTE * MIGRATION_LINK_SHARE)


def horizon_intervals(max_ram_mb: float, bw_mbps: float, interval_s: float) -> int:
    """Scheduling intervals the longest migration of a host spans (the LR look-ahead)."""
    return math.ceil(migration_seconds(max_ram_mb, bw_mbps) / interval_s)
