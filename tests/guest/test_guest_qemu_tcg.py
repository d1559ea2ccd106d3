"""The scenarios under QEMU's TCG emulator: the paths hardware KVM takes.

On this project's software KVM ring 3 gets neither IOPL 3 nor the `int $0x80`
gate, so the guest falls back to system calls for port I/O and to its #UD
handler for system calls.  TCG honours both, like VT-x/AMD-V, so these runs
cover the direct ring-3 I/O and the gate path here too.  (No kvmclock and no
KVM signature under TCG: `hello` reports `clock tsc`, `hypercall` skips.)
"""

from __future__ import annotations

import re

import pytest
from guest_harness import VM_STOP_STATUSES, load_scenarios, missing_lines, qemu_available, run_qemu

pytestmark = [pytest.mark.qemu]

BY_NAME = {s.name: s for s in load_scenarios()}
TCG_RUNS = ["exit", "exit-bad", "unknown", "pio", "memtouch", "smp-2", "smp-2-mptable",
            "smp-2-acpi", "tick", "triplefault", "reset", "rtc", "echo", "irqlevel", "mmio", "ud"]


@pytest.fixture(scope="module", autouse=True)
def _need_qemu() -> None:
    reason = qemu_available()
    if reason:
        pytest.skip(reason)


@pytest.mark.parametrize("name", TCG_RUNS)
def test_scenario_under_tcg(name: str) -> None:
    scenario = BY_NAME[name]
    run = run_qemu(scenario, accel="tcg")
    assert not run.timed_out, run.output
    if scenario.status in VM_STOP_STATUSES:
        assert run.returncode == 0, run.output
    else:
        assert run.status == scenario.status, run.output
    assert not missing_lines(run, scenario.expect), run.output


def test_ring3_does_its_own_port_io_under_tcg() -> None:
    run = run_qemu(BY_NAME["pio"], accel="tcg")
    assert "INFO: outb issued from ring 3 (IOPL 3)" in run.lines, run.output


def test_hello_under_tcg_uses_the_tsc() -> None:
    run = run_qemu(BY_NAME["hello-smp2"], accel="tcg")
    assert run.status == 0, run.output
    assert any(re.fullmatch(r"hello from ember test guest: 2 cpus \(mptable\), \d+ MiB RAM, "
                            r"clock tsc, cmdline 'hello world  two'", line)
               for line in run.lines), run.output
