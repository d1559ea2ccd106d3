"""Figures: active hosts and utilisation over the day, energy per policy."""

from __future__ import annotations

from pathlib import Path

from ember.sim.metrics import Result

SECONDS_PER_HOUR = 3600.0


def plot(results: list[Result], out: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    hosts_ax, util_ax, energy_ax = axes
    for r in results:
        hours = [t / SECONDS_PER_HOUR for t in r.series.get("t", [])]
        hosts_ax.plot(hours, r.series.get("active_hosts", []), label=r.policy, linewidth=1)
        util_ax.plot(hours, [100 * u for u in r.series.get("active_utilization", [])], label=r.policy, linewidth=1)
    hosts_ax.set(title="active hosts", xlabel="hour", ylabel="hosts")
    util_ax.set(title="mean CPU utilisation of active hosts", xlabel="hour", ylabel="%")
    energy_ax.bar([r.policy for r in results], [r.energy_kwh for r in results])
    energy_ax.set(title="energy per policy", ylabel="kWh")
    energy_ax.tick_params(axis="x", rotation=70, labelsize=7)
    if len(results) <= 8:
        hosts_ax.legend(fontsize=7)
    first = results[0]
    fig.suptitle(f"{first.trace} — model {first.model}, seed {first.seed}, {first.hosts} hosts, {first.vms} VMs")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
