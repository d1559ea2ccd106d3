"""The Intel MultiProcessor Specification 1.4 table, so SMP guests find every vCPU.

Layouts follow the spec (and Linux's arch/x86/include/asm/mpspec_def.h): a
16-byte floating pointer ("_MP_") pointing at a configuration table ("PCMP")
with one processor entry per vCPU, an ISA bus, the IOAPIC and its interrupt
assignments. Each structure is checksummed to zero.
"""

from __future__ import annotations

import struct

from ember.arch.x86.layout import IOAPIC_ADDR, LAPIC_ADDR

MPF_SIGNATURE = b"_MP_"
MPC_SIGNATURE = b"PCMP"
MP_SPEC_REV = 4  # 1.4
APIC_VERSION = 0x14
MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_INTSRC, MP_LINTSRC = 0, 1, 2, 3, 4
CPU_ENABLED, CPU_BOOTPROCESSOR = 1, 2
CPU_STEPPING = 0x600
CPU_FEATURE_APIC, CPU_FEATURE_FPU = 1 << 9, 1 << 0
MPC_APIC_USABLE = 1
MP_IRQ_INT, MP_IRQ_NMI, MP_IRQ_EXTINT = 0, 1, 3
MP_IRQ_DEFAULT_POLARITY = 0
ISA_IRQS = 16
MP_LINT0, MP_LINT1 = 0, 1
ALL_LAPICS = 0xFF

_MPF = struct.Struct("<4sIBBBB4s")  # mpf_intel: 16 bytes
_MPC = struct.Struct("<4sHBB8s12sIHHII")  # mpc_table: 44 bytes
_CPU = struct.Struct("<BBBBII8s")  # mpc_cpu: 20 bytes
_BUS = struct.Struct("<BB6s")  # mpc_bus: 8 bytes
_IOAPIC = struct.Struct("<BBBBI")  # mpc_ioapic: 8 bytes
_INTSRC = struct.Struct("<BBHBBBB")  # mpc_intsrc / mpc_lintsrc: 8 bytes


def _checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def mptable_size(nr_cpus: int) -> int:
    return _MPF.size + _MPC.size + nr_cpus * _CPU.size + _BUS.size + _IOAPIC.size + (ISA_IRQS + 2) * _INTSRC.size


def build_mptable(base: int, nr_cpus: int) -> bytes:
    """The floating pointer at *base* followed by the configuration table."""
    if not 1 <= nr_cpus <= 254:
        raise ValueError(f"an MP table describes 1..254 CPUs, not {nr_cpus}")
    ioapic_id = nr_cpus  # APIC IDs 0..n-1 are the vCPUs
    entries = bytearray()
    for cpu in range(nr_cpus):
        flags = CPU_ENABLED | (CPU_BOOTPROCESSOR if cpu == 0 else 0)
        entries += _CPU.pack(MP_PROCESSOR, cpu, APIC_VERSION, flags, CPU_STEPPING,
                             CPU_FEATURE_APIC | CPU_FEATURE_FPU, b"\0" * 8)
    entries += _BUS.pack(MP_BUS, 0, b"ISA   ")
    entries += _IOAPIC.pack(MP_IOAPIC, ioapic_id, APIC_VERSION, MPC_APIC_USABLE, IOAPIC_ADDR)
    for irq in range(ISA_IRQS):
        entries += _INTSRC.pack(MP_INTSRC, MP_IRQ_INT, MP_IRQ_DEFAULT_POLARITY, 0, irq, ioapic_id, irq)
    entries += _INTSRC.pack(MP_LINTSRC, MP_IRQ_EXTINT, MP_IRQ_DEFAULT_POLARITY, 0, 0, ALL_LAPICS, MP_LINT0)
    entries += _INTSRC.pack(MP_LINTSRC, MP_IRQ_NMI, MP_IRQ_DEFAULT_POLARITY, 0, 0, ALL_LAPICS, MP_LINT1)
    count = nr_cpus + 1 + 1 + ISA_IRQS + 2
    length = _MPC.size + len(entries)
    header = bytearray(_MPC.pack(MPC_SIGNATURE, length, MP_SPEC_REV, 0, b"EMBER   ", b"EMBER VM    ",
                                 0, 0, count, LAPIC_ADDR, 0))
    table = header + entries
    table[7] = _checksum(bytes(table))
    mpf = bytearray(_MPF.pack(MPF_SIGNATURE, base + _MPF.size, 1, MP_SPEC_REV, 0, 0, b"\0" * 4))
    mpf[10] = _checksum(bytes(mpf))
    return bytes(mpf + table)
