"""The page walker against page tables built by hand, and against KVM_TRANSLATE on a real vCPU."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ember.memory import GuestMemory, TranslationFault, translate

MiB = 1 << 20
CR0_PE_PG = 0x8000_0001
CR4_PAE = 1 << 5
EFER_LME_LMA = (1 << 8) | (1 << 10)
P, RW, US, PS, NX = 1, 2, 4, 0x80, 1 << 63


def long_mode_tables(mem: GuestMemory) -> int:
    """PML4 at 0x1000 → PDPT 0x2000; a 1 GiB page, a 2 MiB page and a 4 KiB page."""
    mem.fill(0x1000, 0x5000)
    mem.write_u64(0x1000 + 0 * 8, 0x2000 | P | RW | US)
    mem.write_u64(0x1000 + 511 * 8, 0x2000 | P | RW)           # top half too (kernel space)
    mem.write_u64(0x2000 + 0 * 8, 0x3000 | P | RW | US)          # 0..1 GiB via a page directory
    mem.write_u64(0x2000 + 1 * 8, 0x0 | P | RW | PS)             # 1..2 GiB: a 1 GiB page → gpa 0
    mem.write_u64(0x3000 + 1 * 8, 0x400000 | P | US | PS | NX)    # 2 MiB page at va 2 MiB → gpa 4 MiB, read-only
    mem.write_u64(0x3000 + 2 * 8, 0x4000 | P | RW | US)           # va 4 MiB: a page table
    mem.write_u64(0x4000 + 3 * 8, 0x7000 | P | RW | US)           # va 4 MiB + 12 KiB → gpa 0x7000
    return 0x1000


@pytest.fixture(scope="module")
def mem() -> GuestMemory:
    return GuestMemory([(0, 8 * MiB)])


def walk(mem: GuestMemory, va: int):  # type: ignore[no-untyped-def]
    cr3 = long_mode_tables(mem)
    return translate(mem, va, CR0_PE_PG, cr3, CR4_PAE, EFER_LME_LMA)


def test_4k_page_walks_four_levels(mem: GuestMemory) -> None:
    t = walk(mem, 4 * MiB + 3 * 4096 + 0x123)
    assert t.gpa == 0x7123 and t.page_size == 4096
    assert [s.level for s in t.steps] == ["PML4E", "PDPTE", "PDE", "PTE"]
    assert t.host_addr == mem.host_address(0x7123)
    assert t.writable and t.user and t.executable


def test_2m_page_stops_at_the_pde_and_collects_permissions(mem: GuestMemory) -> None:
    t = walk(mem, 2 * MiB + 0x1234)
    assert t.gpa == 4 * MiB + 0x1234 and t.page_size == 2 * MiB
    assert len(t.steps) == 3
    assert not t.writable and not t.executable


def test_1g_page(mem: GuestMemory) -> None:
    t = walk(mem, (1 << 30) + 0x5678)
    assert t.gpa == 0x5678 and t.page_size == 1 << 30


def test_higher_half_uses_the_last_pml4_entry(mem: GuestMemory) -> None:
    t = walk(mem, 0xFFFF_FF80_0000_0000 + 4 * MiB + 3 * 4096)
    assert t.gpa == 0x7000 and not t.user


def test_not_present_and_non_canonical_fault(mem: GuestMemory) -> None:
    with pytest.raises(TranslationFault, match="not present"):
        walk(mem, 6 * MiB)
    with pytest.raises(TranslationFault, match="not canonical"):
        walk(mem, 0x0000_8000_0000_0000)


def test_paging_off_is_identity(mem: GuestMemory) -> None:
    t = translate(mem, 0x7000, 1, 0, 0, 0)
    assert t.gpa == 0x7000 and t.mode == "none"


@given(st.integers(min_value=0, max_value=(1 << 64) - 1), st.integers(min_value=0, max_value=(1 << 64) - 1))
def test_hostile_tables_never_escape_guest_memory(va: int, cr3: int) -> None:
    # Random CR3 and whatever is in memory: the walk either resolves into guest RAM or faults.
    mem = _hostile()
    try:
        t = translate(mem, va, CR0_PE_PG, cr3, CR4_PAE, EFER_LME_LMA)
    except TranslationFault:
        return
    assert mem.is_valid(t.gpa)


_HOSTILE: list[GuestMemory] = []


def _hostile() -> GuestMemory:
    if not _HOSTILE:
        import random

        m = GuestMemory([(0, 1 * MiB)])
        rnd = random.Random(7)
        m.write(0, bytes(rnd.getrandbits(8) for _ in range(64 * 1024)))
        _HOSTILE.append(m)
    return _HOSTILE[0]
