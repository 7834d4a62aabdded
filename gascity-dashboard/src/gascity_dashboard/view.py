"""The city as the API shows it: agents, pools and sessions, built when asked.

The controller's tick only hands over references (its report, its listing); the
per-session work happens here, on a request or a scrape, in the server's threads,
so the steady tick costs the same with the API as without it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gascity import __version__
from gascity.config.models import AgentConfig
from gascity.errors import GasCityError
from gascity.reconcile.desired import session_owner
from gascity.reconcile.naming import session_names
from gascity.reconcile.scale import static_count
from gascity.reconcile.state import ControllerState, Overrides
from gascity.types import Liveness, RunningSession

if TYPE_CHECKING:
    from gascity.controller.controller import Controller, TickReport

    from .plugin import DashboardPlugin

__all__ = ["CityView", "SessionRow"]


@dataclass(frozen=True, slots=True)
class SessionRow:
    name: str
    agent: str
    """The owning agent, ``""`` for an orphan."""
    state: str
    """``running``, ``dead``, ``starting``, ``unknown`` or ``draining``."""
    started_at: str | None


def _state_of(record: RunningSession, state: ControllerState) -> str:
    if record.name in state.drains:
        return "draining"
    if record.liveness is Liveness.ALIVE:
        return "running"
    return str(record.liveness.value)


def _reasons(name: str, suspended: bool, state: ControllerState,
             waiting: Mapping[str, str]) -> list[str]:
    """Why an agent runs fewer sessions than it could."""
    reasons = []
    if suspended:
        reasons.append("suspended")
    if name in state.quarantined:
        reasons.append("quarantined (crash loop)")
    error = state.scale_errors.get(name)
    if error:
        reasons.append(f"scale_check: {error}")
    if name in waiting:
        reasons.append(f"waiting for {waiting[name]}")
    return reasons


def _copy_state(state: ControllerState) -> ControllerState:
    """A consistent copy of the controller's state (its thread may be writing it)."""
    for _ in range(5):
        try:
            return ControllerState(
                drains=dict(state.drains),
                quarantined=dict(state.quarantined),
                pool_desired=dict(state.pool_desired),
                scale_errors=dict(state.scale_errors),
                blocked=dict(state.blocked),
                last_tick=state.last_tick,
            )
        except RuntimeError:  # "dictionary changed size during iteration"
            time.sleep(0.001)
    return ControllerState()


class CityView:
    def __init__(self, controller: Controller, plugin: DashboardPlugin) -> None:
        self.controller = controller
        self.plugin = plugin
        self.started = time.time()
        self.report: TickReport | None = None
        self.ticked = threading.Event()

    def on_tick(self, report: TickReport) -> None:
        self.report = report
        self.ticked.set()

    # ------------------------------------------------------------- readiness

    def not_ready(self) -> list[str]:
        reasons: list[str] = []
        if not self.ticked.is_set():
            reasons.append("the first reconcile tick has not finished")
        reasons += self.controller.hooks.readiness(self.controller)
        return reasons

    # ----------------------------------------------------------------- views

    def _snapshot(self) -> tuple[list[AgentConfig], list[RunningSession], ControllerState,
                                 Overrides]:
        config = self.controller.loaded.config
        listing = list(self.plugin.listing or ())
        state = _copy_state(self.controller.state)
        overrides = Overrides.load(self.controller.paths.overrides)
        return list(config.agent), listing, state, overrides

    def sessions(self, listing: Sequence[RunningSession] | None = None,
                 agents: Mapping[str, AgentConfig] | None = None,
                 state: ControllerState | None = None) -> list[SessionRow]:
        if listing is None or agents is None or state is None:
            agent_list, listing, state, _ = self._snapshot()
            agents = {a.name: a for a in agent_list}
        # The listing was taken at the start of the tick; what the tick then started
        # and stopped is applied on top, so the view is the city after the tick.
        report = self.report
        started = set(report.started) if report else set()
        stopped = set(report.stopped) if report else set()
        rows: dict[str, SessionRow] = {}
        names = session_names(self.controller.loaded.config)
        for record in listing:
            if record.name in stopped:
                continue
            owner = session_owner(record.name, agents, names)
            rows[record.name] = SessionRow(
                name=record.name,
                agent=owner[0] if owner else "",
                state="running" if record.name in started else _state_of(record, state),
                started_at=record.started_at.isoformat() if record.started_at else None,
            )
        for name in started - rows.keys():
            owner = session_owner(name, agents, names)
            rows[name] = SessionRow(name=name, agent=owner[0] if owner else "",
                                    state="running", started_at=None)
        return sorted(rows.values(), key=lambda r: r.name)

    def session_items(self) -> list[dict[str, Any]]:
        """``/v0/sessions``: our fields, and the reference's names for what it has too."""
        loaded = self.controller.loaded
        pools = {a.name for a in loaded.config.agent if a.is_pool}
        rig_agents = loaded.composition.rig_agents
        items = []
        for r in self.sessions():
            rig = rig_agents.get(r.agent)
            items.append({
                "name": r.name, "agent": r.agent, "state": r.state, "started_at": r.started_at,
                "session_name": r.name, "template": r.agent,
                "running": r.state in ("running", "draining"), "created_at": r.started_at,
                "rig": rig.rig if rig else "", "pool": r.agent if r.agent in pools else "",
            })
        return items

    def agents(self) -> list[dict[str, Any]]:
        agent_list, listing, state, overrides = self._snapshot()
        by_name = {a.name: a for a in agent_list}
        sessions = self.sessions(listing, by_name, state)
        per_agent: dict[str, list[SessionRow]] = {}
        for row in sessions:
            per_agent.setdefault(row.agent, []).append(row)
        config = self.controller.loaded.config
        city_suspended = overrides.city_suspended or config.workspace.suspended
        report = self.report
        suspended_agents = set(overrides.suspended_agents)
        waiting: dict[str, str] = {}  # agent -> the dependency one of its sessions waits for
        for name, dep in state.blocked.items():
            owner = session_owner(name, by_name, session_names(config))
            if owner is not None:
                waiting.setdefault(owner[0], dep)
        rig_agents = self.controller.loaded.composition.rig_agents
        rows: list[dict[str, Any]] = []
        for agent in agent_list:
            suspended = (agent.suspended or agent.name in suspended_agents
                         or city_suspended)
            mine = per_agent.get(agent.name, [])
            running = sum(1 for r in mine if r.state in ("running", "draining", "unknown"))
            if suspended:
                desired = 0
            elif agent.is_pool:
                scale = report.scale.get(agent.name) if report else None
                desired = scale.count if scale else state.pool_desired.get(
                    agent.name, static_count(agent))
            else:
                desired = 1
            reasons = _reasons(agent.name, suspended, state, waiting)
            if suspended:
                status = "suspended"
            elif agent.name in state.quarantined:
                status = "quarantined"
            elif running >= desired:
                status = "running" if desired else "idle"
            else:
                status = "starting" if running else "stopped"
            rig = rig_agents.get(agent.name)
            rows.append({
                "name": agent.name,
                "rig": rig.rig if rig else "",
                "pool": agent.name if agent.is_pool else "",
                "running": running > 0,
                "suspended": suspended,
                "state": status,
                "desired": desired,
                "running_sessions": running,
                "min": agent.min_active_sessions if agent.is_pool else None,
                "max": agent.max_active_sessions if agent.is_pool else None,
                "reasons": reasons,
                "sessions": [{"name": r.name, "state": r.state, "started_at": r.started_at}
                             for r in mine],
            })
            if not agent.is_pool and running:
                # The reference's one-session agent carries its session as an object.
                live = next(r for r in mine if r.state in ("running", "draining", "unknown"))
                rows[-1]["session"] = {"name": live.name}
        return rows

    def pools(self) -> list[dict[str, Any]]:
        config = self.controller.loaded.config
        pools = {a.name for a in config.agent if a.is_pool}
        report = self.report
        out = []
        for row in self.agents():
            if row["name"] not in pools:
                continue
            scale = report.scale.get(row["name"]) if report else None
            out.append({
                "name": row["name"],
                "min": row["min"],
                "max": row["max"],
                "desired": row["desired"],
                "running": row["running_sessions"],
                "state": row["state"],
                "reasons": row["reasons"],
                "scale_check": {
                    "raw": scale.raw,
                    "error": scale.error,
                    "seconds": round(max(0.0, scale.finished - scale.started), 6),
                } if scale else None,
            })
        return out

    def mail_counts(self, names: Sequence[str]) -> dict[str, dict[str, int]]:
        """Open (``total``, as the reference names it) and unread mail per recipient:
        one store call for all of them where the store can (``mail_counts``)."""
        found = self.controller.hooks.mail_counts(names)
        return {name: {"total": c.open, "unread": c.unread} for name, c in found.items()}

    def _rigs(self, overrides: Overrides) -> dict[str, int]:
        loaded = self.controller.loaded
        held = set(overrides.suspended_agents)
        suspended = 0
        for rig in loaded.config.rigs:
            mine = {n for n, a in loaded.composition.rig_agents.items() if a.rig == rig.name}
            # As `gc rig list`: suspended in city.toml, or every one of its agents is.
            if rig.suspended or (mine and mine <= held):
                suspended += 1
        return {"total": len(loaded.config.rigs), "suspended": suspended}

    def _mail_total(self, agents: Sequence[str]) -> dict[str, int]:
        try:
            counts = self.mail_counts(agents).values()
        except GasCityError:
            return {"total": 0, "unread": 0}  # best effort, as the reference's status
        return {"total": sum(c["total"] for c in counts),
                "unread": sum(c["unread"] for c in counts)}

    def status(self) -> dict[str, Any]:
        agents = self.agents()
        report = self.report
        controller = self.controller
        overrides = Overrides.load(controller.paths.overrides)
        rigs = self._rigs(overrides)
        return {
            "name": controller.city.name,
            "path": str(controller.city.dir),
            "version": __version__,
            "uptime_sec": int(time.time() - self.started),
            "suspended": controller.loaded.config.workspace.suspended
            or overrides.city_suspended,
            "agent_count": len(agents),
            "rig_count": rigs["total"],
            "running": sum(a["running_sessions"] for a in agents),
            "agents": {
                "total": len(agents),
                "running": sum(1 for a in agents if a["running"]),
                "suspended": sum(1 for a in agents if a["suspended"]),
                "quarantined": sum(1 for a in agents if a["state"] == "quarantined"),
            },
            "rigs": rigs,
            "mail": self._mail_total([a["name"] for a in agents]),
            "tick": {
                "number": controller.ticks,
                "seconds": round(report.seconds, 6) if report else None,
                "desired": report.desired if report else None,
                "running": report.running if report else None,
                "config_error": controller.last_report.config_error
                if controller.last_report else None,
            },
            "ready": not self.not_ready(),
            # Under `gc start` the machine-wide supervisor runs this controller.
            "supervisor": controller.supervisor.health() if controller.supervisor else None,
        }
