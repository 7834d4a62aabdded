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
            reasons = []
            if suspended:
                reasons.append("suspended")
            if agent.name in state.quarantined:
                reasons.append("quarantined (crash loop)")
            error = state.scale_errors.get(agent.name)
            if error:
                reasons.append(f"scale_check: {error}")
            if agent.name in waiting:
                reasons.append(f"waiting for {waiting[agent.name]}")
            if suspended:
                status = "suspended"
            elif agent.name in state.quarantined:
                status = "quarantined"
            elif running >= desired:
                status = "running" if desired else "idle"
            else:
                status = "starting" if running else "stopped"
            rows.append({
                "name": agent.name,
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

    def status(self) -> dict[str, Any]:
        agents = self.agents()
        report = self.report
        controller = self.controller
        return {
            "name": controller.city.name,
            "path": str(controller.city.dir),
            "version": __version__,
            "uptime_sec": int(time.time() - self.started),
            "suspended": controller.loaded.config.workspace.suspended
            or Overrides.load(controller.paths.overrides).city_suspended,
            "agent_count": len(agents),
            "running": sum(a["running_sessions"] for a in agents),
            "agents": {
                "total": len(agents),
                "running": sum(1 for a in agents if a["running"]),
                "suspended": sum(1 for a in agents if a["suspended"]),
                "quarantined": sum(1 for a in agents if a["state"] == "quarantined"),
            },
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
