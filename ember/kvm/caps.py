"""KVM capabilities (``KVM_CAP_*``) and exit reasons (``KVM_EXIT_*``) from linux/kvm.h.

They are :class:`~ember.record.Constants`, not IntEnums: see that class for why.
"""

from __future__ import annotations

from ember.record import Constants


class Cap(Constants):
    IRQCHIP = 0
    HLT = 1
    USER_MEMORY = 3
    SET_TSS_ADDR = 4
    EXT_CPUID = 7
    NR_VCPUS = 9
    NR_MEMSLOTS = 10
    PIT = 11
    MP_STATE = 14
    SYNC_MMU = 16
    IOMMU = 18
    USER_NMI = 22
    SET_GUEST_DEBUG = 23
    IRQ_ROUTING = 25
    IRQ_INJECT_STATUS = 26
    IRQFD = 32
    PIT2 = 33
    PIT_STATE2 = 35
    IOEVENTFD = 36
    SET_IDENTITY_MAP_ADDR = 37
    ADJUST_CLOCK = 39
    INTERNAL_ERROR_DATA = 40
    VCPU_EVENTS = 41
    DEBUGREGS = 50
    XSAVE = 55
    XCRS = 56
    TSC_CONTROL = 60
    GET_TSC_KHZ = 61
    MAX_VCPUS = 66
    TSC_DEADLINE_TIMER = 72
    KVMCLOCK_CTRL = 76
    SIGNAL_MSI = 77
    READONLY_MEM = 81
    SPLIT_IRQCHIP = 121
    MAX_VCPU_ID = 128
    IMMEDIATE_EXIT = 136
    X86_DISABLE_EXITS = 143
    MANUAL_DIRTY_LOG_PROTECT2 = 168
    X86_USER_SPACE_MSR = 188
    DIRTY_LOG_RING = 192
    EXIT_HYPERCALL = 201
    XSAVE2 = 208


#: What ember cannot run without, and why (used in the error message).
REQUIRED_CAPS: dict[int, str] = {
    Cap.USER_MEMORY: "guest memory is mapped from user space",
    Cap.SPLIT_IRQCHIP: "the LAPICs run in KVM and the IOAPIC in ember (split irqchip)",
    Cap.SIGNAL_MSI: "the IOAPIC delivers interrupts as MSIs",
    Cap.IRQ_ROUTING: "KVM learns the IOAPIC's level-triggered vectors from the GSI routing table",
    Cap.IMMEDIATE_EXIT: "vCPUs are kicked out of KVM_RUN without races",
    Cap.SET_TSS_ADDR: "Intel hosts need the TSS region placed below 4 GiB",
    Cap.EXT_CPUID: "the guest's CPUID is built from KVM_GET_SUPPORTED_CPUID",
    Cap.MP_STATE: "application processors start through INIT/SIPI",
}


class ExitReason(Constants):
    UNKNOWN = 0
    EXCEPTION = 1
    IO = 2
    HYPERCALL = 3
    DEBUG = 4
    HLT = 5
    MMIO = 6
    IRQ_WINDOW_OPEN = 7
    SHUTDOWN = 8
    FAIL_ENTRY = 9
    INTR = 10
    SET_TPR = 11
    TPR_ACCESS = 12
    NMI = 16
    INTERNAL_ERROR = 17
    WATCHDOG = 21
    SYSTEM_EVENT = 24
    IOAPIC_EOI = 26
    HYPERV = 27
    DIRTY_RING_FULL = 31
    AP_RESET_HOLD = 32
    X86_RDMSR = 29
    X86_WRMSR = 30
    XEN = 34
    NOTIFY = 37



class InternalErrorSuberror(Constants):
    """KVM_INTERNAL_ERROR_* suberrors of KVM_EXIT_INTERNAL_ERROR."""

    EMULATION = 1
    SIMUL_EX = 2
    DELIVERY_EV = 3
    UNEXPECTED_EXIT_REASON = 4


class SystemEvent(Constants):
    SHUTDOWN = 1
    RESET = 2
    CRASH = 3
    WAKEUP = 4
    SUSPEND = 5
    SEV_TERM = 6


class MpState(Constants):
    RUNNABLE = 0
    UNINITIALIZED = 1
    INIT_RECEIVED = 2
    HALTED = 3
    SIPI_RECEIVED = 4


KVM_EXIT_IO_IN = 0
KVM_EXIT_IO_OUT = 1
KVM_MEM_LOG_DIRTY_PAGES = 1 << 0
KVM_MEM_READONLY = 1 << 1
KVM_IOEVENTFD_FLAG_DATAMATCH = 1 << 0
KVM_IOEVENTFD_FLAG_PIO = 1 << 1
KVM_IOEVENTFD_FLAG_DEASSIGN = 1 << 2
KVM_IRQFD_FLAG_DEASSIGN = 1 << 0
