"""What the user asks a VM to be (Firecracker ``vmm_config``), validated before anything is built."""

from __future__ import annotations

import os

from ember.arch.x86.layout import MIN_MEMORY
from ember.errors import ConfigError
from ember.record import Record

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
DEFAULT_MEMORY = 256 << 20
#: The guest-physical address space KVM can map without 5-level EPT: 2^46 bytes (64 TiB).
MAX_GUEST_PHYS_BITS = 46
#: Largest vCPU count an MP table can describe (APIC IDs 0..253, the IOAPIC takes the next).
MAX_VCPUS_MPTABLE = 254


def parse_size(text: str, what: str = "size") -> int:
    """'256M', '1G', '512K', '1048576' (bytes) → bytes. Units are binary (QEMU's convention)."""
    s = str(text).strip().upper()
    for suffix in ("IB", "B"):  # 256MiB, 256MB, 4096B
        if s.endswith(suffix):
            s = s[: -len(suffix)]
            break
    unit = ""
    if s[-1:] in ("K", "M", "G", "T"):
        unit, s = s[-1], s[:-1].rstrip()
    if not s or not s.isascii() or not s.isdigit():
        raise ConfigError(f"{what} {text!r} is not a size: write e.g. 256M, 2G or 65536K")
    return int(s) * _UNITS[unit]


def format_size(n: int) -> str:
    for unit, div in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= div and n % div == 0:
            return f"{n // div}{unit}"
    return f"{n}B"


def host_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 1 << 40


class VmConfig(Record):
    """What to boot and with how much: the VM's whole configuration, validated by :meth:`validate`."""

    __slots__ = ("cmdline", "initrd", "kernel", "memory", "vcpus")

    def __init__(self, kernel: str, cmdline: str = "", initrd: str | None = None, vcpus: int = 1,
                 memory: int = DEFAULT_MEMORY) -> None:
        self.kernel = kernel
        self.cmdline = cmdline
        self.initrd = initrd
        self.vcpus = vcpus
        self.memory = memory

    def validate(self, max_vcpus: int | None = None) -> VmConfig:
        if self.vcpus < 1:
            raise ConfigError(f"--cpus {self.vcpus}: a VM needs at least one vCPU")
        limit = min(max_vcpus or MAX_VCPUS_MPTABLE, MAX_VCPUS_MPTABLE)
        if self.vcpus > limit:
            raise ConfigError(f"--cpus {self.vcpus}: this host's KVM allows at most {limit} vCPUs per VM")
        if self.memory < MIN_MEMORY:
            raise ConfigError(
                f"--memory {format_size(self.memory)} is too small: a VM needs at least "
                f"{format_size(MIN_MEMORY)} (boot structures below 1 MiB, the kernel above)"
            )
        if self.memory % 4096:
            raise ConfigError(f"--memory {self.memory} bytes is not a multiple of the 4 KiB page size")
        if self.memory >= 1 << MAX_GUEST_PHYS_BITS:
            raise ConfigError(
                f"--memory {format_size(self.memory)} exceeds the guest-physical address space "
                f"ember maps ({format_size(1 << MAX_GUEST_PHYS_BITS)})"
            )
        host = host_memory()
        if self.memory > host:
            raise ConfigError(
                f"--memory {format_size(self.memory)} is more than this host's RAM "
                f"({host / (1 << 30):.1f} GiB); give the VM less memory"
            )
        return self
