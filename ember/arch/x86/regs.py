"""Initial vCPU state for each boot mode: segments, control registers, page tables, FPU, LAPIC."""

from __future__ import annotations

import struct

from ember.arch.x86 import layout
from ember.arch.x86.gdt import boot_gdt, segment_from_descriptor
from ember.arch.x86.loader import BootMode, BootSetup
from ember.kvm import structs as s
from ember.kvm.vcpu import VcpuFd
from ember.memory import GuestMemory

X86_CR0_PE = 1 << 0
X86_CR0_ET = 1 << 4
X86_CR0_PG = 1 << 31
X86_CR4_PAE = 1 << 5
EFER_LME = 1 << 8
EFER_LMA = 1 << 10
RFLAGS_RESERVED = 1 << 1  # bit 1 always reads as 1
FPU_CONTROL_DEFAULT = 0x37F
MXCSR_DEFAULT = 0x1F80
PDE_PRESENT_RW_HUGE = 0x83  # P | RW | PS (2 MiB page)
PTE_PRESENT_RW = 0x03

# LAPIC register offsets and LVT delivery modes (Intel SDM vol. 3A 10.5.1).
APIC_LVT0, APIC_LVT1 = 0x350, 0x360
APIC_MODE_NMI, APIC_MODE_EXTINT = 0x4, 0x7


def write_boot_tables(mem: GuestMemory, setup: BootSetup) -> None:
    """GDT for every mode; identity page tables (first 4 GiB) for a 64-bit entry."""
    gdt = boot_gdt(long_mode=setup.mode is BootMode.LINUX64)
    mem.write(layout.GDT_START, struct.pack(f"<{len(gdt)}Q", *gdt))
    mem.write_u64(layout.IDT_START, 0)
    if setup.mode is BootMode.LINUX64:
        mem.write_u64(layout.PML4_START, layout.PDPTE_START | PTE_PRESENT_RW)
        pdptes = [(layout.PDE_START + i * 0x1000) | PTE_PRESENT_RW for i in range(4)]
        mem.write(layout.PDPTE_START, struct.pack("<4Q", *pdptes))
        pdes = [(i << 21) | PDE_PRESENT_RW_HUGE for i in range(4 * 512)]
        mem.write(layout.PDE_START, struct.pack(f"<{len(pdes)}Q", *pdes))


def setup_boot_vcpu(vcpu: VcpuFd, setup: BootSetup) -> None:
    """Registers of the boot vCPU at the kernel's entry point."""
    long_mode = setup.mode is BootMode.LINUX64
    gdt = boot_gdt(long_mode)
    sregs = vcpu.get_sregs()
    code, data, tss = (segment_from_descriptor(gdt[i], i) for i in (1, 2, 3))
    sregs.cs = code
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data
    sregs.tr = tss
    sregs.gdt.base, sregs.gdt.limit = layout.GDT_START, len(gdt) * 8 - 1
    sregs.idt.base, sregs.idt.limit = layout.IDT_START, 7
    sregs.cr0 = X86_CR0_PE | X86_CR0_ET
    if long_mode:
        sregs.cr3 = layout.PML4_START
        sregs.cr4 |= X86_CR4_PAE
        sregs.cr0 |= X86_CR0_PG
        sregs.efer |= EFER_LME | EFER_LMA
    vcpu.set_sregs(sregs)

    regs = s.kvm_regs()
    regs.rflags = RFLAGS_RESERVED
    regs.rip = setup.entry
    if long_mode:
        regs.rsi = setup.boot_info
        regs.rsp = regs.rbp = layout.BOOT_STACK_POINTER
    else:
        regs.rbx = setup.boot_info
    vcpu.set_regs(regs)


def setup_fpu(vcpu: VcpuFd) -> None:
    fpu = s.kvm_fpu()
    fpu.fcw = FPU_CONTROL_DEFAULT
    fpu.mxcsr = MXCSR_DEFAULT
    vcpu.set_fpu(fpu)


def setup_lint(vcpu: VcpuFd) -> None:
    """LINT0 as ExtINT (the PIC) and LINT1 as NMI, as firmware leaves them on a PC."""
    lapic = vcpu.get_lapic()
    raw = bytearray(lapic.regs)
    for reg, mode in ((APIC_LVT0, APIC_MODE_EXTINT), (APIC_LVT1, APIC_MODE_NMI)):
        val = struct.unpack_from("<I", raw, reg)[0]
        val = (val & ~0x700) | (mode << 8)
        struct.pack_into("<I", raw, reg, val)
    lapic.regs[:] = list(raw)
    vcpu.set_lapic(lapic)
