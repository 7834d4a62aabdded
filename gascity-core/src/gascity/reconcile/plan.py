"""One tick's decisions, as pure logic: (desired, running, state, now) -> Plan.

Nothing here performs I/O. The controller executes the plan: crashes (peek for the
last output), stops, drains, then starts in dependency waves.

Rules, in the order a session meets them:

* desired, not running -> start (``missing``); if it was running last tick and nobody
  stopped it, that is a crash too (the session vanished).
* desired, running, agent process dead (``Liveness.DEAD`` or none of the agent's
  ``process_names`` among the session's processes) -> ``session.crashed``, restart.
  Unknown liveness is never dead.
* desired, running, stored fingerprint differs from the config's -> drain (reason
  ``drift``), then restart on the agent's ack or after ``drain_timeout``. No stored
  fingerprint -> leave it alone.
* desired again while draining for scale-down -> un-drain.
* running, not desired: pool member above the desired count -> drain (``scale``),
  stop on ack/timeout; suspended agent or city -> stop (``session.suspended``);
  no agent owns it -> stop (orphan).
* more than ``max_restarts`` crashes within ``restart_window`` -> quarantine the
  agent: ``session.quarantined`` once, no more starts until a reload or resume.
* an agent with ``idle_timeout`` whose session showed no activity for that long
  (``idle``, measured by the controller) -> restart.
* healthy -> nothing at all: a steady tick's only provider call is the listing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import event_names as ev
from ..config.models import AgentConfig, CityConfig
from ..types import (
    DRAIN_MANUAL,
    DRAIN_RESTART,
    META_DRAIN,
    META_DRAIN_ACK,
    META_FINGERPRINT,
    EventDraft,
    Liveness,
    RunningSession,
)
from .desired import DesiredSession, session_owner
from .scale import ScaleResult
from .state import ControllerState, Drain

__all__ = ["DrainAction", "Plan", "StartAction", "StopAction", "is_zombie", "make_plan", "waves"]


@dataclass(frozen=True, slots=True)
class StartAction:
    session: DesiredSession
    wave: int
    reason: str
    """``missing``, ``crashed``, ``drift`` or ``idle``."""


@dataclass(frozen=True, slots=True)
class StopAction:
    name: str
    agent: str | None
    reason: str
    """``orphan``, ``suspended``, ``scale``, ``drift``, ``crashed``, ``quarantined``, ``dead``."""
    event: str | None = ev.SESSION_STOPPED
    """The event to record once stopped; ``None`` for the stop half of a restart."""


@dataclass(frozen=True, slots=True)
class DrainAction:
    name: str
    agent: str
    reason: str
    undrain: bool = False


@dataclass(frozen=True, slots=True)
class CrashAction:
    name: str
    agent: str
    why: str


@dataclass
class Plan:
    starts: list[StartAction] = field(default_factory=list)
    stops: list[StopAction] = field(default_factory=list)
    drains: list[DrainAction] = field(default_factory=list)
    crashes: list[CrashAction] = field(default_factory=list)
    events: list[EventDraft] = field(default_factory=list)
    state: ControllerState = field(default_factory=ControllerState)
    healthy: set[str] = field(default_factory=set)
    """Running sessions needing nothing this tick (dependencies count them as up)."""
    dependencies: dict[str, list[str]] = field(default_factory=dict)
    desired_by_agent: dict[str, list[str]] = field(default_factory=dict)
    running_by_agent: dict[str, int] = field(default_factory=dict)

    @property
    def is_noop(self) -> bool:
        return not (self.starts or self.stops or self.drains or self.crashes)


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


def waves(config: CityConfig) -> dict[str, int]:
    """Dependency level of each agent: 0 for no dependencies, 1 + max of deps."""
    deps = {a.name: list(a.depends_on) for a in config.agent}
    level: dict[str, int] = {}

    def visit(name: str, trail: frozenset[str]) -> int:
        if name in level:
            return level[name]
        if name in trail:  # validated away at load; never loop forever regardless
            return 0
        lv = 1 + max((visit(d, trail | {name}) for d in deps.get(name, []) if d in deps),
                     default=-1)
        level[name] = lv
        return lv

    for name in deps:
        visit(name, frozenset())
    return level


OPERATOR_DRAINS = frozenset({DRAIN_MANUAL, DRAIN_RESTART})
"""Drain reasons set from outside (``gc runtime drain``, ``request-restart``): the
controller keeps them, where it calls off its own scale drains of a wanted session."""


def _drain_of(
    record: RunningSession, state: ControllerState, now: float
) -> tuple[Drain | None, bool]:
    """(current drain, acked) from the record's meta, else the controller's state."""
    drain = state.drains.get(record.name)
    if record.meta is not None:
        flag = record.meta.get(META_DRAIN)
        if flag and drain is None:
            # Adopted after a controller restart that lost its state: start the clock now.
            drain = Drain(reason=flag, since=now)
        return drain, bool(record.meta.get(META_DRAIN_ACK))
    return drain, False


def make_plan(
    *,
    config: CityConfig,
    desired: Mapping[str, DesiredSession],
    running: Sequence[RunningSession],
    state: ControllerState,
    now: float,
    scale: Mapping[str, ScaleResult] | None = None,
    acked: frozenset[str] = frozenset(),
    idle: frozenset[str] = frozenset(),
    suspended_agents: frozenset[str] = frozenset(),
    city_suspended: bool = False,
    levels: Mapping[str, int] | None = None,
) -> Plan:
    """``levels`` is :func:`waves` of ``config``, when the caller keeps it per config."""
    agents = {a.name: a for a in config.agent}
    by_name = {r.name: r for r in running}
    new = state.copy()
    plan = Plan(state=new)
    level = waves(config) if levels is None else levels
    plan.dependencies = {a.name: list(a.depends_on) for a in config.agent}
    for d in desired.values():
        plan.desired_by_agent.setdefault(d.agent, []).append(d.name)
    for r in running:
        owner = session_owner(r.name, agents)
        if owner:
            plan.running_by_agent[owner[0]] = plan.running_by_agent.get(owner[0], 0) + 1

    def event(type_: str, subject: str, message: str, **payload: Any) -> None:
        plan.events.append(
            EventDraft(type=type_, actor="controller", subject=subject, message=message,
                       payload=payload)
        )

    # ---- pools: record size changes and failing checks once per change
    for agent_name, res in (scale or {}).items():
        before = state.pool_desired.get(agent_name)
        if before != res.count:
            new.pool_desired[agent_name] = res.count
            event(ev.POOL_SCALED, agent_name, f"{agent_name}: {before or 0} -> {res.count}",
                  previous=before or 0, desired=res.count, raw=res.raw, error=res.error)
        previous_error = state.scale_errors.get(agent_name)
        if res.error and res.error != previous_error:
            new.scale_errors[agent_name] = res.error
            if res.capped:
                event(ev.POOL_CAPPED, agent_name, f"{agent_name}: {res.error}",
                      error=res.error, raw=res.raw, desired=res.count)
            else:
                event(ev.POOL_CHECK_FAILED, agent_name, f"{agent_name}: {res.error}; using min",
                      error=res.error, raw=res.raw, desired=res.count)
        elif not res.error and previous_error:
            new.scale_errors.pop(agent_name, None)
    crashed_now: dict[str, int] = {}

    def crash(name: str, agent: str, why: str, *, observed: bool) -> None:
        new.crashes.setdefault(agent, []).append(now)
        crashed_now[agent] = crashed_now.get(agent, 0) + 1
        if observed:
            plan.crashes.append(CrashAction(name, agent, why))
        else:
            event(ev.SESSION_CRASHED, name, f"{name}: {why}", agent=agent, reason=why, output="")

    # ---- desired sessions
    last_running = set(state.last_running)
    for name in [n for n in new.stopping if n not in desired]:
        del new.stopping[name]  # an orphan's stop is redone below like any orphan's
    pending_starts: list[StartAction] = []
    for name, d in desired.items():
        record = by_name.get(name)
        agent = agents[d.agent]
        stopped_on_purpose = new.stopping.pop(name, None) is not None
        if record is None:
            reason = "missing"
            if name in last_running and name not in state.drains and not stopped_on_purpose:
                crash(name, d.agent, "session disappeared", observed=False)
                reason = "crashed"
            pending_starts.append(StartAction(d, level.get(d.agent, 0), reason))
            continue
        why = is_zombie(record, agent)
        if why and stopped_on_purpose:
            # Its stop was interrupted (the controller was killed): finish it, no crash.
            plan.stops.append(StopAction(name, d.agent, "stop interrupted", event=None))
            pending_starts.append(StartAction(d, level.get(d.agent, 0), "stop interrupted"))
            continue
        if why:
            crash(name, d.agent, why, observed=True)
            plan.stops.append(StopAction(name, d.agent, "crashed", event=None))
            pending_starts.append(StartAction(d, level.get(d.agent, 0), "crashed"))
            continue
        if record.liveness is Liveness.STARTING:
            continue
        if name in idle:
            event(ev.SESSION_IDLE_KILLED, name, f"{name}: idle longer than "
                  f"{agent.idle_timeout:g}s; restarting", agent=d.agent,
                  idle_timeout=agent.idle_timeout)
            plan.stops.append(StopAction(name, d.agent, "idle", event=None))
            pending_starts.append(StartAction(d, level.get(d.agent, 0), "idle"))
            continue
        drain, ack = _drain_of(record, state, now)
        ack = ack or name in acked
        stored = (record.meta or {}).get(META_FINGERPRINT) if record.meta is not None else None
        if stored is None:
            stored = state.fingerprints.get(name)
        drifted = stored is not None and stored != d.fingerprint
        if drain is not None and drain.reason in OPERATOR_DRAINS:
            # `gc runtime drain` / `request-restart`: wanted, but asked to wind down; once
            # acknowledged (a restart request needs none) it starts again, fresh.
            if ack or drain.reason == DRAIN_RESTART:
                new.drains.pop(name, None)
                plan.stops.append(StopAction(name, d.agent, drain.reason))
                pending_starts.append(StartAction(d, level.get(d.agent, 0), drain.reason))
            else:
                new.drains[name] = drain
                plan.healthy.add(name)
            continue
        if drain is not None and not drifted:
            # Wanted again (scale) or the config went back (drift): un-drain.
            plan.drains.append(DrainAction(name, d.agent, drain.reason, undrain=True))
            new.drains.pop(name, None)
            plan.healthy.add(name)
            continue
        if drifted:
            if drain is None or drain.reason != "drift":
                new.drains[name] = Drain("drift", now)
                plan.drains.append(DrainAction(name, d.agent, "drift"))
                plan.healthy.add(name)
            elif ack or now - drain.since >= agent.drain_timeout:
                plan.stops.append(StopAction(name, d.agent, "drift", event=None))
                pending_starts.append(StartAction(d, level.get(d.agent, 0), "drift"))
            else:
                new.drains[name] = drain
                plan.healthy.add(name)
            continue
        if drain is not None:
            new.drains[name] = drain
        plan.healthy.add(name)

    # ---- running sessions nobody wants
    for record in running:
        if record.name in desired:
            continue
        owner = session_owner(record.name, agents)
        if owner is None:
            plan.stops.append(StopAction(record.name, None, "orphan"))
            continue
        agent_name, _instance = owner
        agent = agents[agent_name]
        if city_suspended or config.workspace.suspended or agent.suspended or (
            agent_name in suspended_agents
        ):
            plan.stops.append(StopAction(record.name, agent_name, "suspended",
                                         event=ev.SESSION_SUSPENDED))
            continue
        if agent_name in new.quarantined:
            plan.stops.append(StopAction(record.name, agent_name, "quarantined"))
            continue
        if record.liveness is Liveness.DEAD:
            plan.stops.append(StopAction(record.name, agent_name, "dead"))
            continue
        drain, ack = _drain_of(record, state, now)
        ack = ack or record.name in acked
        if drain is None:
            new.drains[record.name] = Drain("scale", now)
            plan.drains.append(DrainAction(record.name, agent_name, "scale"))
        elif ack or now - drain.since >= agent.drain_timeout:
            why = "acknowledged" if ack else "drain_timeout"
            plan.stops.append(StopAction(record.name, agent_name, "scale"))
            plan.events.append(EventDraft(
                type=ev.SESSION_DRAINED, actor="controller", subject=record.name,
                message=f"{record.name}: drained ({why})", payload={"agent": agent_name,
                                                                      "by": why}))
        else:
            new.drains[record.name] = drain
    # Highest instance numbers first, as the agents see the flag in that order.
    plan.drains.sort(key=lambda a: _instance_key(a.name), reverse=True)

    # ---- crash loops
    for agent_name, times in list(new.crashes.items()):
        window = config.daemon.restart_window
        recent = [t for t in times if now - t <= window]
        if recent:
            new.crashes[agent_name] = recent
        else:
            del new.crashes[agent_name]
        limit = config.daemon.max_restarts  # 0: no crash-loop guard, as in Gas City
        if limit and len(recent) > limit and agent_name not in new.quarantined:
            new.quarantined[agent_name] = now
            event(ev.SESSION_QUARANTINED, agent_name,
                  f"{agent_name}: {len(recent)} crashes within "
                  f"{config.daemon.restart_window:g}s; not restarting until reload or resume",
                  crashes=len(recent), window=config.daemon.restart_window)
    plan.starts = [s for s in pending_starts if s.session.agent not in new.quarantined]
    plan.starts.sort(key=lambda s: (s.wave, s.session.agent, s.session.instance or 0))

    # ---- bookkeeping for the next tick
    stopped = {s.name for s in plan.stops if s.event is not None}
    for name in stopped:
        new.drains.pop(name, None)
    new.last_running = sorted(
        (set(by_name) - stopped) | {s.session.name for s in plan.starts}
    )
    for name in list(new.fingerprints):
        if name not in by_name and name not in desired:
            del new.fingerprints[name]
    for name in list(new.drains):
        if name not in by_name:
            del new.drains[name]
    new.last_tick = now
    return plan


def _instance_key(name: str) -> tuple[str, int]:
    base, _, num = name.rpartition("-")
    return (base, int(num)) if num.isdigit() else (name, 0)
