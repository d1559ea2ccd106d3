"""The VMM: configuration, the builder, vCPU threads, the I/O buses and the VM state machine."""

from ember.vmm.config import VmConfig, parse_size
from ember.vmm.errors import GuestCrashed, VmError
from ember.vmm.vm import Vm, VmExit, VmState

__all__ = ["GuestCrashed", "Vm", "VmConfig", "VmError", "VmExit", "VmState", "parse_size"]
