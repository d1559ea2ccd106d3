"""The data centre of the study: two host types, four VM types (model sections 2 and 3)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ember.cluster.power import HP_ML110_G4, HP_ML110_G5, PowerModel, table_array

if TYPE_CHECKING:
    import numpy as np

#: Hosts of the PlanetLab experiments.
DEFAULT_HOSTS = 800


@dataclass(frozen=True)
class HostType:
    name: str
    cores: int
    core_mips: float
    ram_mb: float
    bw_mbps: float
    storage_mb: float
    power: PowerModel


@dataclass(frozen=True)
class VmType:
    name: str
    mips: float
    ram_mb: float
    bw_mbps: float
    size_mb: float


#: Host ``i`` is of type ``i % 2``.
HOST_TYPES: tuple[HostType, ...] = (
    HostType("HP ProLiant ML110 G4", 2, 1860, 4096, 1000, 1_000_000, HP_ML110_G4),
    HostType("HP ProLiant ML110 G5", 2, 2660, 4096, 1000, 1_000_000, HP_ML110_G5),
)

#: VM types (Amazon EC2-like): high-CPU medium, extra large, small, micro.
VM_TYPES: tuple[VmType, ...] = (
    VmType("high-cpu medium", 2500, 870, 100, 2500),
    VmType("extra large", 2000, 1740, 100, 2500),
    VmType("small", 1000, 1740, 100, 2500),
    VmType("micro", 500, 613, 100, 2500),
)


@dataclass(frozen=True)
class Fleet:
    """Column arrays describing hosts or VMs."""

    kind: np.ndarray
    mips: np.ndarray  # hosts: total; VMs: the single core
    core_mips: np.ndarray
    ram_mb: np.ndarray
    bw_mbps: np.ndarray
    storage_mb: np.ndarray  # VMs: image size


def hosts(n: int) -> Fleet:
    import numpy as np

    kind = np.arange(n) % len(HOST_TYPES)
    t = HOST_TYPES

    def col(attr: str) -> np.ndarray:
        return np.array([getattr(x, attr) for x in t], dtype=float)[kind]

    cores = col("cores")
    core = col("core_mips")
    return Fleet(kind, cores * core, core, col("ram_mb"), col("bw_mbps"), col("storage_mb"))


def power_tables() -> np.ndarray:
    return table_array([t.power for t in HOST_TYPES])


def vm_kinds(n: int) -> np.ndarray:
    """VM ``i`` of ``n`` is of type ``i // ceil(n / 4)``: four contiguous blocks."""
    import numpy as np

    block = max(1, math.ceil(n / len(VM_TYPES)))
    return np.minimum(np.arange(n) // block, len(VM_TYPES) - 1)


def vms(n: int) -> Fleet:
    import numpy as np

    kind = vm_kinds(n)

    def col(attr: str) -> np.ndarray:
        per_vm: np.ndarray = np.array([getattr(x, attr) for x in VM_TYPES], dtype=float)[kind]
        return per_vm

    mips = col("mips")
    return Fleet(kind, mips, mips, col("ram_mb"), col("bw_mbps"), col("size_mb"))
