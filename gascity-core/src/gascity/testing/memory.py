"""An in-memory event store, for tests and benchmarks that need events but not a file."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from .. import hookimpl
from ..types import Event, EventDraft, EventFilter

__all__ = ["MemoryEvents"]


class MemoryEvents:
    def __init__(self, ctx: object = None) -> None:
        self.events: list[Event] = []
        self._seq = 0
        self._lock = threading.Lock()

    def types(self) -> list[str]:
        with self._lock:
            return [e.type for e in self.events]

    def of_type(self, type_: str) -> list[Event]:
        with self._lock:
            return [e for e in self.events if e.type == type_]

    @hookimpl
    def emit_event(self, event: EventDraft) -> Event:
        with self._lock:
            self._seq += 1
            stored = Event(
                seq=self._seq,
                type=event.type,
                ts=event.ts or datetime.now(UTC),
                actor=event.actor,
                subject=event.subject,
                message=event.message,
                payload=dict(event.payload),
            )
            self.events.append(stored)
            return stored

    @hookimpl
    def list_events(self, filter: EventFilter) -> list[Event]:
        with self._lock:
            out = [
                e
                for e in self.events
                if e.seq > filter.after_seq
                and (not filter.types or e.type in filter.types)
                and (filter.actor is None or e.actor == filter.actor)
                and (filter.subject is None or e.subject == filter.subject)
                and (filter.since is None or e.ts >= filter.since)
            ]
        if filter.limit is not None:
            out = out[-filter.limit :] if filter.newest else out[: filter.limit]
        return out

    @hookimpl
    def latest_event_seq(self) -> int:
        with self._lock:
            return self._seq

    @hookimpl
    def prune_events(self, before: datetime) -> int:
        with self._lock:
            keep = [e for e in self.events if e.ts >= before]
            removed = len(self.events) - len(keep)
            self.events = keep
            return removed


if TYPE_CHECKING:
    from ..hookspecs import EventStore

    # mypy checks the class against the role's hook contract.
    _contract: type[EventStore] = MemoryEvents
