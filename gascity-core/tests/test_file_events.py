"""The built-in file events store, with real concurrent processes."""

from __future__ import annotations

import itertools
import json
import multiprocessing
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gascity.builtin.file_events import FileEvents
from gascity.plugins import Hooks, PluginContext
from gascity.testing import hooks_for
from gascity.testing.kits import EventStoreKit
from gascity.types import EventDraft, EventFilter


def make(city: Path) -> FileEvents:
    return FileEvents(PluginContext(role="events", name="file", city_dir=city))


class TestFileEventsConformance(EventStoreKit):
    @pytest.fixture
    def events_hooks(self, tmp_path: Path) -> Iterator[Hooks]:
        store = make(tmp_path)
        yield hooks_for(store, role="events")
        store.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[FileEvents]:
    s = make(tmp_path)
    yield s
    s.shutdown()


def lines(store: FileEvents) -> list[bytes]:
    return store.path.read_bytes().splitlines()


def bytes_read() -> int:
    """Bytes this process has read through read(2) so far (``rchar``)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


WRITER = """
import sys, time
from pathlib import Path
from gascity.builtin.file_events import FileEvents
from gascity.plugins import PluginContext
from gascity.types import EventDraft

city, n, count, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
store = FileEvents(PluginContext(role="events", name="file", city_dir=city))
print("ready", flush=True)
while not go.exists():
    time.sleep(0.005)
for i in range(count):
    store.emit_event(EventDraft(type="burst", actor="p" + n, message=str(i)))
"""


def test_eight_processes_never_duplicate_a_seq(tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(n), "200", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for n in range(8)
    ]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline() == b"ready\n"
    go.touch()  # released together once all are loaded, so the appends interleave
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    store = make(tmp_path)
    events = store.list_events(EventFilter())
    assert [e.seq for e in events] == list(range(1, 1601))  # unique, contiguous
    file_seqs = [json.loads(line)["seq"] for line in lines(store)]
    assert file_seqs == list(range(1, 1601))  # file order is seq order
    for n in range(8):
        mine = [int(e.message) for e in events if e.actor == f"p{n}"]
        assert mine == list(range(200))
    actors = [e.actor for e in events]
    switches = sum(1 for a, b in itertools.pairwise(actors) if a != b)
    assert switches > 8, "the writers never overlapped: the test proved nothing"
    assert store.latest_event_seq() == 1600


@pytest.mark.parametrize("same_instance", [True, False])
def test_torn_last_line_is_skipped_and_the_next_append_is_clean(
    store: FileEvents, tmp_path: Path, same_instance: bool
) -> None:
    for i in range(3):
        store.emit_event(EventDraft(type="ok", message=str(i)))
    with open(store.path, "ab") as f:
        f.write(b'{"seq":4,"type":"torn","ts":"2026-01-0')  # a writer died mid-line
    assert [e.seq for e in store.list_events(EventFilter())] == [1, 2, 3]
    assert store.latest_event_seq() == 3
    writer = store if same_instance else make(tmp_path)
    event = writer.emit_event(EventDraft(type="after"))
    assert event.seq == 4
    assert [(e.seq, e.type) for e in store.list_events(EventFilter())] == [
        (1, "ok"), (2, "ok"), (3, "ok"), (4, "after")
    ]
    raw = lines(store)
    assert raw[3] == b'{"seq":4,"type":"torn","ts":"2026-01-0'  # kept, on its own line
    assert json.loads(raw[4])["type"] == "after"
    assert writer.emit_event(EventDraft(type="next")).seq == 5
    # A later prune drops the fragment along with the old events.
    removed = store.prune_events(datetime.now(UTC) + timedelta(days=1))
    assert removed == 5
    assert lines(store) == [b'{"hwm": 5}']


def test_last_seq_is_found_without_reading_the_file(tmp_path: Path) -> None:
    big = make(tmp_path)
    payload = {"blob": "x" * 400}
    # Write many events quickly by hand in the store's own format.
    now = datetime.now(UTC)
    big.path.parent.mkdir(parents=True)
    with open(big.path, "wb") as f:
        for seq in range(1, 20001):
            event = {"seq": seq, "type": "bulk", "ts": now.isoformat(), "actor": "",
                     "subject": "", "message": "", "payload": payload}
            f.write(json.dumps(event).encode() + b"\n")
    size = big.path.stat().st_size
    assert size > 8_000_000

    fresh = make(tmp_path)
    before = bytes_read()
    assert fresh.latest_event_seq() == 20000
    assert fresh.emit_event(EventDraft(type="tail")).seq == 20001
    page = fresh.list_events(EventFilter(after_seq=19990, limit=5))
    newest = fresh.list_events(EventFilter(limit=3, newest=True))
    spent = bytes_read() - before
    assert [e.seq for e in page] == [19991, 19992, 19993, 19994, 19995]
    assert [e.seq for e in newest] == [19999, 20000, 20001]
    assert spent < size // 20, f"read {spent} bytes of a {size}-byte file"
    fresh.shutdown()
    big.shutdown()


def test_latest_seq_survives_prune_across_instances(tmp_path: Path) -> None:
    store = make(tmp_path)
    old = datetime.now(UTC) - timedelta(days=10)
    for _ in range(4):
        store.emit_event(EventDraft(type="old", ts=old))
    assert store.prune_events(datetime.now(UTC)) == 4
    assert store.list_events(EventFilter()) == []
    other = make(tmp_path)  # another process after the prune
    assert other.latest_event_seq() == 4
    assert other.emit_event(EventDraft(type="new")).seq == 5
    # The first instance's cached append fd pointed at the replaced file.
    assert store.emit_event(EventDraft(type="new")).seq == 6
    assert [e.seq for e in other.list_events(EventFilter())] == [5, 6]
    assert store.prune_events(datetime.now(UTC) - timedelta(days=1)) == 0
    store.shutdown()
    other.shutdown()


def test_prune_while_emitting_keeps_seqs_unique(tmp_path: Path) -> None:
    store = make(tmp_path)
    old = datetime.now(UTC) - timedelta(days=2)
    seqs: list[int] = []
    guard = threading.Lock()

    def emit(n: int) -> None:
        for i in range(100):
            ts = old if i % 2 else None
            event = store.emit_event(EventDraft(type="mix", actor=str(n), ts=ts))
            with guard:
                seqs.append(event.seq)

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    removed = 0
    while any(t.is_alive() for t in threads):
        removed += store.prune_events(datetime.now(UTC) - timedelta(days=1))
    for t in threads:
        t.join()
    removed += store.prune_events(datetime.now(UTC) - timedelta(days=1))
    assert sorted(seqs) == list(range(1, 401))
    assert removed == 200
    left = store.list_events(EventFilter())
    assert len(left) == 200
    assert [e.seq for e in left] == sorted(e.seq for e in left)
    assert store.latest_event_seq() == 400
    store.shutdown()


def test_naive_and_offset_timestamps_are_stored_as_utc(store: FileEvents) -> None:
    from datetime import timezone

    plus2 = timezone(timedelta(hours=2))
    a = store.emit_event(EventDraft(type="t", ts=datetime(2026, 3, 1, 12, 0, tzinfo=plus2)))
    assert a.ts == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    [read] = store.list_events(EventFilter(types=("t",)))
    assert read.ts.utcoffset() == timedelta(0)
    assert read.ts == a.ts
    since = datetime(2026, 3, 1, 10, 30)  # naive means UTC
    assert store.list_events(EventFilter(since=since)) == []


def test_pruning_the_newest_seq_does_not_lower_the_next_one(store: FileEvents) -> None:
    # Events are in seq order but pruned by age: the highest seq can be the oldest.
    store.emit_event(EventDraft(type="recent"))
    store.emit_event(EventDraft(type="backdated", ts=datetime(2020, 1, 1, tzinfo=UTC)))
    assert store.prune_events(datetime(2021, 1, 1, tzinfo=UTC)) == 1
    assert [e.type for e in store.list_events(EventFilter())] == ["recent"]
    assert store.latest_event_seq() == 2
    assert make(store.dir.parent).emit_event(EventDraft(type="next")).seq == 3
    assert [e.seq for e in store.list_events(EventFilter(after_seq=1))] == [3]


def test_forked_child_takes_its_own_lock(store: FileEvents) -> None:
    store.emit_event(EventDraft(type="before-fork"))  # the lock fd now exists
    ctx = multiprocessing.get_context("fork")
    children = [ctx.Process(target=_emit_many, args=(store, 100)) for _ in range(3)]
    for child in children:
        child.start()
    _emit_many(store, 100)
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    seqs = [e.seq for e in store.list_events(EventFilter())]
    assert seqs == list(range(1, 402))


def _emit_many(store: FileEvents, count: int) -> None:
    for i in range(count):
        store.emit_event(EventDraft(type="forked", message=str(i)))
