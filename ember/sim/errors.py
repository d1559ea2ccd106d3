"""Errors of the simulator."""

from __future__ import annotations

from ember.errors import ConfigError, EmberError


class SimError(EmberError):
    """The simulation cannot run as asked (e.g. the VMs do not fit on the hosts)."""


class TraceError(ConfigError):
    """A workload trace folder or file that is missing, empty or malformed."""
