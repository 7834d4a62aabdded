"""The ``file`` events store: one JSON object per line in ``.gc/events.jsonl``.

Writers allocate the next ``seq`` and append the line while holding one exclusive
``flock`` on ``.gc/events.lock``, so any number of processes never duplicate a seq and
the file's order is seq order. Readers take no lock: a line counts only once its
newline is written, and a line that does not parse (the torn tail of a writer that
died mid-write) is skipped.

The last seq is found by reading backwards from the end of the file, never the
whole file. Pruning rewrites the file (atomically, under the lock) and ends it with
a ``{"hwm": N}`` line recording the highest seq ever assigned, so the latest seq
never goes back even when the newest events were the ones pruned.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO

from .. import hookimpl
from ..osutil.flock import lock_fd, unlock_fd
from ..plugins.context import PluginContext, load_settings
from ..plugins.settings import Seconds
from ..types import Event, EventDraft, EventFilter

__all__ = ["FileEvents", "FileEventsSettings"]

log = logging.getLogger("gascity.events.file")

_BLOCK = 65536
_HWM = "hwm"


@dataclass(frozen=True)
class FileEventsSettings:
    """``[events.file]`` in city.toml, or ``GC_FILE_EVENTS_<KEY>``."""

    fsync: bool = False
    """fsync after every event: survives a power cut, costs a disk flush per event."""
    poll_interval: Seconds = field(default=0.5, metadata={"gt": 0})
    """How often ``gc events --follow`` checks the file where it cannot be told of
    changes (no inotify)."""
    follow_grace: Seconds = 2.0
    """How long a follower waits for a writer that holds a seq but has not written it."""
    inotify: bool = True
    """Followers wake on inotify where the kernel has it; turn off on a network
    filesystem written from other machines (inotify does not see their writes)."""


def _seq_of(line: bytes) -> int | None:
    """The seq a complete line stands for (an event's, or a prune's high-water mark)."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("seq", data.get(_HWM))
    return value if isinstance(value, int) else None


def _parse(line: bytes) -> Event | None:
    try:
        data = json.loads(line)
        if not isinstance(data, dict) or "type" not in data:
            return None
        ts = datetime.fromisoformat(data["ts"])
        return Event(
            seq=int(data["seq"]),
            type=str(data["type"]),
            ts=ts if ts.tzinfo else ts.replace(tzinfo=UTC),
            actor=str(data.get("actor", "")),
            subject=str(data.get("subject", "")),
            message=str(data.get("message", "")),
            payload=data.get("payload", {}),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _lines_backwards(f: BinaryIO, end: int) -> Iterator[tuple[int, bytes]]:
    """Complete lines before offset ``end``, last first, as (start offset, bytes)."""
    pos = end
    rest = b""
    while pos > 0:
        step = min(_BLOCK, pos)
        pos -= step
        f.seek(pos)
        chunk = f.read(step) + rest
        parts = chunk.split(b"\n")
        rest = parts[0]
        offset = pos + len(rest) + 1
        tail: list[tuple[int, bytes]] = []
        for part in parts[1:]:
            tail.append((offset, part))
            offset += len(part) + 1
        yield from reversed(tail)
    if rest:
        yield 0, rest


def _matches(event: Event, flt: EventFilter) -> bool:
    if event.seq <= flt.after_seq:
        return False
    if flt.types and event.type not in flt.types:
        return False
    if flt.actor is not None and event.actor != flt.actor:
        return False
    if flt.subject is not None and event.subject != flt.subject:
        return False
    return not (flt.since is not None and event.ts < _utc(flt.since))


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class FileEvents:
    """Events in a JSON-lines file. Built as ``FileEvents(ctx)``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.settings = load_settings(ctx, FileEventsSettings, env_prefix="GC_FILE_EVENTS_")
        self.dir = ctx.state_dir
        self.path = self.dir / "events.jsonl"
        self.lock_path = self.dir / "events.lock"
        # flock excludes other processes; threads of this one share the lock fd, so
        # they also take this mutex.
        self._mutex = threading.Lock()
        self._lock_fd: int | None = None
        self._lock_pid = 0
        self._fd: int | None = None
        self._tail: tuple[int, int, int] | None = None
        """(inode, size, last seq) after our last append: skips re-reading the tail."""

    def change_watch(self) -> FileWatch:
        """What ``gc events --follow`` waits on between reads (not a hook: a store
        that has none is polled)."""
        from ..watch import FileWatch  # ctypes and inotify only for a follower

        return FileWatch(self.path, self.settings.poll_interval,
                         inotify=self.settings.inotify)

    # ---------------------------------------------------------------- writing

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with self._mutex:
            if self._lock_fd is not None and self._lock_pid != os.getpid():
                # Forked: the inherited fd shares its lock with the parent, so it
                # would not exclude the parent at all. Take a lock of our own.
                os.close(self._lock_fd)
                self._lock_fd = None
            if self._lock_fd is None:
                self._lock_pid = os.getpid()
                self.dir.mkdir(parents=True, exist_ok=True)
                self._lock_fd = os.open(
                    self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
                )
            lock_fd(self._lock_fd)
            try:
                yield
            finally:
                unlock_fd(self._lock_fd)

    def _append_fd(self) -> int:
        """An append fd on the current file (a prune may have replaced it)."""
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = None
        if self._fd is not None and os.fstat(self._fd).st_ino != current:
            os.close(self._fd)
            self._fd = None
            self._tail = None
        if self._fd is None:
            self._fd = os.open(
                self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        return self._fd

    def _last_seq(self, fd: int) -> int:
        """Highest seq in the file; repairs a torn tail first. Caller holds the lock."""
        st = os.fstat(fd)
        if self._tail is not None and self._tail[:2] == (st.st_ino, st.st_size):
            return self._tail[2]
        size = st.st_size
        with os.fdopen(os.dup(fd), "rb") as f:
            if size:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    # A writer died mid-line: end the fragment so the next line stands
                    # on its own; readers skip it as unparsable.
                    log.warning("%s: skipping a torn last line", self.path)
                    os.write(fd, b"\n")
                    size += 1
            for _, line in _lines_backwards(f, size):
                seq = _seq_of(line)
                if seq is not None:
                    return seq
        return 0

    @hookimpl
    def emit_event(self, event: EventDraft) -> Event:
        ts = _utc(event.ts) if event.ts is not None else datetime.now(UTC)
        with self._locked():
            fd = self._append_fd()
            seq = self._last_seq(fd) + 1
            recorded = Event(
                seq=seq,
                type=event.type,
                ts=ts,
                actor=event.actor,
                subject=event.subject,
                message=event.message,
                payload=dict(event.payload) if isinstance(event.payload, Mapping)
                else event.payload,
            )
            line = json.dumps(
                recorded.to_json(), ensure_ascii=False, separators=(",", ":"), default=str
            ).encode("utf-8") + b"\n"
            # One write on an O_APPEND fd: the line lands whole at the end.
            written = os.write(fd, line)
            if written != len(line):
                os.write(fd, line[written:])
            if self.settings.fsync:
                os.fsync(fd)
            st = os.fstat(fd)
            self._tail = (st.st_ino, st.st_size, seq)
        return recorded

    # ---------------------------------------------------------------- reading

    @hookimpl
    def latest_event_seq(self) -> int:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return 0
        with f:
            end = f.seek(0, os.SEEK_END)
            for _, line in _lines_backwards(f, self._complete_end(f, end)):
                seq = _seq_of(line)
                if seq is not None:
                    return seq
        return 0

    @staticmethod
    def _complete_end(f: BinaryIO, end: int) -> int:
        """Offset just past the last newline: a line still being written is not read."""
        pos = end
        while pos > 0:
            step = min(_BLOCK, pos)
            f.seek(pos - step)
            chunk = f.read(step)
            at = chunk.rfind(b"\n")
            if at >= 0:
                return pos - step + at + 1
            pos -= step
        return 0

    def _start_offset(self, f: BinaryIO, end: int, after_seq: int) -> int:
        """Byte offset of the first line with seq > ``after_seq``, by bisection: the
        file is in seq order, so a cursor read costs O(log n), not a full scan."""
        lo, hi = 0, end
        while hi - lo > _BLOCK:
            mid = (lo + hi) // 2
            f.seek(mid)
            f.readline()  # to the next line start
            start = f.tell()
            seq = None
            while seq is None and f.tell() < hi:
                line = f.readline()
                seq = _seq_of(line.rstrip(b"\n"))
            if seq is None or seq > after_seq:
                hi = mid
            else:
                lo = start
        return lo

    @hookimpl
    def list_events(self, filter: EventFilter) -> list[Event]:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            return []
        with f:
            end = self._complete_end(f, f.seek(0, os.SEEK_END))
            if filter.newest and filter.limit is not None:
                return self._newest(f, end, filter)
            start = self._start_offset(f, end, filter.after_seq) if filter.after_seq else 0
            f.seek(start)
            out: list[Event] = []
            if filter.limit is not None and filter.limit <= 0:
                return out
            while f.tell() < end:
                line = f.readline()
                if not line.endswith(b"\n"):
                    break
                event = _parse(line)
                if event is not None and _matches(event, filter):
                    out.append(event)
                    if filter.limit is not None and len(out) >= filter.limit:
                        break
            return out

    @staticmethod
    def _newest(f: BinaryIO, end: int, flt: EventFilter) -> list[Event]:
        limit = flt.limit or 0
        out: list[Event] = []
        if limit <= 0:
            return out
        for _, line in _lines_backwards(f, end):
            event = _parse(line)
            if event is None:
                continue
            if event.seq <= flt.after_seq:
                break
            if _matches(event, flt):
                out.append(event)
                if len(out) >= limit:
                    break
        out.reverse()
        return out

    # ---------------------------------------------------------------- pruning

    @hookimpl
    def prune_events(self, before: datetime) -> int:
        cutoff = _utc(before)
        with self._locked():
            fd = self._append_fd()
            high = self._last_seq(fd)
            removed = 0
            tmp = self.dir / f".events.{os.urandom(4).hex()}.tmp"
            with open(self.path, "rb") as src, open(tmp, "wb") as dst:
                for line in src:
                    event = _parse(line)
                    if event is None:
                        continue  # torn lines and old marks go; the new mark covers them
                    if event.ts < cutoff:
                        removed += 1
                    else:
                        dst.write(line if line.endswith(b"\n") else line + b"\n")
                # Last, so the last line still carries the highest seq ever assigned
                # (kept events are in seq order but pruning goes by age).
                dst.write(json.dumps({_HWM: high}).encode() + b"\n")
                dst.flush()
                os.fsync(dst.fileno())
            if removed == 0:
                tmp.unlink()
                return 0
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
            self._fd_reset()
        return removed

    def _fd_reset(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._tail = None

    # ------------------------------------------------------------- lifecycle

    @hookimpl
    def status_info(self) -> dict[str, object]:
        return {"events.path": str(self.path)}

    @hookimpl
    def shutdown(self) -> None:
        with self._mutex:
            self._fd_reset()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


if TYPE_CHECKING:
    from ..hookspecs import EventStore
    from ..watch import FileWatch

    # mypy checks the class against the role's hook contract.
    _contract: type[EventStore] = FileEvents
