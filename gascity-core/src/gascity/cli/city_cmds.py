"""City-level commands: init, start, stop, status, suspend/resume, config, plugins."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..city import City
from ..config import find_city_dir, load_city
from ..config.models import AgentConfig, CityConfig
from ..controller import CityPaths, ControllerLock
from ..controller.lock import holder_pid
from ..errors import ConfigError, GasCityError
from ..event_names import CITY_RESUMED, CITY_SUSPENDED
from ..plugins import PluginManager
from ..plugins.manager import SELECTABLE, TEST_ONLY_PROVIDERS
from ..reconcile import ControllerState
from ..reconcile.desired import session_owner
from ..reconcile.naming import SessionNames, session_names
from ..reconcile.scale import static_count
from ..reconcile.state import Overrides
from ..types import META_DRAIN, EventDraft
from .common import (
    EXIT_USAGE,
    CliState,
    caller,
    echo_json,
    format_table,
    guard,
    notify_controller,
    pass_state,
)
from .demo import demo_city_toml

DIALOGS_WAIT = 45.0
"""How long ``gc start --once`` waits for the startup dialogs it is answering (four
phases of 8 s each, and the provider calls in between)."""

__all__ = ["config", "init", "plugins", "resume", "start", "status", "stop", "suspend", "version"]


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--name", help="City name (default: the directory's name).")
@click.option("--provider",
              help="A built-in agent provider (claude, codex, ...): write Gas City's default "
                   "city, a mayor launched by it. A session provider (tmux, subprocess, "
                   "exec:..., k8s): the demo city on it.")
@click.option("--session", "session_provider", help="Session provider for [session] provider.")
@click.option("--from", "from_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Copy this city directory (without .gc/ state and *_test.go files).")
@click.option("--file", "from_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="Use this TOML file as city.toml.")
@click.option("--force", is_flag=True, help="Overwrite an existing city.toml.")
@click.option("--skip-provider-readiness", is_flag=True,
              help="Accepted for the reference's scripts: init checks no provider login.")
def init(directory: Path, name: str | None, provider: str | None,
         session_provider: str | None, from_dir: Path | None, from_file: Path | None,
         force: bool, skip_provider_readiness: bool = False) -> None:
    """Create a working demo city in DIRECTORY."""
    from ..config.presets import BUILTIN_PRESETS

    for option, value in (("--provider", provider), ("--session", session_provider)):
        if value and not (option == "--provider" and value in BUILTIN_PRESETS):
            _check_session_provider(option, value, BUILTIN_PRESETS if option == "--provider"
                                    else ())
    target = directory / "city.toml"
    if target.exists() and not force:
        raise click.ClickException(
            f"{target} exists: the city is already initialized; pass --force to overwrite it")
    try:
        _write_city(directory, target, name, provider, session_provider, from_dir, from_file)
    except OSError as exc:
        raise click.ClickException(
            f"cannot create the city in {directory}: {exc.strerror or exc}") from None


def _check_session_provider(option: str, value: str, presets: Any) -> None:
    """``--provider`` / ``--session`` must name something that can run the city."""
    from ..plugins import PluginManager

    installed = PluginManager().installed_names("session")
    if value.partition(":")[0] in installed:
        return
    agents = f"a built-in agent provider ({', '.join(sorted(presets))}) or " if presets else ""
    raise click.BadParameter(
        f"{value!r}: expected {agents}an installed session provider "
        f"({', '.join(installed)})", param_hint=option)


def _write_city(directory: Path, target: Path, name: str | None, provider: str | None,
                session_provider: str | None, from_dir: Path | None,
                from_file: Path | None) -> None:
    from ..config.presets import BUILTIN_PRESETS
    from .demo import MAYOR_PROMPT, provider_city_toml

    city_name = name or "".join(
        c if c.isalnum() or c in "_-" else "-" for c in directory.resolve().name
    ).strip("-_") or "city"
    if from_dir is not None:
        if not (from_dir / "city.toml").is_file():
            raise click.ClickException(f"{from_dir} has no city.toml; expected a city directory")
        _copy_city(from_dir, directory)
        target.write_text(_rename_workspace(target.read_text(), city_name))
    elif from_file is not None:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_text(_rename_workspace(from_file.read_text(), city_name))
    elif provider in BUILTIN_PRESETS:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_text(provider_city_toml(city_name, provider, session_provider))
        prompt = directory / "agents" / "mayor" / "prompt.template.md"
        prompt.parent.mkdir(parents=True, exist_ok=True)
        if not prompt.exists():
            prompt.write_text(MAYOR_PROMPT)
    else:
        directory.mkdir(parents=True, exist_ok=True)
        target.write_text(demo_city_toml(city_name, session_provider or provider))
        queue = directory / "work-queue"
        if not queue.exists():
            queue.write_text("fix the flaky test\nwrite the release notes\n")
    (directory / ".gc").mkdir(mode=0o700, exist_ok=True)
    load_city(target)  # what we write must validate
    click.echo(f"created {target} (city {city_name})")
    click.echo(f"next: gc start {directory} && gc --city {directory} status")


def _copy_city(source: Path, dest: Path) -> None:
    """Gas City's ``init --from``: everything but runtime state and Go test files."""
    import shutil

    def skip(folder: str, names: list[str]) -> set[str]:
        top = Path(folder).resolve() == source.resolve()
        return {n for n in names if n.endswith("_test.go") or (top and n == ".gc")}

    shutil.copytree(source, dest, ignore=skip, dirs_exist_ok=True, symlinks=True)


def _rename_workspace(text: str, name: str) -> str:
    """Set ``[workspace] name`` to ``name`` (added when the file has none)."""
    import re

    quoted = json.dumps(name)
    section = re.search(r"^\[workspace\][ \t]*$", text, flags=re.MULTILINE)
    if section is None:
        return f"[workspace]\nname = {quoted}\n\n{text}"
    end = re.search(r"^\[", text[section.end():], flags=re.MULTILINE)
    body_end = section.end() + (end.start() if end else len(text) - section.end())
    body = text[section.end():body_end]
    if re.search(r"^name[ \t]*=", body, flags=re.MULTILINE):
        body = re.sub(r"^name[ \t]*=.*$", f"name = {quoted}", body, count=1,
                      flags=re.MULTILINE)
    else:
        body = f"\nname = {quoted}" + body
    return text[:section.end()] + body + text[body_end:]


@click.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--foreground", "-f", is_flag=True,
              help="Run the controller in this terminal instead of under the supervisor.")
@click.option("--once", is_flag=True,
              help="One reconcile pass in this process, no supervisor (CI and scripts).")
@click.option("--wait", default=120.0, show_default=True,
              help="Seconds to wait for the supervisor's reconcile pass.")
@click.option("-q", "--quiet", is_flag=True,
              help="With --foreground: no line per tick (errors are still logged).")
@click.option("-n", "--dry-run", "dry_run", is_flag=True,
              help="Print the sessions the city wants and which would start; start, "
                   "register and run nothing.")
@pass_state
@guard
def start(state: CliState, path: Path | None, foreground: bool, once: bool,
          wait: float, quiet: bool = False, dry_run: bool = False) -> None:
    """Start the city under the machine-wide supervisor and wait for a reconcile pass.

    The supervisor (started if needed) keeps reconciling it every patrol_interval; on a
    city that runs already this reconciles now. --foreground runs a standalone
    controller here; --once makes a single pass and exits.
    """
    from ..supervisor import client
    from ..supervisor.home import SupervisorHome
    from ..supervisor.registry import Registry

    city_dir = state.city_dir(path)
    if foreground and once:
        raise click.UsageError("--foreground and --once exclude each other")
    loaded = load_city(city_dir)  # a broken city.toml fails here, naming the key
    if dry_run:
        _dry_run(state, city_dir)
        return
    if once:
        _start_once(city_dir)
        return
    h = SupervisorHome.default()
    holder = client.city_holder(city_dir, h)
    if foreground:
        if holder.kind == "supervisor":
            raise click.ClickException(
                f"{city_dir} is run by the supervisor (pid {holder.supervisor_pid}); "
                f"take it out first with: gc unregister {city_dir}")
        if _registered(h, city_dir):
            # As the reference: a registered city is the supervisor's even while none
            # runs (the next one, or the user service at login, would find it taken).
            raise click.ClickException(
                f"{city_dir} is registered with the supervisor ({h.registry}), which is "
                f"not running; run it there with: gc start {city_dir}, or take it out "
                f"first with: gc unregister {city_dir}")
        _start_foreground(city_dir, quiet)
        return
    if holder.kind == "controller":
        reply = notify_controller(city_dir, "pass") or "error: the controller did not answer"
        _print_pass(reply.removeprefix("ok "), f"run by {holder.describe()}")
        return
    # A city registered already keeps its registration name (gc register --name).
    Registry(h.registry).register(city_dir, loaded.city_name, rename=False)
    pid, started = client.ensure_running(h)
    if started:
        click.echo(f"supervisor started (pid {pid}); log: {h.log}")
    reply = client.request(h, "pass " + json.dumps({"path": str(city_dir), "timeout": wait}),
                           timeout=wait + 30)
    if not reply.startswith("ok "):
        raise click.ClickException(f"{city_dir}: {reply.removeprefix('error: ')}")
    report = json.loads(reply[3:])
    _print_pass(report["summary"], f"runs under the supervisor (pid {pid})")
    click.echo(f"stop it with: gc stop {city_dir}")
    if report.get("failed"):
        sys.exit(1)


def _registered(home: Any, city_dir: Path) -> bool:
    """Whether the registry names the city; an unreadable registry names nothing here
    (the supervisor, too, keeps going past one)."""
    from ..supervisor.registry import Registry, RegistryError

    try:
        return Registry(home.registry).find(city_dir) is not None
    except RegistryError:
        return False


def _print_pass(summary: str, who: str) -> None:
    click.echo(summary)
    click.echo(f"city {who}")


def _dry_run(state: CliState, city_dir: Path) -> None:
    """As the reference's gc start --dry-run: the desired sessions, nothing started.
    A pool counts as its last scale check said (its min before any controller ran)."""
    state.city_option = city_dir
    with state.open(*SELECTABLE) as city:
        data = _status(city)
    rows = [(agent["name"], name, name in {s["name"] for s in agent["sessions"]
                                           if s["liveness"] in _LIVE})
            for agent in data["agents"] for name in agent["wanted"]]
    new = sum(1 for *_, running in rows if not running)
    click.echo(f"dry run: {len(rows)} session(s) wanted in city {data['city']!r}, "
               f"{new} would start")
    for agent, name, running in rows:
        click.echo(f"  {agent:<30}  session={name}" + ("  (running)" if running else ""))
    if not rows:
        click.echo("  (no sessions wanted)")
    suspended = [a["name"] for a in data["agents"] if a["suspended"]]
    if suspended:
        click.echo(f"  {len(suspended)} agent(s) suspended: {', '.join(suspended)}")
    click.echo("nothing was started (--dry-run)")


def _start_once(city_dir: Path) -> None:
    from ..controller.controller import Controller

    with ControllerLock(CityPaths(city_dir).lock), City.open(city_dir) as city:
        controller = Controller(city)
        report = controller.tick()
        # No controller stays to answer them: a session is not left at a startup
        # dialog (the four phases take at most 32 s).
        controller.dialogs.wait(DIALOGS_WAIT)
        controller.dialogs.close()
    click.echo(report.summary())
    if report.failed:
        sys.exit(1)


def _start_foreground(city_dir: Path, quiet: bool = False) -> None:
    from ..controller.foreground import run_controller

    def ready(controller: Any) -> None:
        click.echo(f"controller running (pid {os.getpid()}); socket "
                   f"{CityPaths(city_dir).socket}")

    def tick(report: Any) -> None:
        # The first tick says where the city stands; later ones only when they acted.
        if not quiet and (report.number == 1 or report.changed):
            click.echo(report.summary())

    run_controller(city_dir, on_ready=ready, on_tick=tick)
    click.echo("controller stopped")


@click.command()
@click.argument("path", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--wait", default=120.0, show_default=True, help="Seconds to wait for shutdown.")
@pass_state
@guard
def stop(state: CliState, path: Path | None, wait: float) -> None:
    """Stop every session of the city and take it out of the supervisor.

    Returns once the city's controller (supervisor runtime or standalone) has exited.
    """
    from ..supervisor import client
    from ..supervisor.home import SupervisorHome
    from ..supervisor.registry import Registry

    city_dir = state.city_dir(path)
    paths = CityPaths(city_dir)
    h = SupervisorHome.default()
    holder = client.city_holder(city_dir, h)
    if Registry(h.registry).unregister(city_dir):
        click.echo(f"unregistered {city_dir} from the supervisor")
        if client.supervisor_pid(h) is not None:
            client.request(h, "reload")  # stops the city's runtime, which stops its sessions
    if holder.kind == "controller":
        notify_controller(city_dir, "stop")
    client.wait_released(city_dir, wait, h)
    if holder.kind != "nobody":
        click.echo("controller stopped")
    # Whatever a runtime in backoff (or a killed controller) left running goes too.
    from ..controller.controller import Controller

    with ControllerLock(paths.lock), City.open(city_dir) as city:
        stopped = Controller(city).shutdown_sessions()
    if stopped or holder.kind == "nobody":
        click.echo(f"stopped {len(stopped)} session(s)" + (
            ": " + ", ".join(stopped) if stopped else ""))


def _last_start_failures(city: City) -> dict[str, str]:
    """Agent -> the error of its latest start, when that start failed (no later woke)."""
    from ..event_names import SESSION_START_FAILED, SESSION_WOKE
    from ..types import EventFilter

    try:
        recent = city.hooks.list_events(EventFilter(
            types=(SESSION_START_FAILED, SESSION_WOKE), limit=500, newest=True))
    except GasCityError:
        return {}
    failed: dict[str, str] = {}
    for event in recent:  # oldest first: a later woke clears an earlier failure
        payload = event.payload if isinstance(event.payload, dict) else {}
        agent = str(payload.get("agent") or event.subject)
        if event.type == SESSION_START_FAILED:
            failed[agent] = str(payload.get("error") or event.message)
        else:
            failed.pop(agent, None)
    return failed


# Unknown is never dead: an exec script that can only list names says neither.
_LIVE = ("alive", "starting", "unknown")


@dataclass
class _StatusView:
    """What ``gc status`` knows besides the listing: the config, the controller's
    state and the operator's overrides."""

    config: CityConfig
    ctl_state: ControllerState
    overrides: Overrides
    agents: dict[str, AgentConfig]
    names: SessionNames
    failures: dict[str, str]
    asleep: frozenset[str]
    controller_pid: int | None

    def agent_of(self, session: str) -> str | None:
        owner = session_owner(session, self.agents, self.names, aliases=self.overrides.aliases)
        return owner[0] if owner else None

    def desired(self, agent: AgentConfig, suspended: bool) -> int:
        overrides = self.overrides
        city_suspended = overrides.city_suspended or self.config.workspace.suspended
        if city_suspended or suspended or agent.name in self.asleep:
            return 0
        if not agent.is_pool:
            return 1
        # The pool's last scale-check result, bounded by the bounds city.toml has now;
        # a pool without a check runs what the controller gives it, whether or not one ran.
        low, high = agent.min_active_sessions or 0, agent.max_active_sessions
        if agent.scale_check is None:
            desired = static_count(agent)
        else:
            desired = max(low, self.ctl_state.pool_desired.get(agent.name, low))
        desired += overrides.extra_sessions.get(agent.name, 0)
        named = sum(1 for owner in overrides.aliases.values() if owner == agent.name)
        return (desired if high is None else min(max(0, high - named), desired)) + named

    def wanted(self, agent: AgentConfig, suspended: bool) -> list[str]:
        """The names of the sessions the controller would run for ``agent`` now (its
        pool's size as last measured): numbered ones, then those named by an alias."""
        total = self.desired(agent, suspended)
        named = sorted(n for n, owner in self.overrides.aliases.items()
                       if owner == agent.name) if agent.is_pool and total else []
        held = set(self.overrides.held_sessions)
        numbered = [n for n, _ in self.names.instances(agent, total - len(named))]
        return [n for n in [*numbered, *named] if n not in held]

    def held(self, agent: AgentConfig) -> list[str]:
        return sorted(n for n in set(self.overrides.held_sessions)
                      if self.agent_of(n) == agent.name)

    def state_notes(self, agent: AgentConfig, sessions: list[dict[str, Any]],
                    suspended: bool, held: list[str]) -> list[str]:
        """Why the agent runs as it does: holds, quarantine, sessions not alive."""
        notes: list[str] = []
        if suspended:
            notes.append("suspended")
        if agent.name in self.asleep:
            notes.append("on_demand: asleep (gc session wake)")
        if held:
            notes.append("held " + ",".join(held) + " (gc session wake)")
        if agent.name in self.ctl_state.quarantined:
            notes.append("QUARANTINED: crash loop (gc agent resume)")
        for label, names in (
            ("dead", [x["name"] for x in sessions if x["liveness"] not in _LIVE]),
            ("starting", [x["name"] for x in sessions if x["liveness"] == "starting"]),
            ("draining", [x["name"] for x in sessions if x["draining"]]),
        ):
            if names:
                notes.append(f"{label} " + ",".join(names))
        return notes

    def count_notes(self, agent: AgentConfig, live: int, desired: int,
                    draining: bool) -> list[str]:
        """Why fewer (or more) sessions run than are wanted."""
        state, failures, notes = self.ctl_state, self.failures, []
        blocked = sorted({dep for name, dep in state.blocked.items()
                          if self.agent_of(name) == agent.name})
        if blocked and live < desired:
            notes.append("blocked on " + ",".join(blocked))
        if agent.name in failures and live < desired:
            notes.append("start failed: " + failures[agent.name].splitlines()[0][:80])
        if agent.name in state.scale_errors:
            notes.append("scale_check failed: "
                         + state.scale_errors[agent.name].splitlines()[0][:60])
        if live < desired and not (blocked or agent.name in failures
                                   or agent.name in state.quarantined):
            notes.append(f"{desired - live} not running yet"
                         + ("" if self.controller_pid else " (no controller: gc start)"))
        elif live > desired and not draining:
            notes.append(f"{live - desired} above desired (stopped at the next tick)")
        return notes

    def row(self, agent: AgentConfig, sessions: list[dict[str, Any]]) -> dict[str, Any]:
        suspended = agent.suspended or agent.name in self.overrides.suspended_agents
        live = sum(1 for x in sessions if x["liveness"] in _LIVE)
        held = self.held(agent)
        desired = max(0, self.desired(agent, suspended) - len(held))
        draining = [x["name"] for x in sessions if x["draining"]]
        notes = self.state_notes(agent, sessions, suspended, held)
        notes += self.count_notes(agent, live, desired, bool(draining))
        return {
            "name": agent.name,
            "kind": "pool" if agent.is_pool else "agent",
            "desired": desired,
            "running": live,
            "min": agent.min_active_sessions,
            "max": agent.max_active_sessions,
            "suspended": suspended,
            "quarantined": agent.name in self.ctl_state.quarantined,
            "draining": draining,
            "notes": notes,
            "sessions": sessions,
            "wanted": self.wanted(agent, suspended),
        }


def _status(city: City) -> dict[str, Any]:
    """What runs now (the live listing) against what the current city.toml wants."""
    config = city.loaded.config
    paths = CityPaths(city.dir)
    pid = holder_pid(paths.lock)
    ctl_state = ControllerState.load(paths.state)
    overrides = Overrides.load(paths.overrides)
    running = city.hooks.list_running("")
    view = _StatusView(
        config, ctl_state, overrides, {a.name: a for a in config.agent},
        session_names(config, city.loaded.city_name, city.loaded.composition.namepools),
        _last_start_failures(city), city.loaded.composition.on_demand - set(overrides.woken),
        pid)
    per_agent: dict[str, list[dict[str, Any]]] = {a.name: [] for a in config.agent}
    orphans = []
    for record in running:
        owner = view.agent_of(record.name)
        entry = {
            "name": record.name,
            "liveness": record.liveness.value,
            "draining": record.name in ctl_state.drains or bool(
                record.meta and record.meta.get(META_DRAIN)),
        }
        if owner is None:
            orphans.append(entry)
        else:
            per_agent[owner].append(entry)
    agent_rows = [view.row(agent, per_agent[agent.name]) for agent in config.agent]
    last_tick = (
        datetime.fromtimestamp(ctl_state.last_tick, UTC).isoformat(timespec="seconds")
        if ctl_state.last_tick else None
    )
    from ..supervisor.client import city_holder

    holder = city_holder(city.dir)
    return {
        "city": city.name,
        "dir": str(city.dir),
        "controller": {"running": pid is not None, "pid": pid if pid and pid > 0 else None,
                       "last_tick": last_tick},
        "holder": {"kind": holder.kind, "pid": holder.pid,
                   "supervisor_pid": holder.supervisor_pid,
                   "state": holder.city["state"] if holder.city else None,
                   "text": holder.describe()},
        "suspended": overrides.city_suspended or config.workspace.suspended,
        "providers": {role: str(city.selected(role)) for role in SELECTABLE},
        "agents": agent_rows,
        "orphans": orphans,
        "plugins": city.hooks.status_info(),
    }


_PATH = click.argument("path", required=False,
                       type=click.Path(file_okay=False, path_type=Path))


@click.command()
@_PATH
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
@guard
def status(state: CliState, path: Path | None, as_json: bool) -> None:
    """Controller state, and every agent and pool: desired vs running."""
    if path is not None:
        state.city_option = path
    with state.open(*SELECTABLE) as city:
        data = _status(city)
    if as_json:
        echo_json(data)
        return
    ctl = data["controller"]
    ctl_text = f"running (pid {ctl['pid']})" if ctl["running"] else "not running"
    click.echo(f"city {data['city']} ({data['dir']})")
    click.echo(f"controller: {ctl_text}; last tick: {ctl['last_tick'] or 'never'}")
    click.echo(f"held by: {data['holder']['text']}")
    click.echo("providers: " + ", ".join(f"{k}={v}" for k, v in data["providers"].items()))
    if data["suspended"]:
        click.echo("city is SUSPENDED (gc resume to resume)")
    rows = []
    for a in data["agents"]:
        bounds = f"{a['min'] or 0}..{a['max'] if a['max'] is not None else '∞'}"
        rows.append([a["name"], a["kind"], bounds if a["kind"] == "pool" else "",
                     a["desired"], a["running"], "; ".join(a["notes"])])
    click.echo(format_table(["AGENT", "KIND", "POOL", "DESIRED", "RUNNING", "NOTES"], rows))
    if data["orphans"]:
        click.echo("orphans: " + ", ".join(o["name"] for o in data["orphans"]))
    for key, value in sorted(data["plugins"].items()):
        click.echo(f"{key}: {value}")


def _set_city_suspended(state: CliState, path: Path | None, value: bool) -> None:
    city_dir = state.city_dir(path)
    paths = CityPaths(city_dir)
    overrides = Overrides.load(paths.overrides)
    overrides.city_suspended = value
    overrides.save(paths.overrides)
    _record_city_event(city_dir, CITY_SUSPENDED if value else CITY_RESUMED)
    reply = notify_controller(city_dir)
    word = "suspended" if value else "resumed"
    click.echo(f"city {word}" + ("" if reply else "; takes effect at the next gc start"))


def _record_city_event(city_dir: Path, type_: str) -> None:
    from ..city import LightCity

    try:
        with LightCity.open(city_dir, roles=("events",)) as city:
            city.hooks.emit_event(EventDraft(type=type_, actor=caller(),
                                             subject=city.name, message=type_))
    except GasCityError:
        pass  # the change is made; the event is the record of it, best effort


@click.command()
@_PATH
@pass_state
@guard
def suspend(state: CliState, path: Path | None) -> None:
    """Suspend the whole city: its sessions stop and none start."""
    _set_city_suspended(state, path, True)


@click.command()
@_PATH
@pass_state
@guard
def resume(state: CliState, path: Path | None) -> None:
    """Resume a suspended city."""
    _set_city_suspended(state, path, False)


@click.command()
@_PATH
@click.option("--wait", default=120.0, show_default=True,
              help="Seconds to wait for the stop and for the reconcile pass.")
@click.pass_context
@guard
def restart(ctx: click.Context, path: Path | None, wait: float) -> None:
    """Restart the city: gc stop, then gc start (under the supervisor)."""
    ctx.invoke(stop, path=path, wait=wait)
    ctx.invoke(start, path=path, foreground=False, once=False, wait=wait, quiet=False)


@click.command()
@_PATH
@pass_state
@guard
def reload(state: CliState, path: Path | None) -> None:
    """Make the running controller re-read the config now and say what it made of it."""
    city_dir = state.city_dir(path)
    reply = notify_controller(city_dir, "reload")
    if reply is None:
        raise click.ClickException(
            f"no controller runs {city_dir}; start one with: gc start {city_dir}")
    if reply.startswith("error: "):
        click.echo(f"gc: city.toml rejected, the controller keeps the previous config: "
                   f"{reply.removeprefix('error: ')}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(reply.removeprefix("ok "))


@click.group()
def config() -> None:
    """Validate, show or describe city.toml."""


@config.command("validate")
@pass_state
@guard
def config_validate(state: CliState) -> None:
    """Check city.toml and every selected plugin's settings."""
    city_dir = state.city_dir()
    from ..prompt.agent import prompt_problems

    with City.open(city_dir, observers=False) as city:
        for warning in city.loaded.warnings:
            click.echo(f"warning: {warning}", err=True)
        problems = prompt_problems(city.loaded)
        if problems:
            raise ConfigError(str(city.loaded.path), problems)
        click.echo(f"{city.loaded.path}: ok ({len(city.loaded.config.agent)} agents; "
                   + ", ".join(f"{r}={city.selected(r)}" for r in SELECTABLE) + ")")


@config.command("show")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--validate", is_flag=True,
              help="Check instead of printing, as gc config validate (exit 2 on errors).")
@click.option("--provenance", is_flag=True,
              help="Where each agent and patched key came from, as gc config explain.")
@click.pass_context
@pass_state
@guard
def config_show(state: CliState, ctx: click.Context, as_json: bool, validate: bool,
                provenance: bool) -> None:
    """Print the effective config, defaults filled in (passwords, tokens and DSN
    credentials masked)."""
    from ..config.secrets import mask_secrets

    if validate and provenance:
        raise click.UsageError("--validate and --provenance exclude each other")
    if validate:
        ctx.invoke(config_validate)
        return
    if provenance:
        ctx.invoke(config_explain, as_json=as_json, agent_name=None, rig=None)
        return
    loaded = load_city(state.city_dir())
    data = mask_secrets(loaded.config.model_dump(mode="json"))
    if as_json:
        echo_json(data)
    else:
        click.echo(_to_toml(data))


@config.command("explain")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--agent", "agent_name", metavar="NAME",
              help="Only this agent (a rig's as RIG/NAME).")
@click.option("--rig", metavar="RIG", help="Only the agents of this rig.")
@pass_state
@guard
def config_explain(state: CliState, as_json: bool, agent_name: str | None,
                   rig: str | None) -> None:
    """Say which file each agent, and each key a patch set, came from."""
    loaded = load_city(state.city_dir())
    comp = loaded.composition
    agents = list(loaded.config.agent)
    if rig is not None:
        rigs = sorted({r.name for r in loaded.config.rigs})
        if rig not in rigs:
            raise click.ClickException(
                f"unknown rig '{rig}'; rigs: {', '.join(rigs) or 'none'}")
        agents = [a for a in agents
                  if (ra := comp.rig_agents.get(a.name)) is not None and ra.rig == rig]
    if agent_name is not None:
        wanted = agent_name.replace("/", "--")
        known = ", ".join(a.name for a in agents) or "none"
        agents = [a for a in agents if a.name == wanted]
        if not agents:
            raise click.ClickException(
                f"unknown agent '{agent_name}'" + (f" in rig '{rig}'" if rig else "")
                + f"; agents: {known}")
    rows = [{"agent": a.name, "from": comp.sources.get(a.name, str(loaded.path)),
             "patched": comp.patched.get(a.name, [])} for a in agents]
    if as_json:
        echo_json({"city": str(loaded.path), "packs": comp.packs, "agents": rows})
        return
    click.echo(f"city: {loaded.path}")
    for pack in comp.packs:
        click.echo(f"pack: {pack}")
    for row in rows:
        click.echo(f"agent {row['agent']}: {row['from']}")
        for key in row["patched"]:
            click.echo(f"  patched {key}")


@config.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of city.toml."""
    echo_json(CityConfig.model_json_schema(mode="validation"))


def _to_toml(data: dict[str, Any]) -> str:
    """The composed city as TOML that reads back to the same data: tables as
    ``[a.b]``, arrays of tables as ``[[a.b]]``, small string tables (``env``) inline."""
    lines: list[str] = []

    def value(v: Any) -> str:
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{_toml_key(k)} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(v, ensure_ascii=False)

    def is_tables(v: Any) -> bool:
        return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)

    def is_table(v: Any) -> bool:
        # Inline only flat string maps (env, option_defaults); deeper ones get headers.
        return isinstance(v, dict) and not all(isinstance(x, str) for x in v.values())

    def table(path: str, body: dict[str, Any], header: str) -> None:
        if header:
            lines.append(header)
        for k, v in body.items():
            if v is not None and not is_table(v) and not is_tables(v):
                lines.append(f"{_toml_key(k)} = {value(v)}")
        lines.append("")
        for k, v in body.items():
            sub = f"{path}.{_toml_key(k)}" if path else _toml_key(k)
            if is_table(v):
                table(sub, v, f"[{sub}]")
            elif is_tables(v):
                for item in v:
                    table(sub, item, f"[[{sub}]]")

    table("", data, "")
    return "\n".join(lines).lstrip("\n")


def _toml_key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum() and key.isascii()
    return key if bare else json.dumps(key)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@pass_state
@guard
def plugins(state: CliState, as_json: bool) -> None:
    """Every installed plugin: role, name, distribution, version, status."""
    city_dir = state.city_option.resolve() if state.city_option else find_city_dir(Path.cwd())
    cfg: CityConfig | None = None
    broken = False
    if city_dir is not None and (city_dir / "city.toml").is_file():
        try:
            cfg = load_city(city_dir).config
        except ConfigError as exc:
            broken = True  # list what is installed; what the city selects is unknown
            click.echo(f"gc: warning: {str(exc).splitlines()[0]}", err=True)
    pm = PluginManager(disabled=cfg.plugins.disabled if cfg else ())
    selected: dict[str, str] = {}
    if not broken:
        for role in SELECTABLE:
            configured = cfg.section(role).provider if cfg else None
            selected[role] = pm.resolve(role, configured).name
    records = pm.check_all()
    rows: list[dict[str, Any]] = []
    for rec in records:
        item: dict[str, Any] = dict(rec.to_json())
        item["selected"] = selected.get(rec.role) == rec.name
        if (rec.role == "session" and rec.name in TEST_ONLY_PROVIDERS
                and not (item["selected"] and pm.allows_test_providers)):
            continue  # a test double, not something to run a city on
        rows.append(item)
    if as_json:
        echo_json(rows)
        return
    click.echo(format_table(
        ["ROLE", "NAME", "DISTRIBUTION", "VERSION", "STATUS", ""],
        [[r["role"], r["name"], r["distribution"], r["version"], r["status"],
          ("selected" if r["selected"] else "") + (f" {r['error']}" if r["error"] else "")]
         for r in rows],
    ))


@click.command()
def version() -> None:
    """Print the version of gc and of every Gas City distribution installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    click.echo(f"gc {__version__}")
    for dist in ("gascity", "gascity-core", "gascity-tmux", "gascity-exec", "gascity-k8s",
                 "gascity-dolt-events", "gascity-pgmail"):
        try:
            click.echo(f"  {dist} {dist_version(dist)}")
        except PackageNotFoundError:
            continue
