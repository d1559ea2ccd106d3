"""Helpers of the RISC-V emulator tests: paths, the assembler for instruction
snippets, and running ember or qemu-riscv64 as subprocesses."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORPUS_SRC = Path(__file__).resolve().parent / "corpus"
CORPUS_BIN = ROOT / "build" / "isa"
CC = "riscv64-linux-gnu-gcc"
QEMU = "qemu-riscv64"
#: The guest environment of every differential run (glibc's start-up path
#: length depends on it, and the instruction counts are compared).
GUEST_ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "EMBER_CORPUS": "corpus-value"}


def have_cc() -> bool:
    return shutil.which(CC) is not None


def assemble(directory: Path, name: str, source: str) -> Path:
    """Assemble and link a freestanding RV64GC program (entry _start)."""
    src = directory / f"{name}.S"
    out = directory / name
    src.write_text(source)
    subprocess.run([CC, "-nostdlib", "-static", "-march=rv64gc", "-mabi=lp64d", "-o", str(out),
                    str(src)], check=True)
    return out


def run_ember(args: list[str], engine: str, extra: list[str] | None = None,
              timeout: float = 120, env_extra: dict[str, str] | None = None
              ) -> subprocess.CompletedProcess[bytes]:
    """ember isa run as a subprocess; its environment (also the guest's) is
    GUEST_ENV plus env_extra."""
    cmd = [sys.executable, "-m", "ember", "isa", "run", "--engine", engine, *(extra or []), *args]
    env = dict(GUEST_ENV, PYTHONPATH=str(ROOT), **(env_extra or {}))
    return subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, cwd=ROOT, check=False)


def run_qemu(qemu_path: str, args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([qemu_path, *args], capture_output=True, timeout=timeout,
                          env=dict(GUEST_ENV), cwd=ROOT, check=False)


def guest_status(rc: int) -> int:
    """A subprocess return code as a shell shows it (killed by signal n -> 128+n)."""
    return 128 - rc if rc < 0 else rc


