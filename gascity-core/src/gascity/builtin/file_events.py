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

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, BinaryIO

from .. import hookimpl
from ..plugins.context import PluginContext, load_settings
from ..plugins.settings import Seconds
from ..types import Event, EventDraft, EventFilter
from .eventlines import BLOCK as _BLOCK
from .eventlines import DEFAULT_FSYNC, EventAppender
from .eventlines import HWM as _HWM
from .eventlines import lines_backwards as _lines_backwards
from .eventlines import seq_of as _seq_of

__all__ = ["FileEvents", "FileEventsSettings"]


@dataclass(frozen=True)
class FileEventsSettings:
    """``[events.file]`` in city.toml, or ``GC_FILE_EVENTS_<KEY>``."""

    fsync: bool = DEFAULT_FSYNC
    """fsync after every event: survives a power cut, costs a disk flush per event."""
    poll_interval: Seconds = field(default=0.5, metadata={"gt": 0})
    """How often ``gc events --follow`` checks the file where it cannot be told of
    changes (no inotify)."""
    follow_grace: Seconds = 2.0
    """How long a follower waits for a writer that holds a seq but has not written it."""
    inotify: bool = True
    """Followers wake on inotify where the kernel has it; turn off on a network
    filesystem written from other machines (inotify does not see their writes)."""


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
        self._appender = EventAppender(str(self.dir), self.settings.fsync)

    def change_watch(self) -> FileWatch:
        """What ``gc events --follow`` waits on between reads (not a hook: a store
        that has none is polled)."""
        from ..watch import FileWatch  # ctypes and inotify only for a follower

        return FileWatch(self.path, self.settings.poll_interval,
                         inotify=self.settings.inotify)

    # ---------------------------------------------------------------- writing

    @hookimpl
    def emit_event(self, event: EventDraft) -> Event:
        ts = _utc(event.ts) if event.ts is not None else datetime.now(UTC)
        payload = dict(event.payload) if isinstance(event.payload, Mapping) else event.payload
        record = self._appender.append(event.type, ts, event.actor, event.subject,
                                       event.message, payload)
        return Event(seq=record["seq"], type=event.type, ts=ts, actor=event.actor,
                     subject=event.subject, message=event.message, payload=payload)

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
        appender = self._appender
        with appender.locked():
            fd = appender.append_fd()
            high = appender.last_seq(fd)
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
            appender.reset_fd()
        return removed

    # ------------------------------------------------------------- lifecycle

    @hookimpl
    def status_info(self) -> dict[str, object]:
        return {"events.path": str(self.path)}

    @hookimpl
    def shutdown(self) -> None:
        self._appender.close()


if TYPE_CHECKING:
    from ..hookspecs import EventStore
    from ..watch import FileWatch

    # mypy checks the class against the role's hook contract.
    _contract: type[EventStore] = FileEvents
