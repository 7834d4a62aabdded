"""Agents, sessions and the commands agents run inside their sessions."""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from ..controller.paths import CityPaths
from ..types import META_AGENT, META_DRAIN, META_DRAIN_ACK
from .common import CliState, echo_json, format_table, guard, notify_controller, pass_state

__all__ = ["agent", "runtime", "session"]


@click.group()
def agent() -> None:
    """List, suspend and resume agents."""


@agent.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@pass_state
@guard
def agent_list(state: CliState, as_json: bool) -> None:
    """The agents city.toml declares."""
    from ..config import load_city
    from ..reconcile.state import Overrides

    city_dir = state.city_dir()
    config = load_city(city_dir).config
    overrides = Overrides.load(CityPaths(city_dir).overrides)
    from ..config.presets import ProviderError, resolve_launch

    rows: list[dict[str, Any]] = []
    for a in config.agent:
        try:
            launch = resolve_launch(a, config.workspace, config.providers)
            command, provider = launch.command, launch.provider
        except ProviderError as exc:
            command, provider = f"(cannot start: {exc})", ""
        rows.append({
            "name": a.name,
            "kind": "pool" if a.is_pool else "agent",
            "min": a.min_active_sessions,
            "max": a.max_active_sessions,
            "scale_check": a.scale_check,
            "depends_on": list(a.depends_on),
            "suspended": a.suspended or a.name in overrides.suspended_agents,
            "command": command,
            "provider": provider,
            "description": a.description,
        })
    if as_json:
        echo_json(rows)
        return
    click.echo(format_table(
        ["AGENT", "KIND", "DEPENDS ON", "SUSPENDED", "COMMAND"],
        [[r["name"], r["kind"], ",".join(r["depends_on"]), "yes" if r["suspended"] else "",
          r["command"][:60]] for r in rows],
    ))


def _set_agent_suspended(state: CliState, name: str, value: bool) -> None:
    from ..config import load_city
    from ..reconcile.state import ControllerState, Overrides

    city_dir = state.city_dir()
    config = load_city(city_dir).config
    if config.agent_named(name) is None:
        known = ", ".join(a.name for a in config.agent) or "none"
        raise click.ClickException(f"unknown agent '{name}'; agents: {known}")
    paths = CityPaths(city_dir)
    overrides = Overrides.load(paths.overrides)
    names = set(overrides.suspended_agents)
    if value:
        names.add(name)
    else:
        names.discard(name)
    overrides.suspended_agents = sorted(names)
    overrides.save(paths.overrides)
    if not value:
        # Resuming is the operator's word that the crash loop is fixed.
        ctl = ControllerState.load(paths.state)
        if name in ctl.quarantined or name in ctl.crashes:
            ctl.quarantined.pop(name, None)
            ctl.crashes.pop(name, None)
            ctl.save(paths.state)
    reply = notify_controller(city_dir)
    word = "suspended" if value else "resumed"
    click.echo(f"agent {name} {word}" + ("" if reply else "; takes effect at the next gc start"))


@agent.command("suspend")
@click.argument("name")
@pass_state
@guard
def agent_suspend(state: CliState, name: str) -> None:
    """Stop NAME's sessions and start none until resumed."""
    _set_agent_suspended(state, name, True)


@agent.command("resume")
@click.argument("name")
@pass_state
@guard
def agent_resume(state: CliState, name: str) -> None:
    """Resume NAME (also lifts a crash-loop quarantine)."""
    _set_agent_suspended(state, name, False)


@click.group()
def session() -> None:
    """Running sessions: list, peek, nudge, attach, kill, wake."""


@session.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@pass_state
@guard
def session_list(state: CliState, as_json: bool) -> None:
    """Every running session of the city (one provider call)."""
    with state.open_light("session") as city:
        records = city.hooks.list_running("")
        agents = set(city.file.agent_names())
    rows = []
    for r in sorted(records, key=lambda r: r.name):
        meta = dict(r.meta) if r.meta is not None else None
        rows.append({
            "name": r.name,
            "agent": _owner(r.name, meta, agents),
            "liveness": r.liveness.value,
            "draining": bool(meta and meta.get(META_DRAIN)),
            "started_at": r.started_at.isoformat(timespec="seconds") if r.started_at else None,
            "meta": meta,
        })
    if as_json:
        echo_json(rows)
        return
    click.echo(format_table(
        ["SESSION", "AGENT", "LIVENESS", "DRAINING", "STARTED"],
        [[r["name"], r["agent"] or "(orphan)", r["liveness"], "yes" if r["draining"] else "",
          r["started_at"] or ""] for r in rows],
    ))


def _owner(name: str, meta: dict[str, str] | None, agents: set[str]) -> str | None:
    """The agent a session runs: as recorded at start, else as its name says."""
    recorded = (meta or {}).get(META_AGENT)
    if recorded in agents:
        return recorded
    base, sep, number = name.rpartition("-")
    if name in agents:
        return name
    return base if sep and number.isdigit() and base in agents else None


@session.command("wake")
@click.argument("name")
@pass_state
@guard
def session_wake(state: CliState, name: str) -> None:
    """Start an on_demand named session; it then runs until it is closed."""
    set_woken(state, name, True)


def set_woken(state: CliState, name: str, value: bool) -> None:
    """Wake (or, for a close, put back to sleep) an ``on_demand`` named session."""
    from ..config import load_city
    from ..reconcile.state import Overrides

    city_dir = state.city_dir()
    loaded = load_city(city_dir)
    agent = name.replace("/", "--")  # rig/refinery runs as rig--refinery
    if agent not in loaded.composition.on_demand:
        known = ", ".join(sorted(loaded.composition.on_demand)) or "none"
        raise click.ClickException(
            f"'{name}' is not an on_demand named session; on_demand sessions: {known}")
    paths = CityPaths(city_dir)
    overrides = Overrides.load(paths.overrides)
    woken = set(overrides.woken)
    overrides.woken = sorted(woken | {agent} if value else woken - {agent})
    overrides.save(paths.overrides)
    reply = notify_controller(city_dir)
    click.echo(f"session {agent} {'woken' if value else 'closed'}"
               + ("" if reply else "; takes effect at the next gc start"))


@session.command("peek")
@click.argument("name")
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines of output.")
@pass_state
@guard
def session_peek(state: CliState, name: str, lines: int) -> None:
    """The last lines of NAME's output."""
    with state.open_light("session") as city:
        click.echo(city.hooks.peek(name, lines))


@session.command("nudge")
@click.argument("name")
@click.argument("text")
@pass_state
@guard
def session_nudge(state: CliState, name: str, text: str) -> None:
    """Type TEXT into NAME's session, then Enter."""
    with state.open_light("session") as city:
        city.hooks.nudge(name, text)


@session.command("kill")
@click.argument("name")
@pass_state
@guard
def session_kill(state: CliState, name: str) -> None:
    """Stop NAME now (the controller restarts it if it is still desired)."""
    with state.open_light("session") as city:
        stopped = city.hooks.stop(name)
    click.echo(f"{name}: {'stopped' if stopped else 'was not running'}")


@session.command("attach")
@click.argument("name")
@pass_state
@guard
def session_attach(state: CliState, name: str) -> None:
    """Attach this terminal to NAME's session."""
    with state.open_light("session") as city:
        sys.exit(city.hooks.attach(name))


@click.group()
def runtime() -> None:
    """Commands an agent runs inside its own session."""


def _own_session(name: str | None) -> str:
    name = name or os.environ.get("GC_SESSION_NAME")
    if not name:
        raise click.ClickException(
            "no session name: run inside a Gas City session (GC_SESSION_NAME) or pass --session"
        )
    return name


@runtime.command("drain-ack")
@click.option("--session", "name", help="Session name (default: $GC_SESSION_NAME).")
@pass_state
@guard
def drain_ack(state: CliState, name: str | None) -> None:
    """Tell the controller this session finished its work and may be stopped."""
    name = _own_session(name)
    with state.open_light("session") as city:
        city.hooks.set_meta(name, META_DRAIN_ACK, "1")
        notify_controller(city.dir)
    click.echo(f"{name}: drain acknowledged")


@runtime.command("drain-check")
@click.option("--session", "name", help="Session name (default: $GC_SESSION_NAME).")
@pass_state
@guard
def drain_check(state: CliState, name: str | None) -> None:
    """Exit 0 (and print the reason) if this session is being drained, else 1."""
    name = _own_session(name)
    with state.open_light("session") as city:
        reason = city.hooks.get_meta(name, META_DRAIN)
    if reason:
        click.echo(reason)
        sys.exit(0)
    sys.exit(1)
