"""Agents, sessions and the commands agents run inside their sessions."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..controller.paths import CityPaths
from ..event_names import SESSION_DRAINING, SESSION_UNDRAINED
from ..types import DRAIN_MANUAL, DRAIN_RESTART, META_AGENT, META_DRAIN, META_DRAIN_ACK
from .common import (
    CliState,
    caller,
    echo_json,
    format_table,
    guard,
    notify_controller,
    pass_state,
)
from .identity import own_session

__all__ = ["agent", "nudge", "runtime", "session"]


@click.group()
def agent() -> None:
    """List, add, suspend and resume agents."""


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

    city_dir = state.city_dir()
    config = load_city(city_dir).config
    if config.agent_named(name) is None:
        known = ", ".join(a.name for a in config.agent) or "none"
        raise click.ClickException(f"unknown agent '{name}'; agents: {known}")
    reply = hold_agents(city_dir, {name}, value)
    word = "suspended" if value else "resumed"
    click.echo(f"agent {name} {word}" + ("" if reply else "; takes effect at the next gc start"))


def hold_agents(city_dir: Path, names: set[str], value: bool) -> str | None:
    """Suspend (or resume) agents through ``.gc/overrides.json`` and tell a running
    controller. The controller's reply, if any."""
    from ..reconcile.state import Overrides

    paths = CityPaths(city_dir)
    overrides = Overrides.load(paths.overrides)
    held = set(overrides.suspended_agents)
    overrides.suspended_agents = sorted(held | names if value else held - names)
    overrides.save(paths.overrides)
    if value:
        return notify_controller(city_dir)
    # Resuming is the operator's word that the crash loop is fixed.
    reply = None
    for name in sorted(names):
        reply = unquarantine(city_dir, name)
    return reply if names else notify_controller(city_dir)


def unquarantine(city_dir: Path, agent: str) -> str | None:
    """Forget ``agent``'s crash loop. A running controller owns its state file, so it is
    asked to (and ticks); only without one is the file edited here. The reply, if any."""
    from ..reconcile.state import ControllerState

    reply = notify_controller(city_dir, f"unquarantine {agent}")
    if reply is None:
        paths = CityPaths(city_dir)
        ctl = ControllerState.load(paths.state)
        if agent in ctl.quarantined or agent in ctl.crashes:
            ctl.quarantined.pop(agent, None)
            ctl.crashes.pop(agent, None)
            ctl.save(paths.state)
    return reply


_PROMPT_SCAFFOLD = """You are {{ .AgentName }}, an agent of this city.

Say here what it works on, how it learns of work (gc mail inbox) and when it is done.
"""


@agent.command("add")
@click.option("--name", required=True, help="The agent's name (DIR/NAME sets --dir too).")
@click.option("--prompt-template", "prompt_template", metavar="PATH",
              help="Copy this file (relative to the city) as its prompt.template.md.")
@click.option("--dir", "work_dir", metavar="DIR",
              help="Its working directory, relative to the city (agent.toml dir).")
@click.option("--suspended", is_flag=True, help="Add it suspended (agent.toml).")
@pass_state
@guard
def agent_add(state: CliState, name: str, prompt_template: str | None,
              work_dir: str | None, suspended: bool) -> None:
    """Scaffold agent NAME in the city's root pack (agents/NAME/).

    Writes its prompt.template.md and, for --dir or --suspended, its agent.toml.
    city.toml is not touched; a running controller picks the new agent up as it does
    any config edit."""
    import json as _json
    import re

    from ..config import load_city
    from ..config.models import MAX_AGENT_NAME, NAME_PATTERN

    city_dir = state.city_dir()
    if not (city_dir / "pack.toml").is_file():
        raise click.ClickException(
            f"gc agent add needs the city directory to be a pack: create {city_dir / 'pack.toml'}"
            " with [pack] name and schema = 2 (see docs/config.md, Packs)")
    prefix, _, base = name.rpartition("/")
    work_dir = prefix or work_dir
    if not re.match(NAME_PATTERN, base) or len(base) > MAX_AGENT_NAME:
        raise click.BadParameter(
            f"{base!r}: expected letters, digits, '_' or '-' (not first), at most "
            f"{MAX_AGENT_NAME} characters", param_hint="--name")
    config = load_city(city_dir).config
    if config.agent_named(base) is not None:
        raise click.ClickException(f"agent '{base}' already exists (see gc config explain "
                                   f"--agent {base})")
    target = city_dir / "agents" / base
    if target.exists():
        raise click.ClickException(f"{target} exists already; remove it or choose another name")
    if prompt_template:
        source = Path(prompt_template)
        source = source if source.is_absolute() else city_dir / source
        try:
            prompt = source.read_bytes()
        except OSError as exc:
            raise click.ClickException(
                f"cannot read the prompt template {source}: {exc.strerror or exc}") from None
    else:
        prompt = _PROMPT_SCAFFOLD.encode()
    keys = ([f"dir = {_json.dumps(work_dir)}"] if work_dir else []) + (
        ["suspended = true"] if suspended else [])
    try:
        target.mkdir(parents=True)
        (target / "prompt.template.md").write_bytes(prompt)
        if keys:
            (target / "agent.toml").write_text("\n".join(keys) + "\n")
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None
    click.echo(f"agent {base} scaffolded in {target}")


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
    """Sessions: list, peek, logs, nudge, submit, attach, new, kill, reset, close, wait.

    Hold one with suspend, release it with wake."""


@session.command("list")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@click.option("--template", help="Only sessions of this agent (rig agents: RIG/AGENT).")
@click.option("--state", "state_", type=click.Choice(["active", "suspended", "all"]),
              default="active", show_default=True,
              help="active: running sessions; suspended: those held by gc session suspend "
                   "or close; all: both.")
@pass_state
@guard
def session_list(state: CliState, as_json: bool, template: str | None, state_: str) -> None:
    """Every session of the city: running ones (one provider call), or held ones."""
    with state.open_light("session") as city:
        records = city.hooks.list_running("") if state_ != "suspended" else []
        agents = set(city.file.agent_names())
    rows: list[dict[str, Any]] = []
    for r in sorted(records, key=lambda r: r.name):
        meta = dict(r.meta) if r.meta is not None else None
        rows.append({
            "name": r.name,
            "agent": (meta or {}).get(META_AGENT) or _owner(r.name, meta, agents),
            "liveness": r.liveness.value,
            "draining": bool(meta and meta.get(META_DRAIN)),
            "started_at": r.started_at.isoformat(timespec="seconds") if r.started_at else None,
            "meta": meta,
        })
    if state_ != "active":
        # Read directly: the reconciler's Overrides would cost this command its imports.
        try:
            raw = json.loads(CityPaths(state.city_dir()).overrides.read_text())
            held = raw.get("held_sessions", [])
        except (OSError, ValueError, AttributeError):
            held = []
        running = {r["name"] for r in rows}
        rows += [{"name": n, "agent": _owner(n, None, agents), "liveness": "suspended",
                  "draining": False, "started_at": None, "meta": None}
                 for n in sorted(held) if n not in running]
    if template:
        wanted = {template, template.replace("/", "--")}
        rows = [r for r in rows if r["agent"] in wanted]
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


def _on_demand(state: CliState, name: str) -> bool:
    from ..config import load_city

    return name.replace("/", "--") in load_city(state.city_dir()).composition.on_demand


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


class _TextAfterName(click.Command):
    """Everything after the session name is the text, ``--help`` included: an agent
    nudging another with "--help" means the words, not this command's help."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        i = 0
        while i < len(args) and args[i].startswith("-") and args[i] != "--":
            i += 2 if args[i] in ("--delivery", "--intent") else 1  # options with a value
        if i < len(args) and args[i] != "--":
            args = [*args[: i + 1], "--", *args[i + 1 :]]
        return super().parse_args(ctx, args)


def _text_command(name: str, option: str, choices: list[str],
                  help_: str) -> Callable[[Callable[..., None]], click.Command]:
    """``gc session nudge|submit [OPTION X] NAME TEXT...``: the session, then its text."""

    def wrap(fn: Callable[..., None]) -> click.Command:
        fn = guard(fn)
        fn = pass_state(fn)
        fn = click.argument("text", nargs=-1, required=True)(fn)
        fn = click.argument("name")(fn)
        fn = click.option(option, type=click.Choice(choices), default=choices[0],
                          show_default=True, help=help_)(fn)
        return session.command(name, cls=_TextAfterName)(fn)

    return wrap


@_text_command("nudge", "--delivery", ["immediate", "wait-idle", "queue"],
               "Accepted for the reference's scripts; text is always typed at once "
               "(give it before NAME).")
def session_nudge(state: CliState, delivery: str, name: str, text: tuple[str, ...]) -> None:
    """Type TEXT into NAME's session, then Enter (several words are joined)."""
    with state.open_light("session") as city:
        city.hooks.nudge(name, " ".join(text))
    click.echo(f"{name}: nudged")


@_text_command("submit", "--intent", ["default", "follow_up", "interrupt_now"],
               "interrupt_now interrupts the agent first (tmux: Ctrl-C; a process: "
               "SIGINT); default and follow_up type the text at once, after which the "
               "agent's own input queue orders it (give it before NAME).")
def session_submit(state: CliState, intent: str, name: str, text: tuple[str, ...]) -> None:
    """Submit TEXT to session NAME as a user message (several words are joined)."""
    from ..types import Liveness

    with state.open_light("session") as city:
        if not any(r.name == name and r.liveness is not Liveness.DEAD
                   for r in city.hooks.list_running(name)):
            raise click.ClickException(
                f"no running session '{name}' (see: gc session list; gc session wake "
                f"{name} starts a held one)")
        if intent == "interrupt_now":
            city.hooks.interrupt(name)
        city.hooks.nudge(name, " ".join(text))
    click.echo(f"{name}: submitted ({intent})")


@session.command("kill")
@click.argument("name")
@pass_state
@guard
def session_kill(state: CliState, name: str) -> None:
    """Stop NAME now (the controller restarts it if it is still desired)."""
    if not name or "/" in name or name in (".", "..") or any(ord(c) < 32 for c in name):
        raise click.BadParameter(
            f"{name!r} is not a session name (no '/', '.', '..' or control characters); "
            "see `gc session list`", param_hint="NAME")
    with state.open_light("session") as city:
        stopped = city.hooks.stop(name)
    if not stopped:
        raise click.ClickException(f"no running session '{name}' (see: gc session list)")
    click.echo(f"{name}: stopped")


def _city_session(state: CliState, name: str) -> tuple[Any, str]:
    """The loaded config and the agent of session NAME; an error naming the agents."""
    from ..config import load_city

    config = load_city(state.city_dir()).config
    agents = {a.name for a in config.agent}
    owner = _owner(name, None, agents) or _aliases(state).get(name)
    if owner is None:
        raise click.ClickException(
            f"'{name}' is no session of this city; sessions are named after their agent "
            f"(pool instances AGENT-N); agents: {', '.join(sorted(agents)) or 'none'}")
    return config, owner


def _aliases(state: CliState) -> dict[str, str]:
    """alias -> pool agent, for the sessions gc session new --alias asked for."""
    from ..reconcile.state import Overrides

    return Overrides.load(CityPaths(state.city_dir()).overrides).aliases


def _hold(state: CliState, name: str, held: bool) -> None:
    from ..reconcile.state import Overrides

    paths = CityPaths(state.city_dir())
    overrides = Overrides.load(paths.overrides)
    names = set(overrides.held_sessions)
    (names.add if held else names.discard)(name)
    overrides.held_sessions = sorted(names)
    overrides.save(paths.overrides)


def _stop_now(state: CliState, name: str) -> bool:
    with state.open_light("session") as city:
        return city.hooks.stop(name)


def _stop_and_tell(state: CliState, name: str, word: str) -> None:
    stopped = _stop_now(state, name)
    notify_controller(state.city_dir())
    click.echo(f"{name}: {word}" + ("" if stopped else " (it was not running)"))


@session.command("suspend")
@click.argument("name")
@pass_state
@guard
def session_suspend(state: CliState, name: str) -> None:
    """Stop session NAME and keep it stopped until gc session wake NAME."""
    _city_session(state, name)
    _hold(state, name, True)
    _stop_and_tell(state, name, "suspended")


@session.command("close")
@click.argument("name")
@pass_state
@guard
def session_close(state: CliState, name: str) -> None:
    """End session NAME: stop it, and drop it or hold it stopped.

    A session gc session new made is dropped; any other is held stopped until
    gc session wake NAME."""
    from ..reconcile.state import Overrides

    if _on_demand(state, name):
        set_woken(state, name, False)
        _stop_now(state, name.replace("/", "--"))
        return
    _config, owner = _city_session(state, name)
    paths = CityPaths(state.city_dir())
    overrides = Overrides.load(paths.overrides)
    if name in overrides.aliases:
        del overrides.aliases[name]
        overrides.held_sessions = [n for n in overrides.held_sessions if n != name]
        overrides.save(paths.overrides)
    elif overrides.extra_sessions.get(owner):
        overrides.extra_sessions[owner] -= 1
        if not overrides.extra_sessions[owner]:
            del overrides.extra_sessions[owner]
        overrides.save(paths.overrides)
    else:
        _hold(state, name, True)
    _stop_and_tell(state, name, "closed")


@session.command("wake")
@click.argument("name")
@pass_state
@guard
def session_wake(state: CliState, name: str) -> None:
    """Let session NAME run again (its hold and crash-loop quarantine lifted).

    Starts an on_demand named session, or releases a session's hold and its agent's
    crash-loop quarantine; the controller starts it at its next tick."""
    if _on_demand(state, name):
        set_woken(state, name, True)
        return
    _config, owner = _city_session(state, name)
    _hold(state, name, False)
    reply = unquarantine(state.city_dir(), owner)
    click.echo(f"{name}: woken" + ("" if reply else "; starts at the next gc start"))


@session.command("reset")
@click.argument("name")
@pass_state
@guard
def session_reset(state: CliState, name: str) -> None:
    """Restart session NAME fresh: stop it now; the controller starts it again."""
    _city_session(state, name)
    if not _stop_now(state, name):
        raise click.ClickException(f"no running session '{name}' (see: gc session list)")
    reply = notify_controller(state.city_dir())
    click.echo(f"{name}: reset" + ("" if reply else "; starts again at the next gc start"))


@session.command("new")
@click.argument("template")
@click.option("--alias", help="Name the new session NAME (its GC_ALIAS): commands and mail "
                               "address it so; gc session close NAME ends it.")
@click.option("--title", help="Accepted and ignored (sessions carry no title here).")
@click.option("--no-attach", is_flag=True, help="Do not attach (the default here).")
@pass_state
@guard
def session_new(state: CliState, template: str, alias: str | None, title: str | None,
                no_attach: bool) -> None:
    """Ask for one more session of pool TEMPLATE (up to its max_active_sessions).

    It is the pool's next numbered instance, or the one named --alias."""
    from ..config import load_city
    from ..reconcile.state import Overrides

    loaded = load_city(state.city_dir())
    config = loaded.config
    agent = config.agent_named(template.replace("/", "--"))
    if agent is None:
        known = ", ".join(a.name for a in config.agent) or "none"
        raise click.ClickException(f"unknown agent '{template}'; agents: {known}")
    if not agent.is_pool:
        raise click.ClickException(
            f"agent '{template}' runs one session, '{agent.name}'; bring it back with "
            f"gc session wake {template}")
    paths = CityPaths(state.city_dir())
    overrides = Overrides.load(paths.overrides)
    if alias is not None:
        alias = _check_alias(alias.strip(), loaded, overrides)
        named = sum(1 for owner in overrides.aliases.values() if owner == agent.name)
        cap = agent.max_active_sessions
        if cap is not None and named >= cap:
            raise click.ClickException(
                f"pool '{agent.name}' has max_active_sessions = {cap}, all named already "
                f"({', '.join(sorted(n for n, o in overrides.aliases.items() if o == agent.name))}"
                "); close one first")
        overrides.aliases[alias] = agent.name
    else:
        overrides.extra_sessions[agent.name] = overrides.extra_sessions.get(agent.name, 0) + 1
    overrides.save(paths.overrides)
    reply = notify_controller(state.city_dir())
    what = f"session {alias} of {agent.name}" if alias else f"{agent.name}: one more session"
    click.echo(f"{what} asked for" + ("" if reply else "; it starts at the next gc start"))


def _check_alias(alias: str, loaded: Any, overrides: Any) -> str:
    """An alias names a session: a new name, unlike any agent's or pool instance's."""
    import re

    from ..config.models import MAX_AGENT_NAME, NAME_PATTERN
    from ..reconcile.desired import session_owner
    from ..reconcile.naming import session_names

    config = loaded.config
    agents = {a.name: a for a in config.agent}
    names = session_names(config, loaded.city_name, loaded.composition.namepools)
    owner = session_owner(alias, agents, names)
    if not re.match(NAME_PATTERN, alias) or len(alias) > MAX_AGENT_NAME:
        why = (f"expected letters, digits, '_' or '-' (not first), at most {MAX_AGENT_NAME} "
               "characters")
    elif alias == "human":
        why = "'human' is the operator's mailbox"
    elif owner is not None:
        why = f"it is already a session name of agent '{owner[0]}'"
    elif alias in overrides.aliases:
        why = f"it names a session of '{overrides.aliases[alias]}' already"
    else:
        return alias
    raise click.BadParameter(f"{alias!r}: {why}", param_hint="--alias")


@session.command("logs")
@click.argument("name")
@click.option("--tail", default=1, show_default=True, type=click.IntRange(min=0),
              help="Compaction segments of the transcript to show (0 = all).")
@click.option("-f", "--follow", "follow_", is_flag=True,
              help="Keep printing new messages (or output) as they arrive (Ctrl-C ends).")
@pass_state
@guard
def session_logs(state: CliState, name: str, tail: int, follow_: bool) -> None:
    """NAME's conversation: its agent's transcript, else its provider's output.

    The transcript is the agent's JSONL one (Claude Code's, in ~/.claude/projects and
    [daemon] observe_paths), found by the session's working directory. A session that
    keeps none (a plain command) shows the output its provider keeps instead: the
    subprocess provider's output log, tmux's scrollback."""
    from .. import transcript

    path = _transcript_path(state, name)
    if path is None:
        _provider_logs(state, name, follow_)
        return
    try:
        shown = transcript.read_messages(path, tail)
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None
    for entry in shown:
        for line in transcript.format_entry(entry):
            click.echo(line)
    if not follow_:
        return
    import time

    # Everything already in the file counts as seen, not only the segments shown.
    seen = {id_ for e in transcript.read_messages(path) if (id_ := e.get("uuid"))}
    try:
        while True:
            time.sleep(1.0)
            try:
                current = transcript.read_messages(path)
            except OSError:
                continue  # rotated or being rewritten: read it again next time
            for entry in current:
                id_ = entry.get("uuid")
                if id_ in seen:
                    continue
                if id_:
                    seen.add(id_)
                for line in transcript.format_entry(entry):
                    click.echo(line)
    except KeyboardInterrupt:
        return


def _transcript_path(state: CliState, name: str) -> Path | None:
    """The newest transcript written in session NAME's working directory, if any."""
    from .. import transcript
    from ..config import load_city
    from ..errors import ConfigError
    from ..prompt.render import PromptError
    from ..reconcile.desired import agent_work_dir

    try:
        loaded = load_city(state.city_dir())
    except ConfigError:
        return None  # the provider's output can still be shown
    config = loaded.config
    owner = (_owner(name.replace("/", "--"), None, {a.name for a in config.agent})
             or _aliases(state).get(name))
    agent = config.agent_named(owner) if owner else None
    if agent is None:
        return None
    try:
        work_dir = agent_work_dir(agent, loaded.city_dir, loaded.city_name,
                                  loaded.composition.rig_agents.get(agent.name))
    except PromptError:
        return None
    return transcript.find_transcript(transcript.search_paths(config.daemon.observe_paths),
                                      work_dir)


def _provider_logs(state: CliState, name: str, follow_: bool) -> None:
    import time

    with state.open_light("session") as city:
        text = city.hooks.peek(name, 100_000)
        click.echo(text)
        if not follow_:
            return
        previous = text.splitlines()
        try:
            while True:
                time.sleep(1.0)
                lines = city.hooks.peek(name, 1000).splitlines()
                # New lines are those after the longest overlap with what was shown.
                start = 0
                for k in range(min(len(previous), len(lines)), 0, -1):
                    if previous[-k:] == lines[:k]:
                        start = k
                        break
                for line in lines[start:]:
                    click.echo(line)
                previous = lines
        except KeyboardInterrupt:
            return


@session.command("wait")
@click.argument("name")
@click.option("--timeout", default="60s", show_default=True,
              help="How long to wait (30s, 5m).")
@click.option("--on-beads", help="Not supported: beads are not part of this implementation.")
@pass_state
@guard
def session_wait(state: CliState, name: str, timeout: str, on_beads: str | None) -> None:
    """Wait until session NAME is running and alive; exit 1 if --timeout passes first."""
    import time

    from ..config.durations import parse_duration
    from ..types import Liveness

    if on_beads:
        raise click.ClickException("waits on beads are not part of Gas City for Python")
    try:
        seconds = parse_duration(timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None
    deadline = time.monotonic() + seconds
    with state.open_light("session") as city:
        while True:
            if any(r.name == name and r.liveness is Liveness.ALIVE
                   for r in city.hooks.list_running(name)):
                click.echo(f"{name}: running")
                return
            if time.monotonic() >= deadline:
                raise click.ClickException(f"{name}: not running after {timeout}")
            time.sleep(0.2)


@session.command("attach")
@click.argument("name")
@pass_state
@guard
def session_attach(state: CliState, name: str) -> None:
    """Attach this terminal to NAME's session."""
    with state.open_light("session") as city:
        sys.exit(city.hooks.attach(name))


@click.group()
def nudge() -> None:
    """Deferred nudges: none are queued here, gc session nudge types at once."""


@nudge.command("status")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
def nudge_status(name: str | None, as_json: bool) -> None:
    """Queued and dead-letter nudges of session NAME (default: your own).

    Always none: every nudge is delivered when it is sent."""
    name = name or caller()
    if as_json:
        echo_json({"session": name, "queued": [], "dead_letter": []})
        return
    click.echo(f"{name}: 0 queued, 0 dead-letter (nudges are delivered at once)")


@click.group()
def runtime() -> None:
    """Commands an agent runs inside its own session."""


def _own_session(name: str | None) -> str:
    name = own_session(name)
    if not name:
        raise click.ClickException(
            "no session name: run inside a Gas City session (GC_SESSION_NAME) or pass NAME"
        )
    return name


def _session_arg(fn: Any) -> Any:
    fn = click.option("--session", "name_option", hidden=True)(fn)
    return click.argument("name", required=False)(fn)


def _emit(city: Any, type_: str, name: str, message: str, **payload: Any) -> None:
    from ..errors import GasCityError
    from ..types import EventDraft

    try:
        city.hooks.emit_event(EventDraft(type=type_, actor=caller(), subject=name,
                                         message=message, payload=payload))
    except GasCityError:
        pass  # the flag is set; the event only records it


@runtime.command("drain")
@click.argument("name")
@pass_state
@guard
def drain(state: CliState, name: str) -> None:
    """Ask session NAME to wind down, then restart fresh.

    It sees drain-check say yes, finishes, then runs drain-ack; the controller stops it
    and starts it again fresh."""
    with state.open_light("session", "events") as city:
        city.hooks.set_meta(name, META_DRAIN, DRAIN_MANUAL)
        _emit(city, SESSION_DRAINING, name, f"{name}: draining ({DRAIN_MANUAL})",
              reason=DRAIN_MANUAL)
        notify_controller(city.dir)
    click.echo(f"{name}: draining")


@runtime.command("undrain")
@click.argument("name")
@pass_state
@guard
def undrain(state: CliState, name: str) -> None:
    """Call off a drain of session NAME (clears the drain and its acknowledgement)."""
    with state.open_light("session", "events") as city:
        city.hooks.remove_meta(name, META_DRAIN)
        city.hooks.remove_meta(name, META_DRAIN_ACK)
        _emit(city, SESSION_UNDRAINED, name, f"{name}: undrained")
        notify_controller(city.dir)
    click.echo(f"{name}: undrained")


@runtime.command("request-restart")
@_session_arg
@click.option("--no-block", is_flag=True,
              help="Return at once instead of waiting to be stopped (for scripts).")
@pass_state
@guard
def request_restart(state: CliState, name: str | None, name_option: str | None,
                    no_block: bool) -> None:
    """Ask the controller to restart this session fresh; block until it is stopped.

    Blocking keeps the agent from spending anything more meanwhile."""
    import time

    name = _own_session(name or name_option)
    with state.open_light("session", "events") as city:
        city.hooks.set_meta(name, META_DRAIN, DRAIN_RESTART)
        _emit(city, SESSION_DRAINING, name, f"{name}: draining ({DRAIN_RESTART})",
              reason=DRAIN_RESTART)
        notify_controller(city.dir)
    click.echo(f"{name}: restart requested")
    if no_block:
        return
    while True:
        time.sleep(3600)


@runtime.command("drain-ack")
@_session_arg
@pass_state
@guard
def drain_ack(state: CliState, name: str | None, name_option: str | None) -> None:
    """Tell the controller this session finished its work and may be stopped."""
    name = _own_session(name or name_option)
    with state.open_light("session") as city:
        city.hooks.set_meta(name, META_DRAIN_ACK, "1")
        notify_controller(city.dir)
    click.echo(f"{name}: drain acknowledged")


@runtime.command("drain-check")
@_session_arg
@pass_state
@guard
def drain_check(state: CliState, name: str | None, name_option: str | None) -> None:
    """Exit 0 (and print the reason) if this session is being drained, else 1."""
    name = _own_session(name or name_option)
    with state.open_light("session") as city:
        reason = city.hooks.get_meta(name, META_DRAIN)
    if reason:
        click.echo(reason)
        sys.exit(0)
    sys.exit(1)
