"""The installed entry points of Gas City's groups, remembered between ``gc`` calls.

Every ``gc`` call that loads a plugin must know the installed entry points. The
standard library finds them (:func:`importlib.metadata.entry_points`), but importing
it and reading every distribution's metadata costs more than the rest of an agent's
``gc event emit``. So the answer is kept in a small JSON file and reused while
nothing on ``sys.path`` changed: the key is every ``sys.path`` directory with its
modification time, which installing, upgrading or removing any distribution changes
(a ``.dist-info`` directory appears or vanishes). The same idea is how Python's own
import system caches directory listings.

``GC_ENTRY_POINT_CACHE=0`` turns the file off; it lives in
``$XDG_CACHE_HOME/gascity`` (default ``~/.cache/gascity``), owner-only.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import zlib

# On the agents' fast path (gascity.cli.fast): no dataclasses, pathlib or typing here.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

__all__ = ["FoundDist", "FoundEntryPoint", "entry_points_of"]

_FORMAT = 1


class FoundDist:
    __slots__ = ("name", "version")

    def __init__(self, name: str, version: str) -> None:
        self.name = name
        self.version = version

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FoundDist) and (self.name, self.version) == (
            other.name, other.version)

    def __hash__(self) -> int:
        return hash((self.name, self.version))

    def __repr__(self) -> str:
        return f"FoundDist(name={self.name!r}, version={self.version!r})"


class FoundEntryPoint:
    """The parts of :class:`importlib.metadata.EntryPoint` plugin discovery uses."""

    __slots__ = ("dist", "group", "name", "value")

    def __init__(self, name: str, value: str, group: str, dist: FoundDist | None) -> None:
        self.name = name
        self.value = value
        self.group = group
        self.dist = dist

    def _key(self) -> tuple[str, str, str, FoundDist | None]:
        return (self.name, self.value, self.group, self.dist)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FoundEntryPoint) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return (f"FoundEntryPoint(name={self.name!r}, value={self.value!r}, "
                f"group={self.group!r}, dist={self.dist!r})")

    def load(self) -> Any:
        import importlib

        # "module:attr.attr [extra]", as importlib.metadata.EntryPoint.load reads it.
        module_name, _, attrs = self.value.partition("[")[0].strip().partition(":")
        obj: Any = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            obj = getattr(obj, attr)
        return obj


def entry_points_of(prefix: str) -> list[FoundEntryPoint]:
    """Every installed entry point whose group starts with ``prefix``."""
    key = _stamp()
    path = _cache_file(prefix) if os.environ.get("GC_ENTRY_POINT_CACHE", "1") != "0" else None
    if path is not None:
        cached = _read(path, key)
        if cached is not None:
            return cached
    found = list(_scan(prefix))
    if path is not None:
        _write(path, key, found)
    return found


def _stamp() -> list[list[Any]]:
    stamp: list[list[Any]] = []
    for entry in sys.path:
        try:
            stamp.append([entry, os.stat(entry or ".").st_mtime_ns])
        except OSError:
            stamp.append([entry, None])
    return stamp


def _cache_file(prefix: str) -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    tag = zlib.crc32("\0".join([sys.prefix, prefix, *sys.path]).encode())
    return os.path.join(base, "gascity", f"entry-points-{tag:08x}.json")


def _read(path: str, key: list[list[Any]]) -> list[FoundEntryPoint] | None:
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read())
        if data.get("format") != _FORMAT or data.get("key") != key:
            return None
        return [FoundEntryPoint(name, value, group, FoundDist(d, v) if d is not None else None)
                for group, name, value, d, v in data["entry_points"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        return None  # missing, torn or foreign: scan again


def _write(path: str, key: list[list[Any]], found: Iterable[FoundEntryPoint]) -> None:
    rows = [[ep.group, ep.name, ep.value, ep.dist.name if ep.dist else None,
             ep.dist.version if ep.dist else None] for ep in found]
    text = json.dumps({"format": _FORMAT, "key": key, "entry_points": rows})
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}.tmp")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):  # a read-only home only costs the next call a scan
            os.unlink(tmp)


def _scan(prefix: str) -> Iterator[FoundEntryPoint]:
    from importlib.metadata import entry_points

    found: Any = entry_points()
    # Python 3.11 answers SelectableGroups (a dict of groups); 3.12 EntryPoints.
    groups = sorted(found.groups)
    for group in groups:
        if not group.startswith(prefix):
            continue
        for ep in found.select(group=group):
            dist = ep.dist
            yield FoundEntryPoint(ep.name, ep.value, group,
                                  FoundDist(dist.name, dist.version) if dist else None)
