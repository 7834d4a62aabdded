"""``gc rig add|list|suspend|resume``: the city's rigs (external projects)."""

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
    """Add, list, suspend and resume rigs (projects whose agents the city runs)."""


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
