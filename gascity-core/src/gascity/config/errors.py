"""Turn pydantic's validation errors into lines a city author can act on."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

__all__ = ["format_loc", "format_validation_error"]


def format_loc(loc: Sequence[str | int], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _expected(err: Mapping[str, Any]) -> str:
    kind = err["type"]
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key"
    msg = str(err["msg"])
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if "input" in err and kind not in ("missing",) and not isinstance(err["input"], dict | list):
        msg += f" (got {err['input']!r})"
    return msg


def format_validation_error(
    exc: pydantic.ValidationError,
    prefix: str = "",
    env_sources: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
) -> list[str]:
    problems: list[str] = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        key = format_loc(loc, prefix)
        if env_sources and loc and isinstance(loc[0], str) and loc[0] in env_sources:
            key += f" (from environment {env_sources[loc[0]]})"
        if data is not None and len(loc) >= 2 and loc[0] == "agent" and isinstance(loc[1], int):
            agents = data.get("agent")
            if isinstance(agents, list) and loc[1] < len(agents):
                name = agents[loc[1]].get("name") if isinstance(agents[loc[1]], dict) else None
                if isinstance(name, str):
                    key += f" (agent '{name}')"
        problems.append(f"{key}: {_expected(err)}")
    return problems
