"""Plugin settings declared as dataclasses, validated without pydantic.

The built-in plugins serve the commands agents run many times a minute, so their
settings tables are frozen dataclasses checked here, with the same error wording as
the pydantic path of :func:`~gascity.plugins.load_settings`. A field may be ``bool``,
``int``, ``float``, ``str``, ``list[str]``, :data:`Seconds` (a duration such as
``30s``) or any of these ``| None``; bounds go in the field's metadata::

    @dataclass(frozen=True)
    class MySettings:
        busy_timeout: Seconds = field(default=10.0, metadata={"gt": 0})
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, TypeVar

from ..config.durations import EXPECTED as _DURATION
from ..config.durations import format_duration, parse_duration
from ..config.wording import show_value

__all__ = ["Seconds", "validate_dataclass"]

DURATION = "duration"
Seconds = Annotated[float, DURATION]
"""A duration in seconds, written ``500ms``, ``30s``, ``5m``, ``1h30m`` or a number."""

T = TypeVar("T")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_BOUNDS = (("gt", ">", float.__gt__), ("ge", ">=", float.__ge__),
           ("lt", "<", float.__lt__), ("le", "<=", float.__le__))


class _Bad(ValueError):
    pass


def validate_dataclass(
    model: type[T], data: Mapping[str, Any], prefix: str, env_sources: Mapping[str, str]
) -> tuple[T | None, list[str]]:
    """``(instance, [])`` or ``(None, problems)``; values from ``env_sources`` are text."""
    hints = typing.get_type_hints(model, include_extras=True)
    fields = {f.name: f for f in dataclasses.fields(model)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    problems: list[str] = []
    for key, raw in data.items():
        where = f"{prefix}.{key}"
        if key not in fields:
            valid = sorted(fields)
            msg = f"{where}: unknown key in [{prefix}]; expected one of: {', '.join(valid)}"
            import difflib  # only on the error path

            close = difflib.get_close_matches(key, valid, n=1)
            problems.append(msg + (f" (did you mean '{close[0]}'?)" if close else ""))
            continue
        if key in env_sources:
            where += f" (from environment {env_sources[key]})"
        try:
            values[key] = _convert(hints[key], raw, key in env_sources, fields[key].metadata)
        except _Bad as exc:
            problems.append(f"{where}: {exc}")
    if problems:
        return None, problems
    return model(**values), []


def _convert(hint: Any, raw: Any, from_env: bool, meta: Mapping[str, Any]) -> Any:
    kind, duration = _kind(hint)
    optional = _allows_none(hint)
    if optional and from_env and raw == "":
        return None
    if duration:
        try:
            value: Any = parse_duration(raw)
        except ValueError:
            raise _Bad(f"{_DURATION}, got {show_value(raw)}") from None
        _check_bounds(value, meta, duration=True)
        return value
    if kind is bool:
        if from_env and isinstance(raw, str) and raw.lower() in _TRUE | _FALSE:
            return raw.lower() in _TRUE
        if not isinstance(raw, bool):
            raise _Bad(f"expected true or false, got {show_value(raw)}")
        return raw
    if kind is int or kind is float:
        value = _number(kind, raw, from_env)
        _check_bounds(float(value), meta, duration=False)
        return value
    if kind is str:
        if not isinstance(raw, str):
            raise _Bad(f"expected a string, got {show_value(raw)}")
        _check_text(raw, meta)
        return raw
    if typing.get_origin(kind) is list:
        items = raw.split(",") if from_env and isinstance(raw, str) else raw
        if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
            raise _Bad(f"expected an array of strings, got {show_value(raw)}")
        return [i.strip() for i in items] if from_env else list(items)
    raise TypeError(f"settings field type {hint!r} is not supported")


def _number(kind: type, raw: Any, from_env: bool) -> int | float:
    what = "an integer" if kind is int else "a number"
    if from_env and isinstance(raw, str):
        try:
            return kind(raw.strip())  # type: ignore[no-any-return]
        except ValueError:
            raise _Bad(f"expected {what}, got {show_value(raw)}") from None
    if isinstance(raw, bool) or not isinstance(raw, int | float) or (
            kind is int and not isinstance(raw, int)):
        raise _Bad(f"expected {what}, got {show_value(raw)}")
    return kind(raw)  # type: ignore[no-any-return]


def _check_bounds(value: float, meta: Mapping[str, Any], *, duration: bool) -> None:
    for key, op, ok in _BOUNDS:
        if key in meta and not ok(value, float(meta[key])):
            if duration:
                raise _Bad(f"expected a duration {op} {format_duration(meta[key])}, "
                           f"got {format_duration(value)}")
            bound = meta[key]
            shown = f"{bound:g}" if isinstance(bound, float) else bound
            raise _Bad(f"expected a number {op} {shown}, got {value:g}")


def _check_text(value: str, meta: Mapping[str, Any]) -> None:
    if "max_length" in meta and len(value) > meta["max_length"]:
        raise _Bad(f"expected at most {meta['max_length']} characters, got {show_value(value)}")
    if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
        raise _Bad(f"expected text matching {meta['pattern']}, got {show_value(value)}")


def _kind(hint: Any) -> tuple[Any, bool]:
    """The field's base type, and whether it is a :data:`Seconds`."""
    if typing.get_origin(hint) is Annotated:
        base, *extras = typing.get_args(hint)
        return base, DURATION in extras
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return _kind(args[0])
    return hint, False


def _allows_none(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in (
        typing.get_args(hint))
