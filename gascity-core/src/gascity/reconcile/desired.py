"""The desired set: which sessions the config asks for, with how to start each."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..config.compose import RigAgent
from ..config.models import AgentConfig, CityConfig
from ..config.presets import Launch, ProviderError, resolve_launch
from ..prompt.agent import agent_fragments, agent_prompt
from ..prompt.render import expand_placeholders, pack_fragment_dirs
from ..types import META_AGENT, META_FINGERPRINT, META_LIVE, StartConfig
from .drift import fingerprint, live_fingerprint
from .naming import SessionNames, session_names
from .staging import copy_files, copy_overlays, overlay_path

__all__ = [
    "DesiredSession",
    "agent_env",
    "agent_work_dir",
    "build_desired",
    "command_placeholders",
    "instance_names",
    "session_owner",
]

_DEFAULT_NAMES = SessionNames(())


@dataclass(frozen=True, slots=True)
class _StartInputs:
    """What building a session's StartConfig needs, shared by an agent's sessions."""

    agent: AgentConfig
    city_name: str
    city_dir: Path
    startup_timeout: float
    launch: Launch
    fragments: tuple[str, ...] = ()
    fragment_dirs: tuple[Path, ...] = ()
    rig: RigAgent | None = None
    pack_overlay_dirs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DesiredSession:
    name: str
    agent: str
    instance: int | None
    fingerprint: str
    inputs: _StartInputs
    alias: str | None = None
    """Set for a session ``gc session new --alias`` asked for: it is named so."""
    identity: str = ""
    """``$GC_AGENT``: the name without ``session_template`` ("" when it is the name)."""

    @property
    def config(self) -> StartConfig:
        """How to start it: built on demand, because a steady tick starts nothing and
        building one per desired session was most of such a tick."""
        return start_config(
            self.inputs.agent,
            self.name,
            city_name=self.inputs.city_name,
            city_dir=self.inputs.city_dir,
            startup_timeout=self.inputs.startup_timeout,
            fp=self.fingerprint,
            instance=self.instance,
            launch=self.inputs.launch,
            fragments=self.inputs.fragments,
            fragment_dirs=self.inputs.fragment_dirs,
            rig=self.inputs.rig,
            alias=self.alias,
            identity=self.identity,
            pack_overlay_dirs=self.inputs.pack_overlay_dirs,
        )


def instance_names(agent: AgentConfig, count: int,
                   names: SessionNames | None = None) -> list[str]:
    """``name-1 .. name-N`` for pools; the bare name for singletons and max=1 pools
    (through ``[workspace] session_template`` when ``names`` has one)."""
    return [n for n, _ in (names or _DEFAULT_NAMES).instances(agent, count)]


def session_owner(name: str, agents: Mapping[str, AgentConfig],
                  names: SessionNames | None = None, *,
                  aliases: Mapping[str, str] | None = None) -> tuple[str, int | None] | None:
    """Which agent (and pool instance number) a running session name belongs to.
    Pass the config's :func:`~gascity.reconcile.naming.session_names` when it may
    have a ``session_template``, and ``aliases`` (name -> agent) for the sessions
    ``gc session new --alias`` named."""
    if aliases and aliases.get(name) in agents:
        return aliases[name], None
    return (names or _DEFAULT_NAMES).owner(name, agents)


def agent_env(
    agent: AgentConfig,
    name: str,
    *,
    city_name: str,
    city_dir: Path,
    work_dir: str,
    launch: Launch,
    instance: int | None,
    rig: RigAgent | None = None,
    alias: str | None = None,
    identity: str = "",
) -> dict[str, str]:
    """The session's environment as Gas City sets it: the provider's env, then the
    agent's, then the identity variables (which the city cannot override)."""
    env = _agent_identity_env(agent, str(city_dir), launch, rig)
    env.update(
        GC_CITY_DIR=str(city_dir),
        GC_CITY_NAME=city_name,
        GC_CITY_RUNTIME_DIR=str(city_dir / ".gc" / "runtime"),
        GC_AGENT=identity or name,
        GC_SESSION_NAME=name,
        GC_DIR=work_dir,
        GC_PROVIDER=launch.provider,
    )
    if instance is not None:
        env["GC_INSTANCE"] = str(instance)
    if alias:
        env["GC_ALIAS"] = alias
    return env


def _agent_identity_env(
    agent: AgentConfig, city: str, launch: Launch, rig: RigAgent | None
) -> dict[str, str]:
    """The part of :func:`agent_env` every session of the agent shares: all that the
    fingerprint's env allow-list can see (built once per agent per loaded config)."""
    alias = rig.qualified if rig else agent.name
    env = {**launch.env, **agent.env}
    env.update(
        GC_CITY=city,
        GC_CITY_PATH=city,
        GC_ALIAS=alias,
        GC_TEMPLATE=alias,
        # Empty means "unset": a rig's values must not leak in from the server's env.
        GC_RIG=rig.rig if rig else "",
        GC_RIG_ROOT=rig.root if rig else "",
    )
    return env


def agent_work_dir(
    agent: AgentConfig, city_dir: Path, city_name: str = "", rig: RigAgent | None = None
) -> str:
    """The session's working directory: ``work_dir``, else ``dir``, from the city.

    ``work_dir`` may use Gas City's placeholders (``.gc/agents/{{.AgentBase}}``);
    raises ``PromptError`` (file ``work_dir``) for one this interpreter cannot run.
    """
    raw = agent.work_dir or agent.dir or "."
    if "{{" in raw:
        raw = expand_placeholders(raw, f"agent '{agent.name}' work_dir", {
            "Agent": rig.qualified if rig else agent.name,
            "AgentBase": rig.base if rig else agent.name,
            "Rig": rig.rig if rig else "", "RigRoot": rig.root if rig else "",
            "CityRoot": str(city_dir), "CityName": city_name,
        })
    return str((city_dir / raw).resolve())


def command_placeholders(
    agent: AgentConfig,
    session: str,
    *,
    city_dir: Path,
    city_name: str,
    work_dir: str,
    rig: RigAgent | None = None,
) -> Callable[[str, str], str]:
    """Expands Gas City's placeholders in pre_start / session_setup / session_live:
    ``{{.Session}}``, ``{{.Agent}}``, ``{{.AgentBase}}``, ``{{.Rig}}``, ``{{.RigRoot}}``,
    ``{{.CityRoot}}``, ``{{.CityName}}``, ``{{.WorkDir}}``. Text without ``{{`` is
    returned as written (shell text, never parsed here)."""
    data = {
        "Session": session,
        "Agent": rig.qualified if rig else agent.name,
        "AgentBase": rig.base if rig else agent.name,
        "Rig": rig.rig if rig else "",
        "RigRoot": rig.root if rig else "",
        "CityRoot": str(city_dir),
        "CityName": city_name,
        "WorkDir": work_dir,
    }

    def expand(command: str, key: str) -> str:
        if "{{" not in command:
            return command
        return expand_placeholders(command, f"agent '{agent.name}' {key}", data)

    return expand


def start_config(
    agent: AgentConfig,
    name: str,
    *,
    city_name: str,
    city_dir: Path,
    startup_timeout: float,
    fp: str,
    instance: int | None,
    launch: Launch | None = None,
    fragments: tuple[str, ...] = (),
    fragment_dirs: tuple[Path, ...] = (),
    rig: RigAgent | None = None,
    alias: str | None = None,
    identity: str = "",
    pack_overlay_dirs: tuple[str, ...] = (),
) -> StartConfig:
    """Raises ``PromptError`` when the agent's prompt template cannot be rendered."""
    launch = launch or Launch(
        command=agent.start_command, process_names=tuple(agent.process_names or ()),
        emits_permission_warning=bool(agent.emits_permission_warning),
    )
    work = agent_work_dir(agent, city_dir, city_name, rig)
    # $GC_CITY_RUNTIME_DIR exists for the agent, as the city's other state: owner only.
    os.makedirs(city_dir / ".gc" / "runtime", mode=0o700, exist_ok=True)
    if work.startswith(str(city_dir.resolve()) + os.sep):
        # Gas City creates an agent's directory under the city (.gc/agents/<name>).
        os.makedirs(work, exist_ok=True)
    overlay = overlay_path(agent.overlay_dir, city_dir)
    copy_overlays(pack_overlay_dirs, overlay, work)
    prompt = agent_prompt(agent, city_dir=city_dir, work_dir=work, fragments=fragments,
                          fragment_dirs=fragment_dirs, rig=rig)
    steps = command_placeholders(agent, name, city_dir=city_dir, city_name=city_name,
                                 work_dir=work, rig=rig)
    live = tuple(steps(c, "session_live") for c in agent.session_live)
    meta = {META_FINGERPRINT: fp, META_AGENT: agent.name}
    if live:
        meta[META_LIVE] = live_fingerprint(agent)
    return StartConfig(
        command=launch.with_prompt(prompt),
        work_dir=work,
        agent=agent.name,
        env=agent_env(
            agent,
            name,
            city_name=city_name,
            city_dir=city_dir,
            work_dir=work,
            launch=launch,
            instance=instance,
            rig=rig,
            alias=alias,
            identity=identity,
        ),
        process_names=launch.process_names,
        nudge=agent.nudge,
        pre_start=tuple(steps(c, "pre_start") for c in agent.pre_start),
        session_setup=tuple(steps(c, "session_setup") for c in agent.session_setup),
        # Relative to the city, as Gas City resolves it (the steps run in work_dir).
        session_setup_script=overlay_path(agent.session_setup_script, city_dir),
        # Run at start after session_setup, then again on each change.
        session_live=live,
        pack_overlay_dirs=pack_overlay_dirs,
        overlay_dir=overlay,
        copy_files=copy_files(city_dir, work),
        meta=meta,
        startup_timeout=startup_timeout,
        ready_delay_ms=launch.ready_delay_ms,
        ready_prompt_prefix=launch.ready_prompt_prefix,
        emits_permission_warning=launch.emits_permission_warning,
    )


def build_desired(
    config: CityConfig,
    pool_counts: Mapping[str, int],
    *,
    city_name: str,
    city_dir: Path,
    suspended_agents: frozenset[str] = frozenset(),
    city_suspended: bool = False,
    fingerprints: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    pack_dirs: Sequence[str] = (),
    rig_agents: Mapping[str, RigAgent] | None = None,
    namepools: Mapping[str, Sequence[str]] | None = None,
    aliases: Mapping[str, str] | None = None,
    pack_overlay_dirs: Sequence[str] = (),
    rig_overlay_dirs: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, DesiredSession]:
    """Every session that should run now. Suspended city or agents want none.

    ``fingerprints`` caches each agent's fingerprint by name; pass the same dict for
    as long as ``config`` is the same object (the controller keeps one per loaded
    config), so steady ticks hash nothing.

    An agent whose launch cannot be resolved (no command, no provider on PATH) is
    left out, with the reason in ``problems`` under its name; the rest still run.

    ``[workspace]`` and ``[[rigs]]`` ``max_active_sessions`` clamp the totals, as in Gas
    City: agents take their sessions in config order until a cap is spent.

    ``aliases`` (alias -> pool agent, from ``gc session new --alias``) adds a session
    named by each alias to its agent's; the caller leaves room for them in
    ``pool_counts``.

    ``pack_overlay_dirs`` (the city-level packs' ``overlay/`` directories) and
    ``rig_overlay_dirs`` (rig name -> its own packs' ones, after the city's for that
    rig's agents) are staged into each session, as Gas City stages them.
    """
    if config.workspace.suspended or city_suspended:
        return {}
    cache = {} if fingerprints is None else fingerprints
    city = str(city_dir)
    out: dict[str, DesiredSession] = {}
    fragment_dirs = tuple(pack_fragment_dirs(pack_dirs))
    names = session_names(config, city_name, namepools)
    city_left = config.workspace.max_active_sessions
    rig_left = {r.name: r.max_active_sessions for r in config.rigs
                if r.max_active_sessions is not None}
    for agent in config.agent:
        if agent.suspended or agent.name in suspended_agents:
            continue
        try:
            launch = resolve_launch(agent, config.workspace, config.providers)
        except ProviderError as exc:
            if problems is not None:
                problems[agent.name] = str(exc)
            continue
        count = pool_counts.get(agent.name, 1) if agent.is_pool else 1
        rig = (rig_agents or {}).get(agent.name)
        capped = rig is not None and rig.rig in rig_left
        if city_left is not None:
            count = min(count, city_left)
        if rig is not None and capped:
            count = min(count, rig_left[rig.rig] or 0)
            rig_left[rig.rig] = (rig_left[rig.rig] or 0) - count
        if city_left is not None:
            city_left -= count
        fp = cache.get(agent.name)
        if fp is None:
            env = _agent_identity_env(agent, city, launch, rig)
            fp = cache[agent.name] = fingerprint(agent, launch.command, env)
        overlays = (*pack_overlay_dirs,
                    *((rig_overlay_dirs or {}).get(rig.rig, ()) if rig else ()))
        inputs = _StartInputs(agent, city_name, city_dir, config.session.startup_timeout,
                              launch, agent_fragments(config, agent), fragment_dirs, rig,
                              overlays)
        for name, instance in names.instances(agent, count):
            identity = names.identity(agent, instance) if names.templated else ""
            out[name] = DesiredSession(name, agent.name, instance, fp, inputs,
                                       identity=identity)
        for alias, owner in sorted((aliases or {}).items()):
            if owner == agent.name and agent.is_pool and alias not in out:
                out[alias] = DesiredSession(alias, agent.name, None, fp, inputs, alias)
    return out
