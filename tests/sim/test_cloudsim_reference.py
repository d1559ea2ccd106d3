"""The CloudSim model against CloudSim itself: each metric within 1 % of CloudSim 3.0.3's.

``data/cloudsim_reference.json`` holds the metrics CloudSim 3.0.3's power
package produced for PlanetLab days and policies (a build from its public
source, run outside this repository; the file records how). Each case runs
``--model cloudsim`` on the same day, with the same VM order (the day's files
sorted bytewise), and compares.

Random selection (RS) is the exception: CloudSim draws from an unseeded
generator, so no run can be repeated bit for bit. Its reference is the mean of
several CloudSim runs with their range, and ember's seeded run must be as close
to that mean as CloudSim's own runs are, twice over (never tighter than 1 %).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ember.sim.engine import RunConfig, run
from ember.sim.trace import load_trace

REFERENCE = Path(__file__).parent / "data" / "cloudsim_reference.json"
#: The issue's target: every metric within 1 % of CloudSim's for the same day and policy.
TOLERANCE = 0.01
#: RS: allowed distance from CloudSim's mean, in multiples of its own runs' largest distance from it.
RS_SPREADS = 2.0
METRICS = ("energy_kwh", "migrations", "slatah", "pdm", "slav", "esv", "mean_active_hosts")
#: Cases quick enough for every test run; the rest are marked slow.
FAST = {("20110303", "npa"), ("20110303", "dvfs"), ("20110306", "dvfs"), ("20110303", "thr-mmt-0.8")}
#: Known difference, not yet fixed: ember's MC computes R² another way than CloudSim's
#: commons-math QR and falls back to MMT one observation too early (docs/sim.md, "Fidelity").
#: On 20110306 that puts migrations 1.4 % off; on 20110303 the gaps happen to stay under 1 %.
#: Strict: once ember/cluster/policy/selection.py matches, this passes and the mark must go.
MC_PENDING: set[tuple[str, str]] = set()


def _reference() -> dict[str, Any]:
    return json.loads(REFERENCE.read_text())


def _cases() -> list[Any]:
    ref = _reference()
    out = []
    for day, policies in sorted(ref["runs"].items()):
        for policy in sorted(policies):
            marks = [] if (day, policy) in FAST else [pytest.mark.slow, pytest.mark.timeout(600)]
            if (day, policy) in MC_PENDING:
                marks.append(pytest.mark.xfail(reason="MC's R² is not commons-math's (docs/sim.md)", strict=True))
            out.append(pytest.param(day, policy, id=f"{day}-{policy}", marks=marks))
    return out


def relative_gap(ours: float, theirs: float) -> float:
    """|ours - theirs| / |theirs|; 0 when both are 0 (DVFS and NPA have no SLA violation)."""
    if theirs == 0:
        return 0.0 if ours == 0 else float("inf")
    return abs(ours - theirs) / abs(theirs)


def test_reference_records_its_provenance() -> None:
    prov = _reference()["provenance"]
    for key in ("cloudsim", "source", "jdk", "command", "date", "vm_order"):
        assert prov.get(key), f"cloudsim_reference.json lacks provenance[{key!r}]"


def test_relative_gap() -> None:
    assert relative_gap(0.0, 0.0) == 0.0
    assert relative_gap(1.0, 0.0) == float("inf")
    assert relative_gap(99.0, 100.0) == pytest.approx(0.01)


@pytest.mark.parametrize(("day", "policy"), _cases())
def test_metrics_match_cloudsim(shared_dir: Path, day: str, policy: str) -> None:
    folder = shared_dir / "data" / "planetlab" / day
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent: the PlanetLab day is needed to compare with CloudSim")
    theirs = _reference()["runs"][day][policy]
    ours = run(load_trace(folder), RunConfig(policy=policy, model="cloudsim")).as_dict()
    assert ours["vms"] == theirs["vms"]
    gaps = {m: relative_gap(float(ours[m]), float(theirs[m])) for m in METRICS}
    allowed = {m: tolerance_for(theirs, m) for m in METRICS}
    worst = max(gaps, key=lambda m: gaps[m] / allowed[m])
    assert gaps[worst] <= allowed[worst], (
        f"{day} {policy}: {worst} is {ours[worst]!r} in ember, {theirs[worst]!r} in CloudSim "
        f"({gaps[worst]:.3%} apart, {allowed[worst]:.3%} allowed; all gaps: "
        f"{', '.join(f'{m} {g:.3%}' for m, g in gaps.items())})"
    )


def tolerance_for(theirs: dict[str, Any], metric: str) -> float:
    """1 %, or for a mean over unseeded CloudSim runs (RS) twice their own spread if larger."""
    spread = theirs.get(f"{metric}_range")
    if not spread or not theirs[metric]:
        return TOLERANCE
    own = max(abs(v - theirs[metric]) for v in spread) / abs(theirs[metric])
    return max(TOLERANCE, RS_SPREADS * own)


def test_tolerance_for_rs_follows_cloudsims_own_spread() -> None:
    assert tolerance_for({"pdm": 1.0}, "pdm") == TOLERANCE
    assert tolerance_for({"pdm": 1.0, "pdm_range": [0.99, 1.05]}, "pdm") == pytest.approx(0.10)
    assert tolerance_for({"pdm": 1.0, "pdm_range": [0.999, 1.001]}, "pdm") == TOLERANCE
