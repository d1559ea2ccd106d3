"""Fixtures of the RISC-V emulator tests: the cross-compiled corpus, the
assembler's scratch directory, and qemu-riscv64 as the reference."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from isa_support import CC, CORPUS_BIN, CORPUS_SRC, QEMU, ROOT, have_cc


@pytest.fixture(scope="session")
def corpus() -> Path:
    """build/isa with every corpus program, built by `make isa-corpus` if needed."""
    missing = [p for p in CORPUS_SRC.glob("*.c") if not (CORPUS_BIN / p.stem).exists()]
    if missing:
        if not have_cc():
            pytest.skip(f"{CC} is not installed (make setup installs gcc-riscv64-linux-gnu)")
        subprocess.run(["make", "--no-print-directory", "isa-corpus"], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    return CORPUS_BIN


@pytest.fixture(scope="session")
def qemu() -> str:
    path = shutil.which(QEMU)
    if path is None:
        pytest.skip(f"{QEMU} is not installed (make setup installs qemu-user)")
    return path


@pytest.fixture(scope="session")
def asm_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not have_cc():
        pytest.skip(f"{CC} is not installed (make setup installs gcc-riscv64-linux-gnu)")
    return tmp_path_factory.mktemp("rvasm")
