"""Label and field selectors, parsed the way the API server parses them.

Supports ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a`` and
``!a`` for labels; ``metadata.name``, ``metadata.namespace`` and ``status.phase``
with ``=``/``==``/``!=`` for fields. A malformed selector is a 400, as upstream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["SelectorError", "field_matcher", "label_matcher"]

Matcher = Callable[[Mapping[str, str]], bool]

_SET_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")
_CMP_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|!=|=)\s*([A-Za-z0-9_.-]*)\s*$")
_EXISTS_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*$")
FIELDS = {"metadata.name", "metadata.namespace", "status.phase"}


class SelectorError(ValueError):
    """The selector text is not valid; the server answers 400 BadRequest."""


def _split(text: str) -> list[str]:
    """Split on commas that are not inside a ``( ... )`` value set."""
    parts: list[str] = []
    depth = 0
    current = ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [p for p in parts if p.strip()]


def _requirement(text: str) -> Matcher:
    if m := _SET_RE.match(text):
        key, op, raw = m.groups()
        values = {v.strip() for v in raw.split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if m := _CMP_RE.match(text):
        key, op, value = m.groups()
        if op == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if m := _EXISTS_RE.match(text):
        negate, key = m.groups()
        if negate:
            return lambda labels: key not in labels
        return lambda labels: key in labels
    raise SelectorError(f"unable to parse requirement: {text!r}")


def label_matcher(text: str | None) -> Matcher:
    reqs = [_requirement(p) for p in _split(text or "")]
    return lambda labels: all(r(labels) for r in reqs)


def _field_values(obj: Mapping[str, Any]) -> dict[str, str]:
    meta = obj.get("metadata", {})
    return {
        "metadata.name": str(meta.get("name", "")),
        "metadata.namespace": str(meta.get("namespace", "")),
        "status.phase": str(obj.get("status", {}).get("phase", "")),
    }


def field_matcher(text: str | None) -> Callable[[Mapping[str, Any]], bool]:
    reqs: list[Matcher] = []
    for part in _split(text or ""):
        m = _CMP_RE.match(part)
        if not m:
            raise SelectorError(f"invalid field selector: {part!r}")
        if m.group(1) not in FIELDS:
            raise SelectorError(f'field label not supported: "{m.group(1)}"')
        reqs.append(_requirement(part))
    return lambda obj: all(r(_field_values(obj)) for r in reqs)
