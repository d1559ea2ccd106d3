"""Booting guests end to end: tiny assembly guests, then every test-guest scenario."""

from __future__ import annotations

import pytest
from vmmtest import ember

pytestmark = pytest.mark.kvm

HELLO_SERIAL = """
  mov $0x3f8, %dx
  mov $'H', %al
  out %al, %dx
  mov $'i', %al
  out %al, %dx
  mov $0x80, %dx
  outb %al, %dx
  mov $7, %al
  out %al, $0xf4
  hlt
"""


def test_tiny_guest_prints_and_exits_with_its_status(tiny_guest) -> None:
    elf = tiny_guest("hi", HELLO_SERIAL)
    r = ember("run", "--kernel", elf, "--json")
    assert r.returncode == 7, r.stderr
    out = r.json()
    assert out["console"] == "Hi"
    assert out["reason"] == "guest-exit" and out["status"] == 7
    st = out["stats"]
    assert st["by_reason"] == {"io": 4}
    assert st["pio_out"] == {"0x3f8": 2, "0x80": 1, "0xf4": 1}


def test_unknown_ports_are_counted_and_ignored(tiny_guest) -> None:
    elf = tiny_guest("unk", """
  mov $0x1234, %dx
  out %al, %dx
  in %dx, %al
  mov %al, %bl
  mov $0x3f8, %dx
  out %al, %dx
  mov $0, %al
  out %al, $0xf4
""")
    r = ember("run", "--kernel", elf, "--json")
    out = r.json()
    assert r.returncode == 0
    assert out["console"] == "\xff".encode("latin-1").decode("utf-8", "replace")  # all-ones from an empty port
    assert out["stats"]["unhandled_pio"] == {"0x1234": 2}


def test_string_port_io_is_split_per_element(tiny_guest) -> None:
    elf = tiny_guest("rep", """
  mov $msg, %esi
  mov $5, %ecx
  mov $0x3f8, %dx
  rep outsb
  mov $0, %al
  out %al, $0xf4
msg: .ascii "hello"
""")
    r = ember("run", "--kernel", elf, "--json")
    assert r.returncode == 0, r.stderr
    assert r.json()["console"] == "hello"


def test_guest_that_kvm_cannot_run_gets_a_report_not_a_hang(tiny_guest) -> None:
    # Jumping into MMIO space leaves KVM nothing to fetch: an emulation failure
    # on hardware-assisted and software KVM alike.
    elf = tiny_guest("crash", "  mov $0xd0000000, %eax\n  jmp *%eax\n")
    r = ember("run", "--kernel", elf, timeout=30)
    assert r.returncode == 3
    assert "Traceback" not in r.stderr
    first = r.stderr.splitlines()[0]
    assert first.startswith("ember: error: vcpu0: KVM internal error, suberror 1 (emulation failure)")
    assert "rip=00000000d0000000" in r.stderr
    assert "code (" in r.stderr
    assert "internal_error            1" in r.stderr


def test_triple_fault_stops_the_vm(tiny_guest) -> None:
    elf = tiny_guest("tf", "  lidt idt\n  ud2\nidt: .word 0\n .long 0\n")
    r = ember("run", "--kernel", elf, "--json", timeout=30)
    out = r.json()
    assert out["reason"] == "triple-fault"
    assert r.returncode == 1


def test_timeout_stops_a_spinning_guest(tiny_guest) -> None:
    elf = tiny_guest("spin", "1: jmp 1b\n")
    r = ember("run", "--kernel", elf, "--timeout", "1", "--json", timeout=30)
    assert r.returncode == 124
    assert r.json()["reason"] == "timeout"
