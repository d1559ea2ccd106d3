"""The guest's CPUID: what KVM supports, made per-vCPU (APIC IDs, topology, hypervisor bit)."""

from __future__ import annotations

from ember.kvm import structs as s

LEAF_FEATURES = 0x1
LEAF_CACHE_PARAMS = 0x4
LEAF_EXT_TOPOLOGY = 0xB
LEAF_V2_EXT_TOPOLOGY = 0x1F
LEAF_KVM_SIGNATURE = 0x4000_0000

ECX_HYPERVISOR = 1 << 31
ECX_TSC_DEADLINE = 1 << 24
EDX_HTT = 1 << 28
KVM_SIGNATURE = b"KVMKVMKVM\0\0\0"

# Leaf 0xB/0x1F level types.
LEVEL_TYPE_INVALID, LEVEL_TYPE_SMT, LEVEL_TYPE_CORE = 0, 1, 2


def _copy(e: s.kvm_cpuid_entry2) -> s.kvm_cpuid_entry2:
    return s.kvm_cpuid_entry2.from_buffer_copy(e)


def _bits_for(n: int) -> int:
    return max(0, (n - 1).bit_length())


def vcpu_cpuid(supported: list[s.kvm_cpuid_entry2], vcpu_id: int, nr_vcpus: int,
               tsc_deadline: bool = False) -> list[s.kvm_cpuid_entry2]:
    """CPUID entries for vCPU *vcpu_id* of *nr_vcpus*: one socket, one core per vCPU.

    *tsc_deadline*: KVM's LAPIC has the TSC-deadline timer (KVM_CAP_TSC_DEADLINE_TIMER).
    KVM_GET_SUPPORTED_CPUID leaves the bit clear because it depends on the
    irqchip; with it set Linux needs no PIT to calibrate its timer.
    """
    out: list[s.kvm_cpuid_entry2] = []
    core_bits = _bits_for(nr_vcpus)
    for src in supported:
        e = _copy(src)
        fn = e.function
        if fn == LEAF_FEATURES:
            # EBX[31:24] initial APIC ID, [23:16] logical processors per package, [15:8] CLFLUSH size.
            e.ebx = (vcpu_id << 24) | (max(nr_vcpus, 1) << 16) | (8 << 8) | (e.ebx & 0xFF)
            e.ecx |= ECX_HYPERVISOR
            if tsc_deadline:
                e.ecx |= ECX_TSC_DEADLINE
            if nr_vcpus > 1:
                e.edx |= EDX_HTT
        elif fn == LEAF_CACHE_PARAMS:
            # EAX[31:26] cores per package - 1; keep cache info, drop sharing claims we can't honour.
            e.eax = (e.eax & 0x3FF) | ((nr_vcpus - 1) << 26 if e.eax & 0x1F else 0)
        elif fn in (LEAF_EXT_TOPOLOGY, LEAF_V2_EXT_TOPOLOGY):
            if e.index == 0:  # SMT level: one thread per core
                e.eax, e.ebx, e.ecx = 0, 1, (LEVEL_TYPE_SMT << 8)
            elif e.index == 1:  # core level
                e.eax, e.ebx, e.ecx = core_bits, nr_vcpus, (LEVEL_TYPE_CORE << 8) | 1
            else:
                e.eax, e.ebx, e.ecx = 0, 0, e.index
            e.edx = vcpu_id
        elif fn == LEAF_KVM_SIGNATURE:
            e.ebx, e.ecx, e.edx = (int.from_bytes(KVM_SIGNATURE[i:i + 4], "little") for i in (0, 4, 8))
        out.append(e)
    return out
