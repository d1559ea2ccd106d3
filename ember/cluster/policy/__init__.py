"""Consolidation policies: pure functions over frozen cluster state.

- :mod:`.overload` — is a host overloaded? THR, IQR, MAD, LR, LRR;
- :mod:`.selection` — which VM leaves an overloaded host? MMT, MC, RS, MU;
- :mod:`.placement` — where does a VM go? PABFD, first fit, fewest instances;
- :mod:`.consolidate` — one round of all of it, and initial placement;
- :mod:`.state` — the frozen tables they read and the :class:`Plan` they return.

Policies are named ``<detector>-<selector>-<parameter>``, e.g. ``thr-mmt-0.8``.
"""

from __future__ import annotations

import re

from ember.cluster.policy.consolidate import Policy, consolidate, place_new
from ember.cluster.policy.overload import Iqr, Lr, Lrr, Mad, Thr
from ember.cluster.policy.placement import PLACEMENTS, FewestInstances, FirstFit, Pabfd
from ember.cluster.policy.selection import Mc, Mmt, Mu, Rs
from ember.cluster.policy.state import ClusterState, HostTable, Migration, Plan, VmTable
from ember.errors import ConfigError

__all__ = [
    "DETECTORS",
    "SELECTORS",
    "ClusterState",
    "FewestInstances",
    "FirstFit",
    "HostTable",
    "Iqr",
    "Lr",
    "Lrr",
    "Mad",
    "Mc",
    "Migration",
    "Mmt",
    "Mu",
    "Pabfd",
    "Plan",
    "Policy",
    "PolicyError",
    "Rs",
    "Thr",
    "VmTable",
    "consolidate",
    "parse_policy",
    "place_new",
]


class PolicyError(ConfigError):
    """A policy name or parameter that does not describe a policy."""


#: Detector name -> class taking the safety parameter / threshold.
DETECTORS: dict[str, type] = {"thr": Thr, "iqr": Iqr, "mad": Mad, "lr": Lr, "lrr": Lrr}
SELECTORS: dict[str, type] = {"mmt": Mmt, "mc": Mc, "rs": Rs, "mu": Mu}

_NAME = re.compile(r"^(?P<det>[a-z]+)-(?P<sel>[a-z]+)-(?P<param>[0-9]*\.?[0-9]+)$")


def parse_policy(name: str, placement: str = "pabfd") -> Policy:
    """``thr-mmt-0.8`` -> Policy(Thr(0.8), Mmt(), Pabfd()). Raises PolicyError with the choices."""
    m = _NAME.match(name.strip().lower())
    if not m:
        raise PolicyError(
            f"policy {name!r} is not <detector>-<selector>-<parameter> "
            f"(detectors: {', '.join(DETECTORS)}; selectors: {', '.join(SELECTORS)}; e.g. thr-mmt-0.8)"
        )
    det, sel, param = m["det"], m["sel"], float(m["param"])
    if det not in DETECTORS:
        raise PolicyError(f"unknown overload detector {det!r} in {name!r}; choose from {', '.join(DETECTORS)}")
    if sel not in SELECTORS:
        raise PolicyError(f"unknown VM selector {sel!r} in {name!r}; choose from {', '.join(SELECTORS)}")
    if placement not in PLACEMENTS:
        raise PolicyError(f"unknown placement {placement!r}; choose from {', '.join(PLACEMENTS)}")
    if det == "thr" and not 0 < param <= 1:
        raise PolicyError(f"threshold {param} in {name!r} must be in (0, 1]")
    if param <= 0:
        raise PolicyError(f"safety parameter {param} in {name!r} must be positive")
    return Policy(DETECTORS[det](param), SELECTORS[sel](), PLACEMENTS[placement](), name=m.group(0))
