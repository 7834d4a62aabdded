"""The event store conformance kit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ...errors import Unsupported
from ...plugins import Hooks
from ...types import EventDraft, EventFilter

__all__ = ["EventStoreKit"]


class EventStoreKit:
    """Subclass, and provide an ``events_hooks`` fixture yielding a :class:`Hooks`
    over a fresh, empty store."""

    supports_keys = False
    """The store honours ``EventDraft.key`` (one event per key)."""
    returns_seq = True
    """``emit_event`` hands back the stored seq. The reference's exec protocol
    records fire-and-forget (the script assigns the seq): set ``False`` and the kit
    finds each event by listing instead."""
    supports_prune = True
    """The store deletes old events (the reference's exec protocol has no prune)."""

    @pytest.fixture
    def events_hooks(self) -> Iterator[Hooks]:
        raise NotImplementedError("subclass the kit and provide an events_hooks fixture")

    def emit(self, hooks: Hooks, type: str = "kit.test", **kw: object) -> int:
        event = hooks.emit_event(EventDraft(type=type, **kw))  # type: ignore[arg-type]
        assert event is not None, "the store did not return the recorded event"
        if not self.returns_seq:
            return hooks.latest_event_seq()  # single writer in the kit's sequential tests
        return event.seq

    def test_empty_store(self, events_hooks: Hooks) -> None:
        assert events_hooks.latest_event_seq() == 0
        assert events_hooks.list_events(EventFilter()) == []

    def test_seq_strictly_increases(self, events_hooks: Hooks) -> None:
        seqs = [self.emit(events_hooks) for _ in range(5)]
        assert seqs == sorted(seqs)
        assert len(set(seqs)) == 5
        assert seqs[0] > 0
        assert events_hooks.latest_event_seq() == seqs[-1]

    def test_round_trip_fields(self, events_hooks: Hooks) -> None:
        ts = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
        payload = {"n": 3, "nested": {"list": [1, "two", None]}, "text": "ünï \"q\""}
        seq = self.emit(
            events_hooks,
            "session.woke",
            actor="controller",
            subject="worker-1",
            message="started worker-1",
            payload=payload,
            ts=ts,
        )
        [event] = events_hooks.list_events(EventFilter(after_seq=seq - 1, limit=1))
        assert event.seq == seq
        assert event.type == "session.woke"
        assert event.actor == "controller"
        assert event.subject == "worker-1"
        assert event.message == "started worker-1"
        assert dict(event.payload) == payload
        assert event.ts == ts  # to the microsecond, in UTC

    def test_default_ts_is_now_utc(self, events_hooks: Hooks) -> None:
        before = datetime.now(UTC) - timedelta(seconds=1)
        seq = self.emit(events_hooks)
        [event] = events_hooks.list_events(EventFilter(after_seq=seq - 1))
        assert event.ts.tzinfo is not None
        assert before <= event.ts <= datetime.now(UTC) + timedelta(seconds=1)

    def test_filters(self, events_hooks: Hooks) -> None:
        old = datetime(2020, 1, 1, tzinfo=UTC)
        self.emit(events_hooks, "a", actor="x", subject="s1", ts=old)
        s2 = self.emit(events_hooks, "b", actor="y", subject="s2")
        s3 = self.emit(events_hooks, "a", actor="y", subject="s1")
        s4 = self.emit(events_hooks, "c", actor="x", subject="s2")
        h = events_hooks
        assert [e.seq for e in h.list_events(EventFilter(types=("a",)))][1:] == [s3]
        assert [e.type for e in h.list_events(EventFilter(types=("b", "c")))] == ["b", "c"]
        assert [e.seq for e in h.list_events(EventFilter(actor="y"))] == [s2, s3]
        assert [e.seq for e in h.list_events(EventFilter(subject="s2"))] == [s2, s4]
        assert [e.seq for e in h.list_events(EventFilter(after_seq=s2))] == [s3, s4]
        since = datetime(2021, 1, 1, tzinfo=UTC)
        assert [e.seq for e in h.list_events(EventFilter(since=since))] == [s2, s3, s4]
        assert [e.seq for e in h.list_events(EventFilter(after_seq=0, limit=2))][1:] == [s2]
        newest = h.list_events(EventFilter(limit=2, newest=True))
        assert [e.seq for e in newest] == [s3, s4]
        both = h.list_events(EventFilter(types=("a",), actor="y"))
        assert [e.seq for e in both] == [s3]

    def test_keyset_paging_reads_every_event_once(self, events_hooks: Hooks) -> None:
        seqs = [self.emit(events_hooks, f"page.{i % 3}") for i in range(25)]
        seen: list[int] = []
        cursor = 0
        while True:
            page = events_hooks.list_events(EventFilter(after_seq=cursor, limit=7))
            if not page:
                break
            seen.extend(e.seq for e in page)
            cursor = page[-1].seq
        assert seen == seqs

    def test_prune_by_age_keeps_seq_rising(self, events_hooks: Hooks) -> None:
        if not self.supports_prune:
            with pytest.raises(Unsupported):
                events_hooks.prune_events(datetime.now(UTC))
            return
        old = datetime.now(UTC) - timedelta(days=3)
        for _ in range(3):
            self.emit(events_hooks, "old", ts=old)
        last = self.emit(events_hooks, "new")
        removed = events_hooks.prune_events(datetime.now(UTC) - timedelta(days=1))
        assert removed == 3
        assert [e.type for e in events_hooks.list_events(EventFilter())] == ["new"]
        assert events_hooks.latest_event_seq() == last
        assert events_hooks.prune_events(datetime.now(UTC) + timedelta(days=1)) == 1
        assert events_hooks.list_events(EventFilter()) == []
        assert events_hooks.latest_event_seq() == last  # never goes back
        assert self.emit(events_hooks) > last

    def test_concurrent_emitters_get_unique_seqs(self, events_hooks: Hooks) -> None:
        seqs: list[int] = []
        lock = threading.Lock()
        errors: list[BaseException] = []

        def writer(n: int) -> None:
            try:
                for i in range(25):
                    draft = EventDraft(type="burst", actor=f"w{n}", message=str(i))
                    event = events_hooks.emit_event(draft)
                    assert event is not None, "the store did not return the recorded event"
                    with lock:
                        seqs.append(event.seq)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(seqs) == 200
        listed = events_hooks.list_events(EventFilter(types=("burst",)))
        assert len({e.seq for e in listed}) == 200
        if self.returns_seq:
            assert len(set(seqs)) == 200
            assert sorted(seqs) == [e.seq for e in listed]
        for n in range(8):
            mine = [int(e.message) for e in listed if e.actor == f"w{n}"]
            assert mine == list(range(25)), "one writer's events must keep their order"

    def test_idempotency_key(self, events_hooks: Hooks) -> None:
        first = self.emit(events_hooks, "k", key="once")
        second = self.emit(events_hooks, "k", key="once")
        recorded = events_hooks.list_events(EventFilter(types=("k",)))
        if self.supports_keys:
            assert first == second
            assert len(recorded) == 1
        else:
            # A store without keys must still record both, never fail on the key.
            assert second > first
            assert len(recorded) == 2
