"""The guest binary itself: a static x86-64 ELF linked at 1 MiB with a PVH note.

These are the properties a PVH loader (ember's or QEMU's) relies on.
"""

from __future__ import annotations

import struct
import subprocess

import pytest
from elftools.elf.constants import P_FLAGS
from elftools.elf.elffile import ELFFile
from guest_harness import GUEST_ELF

XEN_ELFNOTE_PHYS32_ENTRY = 18
LOAD_ADDR = 0x100000
FOUR_GIB = 1 << 32


@pytest.fixture(scope="module")
def elf():
    if not GUEST_ELF.exists():
        pytest.skip(f"{GUEST_ELF} is missing: run `make setup` (or `make -C guest`)")
    with open(GUEST_ELF, "rb") as f:
        yield ELFFile(f)


def _pvh_entry(elf) -> int:
    for seg in elf.iter_segments():
        if seg.header.p_type != "PT_NOTE":
            continue
        for note in seg.iter_notes():
            if note.n_name == "Xen" and note.n_type == XEN_ELFNOTE_PHYS32_ENTRY:
                desc = note.n_descdata
                return struct.unpack_from("<I", desc)[0]
    raise AssertionError("no Xen PHYS32_ENTRY note in a PT_NOTE segment")


def test_is_static_x86_64_executable(elf) -> None:
    assert elf.elfclass == 64
    assert elf["e_machine"] == "EM_X86_64"
    assert elf["e_type"] == "ET_EXEC"
    assert not any(s.header.p_type in ("PT_INTERP", "PT_DYNAMIC") for s in elf.iter_segments())


def test_loaded_at_one_mib_below_4gib(elf) -> None:
    loads = [s for s in elf.iter_segments() if s.header.p_type == "PT_LOAD"]
    assert min(s.header.p_paddr for s in loads) == LOAD_ADDR
    assert all(s.header.p_paddr == s.header.p_vaddr for s in loads)
    assert max(s.header.p_paddr + s.header.p_memsz for s in loads) < FOUR_GIB
    # bss exists and is left to the loader to zero (no clearing loop in ring 0).
    assert any(s.header.p_memsz > s.header.p_filesz for s in loads)


def test_pvh_note_points_at_32bit_entry_in_text(elf) -> None:
    entry = _pvh_entry(elf)
    symtab = elf.get_section_by_name(".symtab")
    assert symtab is not None
    (sym,) = symtab.get_symbol_by_name("pvh_entry32")
    assert entry == sym["st_value"]
    text = [s for s in elf.iter_segments() if s.header.p_type == "PT_LOAD"
            and s.header.p_flags & P_FLAGS.PF_X]
    assert any(s.header.p_paddr <= entry < s.header.p_paddr + s.header.p_filesz for s in text)


def test_pvh_note_descriptor_is_pointer_sized(elf) -> None:
    """QEMU reads a pointer-sized value from an ELF64 note; the high half must be 0."""
    for seg in elf.iter_segments():
        if seg.header.p_type == "PT_NOTE":
            assert seg.header.p_align == 4
            for note in seg.iter_notes():
                if note.n_type == XEN_ELFNOTE_PHYS32_ENTRY:
                    assert note.n_descsz == 8
                    assert struct.unpack_from("<Q", note.n_descdata)[0] < FOUR_GIB


def test_readelf_shows_the_xen_note() -> None:
    if not GUEST_ELF.exists():
        pytest.skip(f"{GUEST_ELF} is missing")
    out = subprocess.run(["readelf", "-n", str(GUEST_ELF)], capture_output=True, text=True,
                         check=True).stdout
    assert "Xen" in out
