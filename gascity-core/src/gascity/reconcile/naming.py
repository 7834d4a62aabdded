"""Session names: the name each agent's sessions run under, and back again.

By default a session is named after its agent (``mayor``, a rig's ``front--polecat``)
and a pool instance adds ``-<n>``, as in Gas City. ``[workspace] session_template`` is
Gas City's Go template over ``.City`` (the city's name), ``.Agent`` (the agent's
session-safe qualified name, with the instance suffix), ``.Dir`` (its rig) and
``.Name`` (the agent's name within the rig); ``gc-{{.City}}-{{.Agent}}`` runs the
mayor as ``gc-harbor-mayor``. A pool with a ``namepool`` gives its first instances
the file's names (``obsidian``, a rig's ``yard--obsidian``), then numbers the rest.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Mapping, Sequence

from ..config.models import AgentConfig, CityConfig
from ..prompt.gotemplate import TemplateError, TemplateSet

__all__ = ["SessionNames", "parse_session_template", "session_names"]

_INSTANCE = re.compile(r"^(?P<agent>.+)-(?P<n>[1-9][0-9]*)$")
_DIGITS = re.compile(r"^(?P<head>.*?)(?P<n>[1-9][0-9]*)$", re.S)
_SLOT = "\x00"
"""Stands for the instance number while a pool's name pattern is worked out."""
_BUILT: dict[int, tuple[weakref.ref[CityConfig], SessionNames]] = {}
"""Names per loaded config (by identity, dropped with the config): a config is
immutable, so they are worked out once, not on every tick."""


def parse_session_template(template: str) -> tuple[TemplateSet, list[object]]:
    """Raises ``TemplateError`` naming ``workspace.session_template``."""
    templates = TemplateSet({})
    return templates, list(templates.parse(template, "workspace.session_template"))


def _numbered(agent: AgentConfig) -> bool:
    return agent.is_pool and agent.max_active_sessions != 1


class SessionNames:
    """Built once per loaded config (:func:`session_names`); lookups are dict reads."""

    def __init__(self, agents: Sequence[AgentConfig], template: str = "",
                 city: str = "", namepools: Mapping[str, Sequence[str]] | None = None) -> None:
        self.template = template
        self.city = city
        self._agents = {a.name: a for a in agents}
        self.namepools = {k: tuple(v) for k, v in (namepools or {}).items() if v}
        self._render = None
        self._exact: dict[str, tuple[str, int | None]] = {}
        self._pools: dict[tuple[str, str], str] = {}
        self._suffixes: set[str] = set()
        self.collisions: list[tuple[str, str, str]] = []
        """``(session name, agent, other agent)`` for names two agents would share."""
        if template:
            templates, body = parse_session_template(template)
            self._render = lambda data: templates.render(body, data)  # type: ignore[arg-type]
        for pool, themed in self.namepools.items():
            member = self._agents.get(pool)
            if member is not None and _numbered(member):
                for slot in range(1, len(themed) + 1):
                    self._exact[self.session(member, slot)] = (pool, slot)
        if not template:
            return
        for agent in agents:
            if _numbered(agent):
                head, _, tail = self._name(f"{agent.name}-{_SLOT}").partition(_SLOT)
                held = self._pools.setdefault((head, tail), agent.name)
                if held != agent.name:
                    self.collisions.append((head + "<n>" + tail, held, agent.name))
                self._suffixes.add(tail)
            else:
                name = self._name(agent.name)
                other = self._exact.setdefault(name, (agent.name, None))
                if other[0] != agent.name:
                    self.collisions.append((name, other[0], agent.name))

    @property
    def templated(self) -> bool:
        return self._render is not None

    def _name(self, identity: str) -> str:
        if self._render is None:
            return identity
        # Gas City splits the qualified name (rig/agent) at its last '/'; a rig agent's
        # name here is that name made session-safe (rig--agent).
        qualified = identity.replace("--", "/")
        rig, _, name = qualified.rpartition("/")
        out: str = self._render({"City": self.city, "Agent": identity, "Dir": rig,
                                 "Name": name})
        return out

    def identity(self, agent: AgentConfig, instance: int | None = None) -> str:
        """The session's name before ``session_template``: the agent's, a pool
        member's ``-<n>`` or namepool name (``$GC_AGENT``)."""
        if instance is None:
            return agent.name
        themed = self.namepools.get(agent.name, ())
        if instance <= len(themed):
            # A rig's pool member is named within its rig, as in Gas City.
            rig, dash, _ = agent.name.rpartition("--")
            return f"{rig}{dash}{themed[instance - 1]}"
        return f"{agent.name}-{instance}"

    def session(self, agent: AgentConfig, instance: int | None = None) -> str:
        return self._name(self.identity(agent, instance))

    def instances(self, agent: AgentConfig, count: int) -> list[tuple[str, int | None]]:
        """``(session name, instance)`` of the first ``count`` sessions: pools number
        theirs from 1; a singleton (or a pool of at most one) has one, unnumbered."""
        if not _numbered(agent):
            return [(self.session(agent), None)] if count >= 1 else []
        return [(self.session(agent, i), i) for i in range(1, count + 1)]

    def owner(self, name: str,
              agents: Mapping[str, AgentConfig] | None = None) -> tuple[str, int | None] | None:
        """Which agent (and pool instance) a running session name belongs to, among
        ``agents`` (all of the config's by default)."""
        agents = self._agents if agents is None else agents
        found = self._exact.get(name)
        if found is not None and (self._render is not None or name not in agents):
            return found if found[0] in agents else None
        if self._render is None:
            return _default_owner(name, agents)
        for tail in self._suffixes:
            if tail and not name.endswith(tail):
                continue
            match = _DIGITS.match(name[: len(name) - len(tail)] if tail else name)
            if match is None:
                continue
            pool = self._pools.get((match.group("head"), tail))
            if pool is not None and pool in agents:
                return pool, int(match.group("n"))
        return None


def _default_owner(name: str, agents: Mapping[str, AgentConfig]) -> tuple[str, int | None] | None:
    if name in agents:
        return name, None
    match = _INSTANCE.match(name)
    if match and match.group("agent") in agents:
        agent = agents[match.group("agent")]
        if _numbered(agent):
            return agent.name, int(match.group("n"))
    return None


def session_names(config: CityConfig, city_name: str | None = None,
                  namepools: Mapping[str, Sequence[str]] | None = None) -> SessionNames:
    """The config's names, built on first use and kept with the (immutable) config.
    Without ``city_name`` / ``namepools`` (the loaded composition's): the ones they
    were built with (else ``[workspace] name`` and none)."""
    entry = _BUILT.get(id(config))
    if entry is not None and entry[0]() is config and city_name in (None, entry[1].city) and (
            namepools is None or entry[1].namepools == {k: tuple(v) for k, v in
                                                        namepools.items() if v}):
        return entry[1]
    city = config.workspace.name if city_name is None else city_name
    try:
        names = SessionNames(config.agent, config.workspace.session_template, city, namepools)
    except TemplateError:
        # Checked when the config loads; a config built in code falls back as Gas
        # City does on a template it cannot run.
        names = SessionNames(config.agent, "", city, namepools)
    key = id(config)
    if entry is None or entry[0]() is not config:
        weakref.finalize(config, _BUILT.pop, key, None)
    _BUILT[key] = (weakref.ref(config), names)
    return names
