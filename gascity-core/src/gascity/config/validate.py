"""Checks across keys that a field validator cannot see: names, references, cycles."""

from __future__ import annotations

import difflib

from .models import CityConfig
from .presets import known_providers

__all__ = ["cross_check"]


def cross_check(config: CityConfig) -> list[str]:
    problems: list[str] = []
    index: dict[str, int] = {}
    for i, agent in enumerate(config.agent):
        if agent.name in index:
            problems.append(
                f"agent[{i}].name: duplicate agent name '{agent.name}' "
                f"(first defined at agent[{index[agent.name]}]); expected each name once"
            )
        else:
            index[agent.name] = i
    for i, agent in enumerate(config.agent):
        for j, dep in enumerate(agent.depends_on):
            if dep not in index:
                known = ", ".join(sorted(index)) or "none"
                problems.append(
                    f"agent[{i}].depends_on[{j}] (agent '{agent.name}'): unknown agent "
                    f"'{dep}'; expected one of: {known}"
                )
            elif dep == agent.name:
                problems.append(
                    f"agent[{i}].depends_on[{j}] (agent '{agent.name}'): an agent cannot "
                    "depend on itself; expected another agent's name"
                )
    if not problems:
        cycle = _find_cycle({a.name: list(a.depends_on) for a in config.agent})
        if cycle:
            i = index[cycle[0]]
            problems.append(
                f"agent[{i}].depends_on (agent '{cycle[0]}'): dependency cycle "
                + " -> ".join(cycle)
                + "; expected agents to depend on each other without a loop"
            )
    problems.extend(_instance_collisions(config))
    problems.extend(_session_template(config))
    problems.extend(_unknown_providers(config))
    return problems


def _session_template(config: CityConfig) -> list[str]:
    template = config.workspace.session_template
    if not template:
        return []
    from ..prompt.gotemplate import TemplateError
    from ..reconcile.naming import SessionNames

    try:
        names = SessionNames(config.agent, template, config.workspace.name or "city")
    except TemplateError as exc:
        return [str(exc)]
    return [
        f"workspace.session_template: agents '{first}' and '{second}' would both run as "
        f"'{name}'; expected a template that keeps names apart (use {{{{.Agent}}}})"
        for name, first, second in names.collisions
    ]


def _unknown_providers(config: CityConfig) -> list[str]:
    known = known_providers(config.providers)

    def problem(key: str, name: str) -> str:
        msg = f"{key}: unknown provider '{name}'; expected one of: {', '.join(known)}"
        close = difflib.get_close_matches(name, known, n=1)
        return msg + (f" (did you mean '{close[0]}'?)" if close else "")

    problems: list[str] = []
    if config.workspace.provider and config.workspace.provider not in known:
        problems.append(problem("workspace.provider", config.workspace.provider))
    for i, agent in enumerate(config.agent):
        if agent.provider and agent.provider not in known:
            problems.append(problem(f"agent[{i}].provider (agent '{agent.name}')", agent.provider))
    return problems


def _instance_collisions(config: CityConfig) -> list[str]:
    """An agent named ``worker-2`` would share a session name with pool ``worker``'s
    second instance, and each would look like the other's orphan.

    One pass: an instance name is ``<pool>-<n>``, so each agent's name is split at its
    last ``-`` and the pool looked up by name (a 30k-agent city pays 30k lookups, not
    pools x agents regex matches)."""
    pools = {a.name: j for j, a in enumerate(config.agent)
             if a.is_pool and a.max_active_sessions != 1}
    found: list[tuple[int, int, str]] = []
    for i, agent in enumerate(config.agent):
        base, dash, number = agent.name.rpartition("-")
        if not (dash and base in pools and number.isascii() and number.isdigit()) or (
                number[0] == "0"):
            continue
        j = pools[base]
        top = config.agent[j].max_active_sessions
        if top is None or int(number) <= top:
            found.append((j, i, (
                f"agent[{i}].name: '{agent.name}' is also the session name of instance "
                f"{number} of pool '{base}' (agent[{j}]); expected a name "
                "no pool instance takes")))
    return [problem for _, _, problem in sorted(found)]


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    WHITE, GREY, BLACK = 0, 1, 2
    color = dict.fromkeys(graph, WHITE)
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        color[node] = GREY
        stack.append(node)
        for dep in graph.get(node, []):
            if color.get(dep) == GREY:
                return [*stack[stack.index(dep) :], dep]
            if color.get(dep) == WHITE:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        color[node] = BLACK
        return None

    for node in graph:
        if color[node] == WHITE:
            found = visit(node)
            if found:
                return found
    return None
