"""Turn pydantic's validation errors into lines a city author can act on.

Each line is ``<key path>: <what was expected>, got <value> (<its TOML type>)``, e.g.
``agent[3].max_active_sessions (agent 'worker'): expected an integer >= 1, got 0``.
Pydantic's own wording ("Input should be a valid integer") talks about Python; a city
author writes TOML, so the messages here speak of tables, arrays and strings.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

import pydantic

from .durations import format_duration, parse_duration
from .wording import format_loc, show_value, toml_type

__all__ = ["format_loc", "format_validation_error", "toml_type"]


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes (or containers) hidden in ``X | None``, ``Annotated[X, ...]``."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin is typing.Union or origin is types.UnionType:
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            if arg is not type(None):
                out.extend(_unwrap(arg))
        return out
    return [annotation]


def _model_at(model: type[pydantic.BaseModel] | None, loc: Sequence[str | int]) -> Any:
    """Follow ``loc`` through ``model``'s field annotations; ``None`` where it gets lost."""
    current: Any = model
    for part in loc:
        if current is None:
            return None
        candidates = _unwrap(current)
        if len(candidates) != 1:
            return None
        current = candidates[0]
        origin = typing.get_origin(current)
        if isinstance(part, int):
            current = typing.get_args(current)[0] if origin in (list, tuple) else None
        elif isinstance(current, type) and issubclass(current, pydantic.BaseModel):
            field = current.model_fields.get(part)
            current = field.annotation if field is not None else None
        elif origin is dict:
            current = typing.get_args(current)[1]
        else:
            return None
    candidates = _unwrap(current) if current is not None else []
    return candidates[0] if len(candidates) == 1 else None


def _is_duration(model: Any, loc: Sequence[str | int]) -> bool:
    parent = _model_at(model, loc[:-1]) if model is not None and loc else None
    if not (isinstance(parent, type) and issubclass(parent, pydantic.BaseModel)):
        return False
    field = parent.model_fields.get(str(loc[-1]))
    return field is not None and any(
        getattr(m, "func", None) is parse_duration for m in field.metadata
    )


def _table_name(loc: Sequence[str | int], prefix: str = "") -> str:
    if not loc and not prefix:
        return "the top level"
    if loc and isinstance(loc[-1], int):
        return f"[[{format_loc(loc[:-1], prefix)}]]"
    return f"[{format_loc(loc, prefix)}]"


def _missing(model: Any, loc: Sequence[str | int]) -> str:
    parent = _model_at(model, loc[:-1]) if model is not None and loc else None
    if isinstance(parent, type) and issubclass(parent, pydantic.BaseModel):
        field = parent.model_fields.get(str(loc[-1]))
        if field is not None and field.description:
            return f"required key is missing ({field.description.rstrip('.')})"
    return "required key is missing"


_LIST_AT_MOST = 16


def _unknown_key(model: Any, loc: Sequence[str | int], prefix: str) -> str:
    parent = _model_at(model, loc[:-1]) if model is not None else None
    if not (isinstance(parent, type) and issubclass(parent, pydantic.BaseModel)):
        return "unknown key"
    valid = sorted(parent.model_fields)
    close = difflib.get_close_matches(
        str(loc[-1]), [*valid, *getattr(parent, "KEY_ALIASES", ())], n=1
    )
    table = _table_name(loc[:-1], prefix)
    if len(valid) > _LIST_AT_MOST:
        # Fifty keys on one line hide the one that matters; docs/config.md has them all.
        msg = f"unknown key in {table}; see docs/config.md for the {len(valid)} keys of {table}"
    else:
        msg = f"unknown key in {table}; expected one of: {', '.join(valid)}"
    if close:
        msg += f" (did you mean '{close[0]}'?)"
    return msg


def _provider_table(model: Any, loc: Sequence[str | int], prefix: str) -> str | None:
    """A scalar in ``[session]`` that is neither ``provider`` nor another known key."""
    parent = _model_at(model, loc[:-1]) if model is not None and loc else None
    if not (isinstance(parent, type) and issubclass(parent, pydantic.BaseModel)):
        return None
    if parent.model_config.get("extra") != "allow" or loc[-1] in parent.model_fields:
        return None
    section = format_loc(loc[:-1], prefix)
    return (
        f"unknown key in [{section}]; expected one of: {', '.join(sorted(parent.model_fields))}, "
        f"or a table of plugin settings: a plugin's setting goes in its own table, "
        f"e.g. [{section}.<provider>] {loc[-1]} = ..."
    )


_TYPES = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "list_type": "an array",
    "tuple_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
}
_BOUNDS = {
    "greater_than_equal": ("ge", ">="),
    "greater_than": ("gt", ">"),
    "less_than_equal": ("le", "<="),
    "less_than": ("lt", "<"),
}


def _expected(err: Mapping[str, Any], model: Any, prefix: str = "") -> str:
    kind = err["type"]
    loc = tuple(err["loc"])
    if kind == "missing":
        return _missing(model, loc)
    if kind == "extra_forbidden":
        return _unknown_key(model, loc, prefix)
    if kind == "dict_type":
        provider_msg = _provider_table(model, loc, prefix)
        if provider_msg:
            return f"{provider_msg}; got {show_value(err.get('input'))}"
    if kind in _TYPES:
        expected = f"expected {_TYPES[kind]}"
        if kind == "list_type" and loc and loc[-1] == "agent":
            expected = "expected an array of tables: write each agent as [[agent]], not [agent]"
    elif kind in _BOUNDS:
        ctx = err.get("ctx") or {}
        ctx_key, op = _BOUNDS[kind]
        bound = ctx.get(ctx_key)
        if _is_duration(model, loc) and isinstance(bound, int | float):
            expected = f"expected a duration {op} {format_duration(bound)}"
            if isinstance(err.get("input"), int | float):
                return f"{expected}, got {format_duration(err['input'])}"
        else:
            shown = f"{bound:g}" if isinstance(bound, float) else bound
            expected = f"expected a number {op} {shown}"
    else:
        expected = str(err["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    if "input" not in err:
        return expected
    return f"{expected}, got {show_value(err['input'])}"


def format_validation_error(
    exc: pydantic.ValidationError,
    prefix: str = "",
    env_sources: Mapping[str, str] | None = None,
    data: Mapping[str, Any] | None = None,
    model: type[pydantic.BaseModel] | None = None,
) -> list[str]:
    """One line per problem. ``model`` (the validated class) lets unknown-key errors
    list the valid keys; ``data`` (the raw input) lets agent errors name the agent."""
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
        problems.append(f"{key}: {_expected(err, model, prefix)}")
    return problems
