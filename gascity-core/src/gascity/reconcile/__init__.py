"""The reconciler: pure decisions over data, with the I/O (scale checks) at its edge.

``desired`` (what the config asks for) + ``running`` (one ``list_running`` result) +
``state`` (what the controller remembers) + ``now`` -> :class:`~.plan.Plan`. Nothing
in :mod:`.plan` touches a provider, so every rule is tested without one.

Names load on first use (PEP 562), keeping ``gc`` start-up cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .desired import DesiredSession, build_desired, instance_names, session_owner
    from .drift import fingerprint
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

_WHERE = {
    "DesiredSession": "desired",
    "build_desired": "desired",
    "instance_names": "desired",
    "session_owner": "desired",
    "fingerprint": "drift",
    "Plan": "plan",
    "make_plan": "plan",
    "ScaleResult": "scale",
    "clamp": "scale",
    "run_scale_checks": "scale",
    "ControllerState": "state",
}

__getattr__ = lazy_attributes(__name__, _WHERE)
