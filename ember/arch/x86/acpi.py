"""Minimal ACPI tables (RSDP → XSDT → FADT, MADT; FADT → DSDT) so an ACPI guest sees every vCPU.

Distribution kernels such as Debian's cloud kernel are built without
CONFIG_X86_MPPARSE: they find processors only through the ACPI MADT. The set
here is what a hardware-reduced ACPI platform needs (ACPI 6.x, 5.2.9 "FADT":
HW_REDUCED_ACPI means no PM timer, no SCI, no fixed hardware), plus the
IAPC_BOOT_ARCH bit that tells the guest an i8042 is present (Linux resets
through it). Layouts follow the ACPI 6.4 specification, section 5.2.
"""

from __future__ import annotations

import struct

from ember.arch.x86.layout import IOAPIC_ADDR, LAPIC_ADDR

OEM_ID = b"EMBER "
OEM_TABLE_ID = b"EMBERVM "
CREATOR_ID = b"EMBR"
_HEADER = struct.Struct("<4sIBB6s8sI4sI")  # 36-byte system description table header
_RSDP = struct.Struct("<8sB6sBIIQB3s")  # 36-byte RSDP, revision 2

FADT_REVISION, FADT_MINOR = 6, 4
FADT_LENGTH = 276
FADT_FLAGS_OFFSET = 112
FADT_FLAG_HW_REDUCED_ACPI = 1 << 20
FADT_IAPC_BOOT_ARCH_OFFSET = 109
IAPC_BOOT_ARCH_8042 = 1 << 1
IAPC_BOOT_ARCH_VGA_NOT_PRESENT = 1 << 2
FADT_DSDT_OFFSET = 40
FADT_MINOR_OFFSET = 131
FADT_X_DSDT_OFFSET = 140
FADT_HYPERVISOR_ID_OFFSET = 268

MADT_REVISION = 5
MADT_LOCAL_APIC, MADT_IO_APIC = 0, 1
MADT_LAPIC_ENABLED = 1


def _checksum(data: bytes | bytearray) -> int:
    return (-sum(data)) & 0xFF


def _table(signature: bytes, revision: int, body: bytes) -> bytes:
    length = _HEADER.size + len(body)
    hdr = bytearray(_HEADER.pack(signature, length, revision, 0, OEM_ID, OEM_TABLE_ID, 1, CREATOR_ID, 1))
    table = hdr + body
    table[9] = _checksum(table)
    return bytes(table)


def build_dsdt() -> bytes:
    # An empty definition block: nothing is described beyond what the FADT and MADT say.
    return _table(b"DSDT", 2, b"")


def build_fadt(dsdt_addr: int) -> bytes:
    body = bytearray(FADT_LENGTH - _HEADER.size)
    rel = -_HEADER.size
    struct.pack_into("<I", body, FADT_DSDT_OFFSET + rel, dsdt_addr)
    struct.pack_into("<H", body, FADT_IAPC_BOOT_ARCH_OFFSET + rel,
                     IAPC_BOOT_ARCH_8042 | IAPC_BOOT_ARCH_VGA_NOT_PRESENT)
    struct.pack_into("<I", body, FADT_FLAGS_OFFSET + rel, FADT_FLAG_HW_REDUCED_ACPI)
    body[FADT_MINOR_OFFSET + rel] = FADT_MINOR
    struct.pack_into("<Q", body, FADT_X_DSDT_OFFSET + rel, dsdt_addr)
    body[FADT_HYPERVISOR_ID_OFFSET + rel:FADT_HYPERVISOR_ID_OFFSET + rel + 8] = b"EMBERVMM"
    return _table(b"FACP", FADT_REVISION, bytes(body))


def build_madt(nr_cpus: int) -> bytes:
    # Flags 0, not PCAT_COMPAT (bit 0): ember has no 8259 PICs (split irqchip; docs/architecture.md).
    body = bytearray(struct.pack("<II", LAPIC_ADDR, 0))
    for cpu in range(nr_cpus):
        body += struct.pack("<BBBBI", MADT_LOCAL_APIC, 8, cpu, cpu, MADT_LAPIC_ENABLED)
    body += struct.pack("<BBBBII", MADT_IO_APIC, 12, nr_cpus, 0, IOAPIC_ADDR, 0)
    return _table(b"APIC", MADT_REVISION, bytes(body))


def build_acpi(base: int, nr_cpus: int) -> tuple[bytes, int]:
    """All tables laid out from *base* (RSDP first, 16-byte aligned); returns (blob, rsdp address)."""
    if not 1 <= nr_cpus <= 254:
        raise ValueError(f"the MADT here describes 1..254 CPUs, not {nr_cpus}")
    blob = bytearray(_RSDP.size)
    blob += b"\0" * (-len(blob) % 16)

    def place(table: bytes) -> int:
        addr = base + len(blob)
        blob.extend(table)
        blob.extend(b"\0" * (-len(blob) % 16))
        return addr

    dsdt = place(build_dsdt())
    fadt = place(build_fadt(dsdt))
    madt = place(build_madt(nr_cpus))
    xsdt = place(_table(b"XSDT", 1, struct.pack("<2Q", fadt, madt)))
    rsdp = bytearray(_RSDP.pack(b"RSD PTR ", 0, OEM_ID, 2, 0, _RSDP.size, xsdt, 0, b"\0\0\0"))
    rsdp[8] = _checksum(rsdp[:20])
    rsdp[32] = _checksum(rsdp)
    blob[:_RSDP.size] = rsdp
    return bytes(blob), base
