import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ember.arch.x86 import BootError
from ember.arch.x86.elf import parse_elf
from ember.arch.x86.gdt import GDT_CODE64, GDT_DATA, segment_from_descriptor
from ember.arch.x86.layout import MMIO_GAP_END, MMIO_GAP_START, memory_map, ram_regions
from ember.arch.x86.mptable import build_mptable, mptable_size
from ember.errors import ConfigError
from ember.vmm.config import parse_size


@pytest.mark.parametrize("cpus", [1, 2, 8, 254])
def test_mptable_checksums_and_cpu_entries(cpus: int) -> None:
    base = 0x9FC00
    t = build_mptable(base, cpus)
    assert len(t) == mptable_size(cpus)
    assert t[:4] == b"_MP_" and sum(t[:16]) & 0xFF == 0
    assert struct.unpack_from("<I", t, 4)[0] == base + 16
    mpc = t[16:]
    length = struct.unpack_from("<H", mpc, 4)[0]
    assert mpc[:4] == b"PCMP" and sum(mpc[:length]) & 0xFF == 0
    count = struct.unpack_from("<H", mpc, 34)[0]
    cpu_entries = [mpc[44 + 20 * i: 44 + 20 * (i + 1)] for i in range(cpus)]
    assert [e[0] for e in cpu_entries] == [0] * cpus
    assert [e[1] for e in cpu_entries] == list(range(cpus))
    assert cpu_entries[0][3] == 3 and all(e[3] == 1 for e in cpu_entries[1:])  # BSP flag only on cpu 0
    assert count == cpus + 1 + 1 + 16 + 2


def test_mptable_refuses_impossible_cpu_counts() -> None:
    for n in (0, 255):
        with pytest.raises(ValueError):
            build_mptable(0x9FC00, n)


def test_gdt_descriptors_decode_to_flat_segments() -> None:
    code = segment_from_descriptor(GDT_CODE64, 1)
    assert (code.base, code.limit, code.l, code.db, code.present, code.selector) == (0, 0xFFFFFFFF, 1, 0, 1, 8)
    data = segment_from_descriptor(GDT_DATA, 2)
    assert (data.db, data.type, data.s, data.g) == (1, 3, 1, 1)


@pytest.mark.parametrize("size", [16 << 20, 3 << 30, 4 << 30, 8 << 30])
def test_memory_map_skips_the_mmio_gap(size: int) -> None:
    regions = ram_regions(size)
    assert sum(s for _, s in regions) == size
    for addr, s in regions:
        assert addr + s <= MMIO_GAP_START or addr >= MMIO_GAP_END
    ram = sum(r.size for r in memory_map(size) if r.type == 1)
    # Everything is RAM but the EBDA, the VGA hole and the BIOS area below 1 MiB.
    assert ram == size - (0x100000 - 0x9FC00)


@given(st.text(max_size=12))
def test_parse_size_accepts_sizes_and_rejects_the_rest(text: str) -> None:
    try:
        n = parse_size(text)
    except ConfigError:
        return
    assert n >= 0


@pytest.mark.parametrize("text, n", [("256M", 256 << 20), ("1G", 1 << 30), ("64k", 64 << 10), ("4096", 4096), ("2GiB", 2 << 30)])
def test_parse_size_units(text: str, n: int) -> None:
    assert parse_size(text) == n


@given(st.binary(max_size=512))
def test_elf_parser_never_fails_with_anything_but_booterror(data: bytes) -> None:
    for blob in (data, b"\x7fELF\x02\x01" + data):
        try:
            parse_elf(blob)
        except BootError:
            pass


def _acpi_tables(blob: bytes, base: int) -> dict[bytes, bytes]:
    """Follow RSDP → XSDT → tables the way a guest does, checking every checksum."""
    rsdp = blob[:36]
    assert rsdp[:8] == b"RSD PTR " and sum(rsdp[:20]) & 0xFF == 0 and sum(rsdp) & 0xFF == 0
    assert rsdp[15] == 2  # revision 2: has an XSDT
    xsdt_addr = struct.unpack_from("<Q", rsdp, 24)[0]

    def table(addr: int) -> bytes:
        off = addr - base
        length = struct.unpack_from("<I", blob, off + 4)[0]
        t = blob[off:off + length]
        assert sum(t) & 0xFF == 0, t[:4]
        return t

    xsdt = table(xsdt_addr)
    assert xsdt[:4] == b"XSDT"
    n = (len(xsdt) - 36) // 8
    out = {b"XSDT": xsdt}
    for i in range(n):
        t = table(struct.unpack_from("<Q", xsdt, 36 + 8 * i)[0])
        out[t[:4]] = t
    fadt = out[b"FACP"]
    out[b"DSDT"] = table(struct.unpack_from("<Q", fadt, 140)[0])
    return out


@pytest.mark.parametrize("cpus", [1, 2, 16, 254])
def test_acpi_tables_describe_every_cpu(cpus: int) -> None:
    from ember.arch.x86.acpi import FADT_FLAG_HW_REDUCED_ACPI, build_acpi

    base = 0xE0000
    blob, rsdp = build_acpi(base, cpus)
    assert rsdp == base and len(blob) <= 0x10000
    tables = _acpi_tables(blob, base)
    assert set(tables) == {b"XSDT", b"FACP", b"APIC", b"DSDT"}
    fadt = tables[b"FACP"]
    assert len(fadt) == 276 and struct.unpack_from("<I", fadt, 112)[0] & FADT_FLAG_HW_REDUCED_ACPI
    madt = tables[b"APIC"]
    entries, off = [], 44
    while off < len(madt):
        kind, length = madt[off], madt[off + 1]
        entries.append((kind, madt[off:off + length]))
        off += length
    lapics = [e for k, e in entries if k == 0]
    assert [e[3] for e in lapics] == list(range(cpus))  # APIC IDs
    assert all(struct.unpack_from("<I", e, 4)[0] & 1 for e in lapics)  # enabled
    ioapics = [e for k, e in entries if k == 1]
    assert len(ioapics) == 1 and struct.unpack_from("<I", ioapics[0], 4)[0] == 0xFEC00000
