"""Every scenario of ember's test guest, on 1 and 2 vCPUs, through `ember run --guest`."""

from __future__ import annotations

import itertools
import re

import pytest
from vmmtest import ember

pytestmark = pytest.mark.kvm


def run(spec: str, *extra: str, timeout: float = 60):  # type: ignore[no-untyped-def]
    r = ember("run", "--guest", spec, "--json", *extra, timeout=timeout)
    assert "Traceback" not in r.stderr, r.stderr
    return r, r.json()


def summary_ok(console: str) -> None:
    m = re.search(r"SUMMARY: (\d+) tests, (\d+) unexpected failures", console)
    assert m, console
    assert int(m.group(1)) > 0 and m.group(2) == "0", console


@pytest.mark.parametrize("cpus", [1, 2])
def test_hello(test_guest, cpus: int) -> None:
    r, out = run("test:hello", "--cpus", str(cpus), "--memory", "128M")
    assert r.returncode == 0, out["console"]
    assert "hello from ember test guest" in out["console"]
    assert f"{cpus} cpus (mptable)" in out["console"]
    assert "cmdline 'hello'" in out["console"]
    summary_ok(out["console"])


@pytest.mark.parametrize("cpus", [1, 2])
def test_smp_every_vcpu_reports_in(test_guest, cpus: int) -> None:
    r, out = run("test:smp", "--cpus", str(cpus))
    assert r.returncode == 0, out["console"]
    for n in range(cpus):
        assert re.search(rf"cpu {n} online \(apic id {n}\)", out["console"]), out["console"]
    summary_ok(out["console"])


@pytest.mark.parametrize("cpus", [1, 2])
def test_pio_exits_are_counted_by_port(test_guest, cpus: int) -> None:
    r, out = run("test:pio 2000", "--cpus", str(cpus))
    assert r.returncode == 0, out["console"]
    assert out["stats"]["pio_out"]["0x80"] == 2000
    m = re.search(r"pio: 2000 exits in (\d+) ns \((\d+) ns/exit\)", out["console"])
    assert m and int(m.group(2)) > 0, out["console"]


def test_memtouch_dirties_and_verifies(test_guest) -> None:
    r, out = run("test:memtouch 32", "--memory", "128M")
    assert r.returncode == 0, out["console"]
    assert "memtouch: 32 MiB ok" in out["console"]


def test_memtouch_more_than_ram_fails_inside_the_guest(test_guest) -> None:
    r, out = run("test:memtouch 512", "--memory", "64M")
    assert r.returncode == 1, out["console"]


def test_tick_counts_up_with_the_guest_clock(test_guest) -> None:
    r, out = run("test:tick 5")
    assert r.returncode == 0, out["console"]
    ticks = [tuple(map(int, m)) for m in re.findall(r"tick (\d+) (\d+)", out["console"])]
    assert [n for n, _ in ticks] == list(range(5))
    clocks = [c for _, c in ticks]
    assert all(b > a for a, b in itertools.pairwise(clocks))
    # Tick n is due 10·n ms after tick 0 by the guest's own clock (kvmclock); a late
    # wake-up is caught up, but no tick comes early.
    assert all(c - clocks[0] >= n * 10_000_000 - 500_000 for n, c in enumerate(clocks))


def test_tick_runs_until_stopped(test_guest) -> None:
    r, out = run("test:tick", "--timeout", "3")
    assert r.returncode == 124 and out["reason"] == "timeout"
    assert len(re.findall(r"tick \d+ \d+", out["console"])) >= 10


@pytest.mark.parametrize("status", [0, 5, 42, 255])
def test_exit_status_passes_through(test_guest, status: int) -> None:
    r, out = run(f"test:exit {status}")
    assert r.returncode == status
    assert out["reason"] == "guest-exit"


def test_triplefault_is_a_shutdown(test_guest) -> None:
    r, out = run("test:triplefault")
    assert out["reason"] == "triple-fault" and r.returncode == 1


def test_reset_through_i8042_stops_the_vm(test_guest) -> None:
    r, out = run("test:reset")
    assert out["reason"] == "reset" and r.returncode == 0


def test_rtc_reads_the_host_date(test_guest) -> None:
    import datetime

    r, out = run("test:rtc")
    assert r.returncode == 0, out["console"]
    m = re.search(r"rtc: (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)", out["console"])
    assert m, out["console"]
    guest = datetime.datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}").replace(tzinfo=datetime.UTC)
    assert abs((datetime.datetime.now(datetime.UTC) - guest).total_seconds()) < 120


def test_echo_uses_the_uart_receive_interrupt(test_guest) -> None:
    import subprocess
    import sys

    from vmmtest import ROOT

    # Type only once the guest is listening, as a person would: a UART drops what
    # arrives before the driver resets its FIFO.
    p = subprocess.Popen([sys.executable, "-m", "ember", "run", "--guest", "test:echo", "--timeout", "60"],
                         cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdin is not None and p.stdout is not None
    line = b""
    while b"ready" not in line:
        line = p.stdout.readline()
        assert line, p.stderr.read() if p.stderr else ""
    p.stdin.write(b"ember!q")
    p.stdin.flush()
    rest, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert b"ember!" in rest


def test_unassigned_mmio_reads_all_ones(test_guest) -> None:
    r, out = run("test:mmio")
    assert r.returncode == 0, out["console"]
    assert out["stats"]["unhandled_mmio"]
    assert "0xffffffff" in out["console"].lower()


def test_ring3_invalid_opcode_is_the_guests_business(test_guest) -> None:
    r, out = run("test:ud")
    assert r.returncode == 3
    assert out["reason"] == "guest-exit"


def test_hypercall_matches_qemu(test_guest) -> None:
    """Hypercalls are KVM's business, not the VMM's: ember must give the guest what QEMU gives it.

    On hardware-assisted KVM every check passes. On this project's software KVM a
    ring-0 vmcall never returns (the guest's watchdog reports it), under QEMU too.
    """
    import shutil
    import subprocess

    from ember.kvm.system import kvm_flavour

    r, out = run("test:hypercall")
    results = re.findall(r"^(PASS|FAIL): (.*)$", out["console"], re.MULTILINE)
    assert results, out["console"]
    assert ("PASS", "vmcall from ring 3 is refused (by an exception)") in results
    if kvm_flavour().hardware:
        assert r.returncode == 0, out["console"]
        summary_ok(out["console"])
    if not shutil.which("qemu-system-x86_64"):
        pytest.skip("qemu-system-x86_64 is not installed (make setup installs it)")
    q = subprocess.run(["qemu-system-x86_64", "-enable-kvm", "-M", "microvm", "-m", "64", "-nodefaults",
                        "-nographic", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=1",
                        "-kernel", str(test_guest), "-append", "hypercall"],
                       capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                       check=False)
    assert re.findall(r"^(PASS|FAIL): (.*)$", q.stdout, re.MULTILINE) == results


def test_level_triggered_interrupts_complete_through_eoi_exits(test_guest) -> None:
    # Each round's interrupt only arrives once the IOAPIC has seen the last
    # round's EOI: with the split irqchip, one KVM_EXIT_IOAPIC_EOI per round.
    r, out = run("test:irqlevel 30", "--timeout", "30")
    assert r.returncode == 0, out["console"]
    assert "irqlevel: 30 of 30 rounds, 30 level-triggered interrupts" in out["console"]
    summary_ok(out["console"])
    assert out["stats"]["by_reason"]["ioapic_eoi"] == 30
