"""The reconcile rules, one function each, over plain values.

A session's rules are tried in order and the first that applies decides its
:class:`Verdict`; :func:`~.plan.make_plan` folds the verdicts into the plan. Pools and
crash loops are per agent: :func:`pool_changes` and :func:`crash_loops`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import event_names as ev
from ..config.models import AgentConfig, DaemonSection
from ..types import (
    DRAIN_MANUAL,
    DRAIN_RESTART,
    META_DRAIN,
    META_DRAIN_ACK,
    EventDraft,
    Liveness,
    RunningSession,
)
from .actions import CrashAction, DrainAction, StopAction
from .desired import DesiredSession
from .scale import ScaleResult
from .state import Drain

__all__ = [
    "HEALTHY",
    "MISSING",
    "OPERATOR_DRAINS",
    "Seen",
    "Unwanted",
    "Verdict",
    "crash_loops",
    "decide_unwanted",
    "decide_wanted",
    "drain_of",
    "is_zombie",
    "missing",
    "pool_changes",
]

OPERATOR_DRAINS = frozenset({DRAIN_MANUAL, DRAIN_RESTART})
"""Drain reasons set from outside (``gc runtime drain``, ``request-restart``): the
controller keeps them, where it calls off its own scale drains of a wanted session."""


def event(type_: str, subject: str, message: str, **payload: Any) -> EventDraft:
    return EventDraft(type=type_, actor="controller", subject=subject, message=message,
                      payload=payload)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the first rule that applies decides for one session."""

    start: str | None = None
    """Start it (again), for this reason."""
    stop: StopAction | None = None
    drain: DrainAction | None = None
    crash: CrashAction | None = None
    """A crash seen in the listing: recorded with the session's last output."""
    crashed: bool = False
    """Counts toward the agent's crash loop (seen in the listing or not)."""
    events: tuple[EventDraft, ...] = ()
    healthy: bool = False
    """Up and needing nothing this tick: its dependents count it as up."""
    drain_state: Drain | None = None
    """The session's drain as the controller remembers it after this tick."""


HEALTHY = Verdict(healthy=True)
"""The verdict of most sessions on most ticks: shared, not built each time."""
MISSING = Verdict(start="missing")


def is_zombie(record: RunningSession, agent: AgentConfig) -> str | None:
    """Why this running session's agent counts as dead, or ``None``."""
    if record.liveness is Liveness.DEAD:
        return "agent process exited"
    if (
        agent.process_names
        and record.processes is not None
        and not set(agent.process_names) & set(record.processes)
    ):
        shown = ", ".join(sorted(record.processes)) or "nothing"
        return f"none of {agent.process_names} running (found: {shown})"
    return None


def drain_of(
    record: RunningSession, remembered: Drain | None, now: float
) -> tuple[Drain | None, bool]:
    """(current drain, acked) from the record's meta, else the controller's memory."""
    if record.meta is None:
        return remembered, False
    flag = record.meta.get(META_DRAIN)
    if flag and remembered is None:
        # Adopted after a controller restart that lost its state: start the clock now.
        remembered = Drain(reason=flag, since=now)
    return remembered, bool(record.meta.get(META_DRAIN_ACK))


# ------------------------------------------------------------ desired sessions


def missing(want: DesiredSession, *, was_running: bool, draining: bool,
            stopping: bool) -> Verdict:
    """Desired, not running: start it. Gone since last tick without the controller
    stopping or draining it: that is a crash too (the session vanished)."""
    if was_running and not draining and not stopping:
        why = "session disappeared"
        crashed = event(ev.SESSION_CRASHED, want.name, f"{want.name}: {why}",
                        agent=want.agent, reason=why, output="")
        return Verdict(start="crashed", crashed=True, events=(crashed,))
    return MISSING


@dataclass(slots=True)  # not frozen: built for every session of every tick
class Seen:
    """A desired session the listing shows, as this tick sees it."""

    want: DesiredSession
    agent: AgentConfig
    record: RunningSession
    now: float
    remembered: Drain | None = None
    """The drain the controller's state holds for it."""
    drain: Drain | None = None
    """Its drain now: the remembered one, or one adopted from its metadata."""
    acked: bool = False
    stored: str | None = None
    """The fingerprint it was started with, where known."""
    dead: str | None = None
    """Why its agent counts as dead (:func:`is_zombie`)."""
    stopping: bool = False
    """The controller was stopping it on purpose (and was killed half-way)."""
    idle: bool = False

    @property
    def drifted(self) -> bool:
        return self.stored is not None and self.stored != self.want.fingerprint

    @property
    def steady(self) -> bool:
        """No rule applies: each needs one of these (a test holds them to it)."""
        return (self.dead is None and self.drain is None and not self.idle
                and self.record.liveness is not Liveness.STARTING and not self.drifted)

    def restart(self, reason: str, **rest: Any) -> Verdict:
        """Stop and start again. The drain, if any, ends with the session: the new one
        has no drain flag, and a remembered drain would be un-drained next tick."""
        stop = StopAction(self.want.name, self.want.agent, reason, event=None)
        return Verdict(start=reason, stop=stop, **rest)


def interrupted_stop(s: Seen) -> Verdict | None:
    """Dead while the controller was stopping it: finish that stop, no crash."""
    if s.dead is None or not s.stopping:
        return None
    return s.restart("stop interrupted")


def dead(s: Seen) -> Verdict | None:
    """Agent process dead: ``session.crashed`` (with output), then restart."""
    if s.dead is None:
        return None
    return s.restart("crashed", crash=CrashAction(s.want.name, s.want.agent, s.dead),
                     crashed=True)


def starting(s: Seen) -> Verdict | None:
    """Still starting (or cannot be asked): left alone, not yet up for dependents."""
    if s.record.liveness is not Liveness.STARTING:
        return None
    return Verdict(drain_state=s.remembered)


def idle(s: Seen) -> Verdict | None:
    """No activity for the agent's ``idle_timeout``: restart."""
    if not s.idle:
        return None
    name, timeout = s.want.name, s.agent.idle_timeout
    killed = event(ev.SESSION_IDLE_KILLED, name,
                   f"{name}: idle longer than {timeout:g}s; restarting",
                   agent=s.want.agent, idle_timeout=timeout)
    return s.restart("idle", events=(killed,))


def operator_drain(s: Seen) -> Verdict | None:
    """``gc runtime drain`` / ``request-restart``: wanted, but asked to wind down; once
    acknowledged (a restart request needs none) it starts again, fresh."""
    drain = s.drain
    if drain is None or drain.reason not in OPERATOR_DRAINS:
        return None
    if s.acked or drain.reason == DRAIN_RESTART:
        stop = StopAction(s.want.name, s.want.agent, drain.reason)
        return Verdict(start=drain.reason, stop=stop)
    return Verdict(healthy=True, drain_state=drain)


def undrain(s: Seen) -> Verdict | None:
    """Draining but wanted again (scale) or the config went back (drift): un-drain."""
    if s.drain is None or s.drifted:
        return None
    return Verdict(drain=DrainAction(s.want.name, s.want.agent, s.drain.reason, undrain=True),
                   healthy=True)


def drift(s: Seen) -> Verdict | None:
    """Started from another config: drain, then restart on the ack or after
    ``drain_timeout``. No stored fingerprint is never drift."""
    if not s.drifted:
        return None
    drain = s.drain
    if drain is None or drain.reason != "drift":
        return Verdict(drain=DrainAction(s.want.name, s.want.agent, "drift"), healthy=True,
                       drain_state=Drain("drift", s.now))
    if s.acked or s.now - drain.since >= s.agent.drain_timeout:
        return s.restart("drift")
    return Verdict(healthy=True, drain_state=drain)


RUNNING_RULES: tuple[Callable[[Seen], Verdict | None], ...] = (
    interrupted_stop, dead, starting, idle, operator_drain, undrain, drift,
)
"""A running desired session's rules, in the order it meets them."""


def decide_wanted(s: Seen) -> Verdict:
    """The first rule that applies; none: healthy, nothing to do."""
    if s.steady:  # most sessions of most ticks, without asking each rule
        return HEALTHY
    for rule in RUNNING_RULES:
        verdict = rule(s)
        if verdict is not None:
            return verdict
    return Verdict(healthy=True, drain_state=s.drain)


# ------------------------------------------------------ sessions nobody wants


@dataclass(frozen=True, slots=True)
class Unwanted:
    """A running session no desired session names, as this tick sees it."""

    record: RunningSession
    agent: AgentConfig | None
    """Its owner; ``None`` for an orphan."""
    now: float
    suspended: bool = False
    quarantined: bool = False
    drain: Drain | None = None
    acked: bool = False

    def stop(self, reason: str, **rest: Any) -> Verdict:
        owner = self.agent.name if self.agent is not None else None
        return Verdict(stop=StopAction(self.record.name, owner, reason, **rest))


def scale_down(u: Unwanted, agent: AgentConfig) -> Verdict:
    """A pool member above the desired count: drain, stop on its ack or after
    ``drain_timeout``."""
    name, drain = u.record.name, u.drain
    if drain is None:
        return Verdict(drain=DrainAction(name, agent.name, "scale"),
                       drain_state=Drain("scale", u.now))
    if u.acked or u.now - drain.since >= agent.drain_timeout:
        why = "acknowledged" if u.acked else "drain_timeout"
        drained = event(ev.SESSION_DRAINED, name, f"{name}: drained ({why})",
                        agent=agent.name, by=why)
        return Verdict(stop=StopAction(name, agent.name, "scale"), events=(drained,))
    return Verdict(drain_state=drain)


def decide_unwanted(u: Unwanted) -> Verdict:
    """Orphan, suspended, quarantined, dead, or drained away by a smaller pool."""
    if u.agent is None:
        return u.stop("orphan")
    if u.suspended:
        return u.stop("suspended", event=ev.SESSION_SUSPENDED)
    if u.quarantined:
        return u.stop("quarantined")
    if u.record.liveness is Liveness.DEAD:
        return u.stop("dead")
    return scale_down(u, u.agent)


# ------------------------------------------------------------------ per agent


def pool_changes(
    scale: Mapping[str, ScaleResult], desired: Mapping[str, int], errors: Mapping[str, str]
) -> tuple[dict[str, int], dict[str, str], list[EventDraft]]:
    """New pool sizes and scale-check errors, with an event once per change."""
    sizes, failing, events = dict(desired), dict(errors), []
    for agent, res in scale.items():
        before = desired.get(agent)
        if before != res.count:
            sizes[agent] = res.count
            events.append(event(ev.POOL_SCALED, agent, f"{agent}: {before or 0} -> {res.count}",
                                previous=before or 0, desired=res.count, raw=res.raw,
                                error=res.error))
        previous_error = errors.get(agent)
        if res.error and res.error != previous_error:
            failing[agent] = res.error
            if res.capped:
                events.append(event(ev.POOL_CAPPED, agent, f"{agent}: {res.error}",
                                    error=res.error, raw=res.raw, desired=res.count))
            else:
                events.append(event(ev.POOL_CHECK_FAILED, agent,
                                    f"{agent}: {res.error}; using min",
                                    error=res.error, raw=res.raw, desired=res.count))
        elif not res.error and previous_error:
            failing.pop(agent, None)
    return sizes, failing, events


def crash_loops(
    crashes: Mapping[str, Sequence[float]],
    quarantined: Mapping[str, float],
    daemon: DaemonSection,
    now: float,
) -> tuple[dict[str, list[float]], dict[str, float], list[EventDraft]]:
    """Crash times still inside ``restart_window``, and the agents that crashed more
    than ``max_restarts`` times in it, quarantined (``session.quarantined`` once)."""
    window, limit = daemon.restart_window, daemon.max_restarts  # limit 0: no guard
    recent_by_agent: dict[str, list[float]] = {}
    held, events = dict(quarantined), []
    for agent, times in crashes.items():
        recent = [t for t in times if now - t <= window]
        if recent:
            recent_by_agent[agent] = recent
        if limit and len(recent) > limit and agent not in held:
            held[agent] = now
            events.append(event(
                ev.SESSION_QUARANTINED, agent,
                f"{agent}: {len(recent)} crashes within {window:g}s; "
                "not restarting until reload or resume",
                crashes=len(recent), window=window))
    return recent_by_agent, held, events
