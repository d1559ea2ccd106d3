"""Many runs (policies x days) in parallel worker processes.

Each worker reads its trace itself (once per process) and returns the
result as a plain dict, so nothing large crosses the process boundary.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ember.sim.engine import RunConfig, run
from ember.sim.metrics import Result
from ember.sim.trace import PLANETLAB_INTERVAL_S, PLANETLAB_SAMPLES, Trace, load_trace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    trace_dir: str
    cfg: RunConfig
    samples: int = PLANETLAB_SAMPLES
    interval_s: float = PLANETLAB_INTERVAL_S


_cache: dict[tuple[str, int, float], Trace] = {}


def _trace(job: Job) -> Trace:
    key = (job.trace_dir, job.samples, job.interval_s)
    if key not in _cache:
        _cache.clear()  # one trace at a time per worker keeps memory flat
        _cache[key] = load_trace(job.trace_dir, job.samples, job.interval_s)
    return _cache[key]


def run_job(job: Job) -> Result:
    return run(_trace(job), job.cfg)


def default_jobs() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), 8))


def sweep(jobs: Iterable[Job], workers: int | None = None,
          done: Callable[[Job, Result], None] | None = None) -> list[Result]:
    """Run every job; results in job order. ``workers`` 1 runs in this process."""
    from concurrent.futures import ProcessPoolExecutor, as_completed

    todo = list(jobs)
    workers = workers or default_jobs()
    results: list[Result | None] = [None] * len(todo)
    if workers == 1 or len(todo) == 1:
        for i, job in enumerate(todo):
            results[i] = run_job(job)
            if done:
                done(job, results[i])  # type: ignore[arg-type]
    else:
        # group by trace so each worker mostly reuses its loaded trace
        order = sorted(range(len(todo)), key=lambda i: todo[i].trace_dir)
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(run_job, todo[i]): i for i in order}
            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                if done:
                    done(todo[i], results[i])  # type: ignore[arg-type]
    return [r for r in results if r is not None]
