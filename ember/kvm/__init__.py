"""ember's KVM bindings: one type per kind of file descriptor (rust-vmm kvm-ioctls).

``Kvm`` (``/dev/kvm``) creates a ``VmFd``, which creates ``VcpuFd``s. Struct
layouts live in :mod:`ember.kvm.structs`, ioctl numbers in :mod:`ember.kvm.ioctls`.
"""

from ember.kvm.caps import Cap, ExitReason, MpState, SystemEvent
from ember.kvm.errors import IoctlError, KvmCapabilityMissing, KvmError, KvmUnavailable
from ember.kvm.system import Kvm, KvmFlavour, kvm_flavour
from ember.kvm.vcpu import VcpuExit, VcpuFd
from ember.kvm.vm import VmFd

__all__ = [
    "Cap", "ExitReason", "IoctlError", "Kvm", "KvmCapabilityMissing", "KvmError", "KvmFlavour",
    "KvmUnavailable", "MpState", "SystemEvent", "VcpuExit", "VcpuFd", "VmFd", "kvm_flavour",
]
