"""Benchmark of the data-center simulator: metrics of every policy on every day, and speed.

    .venv/bin/python bench/sim.py [--quick] [--jobs N] [--fidelity-only] [--cloudsim CLASSPATH]

Writes section "sim" of BENCHMARKS.md: (1) the study's policies on each
provided PlanetLab day in CloudSim mode, next to the seed's claim about the
utilisation of active hosts without and with consolidation; (2) the same
policies on one day in ember mode; (3) wall time per policy-day; (4) a
20,000-host / 40,000-VM synthetic run; (5) fidelity: ember's CloudSim model
beside CloudSim 3.0.3 itself, metric by metric, and the wall time of both.

CloudSim is the peer: by default its figures come from the recorded runs in
tests/sim/data/cloudsim_reference.json (a build of its public source, run on
this machine; the file says how). With ``--cloudsim CLASSPATH`` (the compiled
classes plus commons-math3) the bench runs CloudSim again for those cases, one
after the other, next to ember's runs.

    .venv/bin/python bench/sim.py --fidelity-only [--cloudsim /work/cloudsim/build-ref:/usr/share/java/commons-math3.jar]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.report import machine_line, write_section
from ember.sim.engine import STUDY_POLICIES, RunConfig, run
from ember.sim.sweep import Job, sweep
from ember.sim.synthetic import synthetic_trace
from ember.sim.trace import load_trace

DAYS = ROOT.parent / "shared" / "data" / "planetlab"
#: Policies run on every day (all 22 run on the first day).
EVERY_DAY = ("npa", "dvfs", "thr-mmt-0.8", "lr-mmt-1.2")
#: Policies run in the ember model (on the first day).
EMBER = ("npa", "dvfs", "thr-mmt-0.8", "iqr-mmt-1.5", "mad-mmt-2.5", "lr-mmt-1.2", "lrr-mmt-1.2")
SCALE_HOSTS, SCALE_VMS, SCALE_SAMPLES = 20_000, 40_000, 24
REFERENCE = ROOT / "tests" / "sim" / "data" / "cloudsim_reference.json"
#: The metrics compared with CloudSim (the issue's list).
FIDELITY_METRICS = ("energy_kwh", "migrations", "slatah", "pdm", "slav", "esv")
#: CloudSim's driver class (ember's, beside the transcribed examples; see the reference's provenance).
CLOUDSIM_MAIN = "org.cloudbus.cloudsim.examples.power.EmberReference"
#: A CloudSim policy-day takes minutes on a loaded 2-core machine.
CLOUDSIM_TIMEOUT_S = 1800


def cloudsim_run(classpath: str, day: Path, policy: str) -> dict:  # type: ignore[type-arg]
    """Run the CloudSim peer for one policy-day; its metrics plus wall and CPU seconds."""
    t0 = time.perf_counter()
    c0 = os.times()
    proc = subprocess.run(["java", "-cp", classpath, CLOUDSIM_MAIN, str(day), policy, "sorted"],
                          capture_output=True, text=True, timeout=CLOUDSIM_TIMEOUT_S, check=True)
    c1 = os.times()
    found = re.findall(r"\{.*\}", proc.stdout)
    if not found:
        raise RuntimeError(f"CloudSim printed no metrics for {day.name} {policy}: {proc.stderr[-400:]}")
    out = json.loads(found[-1])
    out["wall_s"] = time.perf_counter() - t0
    out["cpu_s"] = (c1.children_user - c0.children_user) + (c1.children_system - c0.children_system)
    return out


def fidelity(classpath: str | None) -> list[str]:
    """Ember's CloudSim model beside CloudSim 3.0.3 for every recorded case, one run at a time."""
    ref = json.loads(REFERENCE.read_text())
    prov = ref["provenance"]
    rows, speed = [], []
    walls: list[tuple[float, float, float, float]] = []
    worst = 0.0
    for day_name, policies in sorted(ref["runs"].items()):
        day = DAYS / day_name
        if not day.is_dir():
            continue
        trace = load_trace(day)
        for policy in sorted(policies):
            theirs = cloudsim_run(classpath, day, policy) if classpath else policies[policy]
            cpu0 = time.process_time()
            ours = run(trace, RunConfig(policy=policy, model="cloudsim")).as_dict()
            ours["cpu_s"] = time.process_time() - cpu0
            ratios = []
            for m in FIDELITY_METRICS:
                a, b = float(ours[m]), float(theirs[m])
                ratio = 1.0 if a == b else (a / b if b else float("inf"))
                if "-rs-" not in policy:  # unseeded in CloudSim: reported apart, see below
                    worst = max(worst, abs(ratio - 1))
                ratios.append(ratio)
            rs = " (CloudSim: mean of its runs)" if "rs_runs" in theirs and not classpath else ""
            rows.append(f"| {day_name} | {policy}{rs} | {ours['energy_kwh']:.3f} | {theirs['energy_kwh']:.3f} "
                        f"| {ours['migrations']:,} | {theirs['migrations']:,.0f} | "
                        + " | ".join(f"{r:.5f}" for r in ratios) + " |")
            speed.append(f"| {day_name} | {policy} | {ours['wall_s']:.1f} | {ours['cpu_s']:.1f} | {theirs['wall_s']:.1f} "
                         f"| {theirs['cpu_s']:.1f} | {theirs['wall_s'] / ours['wall_s']:.1f}× "
                         f"| {theirs['cpu_s'] / ours['cpu_s']:.1f}× |")
            walls.append((ours["wall_s"], ours["cpu_s"], theirs["wall_s"], theirs["cpu_s"]))
    source = (f"CloudSim run live by this bench (`--cloudsim {classpath}`)" if classpath else
              f"CloudSim figures recorded in `tests/sim/data/cloudsim_reference.json` ({prov['date']}; "
              f"{prov['jdk'].split(' / ')[0]}); rerun them live with `--cloudsim CLASSPATH`")
    return [
        FIDELITY_TITLE, "",
        (f"Same day, same policy, same VM order (files sorted bytewise). {source}. "
         "Ratios are ember / CloudSim; 1.00000 is identical to five places. "
         f"Largest gap over every case and metric except RS: {worst:.2e} (the issue's target: 1 %). "
         "RS draws unseeded random numbers in CloudSim: its rows compare ember's seeded run with the mean "
         "of several CloudSim runs, whose own spread is recorded in the reference file."), "",
        ("| day | policy | energy kWh ember | energy kWh CloudSim | migrations ember | migrations CloudSim "
         "| energy | migrations | SLATAH | PDM | SLAV | ESV |"),
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows, "",
        ("Time per policy-day, one run at a time (ember in this process, trace already loaded; CloudSim as "
         "its own JVM, start-up included). CPU seconds are less sensitive than wall time to the load of "
         "this shared machine."), "",
        "| day | policy | ember wall s | ember CPU s | CloudSim wall s | CloudSim CPU s | wall ratio | CPU ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
        *speed,
        (f"| all | total | {sum(w[0] for w in walls):.0f} | {sum(w[1] for w in walls):.0f} "
         f"| {sum(w[2] for w in walls):.0f} | {sum(w[3] for w in walls):.0f} "
         f"| {sum(w[2] for w in walls) / max(sum(w[0] for w in walls), 1e-9):.1f}× "
         f"| {sum(w[3] for w in walls) / max(sum(w[1] for w in walls), 1e-9):.1f}× |") if walls else "", "",
    ]


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
    ap.add_argument("--fidelity-only", action="store_true", help="only the comparison with CloudSim")
    ap.add_argument("--cloudsim", metavar="CLASSPATH", help="run the CloudSim peer live with this Java classpath")
    args = ap.parse_args()
    if not DAYS.is_dir():
        print(f"bench/sim.py: {DAYS} is absent; nothing to measure", file=sys.stderr)
        return 1
    if args.fidelity_only:
        # keep the section's other tables (from the last full run); replace only the fidelity part
        body = current_section().split(FIDELITY_TITLE)[0].rstrip()
        lines = [*fidelity(args.cloudsim), (f"(Fidelity table refreshed alone: `.venv/bin/python bench/sim.py "
                                            f"--fidelity-only`; {machine_line()} {load_line()})")]
        write_section("sim", (body + "\n\n" if body else "") + "\n".join(lines))
        print("\n".join(lines))
        return 0
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
              "The peer, CloudSim 3.0.3, is in the fidelity table at the end. " + load_line()), ""]
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
    lines += ["", *fidelity(args.cloudsim)]
    write_section("sim", "\n".join(lines))
    print("\n".join(lines))
    return 0


FIDELITY_TITLE = "### Fidelity: ember's CloudSim model beside CloudSim 3.0.3"


def current_section() -> str:
    """The body of this bench's section of BENCHMARKS.md as it stands ('' if none)."""
    from bench.report import BENCHMARKS

    text = BENCHMARKS.read_text() if BENCHMARKS.exists() else ""
    found = re.search(r"<!-- bench:sim -->\n(.*?)<!-- /bench:sim -->", text, re.DOTALL)
    return found.group(1) if found else ""


def load_line() -> str:
    load = os.getloadavg()
    return f"Load average when the bench started: {load[0]:.1f} (1 min), {load[2]:.1f} (15 min) on {os.cpu_count()} CPUs."


if __name__ == "__main__":
    sys.exit(main())
