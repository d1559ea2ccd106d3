"""Fixtures for VMM tests: the ember CLI in a subprocess, the test guest, tiny hand-made guests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def test_guest() -> Path:
    from ember.errors import ConfigError
    from ember.guests import test_guest_path

    try:
        return Path(test_guest_path())
    except ConfigError as exc:
        pytest.fail(str(exc))


PVH_NOTE = """
.section .note.Xen, "a"
.align 4
.long 4, 4, 18
.asciz "Xen"
.long _start
.text
.code32
.globl _start
_start:
"""


@pytest.fixture(scope="session")
def tiny_guest(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """Build a tiny 32-bit PVH guest from assembly: ``tiny_guest(name, body_asm) -> path``."""
    d = tmp_path_factory.mktemp("tiny")

    def build(name: str, body: str) -> str:
        src = d / f"{name}.S"
        out = d / f"{name}.elf"
        src.write_text(PVH_NOTE + body + "\n")
        subprocess.run(["gcc", "-m32", "-nostdlib", "-static", "-Wl,-Ttext=0x100000", "-Wl,--build-id=none",
                        "-o", str(out), str(src)], check=True, capture_output=True)
        return str(out)

    return build


def kvm_ok() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)
