"""Run ember's test guest (guest/build/ember-test.elf) under QEMU as the peer VMM.

`load_scenarios()` reads guest/unittests.cfg (kvm-unit-tests' format: one INI
section per test); `run_qemu()` boots one scenario with the command line of
docs/guest.md and returns its serial output and decoded status.
"""

from __future__ import annotations

import configparser
import re
import select
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUEST_ELF = ROOT / "guest" / "build" / "ember-test.elf"
UNITTESTS_CFG = ROOT / "guest" / "unittests.cfg"
QEMU = "qemu-system-x86_64"
DEBUG_EXIT_PORT = 0xF4
DEFAULT_MEMORY_MIB = 64
DEFAULT_TIMEOUT_S = 30.0
VM_STOP_STATUSES = ("shutdown", "reset")


@dataclass(frozen=True)
class Scenario:
    """One section of unittests.cfg."""

    name: str
    cmdline: str
    status: int | str
    smp: int = 1
    memory_mib: int = DEFAULT_MEMORY_MIB
    expect: tuple[str, ...] = ()
    stdin: bytes = b""
    ready: str | None = None
    qemu_params: tuple[str, ...] = ()
    needs: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT_S
    groups: tuple[str, ...] = field(default=())


def load_scenarios(path: Path = UNITTESTS_CFG) -> list[Scenario]:
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(path)
    out = []
    for name in cfg.sections():
        sec = cfg[name]
        status_text = sec.get("status", "0").strip()
        status: int | str = status_text if status_text in VM_STOP_STATUSES else int(status_text)
        out.append(
            Scenario(
                name=name,
                cmdline=sec["cmdline"].strip(),
                status=status,
                smp=sec.getint("smp", 1),
                memory_mib=sec.getint("memory", DEFAULT_MEMORY_MIB),
                expect=tuple(x.strip() for x in sec.get("expect", "").splitlines() if x.strip()),
                stdin=sec.get("stdin", "").encode().decode("unicode_escape").encode("latin-1"),
                ready=sec.get("ready"),
                qemu_params=tuple(sec.get("qemu_params", "").split()),
                needs=tuple(sec.get("needs", "").split()),
                timeout=sec.getfloat("timeout", DEFAULT_TIMEOUT_S),
                groups=tuple(sec.get("groups", "").split()),
            )
        )
    return out


def qemu_command(cmdline: str, smp: int = 1, memory_mib: int = DEFAULT_MEMORY_MIB,
                 extra: tuple[str, ...] = (), elf: Path = GUEST_ELF,
                 accel: str = "kvm") -> list[str]:
    """The QEMU command of docs/guest.md (microvm, debug-exit at 0xf4).

    accel="tcg" runs the guest on QEMU's emulator, where ring 3 gets the IOPL
    and `int $0x80` gate it asks for (the paths hardware KVM takes)."""
    return [
        QEMU, "-accel", accel, "-M", "microvm", "-m", str(memory_mib), "-smp", str(smp),
        "-nodefaults", "-nographic", "-serial", "stdio",
        "-device", f"isa-debug-exit,iobase={DEBUG_EXIT_PORT:#x},iosize=1",
        "-kernel", str(elf), "-append", cmdline, *extra,
    ]


@dataclass
class GuestRun:
    returncode: int | None
    output: str
    seconds: float
    timed_out: bool

    @property
    def lines(self) -> list[str]:
        return [line.rstrip("\r") for line in self.output.split("\n")]

    @property
    def status(self) -> int | None:
        """The guest's debug-exit status modulo 128 (QEMU exits (status << 1) | 1, and
        a process status has 8 bits), or None if QEMU did not exit through it."""
        if self.returncode is None or self.returncode & 1 == 0:
            return None
        return self.returncode >> 1


def run_qemu(scenario: Scenario, timeout: float | None = None, accel: str = "kvm") -> GuestRun:
    cmd = qemu_command(scenario.cmdline, scenario.smp, scenario.memory_mib, scenario.qemu_params,
                       accel=accel)
    limit = timeout if timeout is not None else scenario.timeout
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stdin is not None
    out = bytearray()
    sent = not scenario.stdin
    ready = re.compile(scenario.ready) if scenario.ready else None
    timed_out = False
    try:
        while True:
            left = limit - (time.monotonic() - start)
            if left <= 0:
                timed_out = True
                break
            r, _, _ = select.select([proc.stdout], [], [], min(left, 0.5))
            if r:
                chunk = proc.stdout.read1(65536)
                if not chunk:
                    break
                out += chunk
            if not sent and (ready is None or any(
                    ready.fullmatch(line.rstrip("\r"))
                    for line in out.decode(errors="replace").split("\n"))):
                proc.stdin.write(scenario.stdin)
                proc.stdin.flush()
                sent = True
        if not timed_out:
            # stdout closed: QEMU is on its way out; give it the time left.
            try:
                proc.wait(timeout=max(0.1, limit - (time.monotonic() - start)))
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    return GuestRun(None if timed_out else proc.returncode, out.decode(errors="replace"),
                    time.monotonic() - start, timed_out)


def qemu_available() -> str | None:
    """Why QEMU cannot run the guest here, or None."""
    if shutil.which(QEMU) is None:
        return f"{QEMU} is not installed (make setup installs qemu-system-x86)"
    if not GUEST_ELF.exists():
        return f"{GUEST_ELF} is missing: run `make setup` (or `make -C guest`)"
    return None


def missing_lines(run: GuestRun, patterns: tuple[str, ...]) -> list[str]:
    """The patterns that match no whole line of the output."""
    return [p for p in patterns if not any(re.fullmatch(p, line) for line in run.lines)]
