"""``/dev/kvm``: the system file descriptor, capabilities and host facts."""

from __future__ import annotations

import ctypes
import errno
import functools
import os

from ember.kvm import ioctls
from ember.kvm import structs as s
from ember.kvm._sys import ioctl
from ember.kvm.caps import REQUIRED_CAPS, Cap
from ember.kvm.errors import IoctlError, KvmCapabilityMissing, KvmUnavailable
from ember.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Self

    from ember.kvm.vm import VmFd

KVM_DEVICE = "/dev/kvm"
KVM_API_VERSION = 12  # the only stable API version there has ever been
#: KVM_GET_SUPPORTED_CPUID fails with E2BIG when the buffer is too small; start here.
_CPUID_ENTRIES_START = 80
_CPUID_ENTRIES_MAX = 1024


class KvmFlavour(Record):
    """Whether KVM here runs guests on VT-x/AMD-V or in software."""

    __slots__ = ("description", "hardware")

    def __init__(self, hardware: bool, description: str) -> None:
        self.hardware = hardware
        self.description = description


@functools.lru_cache(maxsize=1)
def kvm_flavour() -> KvmFlavour:
    """Tell hardware-assisted KVM from a software one without timing anything.

    A host whose CPU flags lack ``vmx``/``svm`` cannot run kvm_intel/kvm_amd, so
    its /dev/kvm comes from a software module (on this project's development
    machines that is ``kvm_pvm``, a shadow-paging KVM that emulates guest
    ring-0 code).
    """
    flags: set[str] = set()
    try:
        with open("/proc/cpuinfo") as f:
            cpuinfo = f.read()
        for line in cpuinfo.splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
    except OSError:
        pass
    modules = {m for m in ("kvm_intel", "kvm_amd", "kvm_pvm") if os.path.exists(f"/sys/module/{m}")}
    if "kvm_pvm" in modules:
        return KvmFlavour(False, "a software KVM (kvm_pvm: shadow paging, guest ring 0 emulated)")
    if flags & {"vmx", "svm"} and modules & {"kvm_intel", "kvm_amd"}:
        return KvmFlavour(True, f"hardware-assisted KVM ({', '.join(sorted(modules))})")
    if not flags & {"vmx", "svm"}:
        return KvmFlavour(False, "a software KVM (the CPU has no vmx/svm flag)")
    return KvmFlavour(True, "hardware-assisted KVM")


class Kvm:
    """The ``/dev/kvm`` file descriptor (rust-vmm ``Kvm``)."""

    def __init__(self, path: str = KVM_DEVICE) -> None:
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            raise KvmUnavailable(
                f"{path} does not exist: load the KVM module (modprobe kvm_intel or kvm_amd) "
                "and enable virtualization in the firmware"
            ) from None
        except PermissionError:
            raise KvmUnavailable(
                f"no permission to open {path}: add yourself to the 'kvm' group "
                "(sudo usermod -aG kvm $USER, then log in again) or run as root"
            ) from None
        except OSError as exc:
            raise KvmUnavailable(f"cannot open {path}: {exc.strerror}") from None
        version = ioctl(self.fd, ioctls.KVM_GET_API_VERSION, name="KVM_GET_API_VERSION")
        if version != KVM_API_VERSION:
            os.close(self.fd)
            raise KvmUnavailable(f"{path} speaks KVM API {version}; ember needs {KVM_API_VERSION}")

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_extension(self, cap: int) -> int:
        return ioctl(self.fd, ioctls.KVM_CHECK_EXTENSION, int(cap), name="KVM_CHECK_EXTENSION")

    def require(self, caps: dict[int, str] = REQUIRED_CAPS) -> None:
        missing = [f"KVM_CAP_{Cap.name_of(c).upper()} ({why})" for c, why in caps.items()
                   if not self.check_extension(c)]
        if missing:
            raise KvmCapabilityMissing(
                "this host's KVM lacks " + "; ".join(missing) + ": use a newer kernel or another host"
            )

    def vcpu_mmap_size(self) -> int:
        return ioctl(self.fd, ioctls.KVM_GET_VCPU_MMAP_SIZE, name="KVM_GET_VCPU_MMAP_SIZE")

    def max_vcpus(self) -> int:
        return self.check_extension(Cap.MAX_VCPUS) or self.check_extension(Cap.NR_VCPUS) or 4

    def recommended_vcpus(self) -> int:
        return self.check_extension(Cap.NR_VCPUS) or 4

    def supported_cpuid(self) -> list[s.kvm_cpuid_entry2]:
        n = _CPUID_ENTRIES_START
        while n <= _CPUID_ENTRIES_MAX:
            buf = s.kvm_cpuid2(n)()
            buf.header.nent = n
            try:
                ioctl(self.fd, ioctls.KVM_GET_SUPPORTED_CPUID, buf, name="KVM_GET_SUPPORTED_CPUID")
            except IoctlError as exc:
                if exc.errno == errno.E2BIG:
                    n *= 2
                    continue
                raise
            return [s.kvm_cpuid_entry2.from_buffer_copy(buf.entries[i]) for i in range(buf.header.nent)]
        raise KvmCapabilityMissing("KVM_GET_SUPPORTED_CPUID returned more entries than ember expects")

    def msr_index_list(self) -> list[int]:
        n = 64
        while True:
            cls = type("msr_list", (ctypes.Structure,), {"_fields_": [("nmsrs", ctypes.c_uint32), ("indices", ctypes.c_uint32 * n)]})
            buf = cls()
            buf.nmsrs = n
            try:
                ioctl(self.fd, ioctls.KVM_GET_MSR_INDEX_LIST, buf, name="KVM_GET_MSR_INDEX_LIST")
            except IoctlError as exc:
                if exc.errno == errno.E2BIG and n < 65536:
                    n = max(n * 2, buf.nmsrs)
                    continue
                raise
            return list(buf.indices[: buf.nmsrs])

    def create_vm(self) -> VmFd:
        from ember.kvm.vm import VmFd

        fd = ioctl(self.fd, ioctls.KVM_CREATE_VM, 0, name="KVM_CREATE_VM")
        return VmFd(fd, self)
