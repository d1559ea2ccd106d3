"""Seeded synthetic workloads shaped like PlanetLab days, for scale runs.

Each VM gets a base level (most VMs are lightly loaded, a few are busy, as in
PlanetLab), follows a mean-reverting random walk around it, and is rounded to
whole percent. Same seed, same trace.
"""

from __future__ import annotations

from ember.sim.trace import PERCENT, PLANETLAB_INTERVAL_S, PLANETLAB_SAMPLES, Trace

#: Mean of the log base level (exp(2.3) ~ 10 %: PlanetLab VMs idle most of the time).
LOG_LEVEL_MEAN = 2.3
LOG_LEVEL_SD = 0.8
#: How strongly a VM returns to its base level each interval.
REVERSION = 0.2
#: Percent points of noise per interval.
STEP_SD = 4.0


def synthetic_trace(vms: int, samples: int = PLANETLAB_SAMPLES, seed: int = 0,
                    interval_s: float = PLANETLAB_INTERVAL_S) -> Trace:
    import numpy as np

    rng = np.random.default_rng(seed)
    level = np.minimum(np.exp(rng.normal(LOG_LEVEL_MEAN, LOG_LEVEL_SD, vms)), PERCENT)
    x = np.empty((vms, samples))
    cur = level.copy()
    for k in range(samples):
        cur = cur + REVERSION * (level - cur) + rng.normal(0.0, STEP_SD, vms)
        cur = np.clip(cur, 0, PERCENT)
        x[:, k] = cur
    data = np.rint(x) / PERCENT
    names = tuple(f"vm{i:06d}" for i in range(vms))
    return Trace(f"synthetic-{vms}-seed{seed}", names, data, float(interval_s))
