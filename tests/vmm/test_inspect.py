"""`ember inspect` against a running test guest through its control socket."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from vmmtest import ROOT, ember

pytestmark = pytest.mark.kvm


@pytest.fixture
def running_vm(tmp_path, test_guest):  # type: ignore[no-untyped-def]
    sock = str(tmp_path / "ctl.sock")
    p = subprocess.Popen([sys.executable, "-m", "ember", "run", "--guest", "test:tick", "--control", sock,
                          "--timeout", "60"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    assert p.stdout is not None
    # Wait for the guest to be in ring 3 with its own page tables: its first tick line.
    deadline = time.time() + 30
    line = b""
    while b"tick 0" not in line and time.time() < deadline:
        line = p.stdout.readline()
    assert b"tick 0" in line, p.stderr.read().decode() if p.poll() is not None else "no tick"
    yield sock
    p.terminate()
    p.wait(timeout=10)


def test_translate_walks_the_guests_page_tables(running_vm: str) -> None:
    r = ember("inspect", "translate", "--control", running_vm, "0x100000", "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["mode"] == "4-level"
    assert out["steps"][0]["level"] == "PML4E"
    assert out["gpa"] == 0x100000  # the test guest identity-maps RAM
    assert out["kvm_translate"]["valid"] and out["kvm_translate"]["gpa"] == out["gpa"]
    assert out["host"] > 0


def test_translate_human_output_shows_each_level(running_vm: str) -> None:
    r = ember("inspect", "translate", "--control", running_vm, "0x200123")
    assert r.returncode == 0, r.stderr
    assert "guest-virtual" in r.stdout and "guest-physical  0x0000000000200123" in r.stdout
    assert "host-virtual" in r.stdout and "agrees" in r.stdout


def test_unmapped_address_is_a_fault_not_a_crash(running_vm: str) -> None:
    r = ember("inspect", "translate", "--control", running_vm, "0x7fff00000000")
    assert r.returncode == 1
    assert "not present" in r.stdout


def test_regs_and_stats_while_running(running_vm: str) -> None:
    r = ember("inspect", "regs", "--control", running_vm, "--json")
    regs = json.loads(r.stdout)["regs"]
    assert regs["cr0"] & 0x8000_0001 == 0x8000_0001
    r = ember("inspect", "stats", "--control", running_vm, "--json")
    assert json.loads(r.stdout)["stats"]["total"] > 0


def test_bad_requests_get_clear_errors(running_vm: str) -> None:
    r = ember("inspect", "translate", "--control", running_vm, "banana")
    assert r.returncode == 2 and "is not an address" in r.stderr
    r = ember("inspect", "regs", "--control", running_vm, "--vcpu", "9")
    assert r.returncode != 0 and "vcpu 9 does not exist" in r.stderr
    r = ember("inspect", "stats", "--control", "/nonexistent.sock")
    assert r.returncode == 2 and "no VM listens" in r.stderr


def test_pause_stops_the_guest_and_resume_restarts_it(tmp_path, test_guest) -> None:  # type: ignore[no-untyped-def]
    import os
    import select

    sock = str(tmp_path / "ctl.sock")
    p = subprocess.Popen([sys.executable, "-m", "ember", "run", "--guest", "test:tick", "--control", sock,
                          "--timeout", "60"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    assert p.stdout is not None
    fd = p.stdout.fileno()

    def read_for(seconds: float) -> bytes:
        out, end = b"", time.time() + seconds
        while time.time() < end:
            ready, _, _ = select.select([fd], [], [], max(0.0, end - time.time()))
            if ready:
                out += os.read(fd, 65536)
        return out

    try:
        assert b"tick 0" in read_for(5)
        r = ember("ctl", "pause", "--control", sock)
        assert r.returncode == 0 and r.stdout.strip() == "paused", r.stderr
        read_for(0.2)  # a line already in flight
        assert b"tick" not in read_for(0.5)  # no vCPU runs while paused
        assert ember("ctl", "state", "--control", sock).stdout.startswith("paused (1 vCPUs")
        assert ember("ctl", "resume", "--control", sock).stdout.strip() == "running"
        assert b"tick" in read_for(1.0)
    finally:
        p.terminate()
        p.wait(timeout=10)


def test_ctl_errors_are_one_line(running_vm: str) -> None:
    r = ember("ctl", "resume", "--control", running_vm)
    assert r.returncode != 0 and "cannot resume a VM that is running" in r.stderr
    assert "Traceback" not in r.stderr
