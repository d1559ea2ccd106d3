"""The KVM ioctl table: every request number ember uses, in one place.

Numbers are computed from the kernel's ``_IO``/``_IOR``/``_IOW``/``_IOWR``
encoding (include/uapi/asm-generic/ioctl.h) and the sizes of the ctypes mirrors
in :mod:`ember.kvm.structs`, exactly as ``linux/kvm.h`` spells them.
"""

from __future__ import annotations

import ctypes

from ember.kvm import structs as s

# asm-generic/ioctl.h: | dir:2 | size:14 | type:8 | nr:8 |
_IOC_NRBITS, _IOC_TYPEBITS, _IOC_SIZEBITS = 8, 8, 14
_IOC_NRSHIFT = 0
_IOC_TYPESHIFT = _IOC_NRSHIFT + _IOC_NRBITS
_IOC_SIZESHIFT = _IOC_TYPESHIFT + _IOC_TYPEBITS
_IOC_DIRSHIFT = _IOC_SIZESHIFT + _IOC_SIZEBITS
_IOC_NONE, _IOC_WRITE, _IOC_READ = 0, 1, 2

KVMIO = 0xAE


def _IOC(direction: int, type_: int, nr: int, size: int) -> int:
    if size >= 1 << _IOC_SIZEBITS:
        raise ValueError(f"ioctl argument of {size} bytes does not fit the size field")
    return (direction << _IOC_DIRSHIFT) | (type_ << _IOC_TYPESHIFT) | (nr << _IOC_NRSHIFT) | (
        size << _IOC_SIZESHIFT
    )


def _IO(nr: int) -> int:
    return _IOC(_IOC_NONE, KVMIO, nr, 0)


def _IOR(nr: int, ctype: type) -> int:
    return _IOC(_IOC_READ, KVMIO, nr, ctypes.sizeof(ctype))


def _IOW(nr: int, ctype: type) -> int:
    return _IOC(_IOC_WRITE, KVMIO, nr, ctypes.sizeof(ctype))


def _IOWR(nr: int, ctype: type) -> int:
    return _IOC(_IOC_READ | _IOC_WRITE, KVMIO, nr, ctypes.sizeof(ctype))


# --- /dev/kvm ---
KVM_GET_API_VERSION = _IO(0x00)
KVM_CREATE_VM = _IO(0x01)
KVM_GET_MSR_INDEX_LIST = _IOWR(0x02, s.kvm_msr_list_header)
KVM_CHECK_EXTENSION = _IO(0x03)
KVM_GET_VCPU_MMAP_SIZE = _IO(0x04)
KVM_GET_SUPPORTED_CPUID = _IOWR(0x05, s.kvm_cpuid2_header)

# --- VM fd ---
KVM_CREATE_VCPU = _IO(0x41)
KVM_GET_DIRTY_LOG = _IOW(0x42, s.kvm_dirty_log)
KVM_SET_USER_MEMORY_REGION = _IOW(0x46, s.kvm_userspace_memory_region)
KVM_SET_TSS_ADDR = _IO(0x47)
KVM_SET_IDENTITY_MAP_ADDR = _IOW(0x48, ctypes.c_uint64)
KVM_CREATE_IRQCHIP = _IO(0x60)
KVM_IRQ_LINE = _IOW(0x61, s.kvm_irq_level)
KVM_GET_IRQCHIP = _IOWR(0x62, s.kvm_irqchip)
KVM_SET_IRQCHIP = _IOR(0x63, s.kvm_irqchip)
KVM_IRQ_LINE_STATUS = _IOWR(0x67, s.kvm_irq_level)
KVM_SET_GSI_ROUTING = _IOW(0x6A, s.kvm_irq_routing_header)
KVM_IRQFD = _IOW(0x76, s.kvm_irqfd)
KVM_CREATE_PIT2 = _IOW(0x77, s.kvm_pit_config)
KVM_IOEVENTFD = _IOW(0x79, s.kvm_ioeventfd)
KVM_SET_CLOCK = _IOW(0x7B, s.kvm_clock_data)
KVM_GET_CLOCK = _IOR(0x7C, s.kvm_clock_data)
KVM_GET_PIT2 = _IOR(0x9F, s.kvm_pit_state2)
KVM_SET_PIT2 = _IOW(0xA0, s.kvm_pit_state2)
KVM_SIGNAL_MSI = _IOW(0xA5, s.kvm_msi)
KVM_ENABLE_CAP = _IOW(0xA3, s.kvm_enable_cap)  # on a VM fd (and vCPU fd)

# --- vCPU fd ---
KVM_RUN = _IO(0x80)
KVM_GET_REGS = _IOR(0x81, s.kvm_regs)
KVM_SET_REGS = _IOW(0x82, s.kvm_regs)
KVM_GET_SREGS = _IOR(0x83, s.kvm_sregs)
KVM_SET_SREGS = _IOW(0x84, s.kvm_sregs)
KVM_TRANSLATE = _IOWR(0x85, s.kvm_translation)
KVM_GET_MSRS = _IOWR(0x88, s.kvm_msrs_header)
KVM_SET_MSRS = _IOW(0x89, s.kvm_msrs_header)
KVM_GET_FPU = _IOR(0x8C, s.kvm_fpu)
KVM_SET_FPU = _IOW(0x8D, s.kvm_fpu)
KVM_GET_LAPIC = _IOR(0x8E, s.kvm_lapic_state)
KVM_SET_LAPIC = _IOW(0x8F, s.kvm_lapic_state)
KVM_SET_CPUID2 = _IOW(0x90, s.kvm_cpuid2_header)
KVM_GET_CPUID2 = _IOWR(0x91, s.kvm_cpuid2_header)
KVM_GET_MP_STATE = _IOR(0x98, s.kvm_mp_state)
KVM_SET_MP_STATE = _IOW(0x99, s.kvm_mp_state)
KVM_NMI = _IO(0x9A)
KVM_GET_VCPU_EVENTS = _IOR(0x9F, s.kvm_vcpu_events)
KVM_SET_VCPU_EVENTS = _IOW(0xA0, s.kvm_vcpu_events)
KVM_GET_DEBUGREGS = _IOR(0xA1, s.kvm_debugregs)
KVM_SET_DEBUGREGS = _IOW(0xA2, s.kvm_debugregs)
KVM_GET_XSAVE = _IOR(0xA4, s.kvm_xsave)
KVM_SET_XSAVE = _IOW(0xA5, s.kvm_xsave)
KVM_GET_XCRS = _IOR(0xA6, s.kvm_xcrs)
KVM_SET_XCRS = _IOW(0xA7, s.kvm_xcrs)
KVM_KVMCLOCK_CTRL = _IO(0xAD)
