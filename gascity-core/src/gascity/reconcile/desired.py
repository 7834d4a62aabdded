"""The desired set: which sessions the config asks for, with how to start each."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..config.models import AgentConfig, CityConfig
from ..types import META_AGENT, META_FINGERPRINT, StartConfig
from .drift import fingerprint

__all__ = ["DesiredSession", "build_desired", "instance_names", "session_owner"]

_INSTANCE = re.compile(r"^(?P<agent>.+)-(?P<n>[1-9][0-9]*)$")


@dataclass(frozen=True, slots=True)
class _StartInputs:
    """What building a session's StartConfig needs, shared by an agent's sessions."""

    agent: AgentConfig
    city_name: str
    city_dir: Path
    startup_timeout: float


@dataclass(frozen=True, slots=True)
class DesiredSession:
    name: str
    agent: str
    instance: int | None
    fingerprint: str
    inputs: _StartInputs

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
        )


def instance_names(agent: AgentConfig, count: int) -> list[str]:
    """``name-1 .. name-N`` for pools; the bare name for singletons and max=1 pools."""
    if not agent.is_pool or agent.max_active_sessions == 1:
        return [agent.name] if count >= 1 else []
    return [f"{agent.name}-{i}" for i in range(1, count + 1)]


def session_owner(name: str, agents: Mapping[str, AgentConfig]) -> tuple[str, int | None] | None:
    """Which agent (and pool instance number) a running session name belongs to."""
    if name in agents:
        return name, None
    match = _INSTANCE.match(name)
    if match and match.group("agent") in agents:
        agent = agents[match.group("agent")]
        if agent.is_pool and agent.max_active_sessions != 1:
            return agent.name, int(match.group("n"))
    return None


def start_config(
    agent: AgentConfig,
    name: str,
    *,
    city_name: str,
    city_dir: Path,
    startup_timeout: float,
    fp: str,
    instance: int | None,
) -> StartConfig:
    work = city_dir / (agent.work_dir or agent.dir or ".")
    env = dict(agent.env)
    env.update(
        GC_CITY=city_name,
        GC_CITY_DIR=str(city_dir),
        GC_AGENT=agent.name,
        GC_SESSION_NAME=name,
    )
    if instance is not None:
        env["GC_INSTANCE"] = str(instance)
    return StartConfig(
        command=agent.command,
        work_dir=str(work.resolve()),
        agent=agent.name,
        env=env,
        process_names=tuple(agent.process_names),
        nudge=agent.nudge,
        pre_start=tuple(agent.pre_start),
        session_setup=tuple(agent.session_setup),
        session_setup_script=agent.session_setup_script,
        meta={META_FINGERPRINT: fp, META_AGENT: agent.name},
        startup_timeout=startup_timeout,
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
) -> dict[str, DesiredSession]:
    """Every session that should run now. Suspended city or agents want none.

    ``fingerprints`` caches each agent's fingerprint by name; pass the same dict for
    as long as ``config`` is the same object (the controller keeps one per loaded
    config), so steady ticks hash nothing.
    """
    if config.workspace.suspended or city_suspended:
        return {}
    cache = {} if fingerprints is None else fingerprints
    out: dict[str, DesiredSession] = {}
    for agent in config.agent:
        if agent.suspended or agent.name in suspended_agents:
            continue
        count = pool_counts.get(agent.name, 1) if agent.is_pool else 1
        fp = cache.get(agent.name)
        if fp is None:
            fp = cache[agent.name] = fingerprint(agent)
        inputs = _StartInputs(agent, city_name, city_dir, config.session.startup_timeout)
        for i, name in enumerate(instance_names(agent, count), 1):
            instance = None if name == agent.name else i
            out[name] = DesiredSession(name, agent.name, instance, fp, inputs)
    return out
