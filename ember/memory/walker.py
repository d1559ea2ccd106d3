"""Two-stage address translation made visible: guest-virtual → guest-physical → host.

The walker reads the guest's own page tables out of guest memory, the way the
MMU does (Intel SDM vol. 3A ch. 4), and records every level it visits, so
``ember inspect translate`` can show PML4E → PDPTE → PDE → PTE, the resulting
guest-physical address and the host virtual address KVM maps it to.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ember.memory.errors import InvalidGuestAddress, TranslationFault
from ember.memory.guest_memory import GuestMemory

# CR0/CR4/EFER bits that decide the paging mode.
CR0_PG = 1 << 31
CR4_PAE = 1 << 5
CR4_PSE = 1 << 4
CR4_LA57 = 1 << 12
EFER_LMA = 1 << 10

# Page-table entry bits.
PTE_P = 1 << 0
PTE_RW = 1 << 1
PTE_US = 1 << 2
PTE_PS = 1 << 7
PTE_NX = 1 << 63
ADDR_MASK_4LEVEL = 0x000F_FFFF_FFFF_F000  # bits 51:12

LEVEL_NAMES_64 = {5: "PML5E", 4: "PML4E", 3: "PDPTE", 2: "PDE", 1: "PTE"}


@dataclass(frozen=True)
class WalkStep:
    level: str
    table_gpa: int
    index: int
    entry_gpa: int
    entry: int

    @property
    def flags(self) -> str:
        e = self.entry
        return "".join((
            "P" if e & PTE_P else "-",
            "W" if e & PTE_RW else "R",
            "U" if e & PTE_US else "S",
            "L" if e & PTE_PS else "-",
            "X" if not e & PTE_NX else "N",
        ))


@dataclass(frozen=True)
class Translation:
    gva: int
    gpa: int
    host_addr: int
    mode: str
    page_size: int
    writable: bool
    user: bool
    executable: bool
    steps: tuple[WalkStep, ...] = field(default=())


def paging_mode(cr0: int, cr4: int, efer: int) -> str:
    if not cr0 & CR0_PG:
        return "none"
    if efer & EFER_LMA:
        return "5-level" if cr4 & CR4_LA57 else "4-level"
    return "pae" if cr4 & CR4_PAE else "32-bit"


def translate(mem: GuestMemory, gva: int, cr0: int, cr3: int, cr4: int, efer: int) -> Translation:
    """Walk the guest's page tables for *gva*; raise TranslationFault where the MMU would fault."""
    mode = paging_mode(cr0, cr4, efer)
    if mode == "none":
        gpa = gva & 0xFFFF_FFFF
        return Translation(gva, gpa, _host(mem, gpa), mode, 0, True, True, True)
    if mode in ("4-level", "5-level"):
        return _walk_long(mem, gva, cr3, 5 if mode == "5-level" else 4, mode)
    if mode == "pae":
        return _walk_pae(mem, gva, cr3)
    return _walk_32(mem, gva, cr3, bool(cr4 & CR4_PSE))


def _host(mem: GuestMemory, gpa: int) -> int:
    try:
        return mem.host_address(gpa)
    except InvalidGuestAddress:
        raise TranslationFault(f"guest-physical {gpa:#x} is not guest RAM (MMIO or a hole)") from None


def _read_entry(mem: GuestMemory, addr: int, size: int, level: str) -> int:
    try:
        return mem.read_u64(addr) if size == 8 else mem.read_u32(addr)
    except InvalidGuestAddress:
        raise TranslationFault(f"the {level} at {addr:#x} lies outside guest RAM") from None


def _walk_long(mem: GuestMemory, gva: int, cr3: int, levels: int, mode: str) -> Translation:
    va_bits = 12 + 9 * levels
    top = gva >> (va_bits - 1)
    if top not in (0, (1 << (64 - va_bits + 1)) - 1):
        raise TranslationFault(f"{gva:#x} is not canonical for {levels}-level paging")
    table = cr3 & ADDR_MASK_4LEVEL
    steps: list[WalkStep] = []
    writable = user = executable = True
    for level in range(levels, 0, -1):
        shift = 12 + 9 * (level - 1)
        index = (gva >> shift) & 0x1FF
        name = LEVEL_NAMES_64[level]
        entry_gpa = table + index * 8
        entry = _read_entry(mem, entry_gpa, 8, name)
        steps.append(WalkStep(name, table, index, entry_gpa, entry))
        if not entry & PTE_P:
            raise TranslationFault(f"{gva:#x}: {name} {index} at {entry_gpa:#x} is not present")
        writable &= bool(entry & PTE_RW)
        user &= bool(entry & PTE_US)
        executable &= not entry & PTE_NX
        if level in (2, 3) and entry & PTE_PS:
            page = 1 << shift
            base = entry & ADDR_MASK_4LEVEL & ~(page - 1)
            gpa = base | (gva & (page - 1))
            return Translation(gva, gpa, _host(mem, gpa), mode, page, writable, user, executable, tuple(steps))
        table = entry & ADDR_MASK_4LEVEL
    gpa = table | (gva & 0xFFF)
    return Translation(gva, gpa, _host(mem, gpa), mode, 4096, writable, user, executable, tuple(steps))


def _walk_pae(mem: GuestMemory, gva: int, cr3: int) -> Translation:
    gva &= 0xFFFF_FFFF
    pdpt = cr3 & 0xFFFF_FFE0
    steps: list[WalkStep] = []
    idx = gva >> 30
    pdpte = _read_entry(mem, pdpt + idx * 8, 8, "PDPTE")
    steps.append(WalkStep("PDPTE", pdpt, idx, pdpt + idx * 8, pdpte))
    if not pdpte & PTE_P:
        raise TranslationFault(f"{gva:#x}: PDPTE {idx} is not present")
    pd = pdpte & ADDR_MASK_4LEVEL
    idx = (gva >> 21) & 0x1FF
    pde = _read_entry(mem, pd + idx * 8, 8, "PDE")
    steps.append(WalkStep("PDE", pd, idx, pd + idx * 8, pde))
    if not pde & PTE_P:
        raise TranslationFault(f"{gva:#x}: PDE {idx} is not present")
    w, u, x = bool(pde & PTE_RW), bool(pde & PTE_US), not pde & PTE_NX
    if pde & PTE_PS:
        gpa = (pde & ADDR_MASK_4LEVEL & ~0x1F_FFFF) | (gva & 0x1F_FFFF)
        return Translation(gva, gpa, _host(mem, gpa), "pae", 1 << 21, w, u, x, tuple(steps))
    pt = pde & ADDR_MASK_4LEVEL
    idx = (gva >> 12) & 0x1FF
    pte = _read_entry(mem, pt + idx * 8, 8, "PTE")
    steps.append(WalkStep("PTE", pt, idx, pt + idx * 8, pte))
    if not pte & PTE_P:
        raise TranslationFault(f"{gva:#x}: PTE {idx} is not present")
    gpa = (pte & ADDR_MASK_4LEVEL) | (gva & 0xFFF)
    return Translation(gva, gpa, _host(mem, gpa), "pae", 4096, w and bool(pte & PTE_RW),
                       u and bool(pte & PTE_US), x and not pte & PTE_NX, tuple(steps))


def _walk_32(mem: GuestMemory, gva: int, cr3: int, pse: bool) -> Translation:
    gva &= 0xFFFF_FFFF
    pd = cr3 & 0xFFFF_F000
    idx = gva >> 22
    pde = _read_entry(mem, pd + idx * 4, 4, "PDE")
    steps = [WalkStep("PDE", pd, idx, pd + idx * 4, pde)]
    if not pde & PTE_P:
        raise TranslationFault(f"{gva:#x}: PDE {idx} is not present")
    if pse and pde & PTE_PS:
        gpa = (pde & 0xFFC0_0000) | (gva & 0x3F_FFFF)
        return Translation(gva, gpa, _host(mem, gpa), "32-bit", 1 << 22, bool(pde & PTE_RW),
                           bool(pde & PTE_US), True, tuple(steps))
    pt = pde & 0xFFFF_F000
    idx = (gva >> 12) & 0x3FF
    pte = _read_entry(mem, pt + idx * 4, 4, "PTE")
    steps.append(WalkStep("PTE", pt, idx, pt + idx * 4, pte))
    if not pte & PTE_P:
        raise TranslationFault(f"{gva:#x}: PTE {idx} is not present")
    gpa = (pte & 0xFFFF_F000) | (gva & 0xFFF)
    return Translation(gva, gpa, _host(mem, gpa), "32-bit", 4096, bool(pde & pte & PTE_RW),
                       bool(pde & pte & PTE_US), True, tuple(steps))
