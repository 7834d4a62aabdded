"""One tick's decisions, as pure logic: (desired, running, state, now) -> Plan.

Nothing here performs I/O. The controller executes the plan: crashes (peek for the
last output), stops, drains, then starts in dependency waves.

Each rule is a function of plain values in :mod:`.rules`; :func:`make_plan` gives each
session the verdict of the first rule that applies, then composes the plan:

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
* a start whose dependency cannot be up this tick is held (``blocked``, under the
  dependency's name); one whose dependency starts in an earlier wave ``needs`` it.
* healthy -> nothing at all: a steady tick's only provider call is the listing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..config.models import AgentConfig, CityConfig
from ..types import META_FINGERPRINT, EventDraft, RunningSession
from .actions import CrashAction, DrainAction, StartAction, StopAction
from .desired import DesiredSession, session_owner
from .gating import gate_starts, waves
from .naming import session_names
from .rules import (
    HEALTHY,
    Seen,
    Unwanted,
    Verdict,
    crash_loops,
    decide_unwanted,
    decide_wanted,
    drain_of,
    is_zombie,
    missing,
    pool_changes,
)
from .scale import ScaleResult
from .state import ControllerState

__all__ = [
    "CrashAction",
    "DrainAction",
    "Holds",
    "Observations",
    "Plan",
    "StartAction",
    "StopAction",
    "is_zombie",
    "make_plan",
    "waves",
]


@dataclass(frozen=True, slots=True)
class Observations:
    """What the controller measured this tick besides the listing (its I/O, done
    before planning)."""

    scale: Mapping[str, ScaleResult] = field(default_factory=dict)
    acked: frozenset[str] = frozenset()
    """Draining sessions that acknowledged, asked where the listing has no metadata."""
    idle: frozenset[str] = frozenset()
    """Sessions quiet for longer than their agent's ``idle_timeout``."""


@dataclass(frozen=True, slots=True)
class Holds:
    """What keeps agents from running this tick."""

    suspended_agents: frozenset[str] = frozenset()
    city_suspended: bool = False
    unresolved: frozenset[str] = frozenset()
    """Agents whose launch cannot be resolved: never desired, failed for dependents."""


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
    blocked: dict[str, str] = field(default_factory=dict)
    """Desired sessions not started this tick, by the dependency they wait for."""

    @property
    def is_noop(self) -> bool:
        return not (self.starts or self.blocked or self.stops or self.drains or self.crashes)

    def add(self, name: str, agent: str | None, verdict: Verdict, now: float) -> None:
        """Fold one session's verdict in (its start is collected by the caller)."""
        state = self.state
        if verdict.crashed and agent is not None:
            state.crashes.setdefault(agent, []).append(now)
        if verdict.crash is not None:
            self.crashes.append(verdict.crash)
        self.events.extend(verdict.events)
        if verdict.stop is not None:
            self.stops.append(verdict.stop)
        if verdict.drain is not None:
            self.drains.append(verdict.drain)
        if verdict.healthy:
            self.healthy.add(name)
        if verdict.drain_state is None:
            state.drains.pop(name, None)
        else:
            state.drains[name] = verdict.drain_state


def _wanted_verdict(
    d: DesiredSession, agent: AgentConfig, record: RunningSession | None,
    state: ControllerState, now: float, observed: Observations,
) -> Verdict:
    name = d.name
    if record is None:
        return missing(d, was_running=name in state.last_running,
                       draining=name in state.drains, stopping=name in state.stopping)
    remembered = state.drains.get(name)
    drain, ack = drain_of(record, remembered, now)
    stored = record.meta.get(META_FINGERPRINT) if record.meta is not None else None
    if stored is None:  # a provider without metadata: the controller's record
        stored = state.fingerprints.get(name)
    return decide_wanted(Seen(
        d, agent, record, now, remembered, drain, ack or name in observed.acked, stored,
        is_zombie(record, agent), name in state.stopping, name in observed.idle))


def _unwanted(
    record: RunningSession, agents: Mapping[str, AgentConfig], config: CityConfig,
    state: ControllerState, now: float, observed: Observations, holds: Holds,
) -> Unwanted:
    owner = session_owner(record.name, agents, session_names(config))
    if owner is None:
        return Unwanted(record, None, now)
    agent = agents[owner[0]]
    drain, ack = drain_of(record, state.drains.get(record.name), now)
    suspended = holds.city_suspended or config.workspace.suspended or agent.suspended or (
        agent.name in holds.suspended_agents)
    return Unwanted(record, agent, now, suspended=suspended,
                    quarantined=agent.name in state.quarantined, drain=drain,
                    acked=ack or record.name in observed.acked)


def make_plan(
    *,
    config: CityConfig,
    desired: Mapping[str, DesiredSession],
    running: Sequence[RunningSession],
    state: ControllerState,
    now: float,
    observed: Observations | None = None,
    holds: Holds | None = None,
    levels: Mapping[str, int] | None = None,
) -> Plan:
    """``levels`` is :func:`waves` of ``config``, when the caller keeps it per config."""
    observed = observed or Observations()
    holds = holds or Holds()
    agents = {a.name: a for a in config.agent}
    level = waves(config) if levels is None else levels
    new = state.copy()
    # Settled below: a desired name by its rules, any other stopped again as unwanted.
    new.stopping = {}
    plan = Plan(state=new)
    new.pool_desired, new.scale_errors, plan.events = pool_changes(
        observed.scale, state.pool_desired, state.scale_errors)

    by_name = {r.name: r for r in running}
    pending: list[StartAction] = []
    for name, d in desired.items():
        verdict = _wanted_verdict(d, agents[d.agent], by_name.get(name), state, now, observed)
        if verdict is HEALTHY:  # a steady session: nothing to fold in, nor to forget
            plan.healthy.add(name)
            continue
        plan.add(name, d.agent, verdict, now)
        if verdict.start is not None:
            pending.append(StartAction(d, level.get(d.agent, 0), verdict.start))
    for record in running:
        if record.name not in desired:
            unwanted = _unwanted(record, agents, config, state, now, observed, holds)
            owner = unwanted.agent.name if unwanted.agent is not None else None
            plan.add(record.name, owner, decide_unwanted(unwanted), now)
    # Highest instance numbers first, as the agents see the flag in that order.
    plan.drains.sort(key=lambda a: _instance_key(a.name), reverse=True)

    new.crashes, new.quarantined, quarantines = crash_loops(
        new.crashes, new.quarantined, config.daemon, now)
    plan.events.extend(quarantines)
    starts = sorted((s for s in pending if s.session.agent not in new.quarantined),
                    key=lambda s: (s.wave, s.session.agent, s.session.instance or 0))
    unavailable = (set(holds.suspended_agents) | holds.unresolved | set(new.quarantined)
                   | {a.name for a in config.agent if a.suspended})
    plan.starts, plan.blocked = gate_starts(starts, config=config, desired=desired,
                                            up=plan.healthy, unavailable=unavailable)
    new.blocked = dict(plan.blocked)
    _remember(plan, by_name, desired, now)
    return plan


def _remember(plan: Plan, by_name: Mapping[str, RunningSession],
              desired: Mapping[str, DesiredSession], now: float) -> None:
    """The state the next tick starts from: what runs once this plan is carried out."""
    new = plan.state
    for stop in plan.stops:
        if stop.event is not None:
            new.drains.pop(stop.name, None)
    # A session stopped and not started again (its restart waits for a dependency or
    # its agent was quarantined) is gone on purpose: the next tick must not see a crash.
    stopped = {s.name for s in plan.stops}
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


def _instance_key(name: str) -> tuple[str, int]:
    base, _, num = name.rpartition("-")
    return (base, int(num)) if num.isdigit() else (name, 0)
