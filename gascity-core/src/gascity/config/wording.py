"""How config errors name keys and values: in TOML's words, not Python's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, time

__all__ = ["format_loc", "show_value", "toml_type"]


def format_loc(loc: Sequence[str | int], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def toml_type(value: object) -> str:
    """The TOML name of a parsed value's type, with its article."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, datetime | date | time):
        return "a date/time"
    return type(value).__name__


def show_value(value: object) -> str:
    """A value as the user wrote it in TOML, with its type."""
    if isinstance(value, Mapping | list | tuple):
        return toml_type(value)
    shown = ("true" if value else "false") if isinstance(value, bool) else repr(value)
    return f"{shown} ({toml_type(value)})"
