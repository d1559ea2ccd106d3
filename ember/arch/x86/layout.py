"""Where ember puts things in guest-physical memory on x86 (one table, one place).

Below 1 MiB sit the boot structures (as Firecracker and QEMU place them); RAM
runs from 0 to the 32-bit MMIO gap and continues above 4 GiB. The gap holds
the IOAPIC, the LAPIC and room for MMIO devices.
"""

from __future__ import annotations

from ember.record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ember.arch.x86.bootparams import E820Entry

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30

# --- low memory (real-mode addressable) ---------------------------------------------
GDT_START = 0x500
IDT_START = 0x520
PVH_INFO_START = 0x6000  # struct hvm_start_info, then its module list and memmap
PVH_MODLIST_START = 0x6040
PVH_MEMMAP_START = 0x6100
ZERO_PAGE_START = 0x7000  # struct boot_params for the Linux boot protocol
BOOT_STACK_POINTER = 0x8FF0
PML4_START = 0x9000
PDPTE_START = 0xA000
PDE_START = 0xB000  # four pages: identity map of the first 4 GiB with 2 MiB pages
CMDLINE_START = 0x20000
CMDLINE_MAX_SIZE = 0x10000
EBDA_START = 0x9FC00  # MP table lives here (Extended BIOS Data Area)
LOW_RAM_END = 0xA0000  # VGA hole from here to 1 MiB
ACPI_START = 0xE0000  # RSDP and tables: where guests scan for "RSD PTR "
ACPI_MAX_SIZE = 0x10000
BIOS_START = 0xE0000  # reserved up to 1 MiB (ACPI tables, the legacy BIOS area)
HIMEM_START = 0x100000  # 1 MiB: where kernels load

# --- the 32-bit MMIO gap --------------------------------------------------------------
MMIO_GAP_START = 3 * GiB
MMIO_GAP_END = 4 * GiB
IOAPIC_ADDR = 0xFEC0_0000
LAPIC_ADDR = 0xFEE0_0000

MIN_MEMORY = 16 * MiB


def ram_regions(mem_size: int) -> list[tuple[int, int]]:
    """Guest-physical (address, size) of RAM for *mem_size* bytes, skipping the MMIO gap."""
    if mem_size <= MMIO_GAP_START:
        return [(0, mem_size)]
    return [(0, MMIO_GAP_START), (MMIO_GAP_END, mem_size - MMIO_GAP_START)]


# E820 memory types (arch/x86/include/asm/e820/types.h); bootparams.E820Type names them all.
E820_RAM = 1
E820_RESERVED = 2


class MemoryRange(Record):
    """One range of the guest's memory map; ``type`` is an E820 type."""

    __slots__ = ("addr", "size", "type")

    def __init__(self, addr: int, size: int, type: int) -> None:
        self.addr = addr
        self.size = size
        self.type = type


def memory_map(mem_size: int) -> list[MemoryRange]:
    """The memory map the guest sees (Linux e820 and PVH memmap alike)."""
    regions = ram_regions(mem_size)
    low_end = regions[0][1]
    entries = [
        MemoryRange(0, EBDA_START, E820_RAM),
        MemoryRange(EBDA_START, LOW_RAM_END - EBDA_START, E820_RESERVED),
        MemoryRange(BIOS_START, HIMEM_START - BIOS_START, E820_RESERVED),
        MemoryRange(HIMEM_START, low_end - HIMEM_START, E820_RAM),
    ]
    if len(regions) > 1:
        entries.append(MemoryRange(regions[1][0], regions[1][1], E820_RAM))
    return entries


def e820_map(mem_size: int) -> list[E820Entry]:
    """:func:`memory_map` as the boot protocol's typed e820 entries (imported only for bzImage boots)."""
    from ember.arch.x86.bootparams import E820Entry, E820Type

    return [E820Entry(r.addr, r.size, E820Type(r.type)) for r in memory_map(mem_size)]
