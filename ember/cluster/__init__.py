"""Data-center layer: the host model and the consolidation policies.

``ember.cluster.power`` and ``ember.cluster.hostmodel`` describe what a host
draws and how it shares its CPU; ``ember.cluster.policy`` holds the decisions
(overload detection, VM selection, placement, consolidation) as pure functions
over frozen dataclasses, so the simulator (``ember.sim``) and a real cluster
manager call the very same code.
"""
