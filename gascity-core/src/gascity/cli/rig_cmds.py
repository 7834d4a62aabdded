"""``gc rig add|list|status|restart|suspend|resume|remove``: the city's rigs (external
projects)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from ..controller.paths import CityPaths
from .common import CliState, echo_json, format_table, guard, notify_controller, pass_state

__all__ = ["rig"]


@click.group()
def rig() -> None:
    """Add, list, check, restart, suspend, resume and remove rigs (projects run here)."""


def _toml_string(value: str) -> str:
    # A JSON string is a valid TOML basic string (same escapes).
    return json.dumps(value, ensure_ascii=False)


@rig.command("add")
@click.argument("path", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="Rig name (default: the directory's name).")
@click.option("--include", "includes", multiple=True,
              help="Pack directory for the rig (repeatable; default: "
                   "[workspace] default_rig_includes).")
@pass_state
@guard
def rig_add(state: CliState, path: Path, name: str | None, includes: tuple[str, ...]) -> None:
    """Register the project at PATH as a rig: appends a [[rigs]] table to city.toml."""
    from ..config import load_city
    from ..config.light import sanitize_city_name
    from ..errors import ConfigError

    city_dir = state.city_dir()
    loaded = load_city(city_dir)
    root = path.expanduser().resolve()
    if not root.is_dir():
        raise click.ClickException(f"{root} is not a directory; expected the rig's project")
    rig_name = name or sanitize_city_name(root.name)
    if any(r.name == rig_name for r in loaded.config.rigs):
        raise click.ClickException(f"a rig named '{rig_name}' exists; pass --name")
    packs = list(includes) or list(loaded.config.workspace.default_rig_includes)
    try:
        stored = str(root.relative_to(loaded.city_dir.resolve()))
    except ValueError:
        stored = str(root)
    table = f"\n[[rigs]]\nname = {_toml_string(rig_name)}\npath = {_toml_string(stored)}\n"
    if packs:
        table += f"includes = [{', '.join(_toml_string(p) for p in packs)}]\n"
    before = loaded.path.read_text(encoding="utf-8")
    loaded.path.write_text(before.rstrip("\n") + "\n" + table, encoding="utf-8")
    try:
        after = load_city(city_dir)
    except ConfigError:
        loaded.path.write_text(before, encoding="utf-8")  # never leave a broken city
        raise
    agents = [n for n, r in after.composition.rig_agents.items() if r.rig == rig_name]
    reply = notify_controller(city_dir)
    click.echo(f"rig {rig_name} added ({root}); agents: {', '.join(agents) or 'none'}"
               + ("" if reply else "; they start at the next gc start"))


@rig.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@pass_state
@guard
def rig_list(state: CliState, as_json: bool) -> None:
    """Every rig: name, path, suspended, its agents."""
    from ..config import load_city
    from ..reconcile.state import Overrides

    city_dir = state.city_dir()
    loaded = load_city(city_dir)
    held = set(Overrides.load(CityPaths(city_dir).overrides).suspended_agents)
    rows: list[dict[str, Any]] = []
    for r in loaded.config.rigs:
        agents = [n for n, a in loaded.composition.rig_agents.items() if a.rig == r.name]
        rows.append({"name": r.name, "path": r.path,
                     "suspended": r.suspended or bool(agents and set(agents) <= held),
                     "agents": agents})
    if as_json:
        echo_json(rows)
        return
    click.echo(format_table(["RIG", "PATH", "SUSPENDED", "AGENTS"],
                            [[r["name"], r["path"], "yes" if r["suspended"] else "",
                              ",".join(r["agents"])] for r in rows]))


def _set_rig_suspended(state: CliState, name: str, value: bool) -> None:
    from ..config import load_city
    from .session_cmds import hold_agents

    city_dir = state.city_dir()
    loaded = load_city(city_dir)
    if not any(r.name == name for r in loaded.config.rigs):
        known = ", ".join(r.name for r in loaded.config.rigs) or "none"
        raise click.ClickException(f"unknown rig '{name}'; rigs: {known}")
    agents = {n for n, a in loaded.composition.rig_agents.items() if a.rig == name}
    reply = hold_agents(city_dir, agents, value)
    word = "suspended" if value else "resumed"
    click.echo(f"rig {name} {word} ({len(agents)} agents)"
               + ("" if reply else "; takes effect at the next gc start"))


@rig.command("suspend")
@click.argument("name")
@pass_state
@guard
def rig_suspend(state: CliState, name: str) -> None:
    """Stop the rig's agents and start none (kept out of city.toml, like gc agent suspend)."""
    _set_rig_suspended(state, name, True)


@rig.command("resume")
@click.argument("name")
@pass_state
@guard
def rig_resume(state: CliState, name: str) -> None:
    """Resume a suspended rig."""
    _set_rig_suspended(state, name, False)


def _rig_named(loaded: Any, name: str | None) -> list[str]:
    """The rigs a command is about: NAME, else $GC_RIG (inside a rig's session), else
    all of them; an unknown NAME is an error naming the rigs."""
    import os

    rigs = [r.name for r in loaded.config.rigs]
    name = name or os.environ.get("GC_RIG") or None
    if name is None:
        return rigs
    if name not in rigs:
        raise click.ClickException(f"unknown rig '{name}'; rigs: {', '.join(rigs) or 'none'}")
    return [name]


def _rig_sessions(city: Any, rigs: list[str]) -> dict[str, dict[str, list[Any]]]:
    """rig -> agent -> its running session records (one listing)."""
    from ..reconcile.desired import session_owner
    from ..reconcile.naming import session_names
    from ..reconcile.state import Overrides

    loaded = city.loaded
    comp = loaded.composition
    out: dict[str, dict[str, list[Any]]] = {
        r: {n: [] for n, a in comp.rig_agents.items() if a.rig == r} for r in rigs}
    agents = {a.name: a for a in loaded.config.agent}
    names = session_names(loaded.config, loaded.city_name, comp.namepools)
    aliases = Overrides.load(CityPaths(city.dir).overrides).aliases
    for record in city.hooks.list_running(""):
        owner = session_owner(record.name, agents, names, aliases=aliases)
        rig_agent = comp.rig_agents.get(owner[0]) if owner else None
        if owner and rig_agent is not None and rig_agent.rig in out:
            out[rig_agent.rig][owner[0]].append(record)
    return out


@rig.command("status")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.argument("name", required=False)
@pass_state
@guard
def rig_status(state: CliState, as_json: bool, name: str | None) -> None:
    """Rig NAME (default: $GC_RIG, else every rig): path, state, agents' sessions.

    Shows its path, whether it is suspended, and each agent's sessions with their
    liveness (one provider listing)."""
    from ..reconcile.state import Overrides

    with state.open("session") as city:
        rigs = _rig_named(city.loaded, name)
        sessions = _rig_sessions(city, rigs)
        held = set(Overrides.load(CityPaths(city.dir).overrides).suspended_agents)
        by_name = {r.name: r for r in city.loaded.config.rigs}
    rows: list[dict[str, Any]] = []
    for r in rigs:
        agents = sessions[r]
        rows.append({
            "name": r, "path": by_name[r].path,
            "suspended": by_name[r].suspended or bool(agents and set(agents) <= held),
            "agents": [{"name": a, "suspended": a in held,
                        "sessions": [{"name": s.name, "liveness": s.liveness.value}
                                     for s in sorted(recs, key=lambda s: s.name)]}
                       for a, recs in agents.items()],
        })
    if as_json:
        echo_json(rows)
        return
    for row in rows:
        click.echo(f"rig {row['name']} ({row['path']})"
                   + (": suspended" if row["suspended"] else ""))
        for a in row["agents"]:
            running = ", ".join(f"{s['name']} {s['liveness']}" for s in a["sessions"])
            click.echo(f"  {a['name']}: " + (running or "not running")
                       + (" (suspended)" if a["suspended"] else ""))
        if not row["agents"]:
            click.echo("  (no agents)")


@rig.command("restart")
@click.argument("name", required=False)
@pass_state
@guard
def rig_restart(state: CliState, name: str | None) -> None:
    """Restart rig NAME's sessions (default: $GC_RIG), fresh.

    Stops every session of the rig's agents; the controller starts them again at its
    next tick."""
    import os

    with state.open("session") as city:
        if not (name or os.environ.get("GC_RIG")):
            rigs = [r.name for r in city.loaded.config.rigs]
            raise click.UsageError(
                f"which rig? pass NAME (rigs: {', '.join(rigs) or 'none'})")
        rig_name = _rig_named(city.loaded, name)[0]
        records = [s for recs in _rig_sessions(city, [rig_name])[rig_name].values()
                   for s in recs]
        stopped = [s.name for s in records if city.hooks.stop(s.name)]
        reply = notify_controller(city.dir)
    click.echo(f"rig {rig_name}: stopped {len(stopped)} session(s)"
               + (f": {', '.join(sorted(stopped))}" if stopped else "")
               + ("" if reply or not stopped else "; they start again at the next gc start"))


def _without_rig(text: str, name: str) -> str | None:
    """city.toml's text without the ``[[rigs]]`` table named ``name`` (and the
    ``[rigs.*]`` / ``[[rigs.*]]`` tables under it), or ``None`` if it holds none."""
    import re
    import tomllib

    header = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines)
              if (m := header.match(line)) and m.group(1) == "rigs" and line.lstrip()[:2] == "[["]
    for start in starts:
        end = start + 1
        while end < len(lines):
            m = header.match(lines[end])
            if m and not m.group(1).startswith("rigs."):
                break
            if m and lines[end].lstrip()[:2] == "[[" and m.group(1) == "rigs":
                break
            end += 1
        try:
            block = tomllib.loads("".join(lines[start:end]))
        except tomllib.TOMLDecodeError:
            continue
        if block.get("rigs", [{}])[0].get("name") == name:
            return "".join(lines[:start] + lines[end:])
    return None


@rig.command("remove")
@click.argument("name")
@pass_state
@guard
def rig_remove(state: CliState, name: str) -> None:
    """Take rig NAME out of the city; the project's files stay.

    Its [[rigs]] table leaves city.toml, and the controller stops its agents'
    sessions."""
    from ..config import load_city
    from ..errors import ConfigError
    from ..reconcile.state import Overrides

    city_dir = state.city_dir()
    loaded = load_city(city_dir)
    _rig_named(loaded, name)
    before = loaded.path.read_text(encoding="utf-8")
    after_text = _without_rig(before, name)
    if after_text is None:
        raise click.ClickException(
            f"rig '{name}' is not declared in {loaded.path} (an include or pack adds it); "
            "remove it there")
    agents = {n for n, a in loaded.composition.rig_agents.items() if a.rig == name}
    loaded.path.write_text(after_text, encoding="utf-8")
    try:
        load_city(city_dir)
    except ConfigError:
        loaded.path.write_text(before, encoding="utf-8")  # never leave a broken city
        raise
    paths = CityPaths(city_dir)
    overrides = Overrides.load(paths.overrides)
    if agents & set(overrides.suspended_agents):
        overrides.suspended_agents = sorted(set(overrides.suspended_agents) - agents)
        overrides.save(paths.overrides)
    reply = notify_controller(city_dir)
    click.echo(f"rig {name} removed from {loaded.path}"
               + ("; the controller stopped its sessions" if reply else
                  "; its sessions stop at the next gc start"))
