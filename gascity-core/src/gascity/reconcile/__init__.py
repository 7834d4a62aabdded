"""The reconciler: pure decisions over data, with the I/O (scale checks) at its edge.

``desired`` (what the config asks for) + ``running`` (one ``list_running`` result) +
``state`` (what the controller remembers) + ``now`` -> :class:`~.plan.Plan`. Nothing
in :mod:`.plan` touches a provider, so every rule is tested without one.
"""

from __future__ import annotations

from .desired import DesiredSession, build_desired, instance_names, session_owner
from .fingerprint import fingerprint
from .plan import Plan, make_plan
from .scale import ScaleResult, clamp, run_scale_checks
from .state import ControllerState

__all__ = [
    "ControllerState",
    "DesiredSession",
    "Plan",
    "ScaleResult",
    "build_desired",
    "clamp",
    "fingerprint",
    "instance_names",
    "make_plan",
    "run_scale_checks",
    "session_owner",
]
