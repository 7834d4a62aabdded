"""Typed records of the plugins installed, found through entry points without importing them."""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from .epcache import FoundEntryPoint, entry_points_of

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = ["FIRST_PARTY_EXTRAS", "PluginRecord", "PluginStatus", "discover", "install_hint"]

# Distribution -> extra of the `gascity` meta-distribution, for install hints.
FIRST_PARTY_EXTRAS = {
    "gascity-k8s": "k8s",
    "gascity-dolt-events": "dolt",
    "gascity-pgmail": "pgmail",
}
# Names first-party distributions register, so an unknown name can say where it lives.
FIRST_PARTY_NAMES = {
    ("session", "tmux"): "gascity-tmux",
    ("session", "exec"): "gascity-exec",
    ("session", "k8s"): "gascity-k8s",
    ("events", "dolt"): "gascity-dolt-events",
    ("events", "exec"): "gascity-exec",
    ("mail", "exec"): "gascity-exec",
    ("mail", "postgres"): "gascity-pgmail",
}


def install_hint(dist: str) -> str:
    if dist in FIRST_PARTY_EXTRAS:
        return f"pip install 'gascity[{FIRST_PARTY_EXTRAS[dist]}]'"
    if dist in ("gascity-tmux", "gascity-exec", "gascity-core"):
        return "pip install gascity"
    return f"pip install '{dist}'"


class PluginStatus(enum.Enum):
    AVAILABLE = "available"
    """Installed, not imported (not selected)."""
    LOADED = "loaded"
    """Imported, and registered when selected."""
    ERROR = "error"
    """Import or instantiation failed."""
    BLOCKED = "blocked"
    """Disabled by the user (``GC_DISABLE_PLUGINS`` or ``[plugins] disabled``)."""


@dataclass
class PluginRecord:
    """One entry point of one role, plus what became of it."""

    role: str
    name: str
    distribution: str
    version: str
    value: str
    entry_point: EntryPointLike | None = None
    status: PluginStatus = PluginStatus.AVAILABLE
    error: str = ""

    @property
    def key(self) -> str:
        return f"{self.role}:{self.name}"

    def load_factory(self) -> Callable[..., object]:
        if self.entry_point is None:
            raise RuntimeError(f"{self.key} has no entry point")
        obj = self.entry_point.load()
        if not callable(obj):
            raise TypeError(f"entry point {self.value} is not callable")
        return obj  # type: ignore[no-any-return]

    def to_json(self) -> dict[str, str]:
        return {
            "role": self.role,
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "value": self.value,
            "status": self.status.value,
            "error": self.error,
        }


class _DistLike(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def version(self) -> str: ...


class EntryPointLike(Protocol):
    """An :class:`importlib.metadata.EntryPoint`, or the same remembered by epcache."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> str: ...

    @property
    def dist(self) -> _DistLike | None: ...

    def load(self) -> Any: ...


EntryPointSource = Callable[[str], "Iterable[EntryPoint] | Iterable[FoundEntryPoint]"]


def _entry_points(group: str) -> Iterable[FoundEntryPoint]:
    # The first distribution of a name on sys.path wins (the standard library's
    # rule), so a shadowed copy never registers plugins twice. Read once per process.
    return [ep for ep in _all_entry_points() if ep.group == group]


@functools.cache
def _all_entry_points() -> list[FoundEntryPoint]:
    return entry_points_of("gascity.")


def discover(
    groups: dict[str, str], source: EntryPointSource = _entry_points
) -> list[PluginRecord]:
    """Read every entry point of every role group. Nothing is imported here."""
    records: list[PluginRecord] = []
    for role, group in groups.items():
        found: Iterable[EntryPointLike] = source(group)
        for ep in found:
            dist = ep.dist
            records.append(
                PluginRecord(
                    role=role,
                    name=ep.name,
                    distribution=dist.name if dist is not None else "?",
                    version=dist.version if dist is not None else "?",
                    value=ep.value,
                    entry_point=ep,
                )
            )
    records.sort(key=lambda r: (r.role, r.name, r.distribution))
    return records
