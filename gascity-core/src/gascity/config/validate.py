"""Checks across keys that a field validator cannot see: names, references, cycles."""

from __future__ import annotations

import re

from .models import CityConfig

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
    return problems


def _instance_collisions(config: CityConfig) -> list[str]:
    """An agent named ``worker-2`` would share a session name with pool ``worker``'s
    second instance, and each would look like the other's orphan."""
    problems: list[str] = []
    for j, pool in enumerate(config.agent):
        top = pool.max_active_sessions
        if not pool.is_pool or top == 1:
            continue
        pattern = re.compile(re.escape(pool.name) + r"-([1-9][0-9]*)")
        for i, agent in enumerate(config.agent):
            match = pattern.fullmatch(agent.name)
            if match and (top is None or int(match.group(1)) <= top):
                problems.append(
                    f"agent[{i}].name: '{agent.name}' is also the session name of instance "
                    f"{match.group(1)} of pool '{pool.name}' (agent[{j}]); expected a name "
                    "no pool instance takes"
                )
    return problems


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
