"""``ember sim``: run consolidation policies over workload traces.

    ember sim run --trace DIR --policy thr-mmt-0.8 [--hosts 800] [--model ember|cloudsim]
    ember sim compare --trace DIR [--policies a,b] [--jobs N]
    ember sim run --synthetic 40000 --hosts 20000 --samples 24     (scale run)

Human tables by default, ``--json`` for machines, ``--plot out.png`` for a figure.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

#: Columns of the metrics table: key, heading, format.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("policy", "policy", "{}"),
    ("energy_kwh", "energy kWh", "{:.2f}"),
    ("migrations", "migrations", "{:,}"),
    ("slatah", "SLATAH %", "{:.2%}"),
    ("pdm", "PDM %", "{:.3%}"),
    ("slav", "SLAV ×1e5", "{:.3f}"),
    ("esv", "ESV ×1e3", "{:.3f}"),
    ("mean_active_utilization", "util. active %", "{:.1%}"),
    ("mean_active_hosts", "active hosts", "{:.1f}"),
    ("wall_s", "wall s", "{:.1f}"),
)
SCALE = {"slav": 1e5, "esv": 1e3}
JSON_KEYS = ("energy_kwh", "migrations", "slatah", "pdm", "slav", "esv", "hosts", "vms")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = sub.add_parser("run", help="simulate one policy over one trace day")
    _common(run)
    run.add_argument("--policy", default="thr-mmt-0.8",
                     help="<detector>-<selector>-<parameter> (thr|iqr|mad|lr|lrr, mmt|mc|rs|mu), "
                          "or dvfs / npa (default: %(default)s)")
    cmp = sub.add_parser("compare", help="simulate every policy of the study (or --policies) side by side; "
                         "--trace may also be a folder of day folders, all swept in parallel")
    _common(cmp)
    cmp.add_argument("--policies", help="comma-separated policy names (default: the 22 of the study)")
    cmp.add_argument("--jobs", type=int, default=0, help="worker processes (default: the CPUs)")


def _common(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--trace", metavar="DIR", help="folder with one utilisation file per VM")
    src.add_argument("--synthetic", type=int, metavar="VMS", help="a seeded synthetic workload of VMS VMs")
    p.add_argument("--hosts", type=int, default=800, help="number of hosts (default: %(default)s)")
    p.add_argument("--model", choices=("ember", "cloudsim"), default="ember",
                   help="ember (quirks fixed, default) or cloudsim (CloudSim 3.0.3 exactly)")
    p.add_argument("--seed", type=int, default=0, help="seed of random selection and synthetic traces")
    p.add_argument("--placement", choices=("pabfd", "first-fit", "fewest-instances"), default="pabfd")
    p.add_argument("--samples", type=int, default=288, help="values used per VM file (default: %(default)s)")
    p.add_argument("--interval", type=float, default=300.0, help="seconds between values (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--plot", metavar="PNG", help="also draw hosts/utilisation over the day and energy per policy")


def _load(args: argparse.Namespace) -> Any:
    from ember.sim.trace import load_trace

    if args.synthetic is not None:
        from ember.sim.synthetic import synthetic_trace

        if args.synthetic < 1:
            from ember.sim.errors import TraceError

            raise TraceError(f"--synthetic needs at least 1 VM, got {args.synthetic}")
        return synthetic_trace(args.synthetic, args.samples, args.seed, args.interval)
    return load_trace(args.trace, args.samples, args.interval)


def _quiet() -> bool:
    return not sys.stderr.isatty()


def main(args: argparse.Namespace) -> int:
    from ember.cluster.policy import parse_policy
    from ember.sim.engine import BASELINES, STUDY_POLICIES, RunConfig

    if getattr(args, "jobs", 0) < 0:
        from ember.errors import ConfigError

        raise ConfigError(f"--jobs must be 0 (all CPUs) or more, got {args.jobs}")
    if args.action == "run":
        names = [args.policy]
    else:
        names = [n.strip() for n in args.policies.split(",") if n.strip()] if args.policies else list(STUDY_POLICIES)
    for name in names:
        if name not in BASELINES:
            parse_policy(name, args.placement)  # bad names fail before any work
    cfgs = [RunConfig(policy=n, model=args.model, hosts=args.hosts, seed=args.seed, placement=args.placement)
            for n in names]
    if args.action == "run" or args.synthetic is not None:
        trace = _load(args)
        results = [_run_one(trace, cfg, args) for cfg in cfgs]
    else:
        results = _run_many(cfgs, args)
    if args.plot:
        from ember.sim.plot import plot

        plot(results, args.plot)
    _print(results, args)
    return 0


def _run_one(trace: Any, cfg: Any, args: argparse.Namespace) -> Any:
    from ember.sim.engine import run

    if args.json or _quiet():
        return run(trace, cfg)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"{cfg.policy} on {trace.name}", total=trace.samples - 1)
        return run(trace, cfg, lambda k, n: bar.update(task, completed=k))


def _run_many(cfgs: list[Any], args: argparse.Namespace) -> list[Any]:
    from ember.sim.sweep import Job, sweep
    from ember.sim.trace import load_trace

    days = _days(args.trace)
    for day in days:
        load_trace(day, args.samples, args.interval)  # a malformed trace fails here, once
    jobs = [Job(day, cfg, args.samples, args.interval) for day in days for cfg in cfgs]
    if args.json or _quiet():
        return sweep(jobs, args.jobs or None)
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(f"{len(jobs)} runs", total=len(jobs))
        return sweep(jobs, args.jobs or None, lambda job, res: bar.advance(task))


def _days(folder: str) -> list[str]:
    """A trace folder, or a folder of day folders (every day is then swept)."""
    from pathlib import Path

    path = Path(folder)
    if path.is_dir():
        entries = [p for p in path.iterdir() if not p.name.startswith(".")]
        subdirs = sorted((p for p in entries if p.is_dir()), key=lambda p: p.name.encode())
        if subdirs and not any(p.is_file() for p in entries):
            return [str(p) for p in subdirs]
    return [folder]


def _print(results: list[Any], args: argparse.Namespace) -> None:
    from ember.sim.engine import FIXES, KEPT

    if args.json:
        rows = []
        for r in results:
            d = r.as_dict()
            row = {k: d[k] for k in JSON_KEYS}
            row.update({k: d[k] for k in d if k not in row})
            rows.append(row)
        print(json.dumps(rows[0] if args.action == "run" else rows, indent=2))
        return
    first = results[0]
    traces = sorted({r.trace for r in results})
    if len(traces) == 1:
        print(f"trace {first.trace}: {first.vms} VMs on {first.hosts} hosts; model {first.model}; seed {first.seed}")
    else:
        print(f"{len(traces)} traces on {first.hosts} hosts; model {first.model}; seed {first.seed}")
    if first.model == "ember":
        print("fixes of CloudSim 3.0.3: " + "; ".join(f"{k} ({v})" for k, v in FIXES.items()))
    print(f"kept in both models: {KEPT}")
    columns = ((("trace", "day", "{}"),) if len(traces) > 1 else ()) + COLUMNS
    table = [[h for _, h, _ in columns]]
    for r in results:
        d = r.as_dict()
        table.append([fmt.format(d[k] * SCALE.get(k, 1)) if isinstance(d[k], int | float) else fmt.format(d[k])
                      for k, _, fmt in columns])
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    left = len(columns) - len(COLUMNS) + 1  # name columns are left-aligned
    for j, cells in enumerate(table):
        print("  ".join(c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths))))
        if j == 0:
            print("  ".join("-" * w for w in widths))
