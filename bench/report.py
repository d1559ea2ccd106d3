"""Write one benchmark's table into its own section of BENCHMARKS.md.

Each bench script owns a section delimited by HTML comments, so benches can be
rerun one at a time without disturbing the others' tables.
"""

from __future__ import annotations

import datetime
import platform
import re
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# ember benchmarks\n\nEach section is written by the bench script it names; rerun it to refresh.\n"


def machine_line() -> str:
    """One line naming the host the figures were measured on."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import os

    today = datetime.date.today().isoformat()
    return f"Measured {today} on {platform.node() or 'host'}: {cpu}, {os.cpu_count()} CPUs, Linux {platform.release()}."


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section called *name* with *body* (markdown)."""
    begin, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else HEADER
    block = f"{begin}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    BENCHMARKS.write_text(text if text.endswith("\n") else text + "\n")
