"""Durations as people write them in city.toml: ``30s``, ``5m``, ``1h30m``, ``250ms``."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .fields import Duration

__all__ = ["Duration", "format_duration", "parse_duration"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_FULL = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")
EXPECTED = "expected a duration such as 500ms, 30s, 5m, 1h30m (or a number of seconds)"


def parse_duration(value: Any) -> float:
    """Return seconds. Bare numbers are seconds; negative durations are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(EXPECTED)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        if _FULL.fullmatch(text) and text:
            seconds = sum(float(n) * _UNITS[u] for n, u in _PART.findall(text))
        else:
            try:
                seconds = float(text)
            except ValueError:
                raise ValueError(EXPECTED) from None
    else:
        seconds = float(value)
    if not math.isfinite(seconds):
        raise ValueError(EXPECTED)
    if seconds < 0:
        raise ValueError(f"{EXPECTED}; it must not be negative")
    return seconds


def format_duration(seconds: float) -> str:
    if seconds and seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = int(seconds)
    if whole != seconds:
        return f"{seconds:g}s"
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            out += f"{whole // size}{unit}"
            whole %= size
    return out or "0s"



def __getattr__(name: str) -> Any:
    # The pydantic field type lives with the models, so parsing a duration does not
    # import pydantic; plugins that import it from here still find it.
    if name == "Duration":
        from .fields import Duration

        return Duration
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
