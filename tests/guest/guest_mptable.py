"""Build Intel MP tables (MultiProcessor Specification 1.4) for the guest tests.

The tables are what ember's contract promises the guest (a floating pointer
in the EBDA, one processor entry per vCPU, no ACPI).  Under QEMU, loader
devices put one into guest memory at FLOAT_ADDR and the guest's boot option
`mptable=ADDR` makes it look there first: QEMU's own firmware (qboot)
writes its table at 0x9fc00, where the guest's scan would look.  `expected_cpus()` states the rules
(MP spec 1.4, entries walked by length as Linux does) independently of the
guest's C parser.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

FLOAT_ADDR = 0x9E000  # RAM below qboot's table at 0x9fc00
MP_CONFIG_ADDR = FLOAT_ADDR + 0x100
BOOT_OPTION = f"mptable={FLOAT_ADDR:#x}"
MAX_GUEST_CPUS = 16  # guest/x86/layout.h MAX_CPUS
CPU_ENABLED = 0x01
CPU_BSP = 0x02
LAPIC_ADDR = 0xFEE00000
IOAPIC_ADDR = 0xFEC00000
FLOAT_LEN = 16
CONFIG_HEADER_LEN = 44
PROCESSOR = 0
LAST_KNOWN_TYPE = 4
PROCESSOR_ENTRY_LEN = 20
OTHER_ENTRY_LEN = 8
PADDING = 64


def _checksum_fix(buf: bytearray, offset: int, length: int) -> None:
    buf[offset] = 0
    buf[offset] = (-sum(buf[:length])) & 0xFF


@dataclass
class Processor:
    apic_id: int
    flags: int = CPU_ENABLED

    def raw(self) -> bytes:
        return struct.pack("<BBBBII8x", PROCESSOR, self.apic_id, 0x14, self.flags, 0x600, 0x201)


def bus_entry() -> bytes:
    return struct.pack("<BB6s", 1, 0, b"ISA   ")


def ioapic_entry() -> bytes:
    return struct.pack("<BBBBI", 2, 0, 0x11, 1, IOAPIC_ADDR)


@dataclass
class MpTable:
    entries: list[bytes] = field(default_factory=list)
    length: int | None = None  # None: header + entries
    good_config_checksum: bool = True
    good_float_checksum: bool = True
    float_length: int = 1

    def config_blob(self) -> bytes:
        """Header, entries and PADDING zero bytes (what the guest may read past the end)."""
        body = b"".join(self.entries)
        length = self.length if self.length is not None else CONFIG_HEADER_LEN + len(body)
        config = bytearray(struct.pack(
            "<4sHBB8s12sIHHIHBB", b"PCMP", length, 4, 0, b"EMBER   ", b"TESTGUEST   ", 0, 0,
            len(self.entries), LAPIC_ADDR, 0, 0, 0)) + body + bytes(PADDING)
        _checksum_fix(config, 7, min(length, len(config)))
        if not self.good_config_checksum:
            config[7] ^= 0x5A
        return bytes(config)

    def float_blob(self) -> bytes:
        fp = bytearray(struct.pack("<4sIBBB5x", b"_MP_", MP_CONFIG_ADDR, self.float_length, 4, 0))
        _checksum_fix(fp, 10, FLOAT_LEN)
        if not self.good_float_checksum:
            fp[10] ^= 0xA5
        return bytes(fp)

    def qemu_params(self, tmpdir: Path) -> tuple[str, ...]:
        """QEMU loader devices placing the table in guest memory."""
        files = {
            FLOAT_ADDR: self.float_blob(),
            MP_CONFIG_ADDR: self.config_blob(),
        }
        params: list[str] = []
        for addr, data in files.items():
            path = tmpdir / f"mp-{addr:x}.bin"
            path.write_bytes(data)
            params += ["-device", f"loader,file={path},addr={addr:#x},force-raw=on"]
        return tuple(params)

    def expected_cpus(self) -> int:
        """Enabled processors a guest may take from this table; 0 if it is unusable."""
        config = self.config_blob()
        length = struct.unpack_from("<H", config, 4)[0]
        if (not self.good_float_checksum or self.float_length != 1
                or not self.good_config_checksum or not CONFIG_HEADER_LEN <= length <= len(config)):
            return 0
        enabled, p = 0, CONFIG_HEADER_LEN
        while p < length:
            kind = config[p]
            size = PROCESSOR_ENTRY_LEN if kind == PROCESSOR else OTHER_ENTRY_LEN
            if kind > LAST_KNOWN_TYPE or p + size > length:
                break
            if kind == PROCESSOR and config[p + 3] & CPU_ENABLED:
                enabled += 1
            p += size
        return min(enabled, MAX_GUEST_CPUS)


def standard(n_cpus: int) -> MpTable:
    """The table ember promises: APIC IDs 0..n-1, cpu 0 the BSP, an ISA bus, one IOAPIC."""
    cpus = [Processor(i, CPU_ENABLED | (CPU_BSP if i == 0 else 0)).raw() for i in range(n_cpus)]
    return MpTable(cpus + [bus_entry(), ioapic_entry()])
