"""Behaviour beyond the conformance kit: pruning, time, late commits, reconnects."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pymysql
import pytest

from gascity.eventlog import follow
from gascity.testing import hooks_for, wait_for
from gascity.types import Event, EventDraft, EventFilter
from gascity_dolt_events.testing import MariaDBServer

from .conftest import StoreFactory


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[MariaDBServer]:
    with MariaDBServer(tmp_path / "own-mariadb") as server:
        yield server


def emit(store: object, type: str = "t", **kw: object) -> Event:
    event = hooks_for(store, role="events").emit_event(EventDraft(type=type, **kw))  # type: ignore[arg-type]
    assert event is not None
    return event


def test_prune_then_emit_keeps_seqs_rising(make_store: StoreFactory) -> None:
    store = make_store()
    old = datetime.now(UTC) - timedelta(days=2)
    seqs = [emit(store, ts=old).seq for _ in range(12)]
    assert store.prune_events(datetime.now(UTC)) == 12
    assert store.list_events(EventFilter()) == []
    assert store.latest_event_seq() == seqs[-1]
    assert emit(store).seq > seqs[-1]


def test_prune_deletes_in_batches(
    make_store: StoreFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gascity_dolt_events import store as store_module

    monkeypatch.setattr(store_module, "PRUNE_BATCH", 4)
    store = make_store()
    old = datetime.now(UTC) - timedelta(hours=30)
    for _ in range(10):
        emit(store, "old", ts=old)
    keep = emit(store, "new")
    assert store.prune_events(datetime.now(UTC) - timedelta(hours=24)) == 10
    assert [e.seq for e in store.list_events(EventFilter())] == [keep.seq]


def test_latest_seq_survives_prune_and_server_restart(
    own_server: MariaDBServer, make_store: StoreFactory
) -> None:
    store = make_store(own_server)
    last = [emit(store).seq for _ in range(5)][-1]
    assert store.prune_events(datetime.now(UTC) + timedelta(days=1)) == 5
    store.shutdown()
    own_server.stop()
    own_server.start()
    fresh = make_store(own_server)
    assert fresh.latest_event_seq() == last
    assert emit(fresh).seq > last


def test_explicit_ts_round_trips_to_the_microsecond(make_store: StoreFactory) -> None:
    store = make_store()
    plus5 = timezone(timedelta(hours=5, minutes=30))
    ts = datetime(2025, 7, 8, 9, 10, 11, 123457, tzinfo=plus5)
    recorded = emit(store, ts=ts)
    assert recorded.ts == ts
    [read] = store.list_events(EventFilter(after_seq=recorded.seq - 1))
    assert read.ts == ts
    assert read.ts.tzinfo == UTC
    assert read.ts.microsecond == 123457
    naive = datetime(2025, 1, 1, 0, 0, 0, 1)  # naive means UTC
    assert emit(store, ts=naive).ts == naive.replace(tzinfo=UTC)


def test_since_filter_uses_utc(make_store: StoreFactory) -> None:
    store = make_store()
    base = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    first = emit(store, ts=base)
    second = emit(store, ts=base + timedelta(microseconds=1))
    since = (base + timedelta(microseconds=1)).astimezone(timezone(timedelta(hours=-7)))
    assert [e.seq for e in store.list_events(EventFilter(since=since))] == [second.seq]
    assert first.seq < second.seq


def test_follower_does_not_skip_a_seq_committed_late(
    mariadb: MariaDBServer, database: str, make_store: StoreFactory
) -> None:
    store = make_store()
    hooks = hooks_for(store, role="events")
    first = emit(store, "before")
    # A writer that took its seq first but commits last: the gap a naive
    # "seq > last seen" poller would skip forever.
    slow = pymysql.connect(**mariadb.connect_args(), autocommit=False)
    try:
        with slow.cursor() as cur:
            cur.execute(
                f"INSERT INTO `{database}`.`events` (ts, recorded_at, type, message) "
                "VALUES (UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), 'late', '')"
            )
            late_seq = int(cur.lastrowid)
        after = emit(store, "after")
        assert after.seq > late_seq

        seen: list[Event] = []
        stop = threading.Event()
        def run() -> None:
            for event in follow(hooks, EventFilter(after_seq=first.seq - 1), 0.02, 5.0, stop):
                seen.append(event)

        watcher = threading.Thread(target=run, daemon=True)
        watcher.start()
        wait_for(lambda: any(e.seq == after.seq for e in seen), what="the later event")
        assert late_seq not in [e.seq for e in seen]
        slow.commit()
    finally:
        slow.close()
    wait_for(lambda: any(e.seq == late_seq for e in seen), what="the late commit")
    stop.set()
    watcher.join(timeout=5)
    assert sorted(e.seq for e in seen) == [first.seq, late_seq, after.seq]
    assert len(seen) == 3


def test_idempotency_key_returns_the_stored_event(make_store: StoreFactory) -> None:
    store = make_store()
    one = emit(store, "deploy", key="deploy-42", message="first")
    two = emit(store, "deploy", key="deploy-42", message="second")
    assert two.seq == one.seq
    assert two.message == "first"


def test_reconnects_after_server_restart(
    own_server: MariaDBServer, make_store: StoreFactory
) -> None:
    store = make_store(own_server)
    first = emit(store)
    assert store.pool.idle >= 1
    own_server.stop()
    own_server.start()
    # The pooled connection is dead; the insert goes through a fresh one, not the spool.
    second = emit(store)
    assert second.seq > first.seq
    assert store.status_info()["events.spool_depth"] == 0


def test_long_labels_are_truncated_not_lost(make_store: StoreFactory) -> None:
    store = make_store()
    event = emit(store, "x" * 300, actor="a" * 300, message="m" * 10_000)
    [read] = store.list_events(EventFilter(after_seq=event.seq - 1))
    assert read.type == "x" * 191
    assert read.actor == "a" * 191
    assert read.message == "m" * 10_000


def test_schema_creation_is_idempotent_and_versioned(
    mariadb: MariaDBServer, database: str, make_store: StoreFactory
) -> None:
    a, b = make_store(), make_store()
    emit(a)
    emit(b)
    conn = pymysql.connect(**mariadb.connect_args())
    try:
        with conn.cursor() as cur:
            cur.execute(f"SELECT value FROM `{database}`.`events_meta` WHERE name='schema_version'")
            assert cur.fetchone() == (1,)
            cur.execute(f"SHOW INDEX FROM `{database}`.`events`")
            by_index: dict[str, list[str]] = {}
            for row in cur.fetchall():
                by_index.setdefault(row[2], []).append(row[4])
    finally:
        conn.close()
    for name in ("ix_type_seq", "ix_actor_seq", "ix_subject_seq", "ix_ts_seq"):
        assert by_index[name][-1] == "seq", name


def test_raise_high_water_moves_latest_and_next_seq(make_store: StoreFactory) -> None:
    store = make_store()
    first = emit(store)
    store.raise_high_water(first.seq + 100)
    assert store.latest_event_seq() == first.seq + 100
    assert emit(store).seq == first.seq + 101
    store.raise_high_water(5)  # never lowers
    assert store.latest_event_seq() == first.seq + 101
