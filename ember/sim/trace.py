"""Workload traces: a folder with one file per VM, one utilisation value per line.

Values are integers in percent (0-100), one per scheduling interval. Files are
read in bytewise-sorted name order, so VM ``i`` is the ``i``-th name as
``LC_ALL=C ls`` lists it, on every filesystem.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ember.sim.errors import TraceError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

#: Samples of a PlanetLab day (one every 300 s).
PLANETLAB_SAMPLES = 288
#: Seconds between samples of a PlanetLab trace.
PLANETLAB_INTERVAL_S = 300.0
#: Utilisation is in percent.
PERCENT = 100


@dataclass(frozen=True)
class Trace:
    """Utilisation of each VM (rows, in file order) at each sample, as fractions."""

    name: str
    files: tuple[str, ...]
    utilization: np.ndarray  # (vms, samples), 0..1
    interval_s: float

    @property
    def vms(self) -> int:
        return int(self.utilization.shape[0])

    @property
    def samples(self) -> int:
        return int(self.utilization.shape[1])


def parse_values(text: str, source: str, samples: int) -> list[int]:
    """The first *samples* integer lines of *text*; TraceError naming *source* and line otherwise."""
    values: list[int] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if len(values) == samples:
            break
        item = line.strip()
        if not item:
            raise TraceError(f"{source}, line {lineno}: missing value (empty line); each line must hold one integer 0-100")
        try:
            value = int(item, 10)
        except ValueError:
            raise TraceError(f"{source}, line {lineno}: {item[:40]!r} is not an integer; each line must hold one integer 0-100") from None
        if not 0 <= value <= PERCENT:
            raise TraceError(f"{source}, line {lineno}: {value} is outside 0-100 (CPU utilisation in percent)")
        values.append(value)
    if len(values) < samples:
        raise TraceError(
            f"{source}: has {len(values)} values, needs {samples} (one per line); "
            f"pass --samples to use fewer"
        )
    return values


def load_trace(folder: str | Path, samples: int = PLANETLAB_SAMPLES, interval_s: float = PLANETLAB_INTERVAL_S) -> Trace:
    """Read every regular file in *folder* (sorted bytewise) as one VM's trace."""
    import numpy as np

    path = Path(folder)
    if not path.is_dir():
        raise TraceError(f"trace folder {str(path)!r} does not exist or is not a folder")
    if samples < 2:
        raise TraceError(f"--samples must be at least 2, got {samples}")
    if not interval_s > 0:
        raise TraceError(f"--interval must be positive, got {interval_s}")
    names = sorted((p.name for p in path.iterdir() if p.is_file() and not p.name.startswith(".")), key=lambda n: n.encode())
    if not names:
        raise TraceError(f"trace folder {str(path)!r} holds no files; expected one file per VM")
    data = np.empty((len(names), samples), dtype=float)
    for i, name in enumerate(names):
        source = str(path / name)
        try:
            text = (path / name).read_text(encoding="ascii")
        except UnicodeDecodeError:
            raise TraceError(f"{source}: not a text file of integers") from None
        except OSError as exc:
            raise TraceError(f"{source}: cannot read ({exc.strerror})") from None
        data[i] = parse_values(text, source, samples)
    data /= PERCENT
    log.info("trace %s: %d VMs x %d samples", path.name, len(names), samples)
    return Trace(path.name, tuple(names), data, float(interval_s))
