"""Dependency order: the waves starts run in, and which starts wait for what."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import replace

from ..config.models import CityConfig
from .actions import StartAction
from .desired import DesiredSession

__all__ = ["gate_starts", "waves"]


def waves(config: CityConfig) -> dict[str, int]:
    """Dependency level of each agent: 0 for no dependencies, 1 + max of deps."""
    deps = {a.name: list(a.depends_on) for a in config.agent}
    level: dict[str, int] = {}

    def visit(name: str, trail: frozenset[str]) -> int:
        if name in level:
            return level[name]
        if name in trail:  # validated away at load; never loop forever regardless
            return 0
        lv = 1 + max((visit(d, trail | {name}) for d in deps.get(name, []) if d in deps),
                     default=-1)
        level[name] = lv
        return lv

    for name in deps:
        visit(name, frozenset())
    return level


def gate_starts(
    starts: Sequence[StartAction],
    *,
    config: CityConfig,
    desired: Mapping[str, DesiredSession],
    up: Set[str],
    unavailable: Set[str],
) -> tuple[list[StartAction], dict[str, str]]:
    """(the starts to run, each with what it ``needs``; the sessions held, by dependency).

    ``starts`` are in wave order; ``up`` are the sessions running and needing nothing;
    ``unavailable`` the agents that cannot be up this tick (suspended, quarantined, not
    launchable). A start waits, under its dependency's name, when that dependency is
    unavailable, waits itself, or has a desired session neither up nor starting this
    tick; a dependency's sessions starting in an earlier wave become its ``needs``.
    """
    if not starts:
        return [], {}
    depends_on = {a.name: a.depends_on for a in config.agent}
    sessions_of: dict[str, list[str]] = {}
    for d in desired.values():
        sessions_of.setdefault(d.agent, []).append(d.name)
    admitted: set[str] = set()
    waiting: set[str] = set()
    kept: list[StartAction] = []
    blocked: dict[str, str] = {}
    for action in starts:
        agent = action.session.agent
        needs: list[tuple[str, str]] = []
        on: str | None = None
        for dep in depends_on.get(agent, ()):
            pending = [n for n in sessions_of.get(dep, ()) if n not in up]
            if dep in unavailable or dep in waiting or not admitted.issuperset(pending):
                on = dep
                break
            needs.extend((dep, n) for n in pending)
        if on is None:
            admitted.add(action.session.name)
            kept.append(replace(action, needs=tuple(needs)) if needs else action)
        else:
            blocked[action.session.name] = on
            waiting.add(agent)
    return kept, blocked
