"""An in-memory session provider that records every call.

Select it with ``GC_SESSION=fake`` (or ``[session] provider = "fake"``) in a test run,
which turns on ``GC_ALLOW_TEST_PROVIDERS=1`` (a user install refuses it). Built by its
entry point it keeps its sessions in ``.gc/fake-sessions.json`` so that separate
``gc`` invocations see the same fleet; built directly (``FakeProvider()``) it lives in
memory only. Tests steer it: ``fail_start``, ``kill`` (the agent dies and the session
becomes a zombie), ``hang_start``, ``list_delay``.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .. import hookimpl
from ..errors import SessionError, SessionExists, SessionNotFound
from ..fsutil import atomic_write, locked
from ..plugins.context import PluginContext
from ..types import Liveness, RunningSession, StartConfig

__all__ = ["FakeProvider", "FakeSession"]


@dataclass
class FakeSession:
    name: str
    command: str
    agent: str = ""
    alive: bool = True
    meta: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    work_dir: str = ""
    started_at: float = field(default_factory=time.time)


class FakeProvider:
    """Records calls in ``self.calls`` as ``(hook, name)`` tuples, in order."""

    def __init__(self, ctx: PluginContext | None = None) -> None:
        self.sessions: dict[str, FakeSession] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_start: dict[str, str] = {}
        """name -> error message: ``start`` of that name raises SessionError."""
        self.hang_start: dict[str, float] = {}
        """name -> seconds: ``start`` of that name sleeps first (startup timeouts)."""
        self.start_delay = 0.0
        self.list_delay = 0.0
        self.lists_activity = True
        """Whether ``list_running`` carries ``last_activity`` (as tmux and subprocess do);
        ``False`` plays a provider that can only answer the ``last_activity`` hook."""
        self.start_log: list[tuple[str, float, float]] = []
        """(name, started, finished) monotonic times of each start, for wave tests."""
        self._lock = threading.RLock()
        self._path: Path | None = None
        if ctx is not None:
            ctx.state_dir.mkdir(parents=True, exist_ok=True)
            self._path = ctx.state_dir / "fake-sessions.json"

    # ----------------------------------------------------------- test controls

    def kill(self, name: str, output: str = "") -> None:
        """The agent process dies; the session stays (a zombie) with ``output``."""
        with self._state() as sessions:
            session = sessions[name]
            session.alive = False
            if output:
                session.output.extend(output.splitlines())

    def vanish(self, name: str) -> None:
        """The whole session disappears (as if its tmux session were killed)."""
        with self._state() as sessions:
            sessions.pop(name, None)

    def names(self) -> list[str]:
        with self._state() as sessions:
            return sorted(sessions)

    def calls_to(self, hook: str) -> list[str]:
        return [name for h, name in self.calls if h == hook]

    # ------------------------------------------------------------- persistence

    @contextlib.contextmanager
    def _state(self) -> Iterator[dict[str, FakeSession]]:
        with self._lock:
            if self._path is None:
                yield self.sessions
                return
            with locked(self._path.with_suffix(".lock")):
                raw: dict[str, Any] = (
                    json.loads(self._path.read_text()) if self._path.exists() else {}
                )
                sessions = {n: FakeSession(**s) for n, s in raw.items()}
                yield sessions
                atomic_write(
                    self._path, json.dumps({n: s.__dict__ for n, s in sessions.items()})
                )
                self.sessions = sessions

    def _record(self, hook: str, name: str = "") -> None:
        with self._lock:
            self.calls.append((hook, name))

    # ------------------------------------------------------------------- hooks

    @hookimpl
    def list_running(self, prefix: str) -> list[RunningSession]:
        self._record("list_running", prefix)
        if self.list_delay:
            time.sleep(self.list_delay)
        with self._state() as sessions:
            return [
                RunningSession(
                    name=s.name,
                    liveness=Liveness.ALIVE if s.alive else Liveness.DEAD,
                    meta=dict(s.meta),
                    started_at=datetime.fromtimestamp(s.started_at, UTC),
                    last_activity=(datetime.fromtimestamp(s.started_at, UTC)
                                   if self.lists_activity else None),
                )
                for s in sessions.values()
                if s.name.startswith(prefix)
            ]

    @hookimpl
    def start(self, name: str, config: StartConfig) -> bool:
        self._record("start", name)
        began = time.monotonic()
        delay = self.hang_start.get(name, self.start_delay)
        if delay:
            if delay > config.startup_timeout:
                time.sleep(config.startup_timeout)
                raise SessionError(f"{name}: did not start within {config.startup_timeout}s")
            time.sleep(delay)
        try:
            if name in self.fail_start:
                raise SessionError(f"{name}: {self.fail_start[name]}")
            with self._state() as sessions:
                if name in sessions:
                    raise SessionExists(f"session '{name}' already exists")
                sessions[name] = FakeSession(
                    name=name,
                    command=config.command,
                    agent=config.agent,
                    meta=dict(config.meta),
                    env=dict(config.env),
                    work_dir=config.work_dir,
                    output=[f"$ {config.command}"],
                )
        finally:
            with self._lock:
                self.start_log.append((name, began, time.monotonic()))
        return True

    @hookimpl
    def stop(self, name: str) -> bool:
        self._record("stop", name)
        with self._state() as sessions:
            return sessions.pop(name, None) is not None

    def _get(self, sessions: dict[str, FakeSession], name: str) -> FakeSession:
        try:
            return sessions[name]
        except KeyError:
            raise SessionNotFound(f"no session '{name}'") from None

    @hookimpl
    def interrupt(self, name: str) -> bool:
        self._record("interrupt", name)
        with self._state() as sessions:
            self._get(sessions, name).output.append("^C")
        return True

    @hookimpl
    def nudge(self, name: str, text: str) -> bool:
        self._record("nudge", name)
        with self._state() as sessions:
            self._get(sessions, name).output.extend(text.splitlines() or [""])
        return True

    @hookimpl
    def peek(self, name: str, lines: int) -> str:
        self._record("peek", name)
        with self._state() as sessions:
            out = self._get(sessions, name).output
            return "\n".join(out[-lines:] if lines > 0 else out)

    @hookimpl
    def get_meta(self, name: str, key: str) -> str | None:
        self._record("get_meta", name)
        with self._state() as sessions:
            return self._get(sessions, name).meta.get(key)

    @hookimpl
    def set_meta(self, name: str, key: str, value: str) -> bool:
        self._record("set_meta", name)
        with self._state() as sessions:
            self._get(sessions, name).meta[key] = value
        return True

    @hookimpl
    def remove_meta(self, name: str, key: str) -> bool:
        self._record("remove_meta", name)
        with self._state() as sessions:
            self._get(sessions, name).meta.pop(key, None)
        return True

    @hookimpl
    def process_alive(self, name: str, process_names: Sequence[str]) -> bool | None:
        self._record("process_alive", name)
        with self._state() as sessions:
            return self._get(sessions, name).alive

    @hookimpl
    def last_activity(self, name: str) -> datetime | None:
        self._record("last_activity", name)
        with self._state() as sessions:
            return datetime.fromtimestamp(self._get(sessions, name).started_at, UTC)
