"""Composing a city from its file, ``include`` fragments and local packs.

Works on the parsed TOML tables before validation, so every composed agent is then
checked like one written in city.toml. What is composed, as in Gas City:

* ``include = ["x.toml"]``: fragments merged into the city (arrays appended, tables
  merged key by key, the fragment's value winning); fragments cannot include.
* ``[imports.<binding>] source = "<dir>"`` and ``[workspace] includes``: pack
  directories. A pack has a ``pack.toml`` (``[pack]`` name/schema, its own
  ``[imports]`` / ``includes``, ``[[agent]]``, ``[[named_session]]``, ``[patches]``,
  ``[global] session_live``) and ``agents/<name>/agent.toml`` (+ ``prompt.template.md``
  and ``overlay/`` beside it). Relative paths and ``{{.ConfigDir}}`` in a pack mean
  the pack's directory.
* Pack agents are placed as Gas City's code places them: a city-level pack's
  (``imports``, ``workspace.includes``) ``scope = "city"`` and unscoped agents are
  city agents, its ``"rig"`` ones go nowhere; a rig's pack's (its ``includes`` /
  ``imports``) ``"rig"`` and unscoped agents are stamped into that rig, its
  ``"city"`` ones dropped. The root pack's agents are all city agents. A city
  agent of the same name wins (a warning unless the import says ``shadow =
  "silent"``); a ``fallback = true`` agent yields to any other.
* ``[[patches.agent]]`` sets keys of a composed agent; ``<key>_append`` appends.
* ``[[named_session]] mode = "always"`` with its own ``name`` runs a copy of its
  template under that name.

Remote (git) sources are refused with what to do instead.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from ..errors import ConfigError
from .beadprefix import effective_prefix
from .light import syntax_problem
from .recognised import AgentDefaultsSection, recognised_warnings

__all__ = ["Composition", "RigAgent", "compose_city"]

_PACK_META = {"name", "version", "schema", "requires_gc", "includes", "requires", "description"}
_PACK_KEYS = {
    "pack", "imports", "agent_defaults", "agent", "named_session", "service", "providers",
    "formulas", "patches", "doctor", "commands", "global",
}
_PACK_RECOGNISED = {
    "service": "workflow and proxy services mounted under /svc/<name>",
    "formulas": "the pack's formula directory (molecules for gc sling and orders)",
    "doctor": "the pack's checks run by gc doctor",
    "commands": "the pack's commands, run as gc <binding> <command>",
}
"""pack.toml keys Gas City reads that are not implemented here: one warning each."""
_PROMPT_FILES = ("prompt.template.md", "prompt.md.tmpl", "prompt.md")
"""An agent directory's prompt, in Gas City's order of preference."""
_PATH_KEYS = ("prompt_template", "overlay_dir", "session_setup_script", "namepool")
_TEMPLATED = ("pre_start", "session_setup", "session_live")
_LIST_APPEND = ("pre_start", "session_setup", "session_live", "install_agent_hooks",
                "inject_fragments")


@dataclass(frozen=True, slots=True)
class RigAgent:
    """A pack agent stamped into one rig: ``frontend/polecat`` runs as
    ``frontend--polecat`` (Gas City's session name for that identity)."""

    rig: str
    root: str
    qualified: str
    base: str
    prefix: str = ""
    """The rig's bead prefix, configured or derived (``{{ .IssuePrefix }}``)."""


@dataclass
class Composition:
    """Where the composed city's parts came from, for ``gc config explain``."""

    sources: dict[str, str] = field(default_factory=dict)
    """Agent name -> the file that defined it."""
    patched: dict[str, list[str]] = field(default_factory=dict)
    """Agent name -> ``key (file)`` for every key a patch set."""
    packs: list[str] = field(default_factory=list)
    """Pack directories loaded, in order."""
    warnings: list[str] = field(default_factory=list)
    rig_agents: dict[str, RigAgent] = field(default_factory=dict)
    """Composed agent name -> its rig, for rig-stamped agents."""
    on_demand: frozenset[str] = frozenset()
    """Agents that are ``on_demand`` named sessions: they run once woken."""
    namepools: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Pool agent name -> the names its instances take, from its ``namepool`` file."""
    pack_overlay_dirs: list[str] = field(default_factory=list)
    """The ``overlay/`` directories of the city-level packs (an included pack before
    the pack including it), as Gas City collects them: every city agent's."""
    rig_overlay_dirs: dict[str, list[str]] = field(default_factory=dict)
    """Rig name -> the ``overlay/`` directories of that rig's own packs, staged after
    the city-level ones into the rig's agents."""


def _is_remote(source: str) -> bool:
    return "://" in source or source.startswith(("git@", "github.com/", "gitlab.com/")) or (
        "//" in source and not source.startswith("/")
    )


def _read_toml(path: Path, what: str) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(path), [f"{what} not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read {what}: {exc}"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), [syntax_problem(text, exc)]) from None


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, list) and isinstance(base.get(key), list):
            base[key] = [*base[key], *value]
        elif isinstance(value, dict) and isinstance(base.get(key), dict):
            inner = dict(base[key])
            _merge(inner, value)
            base[key] = inner
        else:
            base[key] = value


def _pack_paths(agent: dict[str, Any], base: Path, pack_dir: Path) -> dict[str, Any]:
    out = dict(agent)
    for key in _PATH_KEYS:
        value = out.get(key)
        if isinstance(value, str) and value and not os.path.isabs(value):
            out[key] = str(base / value)
    for key in _TEMPLATED:
        value = out.get(key)
        if isinstance(value, list):
            out[key] = [v.replace("{{.ConfigDir}}", str(pack_dir)) if isinstance(v, str) else v
                        for v in value]
    return out


def _apply_patch(
    agent: dict[str, Any], patch: Mapping[str, Any], targeting: tuple[str, ...], source: str,
    log: list[str],
) -> dict[str, Any]:
    """``agent`` with the patch's keys set; ``<key>_append`` extends a list key."""
    out = dict(agent)
    for key, value in patch.items():
        if key in targeting:
            continue
        base = key.removesuffix("_append")
        if base != key and base in _LIST_APPEND and isinstance(value, list):
            out[base] = [*out.get(base, []), *value]
        else:
            out[key] = value
        log.append(f"{key} ({source})")
    return out


class _Composer:
    def __init__(self, city_dir: Path, reads: list[str]) -> None:
        self.city_dir = city_dir
        self.result = Composition()
        self.reads = reads
        self.loading: list[Path] = []
        self.loaded: set[Path] = set()
        # (agent table, defining file, shadow mode of its import)
        self.pack_agents: list[tuple[dict[str, Any], str, str]] = []
        self.named: list[dict[str, Any]] = []
        self.root_named: list[dict[str, Any]] = []
        """The root pack's named sessions: the city's own, whatever their scope."""
        self.patches: list[tuple[dict[str, Any], str]] = []
        self.providers: dict[str, Any] = {}
        """``[providers]`` of the packs; a name keeps the first definition loaded (the
        including pack's before its includes'), and the city's own wins over all."""

    def resolve_source(self, source: Any, where: str, base: Path) -> Path:
        if not isinstance(source, str) or not source:
            raise ConfigError(where, ["expected source = \"<pack directory>\""])
        if _is_remote(source):
            raise ConfigError(where, [
                f"pack source {source!r} is remote; fetching packs is not implemented "
                "here: clone or copy the pack into a local directory and give that "
                "directory's path instead"
            ])
        path = (base / source).resolve()
        if not path.is_dir():
            raise ConfigError(where, [f"pack directory {path} does not exist"])
        return path

    def load_pack(self, pack_dir: Path, where: str, shadow: str = "warn") -> None:
        if pack_dir in self.loading:
            chain = " -> ".join(str(p) for p in [*self.loading, pack_dir])
            raise ConfigError(where, [f"pack import cycle: {chain}"])
        if pack_dir in self.loaded:
            return
        self.loading.append(pack_dir)
        pack_file = pack_dir / "pack.toml"
        agents_dir = pack_dir / "agents"
        # Before reading: a file that cannot be read yet is watched until it can.
        self.reads += [str(pack_file), str(agents_dir)]
        data = _read_toml(pack_file, "pack.toml (every pack directory needs one)")
        meta, providers, defaults = _checked_pack(data, pack_file)
        self.result.warnings.extend(_pack_warnings(data, defaults, pack_file))
        for name, spec in providers.items():
            self.providers.setdefault(str(name), spec)
        self._load_includes(data, meta, pack_dir, pack_file)
        agents = [(_pack_paths(agent, pack_dir, pack_dir), str(pack_file))
                  for agent in data.get("agent", []) or [] if isinstance(agent, dict)]
        if agents_dir.is_dir():
            agents += self._agent_dirs(agents_dir, pack_dir)
        global_live = (data.get("global") or {}).get("session_live") or []
        live = [v.replace("{{.ConfigDir}}", str(pack_dir)) for v in global_live]
        for agent, source in agents:
            self._add_pack_agent(agent, source, shadow, live, defaults.append_fragments)
        self.named += [n for n in data.get("named_session", []) or [] if isinstance(n, dict)]
        self.patches += [(patch, str(pack_file))
                         for patch in ((data.get("patches") or {}).get("agent") or [])
                         if isinstance(patch, dict)]
        self.loading.pop()
        self.loaded.add(pack_dir)
        self.result.packs.append(str(pack_dir))

    def _load_includes(self, data: dict[str, Any], meta: dict[str, Any], pack_dir: Path,
                       pack_file: Path) -> None:
        """The packs this one includes (``pack.includes``) and imports (``[imports]``)."""
        for index, source in enumerate(meta.get("includes", []) or []):
            self.load_pack(self.resolve_source(source, f"{pack_file}: pack.includes[{index}]",
                                               pack_dir), str(pack_file))
        for binding, imp in (data.get("imports") or {}).items():
            if isinstance(imp, dict):
                self.load_pack(self.resolve_source(imp.get("source"),
                                                   f"{pack_file}: imports.{binding}", pack_dir),
                               str(pack_file), str(imp.get("shadow", "warn")))

    def _agent_dirs(self, agents_dir: Path, pack_dir: Path) -> list[tuple[dict[str, Any], str]]:
        """Each ``agents/<name>/`` directory is an agent, as in Gas City: its keys from
        an optional ``agent.toml``, its prompt, overlay and namepool found beside it."""
        agents: list[tuple[dict[str, Any], str]] = []
        for entry in sorted(agents_dir.iterdir()):
            if not entry.is_dir() or entry.name.startswith((".", "_")):
                continue
            agent_file = entry / "agent.toml"
            self.reads.append(str(entry))  # an agent.toml added later is noticed
            agent: dict[str, Any] = {"name": entry.name}
            if agent_file.is_file():
                self.reads.append(str(agent_file))
                agent.update(_read_toml(agent_file, "agent.toml"))
                agent["name"] = entry.name
            prompt = next((entry / n for n in _PROMPT_FILES if (entry / n).is_file()), None)
            if "prompt_template" not in agent and prompt is not None:
                agent["prompt_template"] = str(prompt)
            if "overlay_dir" not in agent and (entry / "overlay").is_dir():
                agent["overlay_dir"] = str(entry / "overlay")
            if "namepool" not in agent and (entry / "namepool.txt").is_file():
                agent["namepool"] = str(entry / "namepool.txt")
            source = agent_file if agent_file.is_file() else entry
            agents.append((_pack_paths(agent, entry, pack_dir), str(source)))
        return agents

    def _add_pack_agent(self, agent: dict[str, Any], source: str, shadow: str,
                        live: list[str], append_fragments: Sequence[str]) -> None:
        self.pack_agents.append((_with_pack_defaults(agent, live, append_fragments),
                                 source, shadow))


def _with_pack_defaults(agent: dict[str, Any], live: list[str],
                        append_fragments: Sequence[str]) -> dict[str, Any]:
    """A pack agent with its pack's ``[global] session_live`` and ``[agent_defaults]``
    ``append_fragments`` (which reach the pack's own agents only)."""
    if append_fragments:
        own = agent.get("inject_fragments") or []
        if isinstance(own, list):
            agent = {**agent, "inject_fragments": [
                *own, *(f for f in append_fragments if f not in own)]}
    if live:
        agent = {**agent, "session_live": [*live, *agent.get("session_live", [])]}
    return agent


def _checked_pack(
    data: dict[str, Any], pack_file: Path
) -> tuple[dict[str, Any], dict[str, Any], AgentDefaultsSection]:
    """(``[pack]``, ``[providers]``, ``[agent_defaults]``) of a pack.toml; every problem
    at once, as a ConfigError naming the file."""
    problems = [
        f"{key}: unknown key in a pack.toml"
        + (f" (did you mean '{close[0]}'?)"
           if (close := difflib.get_close_matches(key, sorted(_PACK_KEYS), n=1)) else "")
        for key in data if key not in _PACK_KEYS
    ]
    meta = data.get("pack", {})
    if not isinstance(meta, dict):
        problems.append("pack: expected a table")
        meta = {}
    problems += [f"pack.{key}: unknown key in [pack]" for key in meta
                 if key not in _PACK_META]
    providers = data.get("providers", {})
    if not isinstance(providers, dict):
        problems.append("providers: expected a table of [providers.<name>] tables")
        providers = {}
    defaults = _pack_agent_defaults(data.get("agent_defaults", {}), problems)
    if problems:
        raise ConfigError(str(pack_file), problems)
    return meta, providers, defaults


def _pack_warnings(data: dict[str, Any], defaults: AgentDefaultsSection,
                   pack_file: Path) -> list[str]:
    warnings = [f"{pack_file}: {w}" for w in recognised_warnings(defaults, "agent_defaults")]
    warnings += [f"{pack_file}: {key}: recognised, not implemented here (in Gas City: "
                 f"{what}); ignored" for key, what in _PACK_RECOGNISED.items() if key in data]
    return warnings


def _pack_agent_defaults(defaults: Any, problems: list[str]) -> AgentDefaultsSection:
    """The pack's ``[agent_defaults]``, checked like the city's. What applies to the
    pack's own agents here is ``append_fragments``; Gas City does not yet inherit the
    other defaults onto agents either, so they warn as recognised."""
    from .errors import format_validation_error

    try:
        return AgentDefaultsSection.model_validate(defaults, strict=True)
    except pydantic.ValidationError as exc:
        problems.extend(format_validation_error(exc, "agent_defaults",
                                                model=AgentDefaultsSection))
        return AgentDefaultsSection()


def _merge_pack_providers(out: dict[str, Any], providers: Mapping[str, Any]) -> None:
    """Packs' ``[providers]`` under the city's own: a city definition wins."""
    if not providers:
        return
    own = out.get("providers")
    out["providers"] = {**providers, **(own if isinstance(own, dict) else {})}


def compose_city(
    data: dict[str, Any], city_file: Path, reads: list[str] | None = None
) -> tuple[dict[str, Any], Composition]:
    """The city as Gas City composes it, and where each agent came from.

    ``reads`` is given every file and directory composing looked at, in order, also
    when it raises: what a controller watches to reload."""
    city_dir = city_file.parent
    out = dict(data)
    reads = [] if reads is None else reads
    composer = _Composer(city_dir, reads)
    result = composer.result
    for agent in out.get("agent", []) or []:
        if isinstance(agent, dict) and isinstance(agent.get("name"), str):
            result.sources.setdefault(agent["name"], str(city_file))
    _include_fragments(out, city_dir, reads, result)
    _root_pack(composer, out, city_file)
    _load_city_packs(composer, out, city_file)
    # The city directory is no pack of its own here: Gas City's pack overlays come
    # from the packs it imports or includes only.
    result.pack_overlay_dirs = _overlay_dirs(p for p in result.packs if p != str(city_dir))
    _merge_pack_providers(out, composer.providers)
    _patch_rigs_and_providers(out, city_file)
    rigs = [r for r in out.get("rigs", []) or [] if isinstance(r, dict)]
    if not composer.loaded and not out.get("include") and not out.get("named_session") and (
            not any(r.get("includes") or r.get("imports") for r in rigs)):
        return out, result
    agents: list[dict[str, Any]] = [a for a in out.get("agent", []) or []
                                    if isinstance(a, dict)]
    by_name = {a.get("name"): i for i, a in enumerate(agents)}
    _place_pack_agents(composer.pack_agents, agents, by_name, result)
    city_patches = [(p, f"{city_file}") for p in ((out.get("patches") or {}).get("agent") or [])
                    if isinstance(p, dict)]
    _patch_agents([*composer.patches, *city_patches], composer.pack_agents, agents, by_name,
                  result)
    rig_named: list[dict[str, Any]] = []
    for rig in rigs:
        rig_named += _stamp_rig(rig, city_file, agents, by_name, result, composer.providers,
                                reads)
    _unstamped_warnings(composer.pack_agents, result)
    _merge_pack_providers(out, composer.providers)
    # As Gas City's code expands them: a city-level pack's rig sessions are dropped
    # (a rig that includes the pack has them from its own expansion).
    named_all = [*composer.root_named, *[n for n in composer.named if n.get("scope") != "rig"],
                 *rig_named, *[n for n in out.get("named_session", []) or []
                                    if isinstance(n, dict)]]
    result.on_demand = frozenset(_named_sessions(named_all, agents, by_name, result))
    out["agent"] = agents
    out["named_session"] = named_all
    return out, result


def _overlay_dirs(packs: Iterable[str]) -> list[str]:
    """Each pack's ``overlay/`` directory that exists, in the packs' order."""
    return [str(Path(p) / "overlay") for p in packs if (Path(p) / "overlay").is_dir()]


def _include_fragments(out: dict[str, Any], city_dir: Path, reads: list[str],
                       result: Composition) -> None:
    """``include = [...]``: each fragment merged into the city, its agents sourced."""
    for index, fragment in enumerate(out.get("include", []) or []):
        if not isinstance(fragment, str):
            continue
        path = city_dir / fragment
        reads.append(str(path))
        extra = _read_toml(path, f"include[{index}] fragment")
        if "include" in extra:
            raise ConfigError(str(path), ["include: fragments cannot include other files"])
        for agent in extra.get("agent", []) or []:
            if isinstance(agent, dict) and isinstance(agent.get("name"), str):
                result.sources[agent["name"]] = str(path)
        _merge(out, extra)


def _root_pack(composer: _Composer, out: dict[str, Any], city_file: Path) -> None:
    """A ``pack.toml`` beside city.toml makes the city directory a pack too, composed
    with city.toml as one city (Gas City's root pack): its imports and includes load
    as the city's, and its agents (``[[agent]]`` and ``agents/<name>/``) are the
    city's own, after city.toml's (which wins a name), whatever their ``scope`` (Gas
    City's code filters only the packs it expands)."""
    city_dir = city_file.parent
    pack_file = city_dir / "pack.toml"
    composer.reads.append(str(pack_file))
    if not pack_file.is_file():
        return
    data = _read_toml(pack_file, "pack.toml")
    meta, providers, defaults = _checked_pack(data, pack_file)
    composer.result.warnings.extend(_pack_warnings(data, defaults, pack_file))
    for name, spec in providers.items():
        composer.providers.setdefault(str(name), spec)
    root = city_dir.resolve()
    composer.loading.append(root)
    composer._load_includes(data, meta, city_dir, pack_file)
    composer.loading.pop()
    composer.loaded.add(root)
    agents = [(_pack_paths(a, city_dir, city_dir), str(pack_file))
              for a in data.get("agent", []) or [] if isinstance(a, dict)]
    if (city_dir / "agents").is_dir():
        agents += composer._agent_dirs(city_dir / "agents", city_dir)
    own = out.setdefault("agent", [])
    taken = {a.get("name") for a in own if isinstance(a, dict)}
    live = [v.replace("{{.ConfigDir}}", str(city_dir))
            for v in (data.get("global") or {}).get("session_live") or []]
    for agent, source in agents:
        if agent.get("name") not in taken:
            taken.add(agent.get("name"))
            own.append({k: v for k, v in _with_pack_defaults(
                agent, live, defaults.append_fragments).items() if k not in ("scope",)})
            composer.result.sources[str(agent.get("name"))] = source
    composer.root_named += [n for n in data.get("named_session", []) or []
                            if isinstance(n, dict)]
    composer.patches += [(p, str(pack_file)) for p in ((data.get("patches") or {}).get("agent")
                                                        or []) if isinstance(p, dict)]
    composer.result.packs.append(str(city_dir))


def _load_city_packs(composer: _Composer, out: dict[str, Any], city_file: Path) -> None:
    """The packs of ``workspace.includes`` and of the city's ``[imports]``."""
    city_dir = city_file.parent
    workspace = out.get("workspace") if isinstance(out.get("workspace"), dict) else {}
    assert isinstance(workspace, dict)
    for index, source in enumerate(workspace.get("includes", []) or []):
        composer.load_pack(
            composer.resolve_source(source, f"{city_file}: workspace.includes[{index}]",
                                    city_dir), str(city_file))
    for binding, imp in (out.get("imports") or {}).items():
        if isinstance(imp, dict):
            composer.load_pack(
                composer.resolve_source(imp.get("source"), f"{city_file}: imports.{binding}",
                                        city_dir),
                str(city_file), str(imp.get("shadow", "warn")))


def _place_pack_agents(
    pack_agents: list[tuple[dict[str, Any], str, str]], agents: list[dict[str, Any]],
    by_name: dict[Any, int], result: Composition,
) -> None:
    """The packs' city-scoped and unscoped agents join the city's: the city's own win (a shadow
    warning unless ``silent``), a fallback gives way to any other, else the first
    loaded is kept."""
    city_names = set(by_name)
    fallbacks: set[object] = set()  # composed names still held by a fallback agent
    for agent, source, shadow in pack_agents:
        name = agent.get("name")
        if agent.get("scope") == "rig":
            continue
        if name in by_name:
            clash = _clash(agent, source, shadow, name in city_names, name in fallbacks, result)
            if clash is not None:
                if clash:
                    result.warnings.append(clash)
                continue
        clean = {k: v for k, v in agent.items() if k not in ("scope", "fallback")}
        if agent.get("fallback"):
            fallbacks.add(name)
        else:
            fallbacks.discard(name)
        if name in by_name:
            agents[by_name[name]] = clean
        else:
            by_name[name] = len(agents)
            agents.append(clean)
        result.sources[str(name)] = source


def _unstamped_warnings(pack_agents: list[tuple[dict[str, Any], str, str]],
                        result: Composition) -> None:
    """A city-level pack's ``scope = "rig"`` agent is in no rig unless a rig names
    the pack itself (Gas City's code filters it out of the city's expansion): one
    warning for each such agent no rig got."""
    stamped = {r.base for r in result.rig_agents.values()}
    for agent, source, _ in pack_agents:
        name = agent.get("name")
        if agent.get("scope") == "rig" and name not in stamped:
            result.warnings.append(
                f"agent '{name}' ({source}) is rig-scoped and not started: it comes from "
                "a city-level pack, and only a rig whose includes or imports name that "
                "pack runs it")


def _clash(agent: dict[str, Any], source: str, shadow: str, the_citys: bool,
           held_by_fallback: bool, result: Composition) -> str | None:
    """A pack agent whose name is taken: ``None`` if it replaces the holder, else the
    warning to give ("" for none) as it is left out."""
    name = agent.get("name")
    if agent.get("fallback"):
        return ""
    if the_citys:
        if shadow == "silent":
            return ""
        return (f"agent '{name}' of {result.sources.get(str(name), 'the city')} "
                f"shadows the one of {source}")
    if not held_by_fallback:
        return (f"agent '{name}' of {source} is also defined by "
                f"{result.sources.get(str(name))}; the first one loaded is used")
    return None


def _patch_agents(
    patches: list[tuple[dict[str, Any], str]],
    pack_agents: list[tuple[dict[str, Any], str, str]], agents: list[dict[str, Any]],
    by_name: dict[Any, int], result: Composition,
) -> None:
    """``[[patches.agent]]`` of the packs, then of the city, on the composed agents."""
    for patch, source in patches:
        name = patch.get("name")
        found = by_name.get(name)
        if found is None:
            if any(a.get("name") == name for a, _, _ in pack_agents):
                continue  # a patch of a rig-scoped agent that is not stamped here
            raise ConfigError(source, [
                f"patches.agent (name '{name}'): no composed agent has this name; expected "
                f"one of: {', '.join(sorted(str(n) for n in by_name)) or 'none'}"
            ])
        agents[found] = _apply_patch(agents[found], patch, ("name", "dir"), source,
                                     result.patched.setdefault(str(name), []))


def _named_sessions(named_all: list[dict[str, Any]], agents: list[dict[str, Any]],
                    by_name: dict[Any, int], result: Composition) -> set[str]:
    """``[[named_session]]``: a differently named one is a copy of its template agent
    (no pool keys); returns the names that wait to be woken (``on_demand``)."""
    on_demand: set[str] = set()
    for named in named_all:
        template, name = named.get("template"), named.get("name") or named.get("template")
        waits = named.get("mode", "on_demand") != "always"
        rig = named.get("dir")
        if isinstance(rig, str) and rig:  # one rig's: its copy of the template
            own = f"{rig}--{template}"
            if name == template and own in by_name:
                agents[by_name[own]] = _session_of(agents[by_name[own]], waits)
                if waits:
                    on_demand.add(own)
            continue
        if named.get("scope") == "rig":
            stamped = [n for n, r in result.rig_agents.items() if r.base == template]
            for each in stamped:
                agents[by_name[each]] = _session_of(agents[by_name[each]], waits)
            if waits:
                on_demand.update(stamped)
            continue
        if name == template:
            if template in by_name:
                agents[by_name[template]] = _session_of(agents[by_name[template]], waits)
                if waits:
                    on_demand.add(str(template))
            continue
        if template in by_name and name not in by_name:
            if waits:
                on_demand.add(str(name))
            clone = {k: v for k, v in agents[by_name[template]].items()
                     if k not in ("min_active_sessions", "max_active_sessions", "scale_check")}
            clone["name"] = name
            by_name[name] = len(agents)
            agents.append(clone)
            result.sources[str(name)] = f"named_session of '{template}'"
    return on_demand


def _session_of(agent: dict[str, Any], waits: bool) -> dict[str, Any]:
    """The agent a named session of the same name runs as. Its session is the named
    one, whatever the pool keys say: a template capped at one session
    (``max_active_sessions = 1``, Gas City's mayor) is that one session; a larger
    pool keeps at least one member running for an ``always`` session."""
    if agent.get("max_active_sessions") == 1:
        return {k: v for k, v in agent.items()
                if k not in ("min_active_sessions", "max_active_sessions", "scale_check")}
    if not waits and isinstance(agent.get("max_active_sessions"), int):
        low = agent.get("min_active_sessions")
        return {**agent, "min_active_sessions": max(low if isinstance(low, int) else 0, 1)}
    return agent


def _patch_rigs_and_providers(out: dict[str, Any], city_file: Path) -> None:
    """``[[patches.rigs]]`` set keys of a rig; ``[[patches.providers]]`` merge into a
    provider (``env`` merged, ``env_remove`` dropped, ``_replace = true`` replaces the
    whole block). A patch naming nothing is an error, as for agents."""
    from .presets import BUILTIN_PRESETS

    patches = out.get("patches") if isinstance(out.get("patches"), dict) else {}
    assert isinstance(patches, dict)
    rigs = [r for r in out.get("rigs", []) or [] if isinstance(r, dict)]
    for i, patch in enumerate(patches.get("rigs", []) or []):
        if not isinstance(patch, dict):
            continue
        found = next((r for r in rigs if r.get("name") == patch.get("name")), None)
        if found is None:
            names = ", ".join(str(r.get("name")) for r in rigs) or "none"
            raise ConfigError(str(city_file), [
                f"patches.rigs[{i}] (name '{patch.get('name')}'): no rig has this name; "
                f"expected one of: {names}"])
        found.update({k: v for k, v in patch.items() if k != "name"})
    providers = dict(out.get("providers") or {})
    for i, patch in enumerate(patches.get("providers", []) or []):
        if not isinstance(patch, dict):
            continue
        name = patch.get("name")
        if name not in providers and name not in BUILTIN_PRESETS:
            known = ", ".join(sorted({*providers, *BUILTIN_PRESETS}))
            raise ConfigError(str(city_file), [
                f"patches.providers[{i}] (name '{name}'): no provider has this name; "
                f"expected one of: {known}"])
        keys = {k: v for k, v in patch.items() if k not in ("name", "_replace", "env_remove")}
        if patch.get("_replace"):
            merged = keys
        else:
            merged = {**providers.get(name, {}), **keys}
            merged["env"] = {**providers.get(name, {}).get("env", {}), **keys.get("env", {})}
        for key in patch.get("env_remove", []) or []:
            merged.get("env", {}).pop(key, None)
        if not merged.get("env"):
            merged.pop("env", None)
        providers[str(name)] = merged
    if patches.get("providers"):
        out["providers"] = providers
    if patches.get("rigs") or patches.get("providers"):
        # Applied: the validated city keeps the result, not the patch tables.
        out["patches"] = {k: v for k, v in patches.items() if k not in ("rigs", "providers")}


def _add_rig_packs(result: Composition, rig_name: str, own: Composition) -> None:
    """A rig's own packs join the city's list; their overlays are the rig's."""
    result.packs.extend(p for p in own.packs if p not in result.packs)
    if overlays := _overlay_dirs(own.packs):
        result.rig_overlay_dirs[rig_name] = overlays
    result.warnings.extend(w for w in own.warnings if w not in result.warnings)


def _stamp_rig(
    rig: dict[str, Any],
    city_file: Path,
    agents: list[dict[str, Any]],
    by_name: dict[Any, int],
    result: Composition,
    providers: dict[str, Any],
    reads: list[str],
) -> list[dict[str, Any]]:
    """One copy of every rig-scoped and unscoped agent of the rig's own packs,
    named ``<rig>--<agent>``, working in the rig's directory. Returns those packs'
    rig-scoped and unscoped named sessions, with ``dir`` the rig."""
    rig_name, rig_path = rig.get("name"), rig.get("path")
    if not isinstance(rig_name, str) or not isinstance(rig_path, str):
        return []  # the model reports the missing key
    city_dir = city_file.parent
    root = (city_dir / os.path.expanduser(rig_path)).resolve()
    where = f"{city_file}: rigs ({rig_name})"
    prefix = effective_prefix(rig_name, str(rig.get("prefix") or ""))
    own = _Composer(city_dir, reads)
    for index, source in enumerate(rig.get("includes", []) or []):
        own.load_pack(own.resolve_source(source, f"{where}.includes[{index}]", city_dir),
                      str(city_file))
    for binding, imp in (rig.get("imports") or {}).items():
        if isinstance(imp, dict):
            own.load_pack(own.resolve_source(imp.get("source"), f"{where}.imports.{binding}",
                                             city_dir), str(city_file))
    _add_rig_packs(result, rig_name, own.result)
    for name, spec in own.providers.items():
        providers.setdefault(name, spec)
    chosen: dict[str, tuple[dict[str, Any], str]] = {}
    for agent, source, _ in own.pack_agents:
        if agent.get("scope") == "city":
            continue
        base = str(agent.get("name"))
        held = chosen.get(base)
        if held is not None and (agent.get("fallback") or not held[0].get("fallback")):
            continue
        chosen[base] = (agent, source)
    patches = [p for p in (rig.get("patches") or rig.get("overrides") or [])
               if isinstance(p, dict)]
    for base, (agent, source) in chosen.items():
        name = f"{rig_name}--{base}"
        clone = {k: v for k, v in agent.items() if k not in ("scope", "fallback")}
        clone["name"] = name
        clone.setdefault("work_dir", str(root))
        if rig.get("suspended"):
            clone["suspended"] = True
        deps = clone.get("depends_on")
        if isinstance(deps, list):
            clone["depends_on"] = [f"{rig_name}--{d}" if d in chosen else d for d in deps]
        for patch in patches:
            if patch.get("agent") == base:
                clone = _apply_patch(clone, patch, ("agent",), f"{where}.patches",
                                     result.patched.setdefault(name, []))
        if name in by_name:
            continue  # an agent of city.toml already has this identity
        by_name[name] = len(agents)
        agents.append(clone)
        result.sources[name] = source
        result.rig_agents[name] = RigAgent(rig_name, str(root), f"{rig_name}/{base}", base,
                                           prefix)
    return [{**n, "dir": rig_name} for n in own.named if n.get("scope") != "city"]
