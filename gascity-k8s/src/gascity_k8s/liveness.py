"""What one pod object says about its session, read without any extra call."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gascity.types import Liveness, RunningSession

from .naming import ANNOTATION_NAME, META_PREFIX

__all__ = ["AGENT_CONTAINER", "INITIALIZING", "pod_liveness", "running_session", "session_name"]

AGENT_CONTAINER = "agent"
INITIALIZING = frozenset(
    {
        "ContainerCreating",
        "PodInitializing",
        "ErrImagePull",
        "ImagePullBackOff",
        "CreateContainerConfigError",
        "CrashLoopBackOff",
    }
)
"""Waiting reasons that mean "not up yet": a back-off, never a failure."""


def _agent_status(pod: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses") or []:
        if status.get("name") == AGENT_CONTAINER:
            return status  # type: ignore[no-any-return]
    return None


def pod_liveness(pod: Mapping[str, Any]) -> tuple[Liveness, str]:
    """Liveness and a short reason, from phase, deletion and the agent container.

    The startup probe marks the container ``started`` once tmux ``main`` exists;
    the readiness probe turns ``ready`` false when the agent's pane has died. A
    pod without probes (an older script's) counts as alive while running.
    """
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return Liveness.DEAD, "terminating"
    phase = pod.get("status", {}).get("phase", "Unknown")
    status = _agent_status(pod)
    state = (status or {}).get("state") or {}
    if phase in ("Succeeded", "Failed"):
        return Liveness.DEAD, phase.lower()
    if phase == "Pending":
        waiting = state.get("waiting") or {}
        return Liveness.STARTING, str(waiting.get("reason") or "pending")
    if phase != "Running" or status is None:
        return Liveness.UNKNOWN, phase.lower()
    return _container_liveness(status, state)


def _container_liveness(
    status: Mapping[str, Any], state: Mapping[str, Any]
) -> tuple[Liveness, str]:
    """A running pod's liveness, from its agent container's state and probes."""
    if "terminated" in state:
        return Liveness.DEAD, "agent container exited"
    if "waiting" in state:
        return Liveness.STARTING, str(state["waiting"].get("reason") or "waiting")
    if status.get("started") is False:
        return Liveness.STARTING, "tmux session not up yet"
    if status.get("ready") is False:
        return Liveness.DEAD, "agent exited (tmux pane dead)"
    return Liveness.ALIVE, "running"


def session_name(pod: Mapping[str, Any]) -> str | None:
    meta = pod.get("metadata", {})
    name = (meta.get("annotations") or {}).get(ANNOTATION_NAME)
    return str(name) if name else None


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def running_session(pod: Mapping[str, Any]) -> RunningSession | None:
    name = session_name(pod)
    if name is None:
        return None
    annotations = pod.get("metadata", {}).get("annotations") or {}
    meta = {
        k[len(META_PREFIX) :]: str(v) for k, v in annotations.items() if k.startswith(META_PREFIX)
    }
    liveness, detail = pod_liveness(pod)
    status = _agent_status(pod) or {}
    started = ((status.get("state") or {}).get("running") or {}).get("startedAt")
    return RunningSession(
        name=name,
        liveness=liveness,
        meta=meta,
        processes=None,
        started_at=_parse_time(started or pod.get("metadata", {}).get("creationTimestamp")),
        detail=detail,
    )
