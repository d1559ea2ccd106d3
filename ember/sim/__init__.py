"""Trace-driven data-center simulator running ember's consolidation policies.

- :mod:`.trace` reads a folder of per-VM CPU-utilisation files;
- :mod:`.datacenter` describes the hosts and VM types of the study;
- :mod:`.engine` runs one policy over one trace, deterministically for a seed;
- :mod:`.metrics` holds the result (energy, SLA metrics, series);
- :mod:`.sweep` runs many policy-day pairs in parallel processes;
- :mod:`.synthetic` makes large seeded workloads; :mod:`.plot` draws results.

The model is ``../shared/datacenter-model.md`` (CloudSim 3.0.3's power package
with ``model="cloudsim"``, the same study with its quirks fixed with
``model="ember"``). See docs/sim.md.
"""

from ember.sim.errors import SimError, TraceError

__all__ = ["SimError", "TraceError"]
