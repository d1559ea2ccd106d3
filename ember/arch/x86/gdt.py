"""Segment descriptors for the boot GDT and their ``kvm_segment`` twins.

KVM takes segment registers with their hidden parts already loaded, so each
boot segment is written twice: as an 8-byte descriptor in the guest's GDT (for
when the guest reloads a selector) and as a ``kvm_segment`` in the sregs.
"""

from __future__ import annotations

from ember.kvm import structs as s

# Access-byte types (Intel SDM vol. 3A, 3.4.5.1).
SEG_TYPE_CODE_XR_ACCESSED = 0xB
SEG_TYPE_DATA_RW_ACCESSED = 0x3
SEG_TYPE_TSS_BUSY = 0xB


def descriptor(flags: int, base: int, limit: int) -> int:
    """Pack a GDT entry from kvmtool/Firecracker-style ``flags`` (G DB L AVL | P DPL S TYPE)."""
    return (
        ((base & 0xFF00_0000) << (56 - 24))
        | ((flags & 0xF0FF) << 40)
        | ((limit & 0xF_0000) << (48 - 16))
        | ((base & 0x00FF_FFFF) << 16)
        | (limit & 0xFFFF)
    )


def segment_from_descriptor(entry: int, index: int) -> s.kvm_segment:
    seg = s.kvm_segment()
    seg.base = ((entry >> 16) & 0xFF_FFFF) | ((entry >> 56) << 24)
    limit = (entry & 0xFFFF) | ((entry >> 32) & 0xF_0000)
    seg.g = (entry >> 55) & 1
    seg.limit = (limit << 12) | 0xFFF if seg.g else limit
    seg.selector = index * 8
    seg.type = (entry >> 40) & 0xF
    seg.present = (entry >> 47) & 1
    seg.dpl = (entry >> 45) & 3
    seg.db = (entry >> 54) & 1
    seg.s = (entry >> 44) & 1
    seg.l = (entry >> 53) & 1
    seg.avl = (entry >> 52) & 1
    seg.unusable = 0 if seg.present else 1
    return seg


# The boot GDT: null, 64-bit code, data, TSS (kvmtool and Firecracker use the same).
GDT_NULL = 0
GDT_CODE64 = descriptor(0xA09B, 0, 0xFFFFF)
GDT_CODE32 = descriptor(0xC09B, 0, 0xFFFFF)
GDT_DATA = descriptor(0xC093, 0, 0xFFFFF)
GDT_TSS = descriptor(0x808B, 0, 0xFFFFF)


def boot_gdt(long_mode: bool) -> list[int]:
    return [GDT_NULL, GDT_CODE64 if long_mode else GDT_CODE32, GDT_DATA, GDT_TSS]
