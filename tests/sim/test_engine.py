"""The simulator on real PlanetLab days: invariants on every update, determinism, baselines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ember.sim.engine import RunConfig, Simulation, run
from ember.sim.errors import SimError
from ember.sim.synthetic import synthetic_trace
from ember.sim.trace import load_trace

DAY = "20110303"


@pytest.fixture(scope="module")
def day(shared_dir: Path):  # type: ignore[no-untyped-def]
    folder = shared_dir / "data" / "planetlab" / DAY
    if not folder.is_dir():
        pytest.skip(f"{folder} is absent")
    return load_trace(folder)


class Checker:
    """Checks the model's invariants at every update instant of a run."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.prev_t: float | None = None
        self.prev_u = np.zeros(sim.cfg.hosts)
        self.prev_e = 0.0
        self.instants = 0
        self.planned = 0
        idle = sim.tables[sim.h.kind, 0]
        peak = sim.tables[sim.h.kind, -1]
        self.idle, self.peak = idle, peak
        sim.observer = self.check
        sim.on_plan = self.plan

    def check(self, t: float, s: dict[str, np.ndarray], sim: Simulation) -> None:
        self.instants += 1
        # no host over capacity
        assert (s["used"] <= sim.h.mips * (1 + 1e-9)).all(), f"host over capacity at {t}"
        # every VM that still runs is on exactly one host, the others on none
        assert ((sim.host_of >= 0) == sim.alive).all()
        assert (sim.host_of < sim.cfg.hosts).all()
        assert int(np.bincount(sim.host_of[sim.alive], minlength=sim.cfg.hosts).sum()) == int(sim.alive.sum())
        # energy of the interval: at least idle, at most peak power of the hosts that were on
        if self.prev_t is not None and t > self.prev_t:
            dt = t - self.prev_t
            on = self.prev_u > 0
            added = sim.energy_j - self.prev_e
            assert added >= float(self.idle[on].sum()) * dt * (1 - 1e-12)
            assert added <= float(self.peak[on].sum()) * dt * (1 + 1e-12)
        self.prev_t, self.prev_u, self.prev_e = t, s["util"].copy(), sim.energy_j

    def plan(self, t: float, plan) -> None:  # type: ignore[no-untyped-def]
        vms = [m.vm for m in plan.migrations]
        if not self.sim.cloudsim:
            assert len(vms) == len(set(vms)), "a VM planned twice in one round"
        for m in plan.migrations:
            assert m.source != m.target
            assert self.sim.alive[m.vm] and not self.sim.migrating[m.vm]
        self.planned += len(vms)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_invariants_on_every_interval_of_a_real_day_cloudsim(day) -> None:  # type: ignore[no-untyped-def]
    sim = Simulation(day, RunConfig(policy="mad-mmt-2.5", model="cloudsim"))
    chk = Checker(sim)
    res = sim.run()
    assert chk.instants >= day.samples - 1
    assert res.migrations == chk.planned > 0
    # CloudSim drops VMs whose demand hits 0: about half a PlanetLab day
    assert 0.3 * res.vms < res.vms_removed < 0.7 * res.vms
    assert 0 < res.slatah < 1 and 0 < res.pdm < 1
    assert res.slav == pytest.approx(res.slatah * res.pdm)
    assert res.esv == pytest.approx(res.energy_kwh * res.slav)


@pytest.mark.timeout(120)
def test_invariants_ember_model_first_hours(day) -> None:  # type: ignore[no-untyped-def]
    sim = Simulation(_first(day, 48), RunConfig(policy="lrr-mc-1.2", model="ember"))
    chk = Checker(sim)
    res = sim.run()
    assert res.vms_removed == 0 and res.migrations == chk.planned


def _first(trace, samples: int):  # type: ignore[no-untyped-def]
    from ember.sim.trace import Trace

    return Trace(trace.name, trace.files, trace.utilization[:, :samples], trace.interval_s)


def test_npa_charges_every_host_full_power_all_day(day) -> None:  # type: ignore[no-untyped-def]
    res = run(day, RunConfig(policy="npa", model="cloudsim"))
    # 400 x 117 W + 400 x 135 W for 86100.1 s
    assert res.energy_kwh == pytest.approx((400 * 117 + 400 * 135) * 86100.1 / 3.6e6)
    assert res.migrations == 0


def test_dvfs_uses_less_than_npa_and_consolidation_less_than_dvfs(day) -> None:  # type: ignore[no-untyped-def]
    short = _first(day, 48)
    npa = run(short, RunConfig(policy="npa", model="cloudsim"))
    dvfs = run(short, RunConfig(policy="dvfs", model="cloudsim"))
    thr = run(short, RunConfig(policy="thr-mmt-0.8", model="cloudsim"))
    assert thr.energy_kwh < dvfs.energy_kwh < npa.energy_kwh
    assert thr.mean_active_utilization > 2 * dvfs.mean_active_utilization


def test_deterministic_for_a_seed() -> None:
    trace = synthetic_trace(300, samples=24, seed=5)
    a = run(trace, RunConfig(policy="thr-rs-0.8", hosts=200, seed=11)).as_dict()
    b = run(trace, RunConfig(policy="thr-rs-0.8", hosts=200, seed=11)).as_dict()
    for d in (a, b):
        d.pop("wall_s")
    assert a == b
    assert synthetic_trace(300, samples=24, seed=5).utilization.tobytes() == trace.utilization.tobytes()


def test_too_few_hosts_is_a_clear_error() -> None:
    with pytest.raises(SimError, match="do not fit on 3 hosts"):
        run(synthetic_trace(50, samples=4), RunConfig(policy="thr-mmt-0.8", hosts=3))


@pytest.mark.timeout(120)
def test_host_sums_follow_the_vm_list_one_addition_at_a_time(day) -> None:  # type: ignore[no-untyped-def]
    """A host's requested MIPS is the sequential sum over its VM list (CloudSim's order):
    placed and migrated-in VMs by the time they joined, migrations in flight by their start."""
    sim = Simulation(_first(day, 24), RunConfig(policy="thr-mmt-0.8", model="cloudsim"))
    seen = {"checked": 0, "in_flight": 0}

    def check(t: float, s: dict[str, np.ndarray], sim: Simulation) -> None:
        entries: dict[int, list[tuple[int, float]]] = {}
        for vm in np.flatnonzero(s["on"]).tolist():
            entries.setdefault(int(sim.host_of[vm]), []).append((int(sim.order[vm]), float(s["req"][vm])))
        for vm, dst, seq in zip(sim.m_vm, sim.m_dst, sim.m_seq):
            entries.setdefault(dst, []).append((seq, float(s["req"][vm])))
            seen["in_flight"] += 1
        for host, items in entries.items():
            total = 0.0
            for _, req in sorted(items):
                total += req
            assert s["requested"][host] == total, f"host {host} at {t}: not the list-order sum"
            seen["checked"] += 1

    sim.observer = check
    sim.run()
    assert seen["checked"] > 1000 and seen["in_flight"] > 0
