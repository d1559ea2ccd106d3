"""Benchmark of the data-center simulator: metrics of every policy on every day, and speed.

    .venv/bin/python bench/sim.py [--quick] [--jobs N]

Writes section "sim" of BENCHMARKS.md: (1) the study's policies on each
provided PlanetLab day in CloudSim mode, next to the seed's claim about the
utilisation of active hosts without and with consolidation; (2) the same
policies on one day in ember mode; (3) wall time per policy-day; (4) a
20,000-host / 40,000-VM synthetic run. There is no CloudSim run on this
machine to put beside these figures (see docs/sim.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import machine_line, write_section
from ember.sim.engine import STUDY_POLICIES, RunConfig, run
from ember.sim.sweep import Job, sweep
from ember.sim.synthetic import synthetic_trace

DAYS = ROOT.parent / "shared" / "data" / "planetlab"
#: Policies run on every day (all 22 run on the first day).
EVERY_DAY = ("npa", "dvfs", "thr-mmt-0.8", "lr-mmt-1.2")
#: Policies run in the ember model (on the first day).
EMBER = ("npa", "dvfs", "thr-mmt-0.8", "iqr-mmt-1.5", "mad-mmt-2.5", "lr-mmt-1.2", "lrr-mmt-1.2")
SCALE_HOSTS, SCALE_VMS, SCALE_SAMPLES = 20_000, 40_000, 24


def fmt_row(r: dict) -> str:  # type: ignore[type-arg]
    return (f"| {r['trace']} | {r['policy']} | {r['energy_kwh']:.2f} | {r['migrations']:,} | {r['slatah']:.2%} "
            f"| {r['pdm']:.3%} | {r['slav'] * 1e5:.2f} | {r['esv'] * 1e3:.3f} | {r['mean_active_utilization']:.1%} "
            f"| {r['mean_active_hosts']:.1f} | {r['wall_s']:.1f} |")


HEADER = ("| day | policy | energy kWh | migrations | SLATAH | PDM | SLAV ×1e5 | ESV ×1e3 | util. of active hosts "
          "| mean active hosts | wall s |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one day, MMT policies only, small scale run")
    ap.add_argument("--jobs", type=int, default=0)
    args = ap.parse_args()
    if not DAYS.is_dir():
        print(f"bench/sim.py: {DAYS} is absent; nothing to measure", file=sys.stderr)
        return 1
    days = sorted(p for p in DAYS.iterdir() if p.is_dir())
    if args.quick:
        days = days[:1]
    jobs = []
    for i, day in enumerate(days):
        names = STUDY_POLICIES if (i == 0 and not args.quick) else EVERY_DAY
        jobs += [Job(str(day), RunConfig(policy=n, model="cloudsim")) for n in names]
    first = str(days[0])
    jobs += [Job(first, RunConfig(policy=n, model="ember")) for n in EMBER]
    t0 = time.perf_counter()
    done = [0]

    def tick(job: Job, res: object) -> None:
        done[0] += 1
        print(f"[{done[0]}/{len(jobs)}] {Path(job.trace_dir).name} {job.cfg.model} {job.cfg.policy}", file=sys.stderr)

    results = [r.as_dict() for r in sweep(jobs, args.jobs or None, tick)]
    sweep_wall = time.perf_counter() - t0
    cloud = [r for r in results if r["model"] == "cloudsim"]
    ember = [r for r in results if r["model"] == "ember"]

    lines = [machine_line(), "",
             ("Reproduce: `.venv/bin/python bench/sim.py` (traces from `../shared/data/planetlab/`). "
             "No CloudSim (Java) run is available on this machine, so there is no peer column: "
             "see docs/sim.md for what was compared and how."), ""]
    # seed's claim: utilisation of active hosts without (dvfs: no consolidation) and with consolidation
    lines += ["### The seed's claim: utilisation of active hosts without and with consolidation (CloudSim model)", "",
              "| day | without (DVFS, no migration) | with THR-MMT-0.8 | with LR-MMT-1.2 | active hosts without → with LR-MMT-1.2 |",
              "|---|---:|---:|---:|---:|"]
    by = {(r["trace"], r["policy"]): r for r in cloud}
    for day in days:
        d = day.name
        if (d, "dvfs") in by and (d, "lr-mmt-1.2") in by:
            a, b, c = by[(d, "dvfs")], by[(d, "thr-mmt-0.8")], by[(d, "lr-mmt-1.2")]
            lines.append(f"| {d} | {a['mean_active_utilization']:.1%} | {b['mean_active_utilization']:.1%} "
                         f"| {c['mean_active_utilization']:.1%} | {a['mean_active_hosts']:.0f} → {c['mean_active_hosts']:.0f} |")
    lines += ["", "The seed quotes 5–15 % without and 60–80 % with consolidation.", ""]
    lines += ["### Every policy, CloudSim model (CloudSim 3.0.3 quirks reproduced)", "", HEADER]
    lines += [fmt_row(r) for r in cloud]
    if len(days) > 1:
        lines += ["", "Mean over the days (CloudSim model):", "",
                  "| policy | energy kWh | migrations | SLATAH | PDM | SLAV ×1e5 | ESV ×1e3 |", "|---|---:|---:|---:|---:|---:|---:|"]
        for name in EVERY_DAY:
            rs = [r for r in cloud if r["policy"] == name]
            if len(rs) > 1:
                m = {k: statistics.mean(r[k] for r in rs) for k in ("energy_kwh", "migrations", "slatah", "pdm", "slav", "esv")}
                lines.append(f"| {name} | {m['energy_kwh']:.2f} | {m['migrations']:,.0f} | {m['slatah']:.2%} | {m['pdm']:.3%} "
                             f"| {m['slav'] * 1e5:.2f} | {m['esv'] * 1e3:.3f} |")
    lines += ["", f"### Ember model (quirks fixed) on {days[0].name}", "", HEADER]
    lines += [fmt_row(r) for r in ember]
    walls = [r["wall_s"] for r in results]
    lines += ["", "### Speed", "",
              (f"- {len(results)} policy-days in {sweep_wall:.0f} s with {args.jobs or 'all'} worker processes; "
              f"per policy-day: median {statistics.median(walls):.1f} s, max {max(walls):.1f} s "
              f"(wall time inside one worker, the workers sharing this machine's {os.cpu_count()} CPUs)."), ""]
    trace = synthetic_trace(SCALE_VMS if not args.quick else 4000, SCALE_SAMPLES, seed=1)
    hosts = SCALE_HOSTS if not args.quick else 2000
    res = run(trace, RunConfig(policy="thr-mmt-0.8", model="cloudsim", hosts=hosts))
    lines += [(f"- Synthetic scale run: {hosts:,} hosts, {trace.vms:,} VMs, {SCALE_SAMPLES} samples "
              f"({(SCALE_SAMPLES - 1) * 5} simulated minutes), THR-MMT-0.8, CloudSim model: {res.wall_s:.0f} s wall, "
              f"{res.migrations:,} migrations, {res.mean_active_hosts:,.0f} mean active hosts, "
              f"{res.mean_active_utilization:.1%} utilisation of active hosts. "
              f"Command: `ember sim run --synthetic {trace.vms} --hosts {hosts} --samples {SCALE_SAMPLES} --model cloudsim`.")]
    write_section("sim", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
