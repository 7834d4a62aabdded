"""What the controller remembers between ticks (and across restarts).

Kept in ``.gc/controller-state.json``. It holds only what the running set cannot
tell: when a drain began and why, crash history for quarantine, the fingerprint of
sessions whose provider cannot carry metadata, and the last pool sizes (to record
``pool.scaled`` once per change).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..fsutil import atomic_write

__all__ = ["ControllerState", "Drain", "Overrides"]


@dataclass(frozen=True)
class Drain:
    reason: str
    """``scale`` (pool shrank), ``drift`` (config changed) or ``suspend``."""
    since: float


@dataclass
class ControllerState:
    fingerprints: dict[str, str] = field(default_factory=dict)
    drains: dict[str, Drain] = field(default_factory=dict)
    crashes: dict[str, list[float]] = field(default_factory=dict)
    quarantined: dict[str, float] = field(default_factory=dict)
    pool_desired: dict[str, int] = field(default_factory=dict)
    scale_errors: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    last_running: list[str] = field(default_factory=list)
    stopping: dict[str, float] = field(default_factory=dict)
    """Sessions this controller is stopping on purpose, saved before it stops them: if
    it is killed half-way, the next one does not take their absence for crashes."""
    last_tick: float = 0.0

    @classmethod
    def load(cls, path: Path) -> ControllerState:
        try:
            text = path.read_text()
            mtime = path.stat().st_mtime
        except OSError:
            return cls()
        state = cls.from_text(text)
        # Files before compact state carried last_tick inside; now it is the mtime.
        state.last_tick = max(state.last_tick, mtime)
        return state

    @classmethod
    def from_text(cls, text: str | None) -> ControllerState:
        """Parse what :meth:`to_text` wrote (here or in another replica's store);
        anything unreadable is an empty state."""
        try:
            raw: dict[str, Any] = json.loads(text or "{}")
            return cls._from_dict(raw)
        except (ValueError, TypeError, AttributeError):
            # A torn state file costs drain timers and crash history, not sessions.
            return cls()

    @classmethod
    def _from_dict(cls, raw: dict[str, Any]) -> ControllerState:
        state = cls()
        state.fingerprints = dict(raw.get("fingerprints", {}))
        state.drains = {k: Drain(**v) for k, v in raw.get("drains", {}).items()}
        state.crashes = {k: list(v) for k, v in raw.get("crashes", {}).items()}
        state.quarantined = dict(raw.get("quarantined", {}))
        state.pool_desired = dict(raw.get("pool_desired", {}))
        state.scale_errors = dict(raw.get("scale_errors", {}))
        state.blocked = dict(raw.get("blocked", {}))
        state.last_running = list(raw.get("last_running", []))
        state.stopping = dict(raw.get("stopping", {}))
        state.last_tick = float(raw.get("last_tick", 0.0))
        return state

    def to_text(self) -> str:
        """The file's content: compact, and without ``last_tick`` (the file's mtime)."""
        # By hand, not dataclasses.asdict: that deep-copies every value first, which
        # was a third of a steady tick at 1000 agents.
        data = {
            "fingerprints": self.fingerprints,
            "drains": {k: {"reason": d.reason, "since": d.since} for k, d in self.drains.items()},
            "crashes": self.crashes,
            "quarantined": self.quarantined,
            "pool_desired": self.pool_desired,
            "scale_errors": self.scale_errors,
            "blocked": self.blocked,
            "last_running": self.last_running,
        }
        if self.stopping:
            data["stopping"] = self.stopping
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    def save(self, path: Path, text: str | None = None) -> None:
        atomic_write(path, self.to_text() if text is None else text)

    def copy(self) -> ControllerState:
        """A copy the next tick's plan may change without touching this one."""
        return ControllerState(
            fingerprints=dict(self.fingerprints),
            drains=dict(self.drains),  # Drain values are replaced, never changed
            crashes={k: list(v) for k, v in self.crashes.items()},
            quarantined=dict(self.quarantined),
            pool_desired=dict(self.pool_desired),
            scale_errors=dict(self.scale_errors),
            blocked=dict(self.blocked),
            last_running=list(self.last_running),
            stopping=dict(self.stopping),
            last_tick=self.last_tick,
        )


@dataclass
class Overrides:
    """Runtime suspensions set by ``gc suspend`` / ``gc agent suspend``, and the
    on-demand sessions woken by ``gc session wake``.

    Kept apart from city.toml so the CLI never rewrites a file the user edits, and
    apart from the controller state so the two writers never race.
    """

    city_suspended: bool = False
    suspended_agents: list[str] = field(default_factory=list)
    woken: list[str] = field(default_factory=list)
    """``on_demand`` named sessions started by ``gc session wake`` (until closed)."""
    held_sessions: list[str] = field(default_factory=list)
    """Sessions ``gc session suspend`` / ``close`` took down: not started until woken."""
    extra_sessions: dict[str, int] = field(default_factory=dict)
    """Pool instances ``gc session new`` asked for, above what the scale check says."""
    aliases: dict[str, str] = field(default_factory=dict)
    """Sessions ``gc session new POOL --alias NAME`` asked for: NAME -> POOL. Each runs
    as a session named NAME (``GC_ALIAS=NAME``) until ``gc session close NAME``."""

    @classmethod
    def load(cls, path: Path) -> Overrides:
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError):
            return cls()
        if not isinstance(raw, dict):
            return cls()
        extra = raw.get("extra_sessions", {})
        aliases = raw.get("aliases", {})
        return cls(
            city_suspended=bool(raw.get("city_suspended", False)),
            suspended_agents=sorted(set(raw.get("suspended_agents", []))),
            woken=sorted(set(raw.get("woken", []))),
            held_sessions=sorted(set(raw.get("held_sessions", []))),
            extra_sessions={str(k): int(v) for k, v in extra.items()
                            if isinstance(v, int) and v > 0} if isinstance(extra, dict)
            else {},
            aliases={str(k): v for k, v in aliases.items() if isinstance(v, str) and v}
            if isinstance(aliases, dict) else {},
        )

    def save(self, path: Path) -> None:
        atomic_write(path, json.dumps(asdict(self), indent=1, sort_keys=True))

