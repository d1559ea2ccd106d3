"""The guest's MP-table path (ember's contract: MP table, no ACPI) under QEMU.

QEMU's microvm with acpi=off gives no ACPI; loader devices put our own MP
table in low memory (see guest_mptable.py), so these are the tables ember builds, and
hypothesis varies them (bad checksums, short or long lengths, unknown entry
types, disabled processors): the guest must boot, never crash or hang, and
take exactly the CPUs the MP specification allows.
"""

from __future__ import annotations

import re
import struct

import pytest
from guest_harness import Scenario, qemu_available, run_qemu
from guest_mptable import (
    BOOT_OPTION,
    CPU_BSP,
    CPU_ENABLED,
    MpTable,
    Processor,
    bus_entry,
    ioapic_entry,
    standard,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = [pytest.mark.qemu, pytest.mark.kvm]

NO_ACPI = ("-M", "microvm,acpi=off")
HELLO = re.compile(r"hello from ember test guest: (\d+) cpus \((\w+)\), .*")
# With our table unusable the guest goes on scanning and finds the one
# QEMU's firmware writes at 0x9fc00, which lists the one vCPU of these runs.
FIRMWARE_TABLE_CPUS = 1


@pytest.fixture(scope="module", autouse=True)
def _need_qemu() -> None:
    reason = qemu_available()
    if reason:
        pytest.skip(reason)


def _boot(table: MpTable, tmp_path, cmdline: str, smp: int) -> tuple[int | None, list[str], str]:
    scenario = Scenario(name="mptable", cmdline=f"{BOOT_OPTION} {cmdline}", status=0, smp=smp, timeout=30,
                        qemu_params=NO_ACPI + table.qemu_params(tmp_path))
    run = run_qemu(scenario)
    assert not run.timed_out, run.output
    return run.status, run.lines, run.output


def test_smp_from_our_mp_table_starts_every_ap(tmp_path) -> None:
    status, lines, out = _boot(standard(2), tmp_path, "smp", smp=2)
    assert status == 0, out
    assert "smp: 2 cpus from the mptable, bsp apic id 0" in lines
    assert "cpu 1 online (apic id 1)" in lines


def test_guest_counts_the_table_not_the_vcpus(tmp_path) -> None:
    """Two processors listed, three vCPUs: the guest believes the table."""
    status, lines, out = _boot(standard(2), tmp_path, "hello", smp=3)
    assert status == 0, out
    assert any(re.fullmatch(r"hello from ember test guest: 2 cpus \(mptable\), .*", line)
               for line in lines), out


processors = st.lists(
    st.builds(Processor, apic_id=st.integers(0, 255),
              flags=st.sampled_from([0, CPU_ENABLED, CPU_ENABLED | CPU_BSP, CPU_BSP, 0xFF])),
    max_size=20)
other_entries = st.lists(
    st.one_of(st.just(bus_entry()), st.just(ioapic_entry()),
              st.binary(min_size=7, max_size=7).map(lambda b: bytes([b[0] | 1]) + b[1:])),
    max_size=4)


@st.composite
def tables(draw) -> MpTable:
    entries = [p.raw() for p in draw(processors)] + draw(other_entries)
    entries = draw(st.permutations(entries))
    table = MpTable(list(entries))
    real = len(table.config_blob()) - 64
    if draw(st.booleans()):
        table.length = draw(st.integers(0, real + 64))
    table.good_config_checksum = draw(st.booleans()) or draw(st.booleans())
    table.good_float_checksum = draw(st.booleans()) or draw(st.booleans())
    table.float_length = draw(st.sampled_from([1, 1, 1, 0, 2]))
    return table


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=tables())
def test_guest_takes_exactly_what_the_mp_spec_allows(table: MpTable, tmp_path) -> None:
    status, lines, out = _boot(table, tmp_path, "hello", smp=1)
    assert status == 0, out
    (m,) = [m for m in map(HELLO.fullmatch, lines) if m]
    expected = table.expected_cpus() or FIRMWARE_TABLE_CPUS
    assert (int(m[1]), m[2]) == (expected, "mptable"), (struct.unpack_from(
        "<H", table.config_blob(), 4), out)
