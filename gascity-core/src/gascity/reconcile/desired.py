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
class DesiredSession:
    name: str
    agent: str
    instance: int | None
    fingerprint: str
    config: StartConfig


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
) -> dict[str, DesiredSession]:
    """Every session that should run now. Suspended city or agents want none."""
    if config.workspace.suspended or city_suspended:
        return {}
    out: dict[str, DesiredSession] = {}
    for agent in config.agent:
        if agent.suspended or agent.name in suspended_agents:
            continue
        count = pool_counts.get(agent.name, 1) if agent.is_pool else 1
        fp = fingerprint(agent)
        for name in instance_names(agent, count):
            instance = None if name == agent.name else int(name.rsplit("-", 1)[1])
            out[name] = DesiredSession(
                name=name,
                agent=agent.name,
                instance=instance,
                fingerprint=fp,
                config=start_config(
                    agent,
                    name,
                    city_name=city_name,
                    city_dir=city_dir,
                    startup_timeout=config.session.startup_timeout,
                    fp=fp,
                    instance=instance,
                ),
            )
    return out
