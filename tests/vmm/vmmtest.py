"""Helpers for VMM tests: run the ember CLI as a user would."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunResult:
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> dict[str, Any]:
        return json.loads(self.stdout.strip().splitlines()[-1])


def ember(*args: str, timeout: float = 60, input: bytes | None = None) -> RunResult:
    """Run the ember CLI as a user would; returns code, stdout, stderr."""
    r = subprocess.run(
        [sys.executable, "-m", "ember", *args], capture_output=True, timeout=timeout,
        input=input if input is not None else b"", cwd=ROOT, check=False,
    )
    return RunResult(r.returncode, r.stdout.decode(errors="replace"), r.stderr.decode(errors="replace"))
