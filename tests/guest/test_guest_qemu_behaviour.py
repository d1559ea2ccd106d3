"""Guest behaviour that a single unittests.cfg section cannot express.

`tick` without a count runs until the VM is stopped; the hypercall watchdog
keeps `hypercall` from hanging on a KVM that never completes a vmcall; and
the ring-0 instruction budget of the boot is counted under QEMU's TCG.
"""

from __future__ import annotations

import re
import subprocess
import time

import pytest
from guest_harness import (
    GUEST_ELF,
    Scenario,
    qemu_available,
    qemu_command,
    run_qemu,
)

pytestmark = [pytest.mark.qemu]

TICK_LINE = re.compile(r"tick (\d+) (\d+)")
TICKS_WANTED = 4
# kvm-unit-tests habit: the ring-0 part must stay well under this budget
# (ring 0 is emulated at ~2 MIPS on this project's software KVM).
RING0_BUDGET = 50_000
TRACE_LINE = re.compile(rb"Trace \d+: \S+ \[[0-9a-f]+/([0-9a-f]+)/([0-9a-f]+)/")
HF_CPL_MASK = 3


@pytest.fixture(scope="module", autouse=True)
def _need_qemu() -> None:
    reason = qemu_available()
    if reason:
        pytest.skip(reason)


@pytest.mark.kvm
def test_tick_without_count_runs_until_stopped() -> None:
    proc = subprocess.Popen(qemu_command("tick"), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ticks: list[tuple[int, int]] = []
    deadline = time.monotonic() + 20
    try:
        assert proc.stdout is not None
        while len(ticks) < TICKS_WANTED and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            m = TICK_LINE.fullmatch(line.strip())
            if m:
                ticks.append((int(m[1]), int(m[2])))
        still_running = proc.poll() is None
    finally:
        proc.kill()
        proc.wait()
    assert [n for n, _ in ticks] == list(range(TICKS_WANTED))
    times = [t for _, t in ticks]
    assert times == sorted(times) and len(set(times)) == len(times), times
    assert still_running, "tick without a count must not exit by itself"


@pytest.mark.kvm
def test_hypercall_never_hangs() -> None:
    """Whatever the KVM does with vmcall, the scenario ends and says what happened.

    On this project's software KVM a hypercall from ring 0 never returns and
    the watchdog reports it; on hardware KVM the results are KVM's ABI.
    """
    run = run_qemu(Scenario(name="hypercall", cmdline="hypercall", status=0, timeout=20))
    assert not run.timed_out, run.output
    assert run.status in (0, 1), run.output
    for name in ("an unknown hypercall", "KVM_HC_VAPIC_POLL_IRQ"):
        assert any(re.fullmatch(rf"hypercall: {name} (returned -?\d+ \(.*\)|did not return "
                                rf"within \d+ ms)", line) for line in run.lines), run.output
    assert any(line.startswith("hypercall: vmcall from ring 3 ") for line in run.lines)
    ok = "FAIL" not in run.output
    assert ok == (run.status == 0), run.output


def _ring0_instructions(cmdline: str) -> tuple[int, int]:
    """(ring-0 instructions from the PVH entry to the first ring-3 one, ring-0 in total).

    QEMU's TCG with -singlestep logs one line per executed instruction, with
    the CPL in the low bits of the hflags field; only instructions inside the
    guest image count (not the firmware's).
    """
    from elftools.elf.elffile import ELFFile

    with open(GUEST_ELF, "rb") as f:
        elf = ELFFile(f)
        loads = [s for s in elf.iter_segments() if s.header.p_type == "PT_LOAD"]
        lo = min(s.header.p_paddr for s in loads)
        hi = max(s.header.p_paddr + s.header.p_memsz for s in loads)
    cmd = qemu_command(cmdline, accel="tcg") + ["-singlestep", "-d", "exec,nochain",
                                                 "-D", "/dev/stderr"]
    proc = subprocess.run(cmd, check=False, stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=60)
    assert proc.returncode & 1, proc.stdout
    boot = total = 0
    in_ring3 = False
    for m in TRACE_LINE.finditer(proc.stderr):
        pc, flags = int(m[1], 16), int(m[2], 16)
        if not lo <= pc < hi:
            continue
        if flags & HF_CPL_MASK == 0:
            total += 1
            boot += not in_ring3
        else:
            in_ring3 = True
    return boot, total


def test_ring0_instruction_budget() -> None:
    boot, total = _ring0_instructions("hello")
    assert 0 < boot < 200, f"the boot path to ring 3 took {boot} ring-0 instructions"
    assert total < RING0_BUDGET, f"hello took {total} ring-0 instructions"
