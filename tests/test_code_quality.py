"""The project's own gates: ruff's rules and mypy --strict hold on the whole tree.

Both tools are pinned in pyproject.toml's dev extra, so a new release cannot
change what passes; `make lint` runs the same two commands.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)


def test_ruff_finds_nothing() -> None:
    r = _run(str(Path(sys.executable).with_name("ruff")), "check", "ember", "tests", "bench")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_finds_nothing() -> None:
    r = _run(sys.executable, "-m", "mypy", "ember")
    assert r.returncode == 0, r.stdout + r.stderr
