"""Many processes emitting at once, and a follower watching them."""

from __future__ import annotations

import threading
from pathlib import Path

from gascity.eventlog import follow
from gascity.testing import hooks_for, wait_for
from gascity.types import Event, EventFilter
from gascity_dolt_events.testing import MariaDBServer

from .conftest import StoreFactory
from .workers import collect, spawn

PROCESSES = 16
EACH = 250


def test_16_processes_x_250_with_a_follower(
    mariadb: MariaDBServer, database: str, city_dir: Path, make_store: StoreFactory
) -> None:
    store = make_store()
    hooks = hooks_for(store, role="events")
    assert hooks.latest_event_seq() == 0  # creates the schema before the burst

    followed: list[Event] = []
    stop = threading.Event()

    def watch() -> None:
        for event in follow(hooks, EventFilter(), poll_interval=0.02, grace=2.0, stop=stop):
            followed.append(event)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    procs = [
        spawn(mariadb, database, city_dir, f"p{n}", [(EACH, None, None)])
        for n in range(PROCESSES)
    ]
    returned = collect(procs)
    total = PROCESSES * EACH

    wait_for(lambda: len(followed) >= total, timeout=30, what="the follower to catch up")
    stop.set()
    watcher.join(timeout=10)

    stored = []
    cursor = 0
    while page := hooks.list_events(EventFilter(after_seq=cursor, limit=1000)):
        stored.extend(page)
        cursor = page[-1].seq
    seqs = [e.seq for e in stored]
    assert len(stored) == total, "every emitted event is stored"
    assert len(set(seqs)) == total
    assert seqs == sorted(seqs)

    # Every process got a seq back for every event, and those are the stored ones.
    all_returned = [s for values in returned.values() for s in values]
    assert None not in all_returned, "nothing was spooled while the server was up"
    assert sorted(all_returned) == seqs  # type: ignore[type-var]

    # Per process, emit order is seq order.
    for n in range(PROCESSES):
        mine = [int(e.message) for e in stored if e.actor == f"p{n}"]
        assert mine == list(range(EACH))
        assert returned[f"p{n}"] == sorted(returned[f"p{n}"])  # type: ignore[type-var]

    # The follower saw every event exactly once, nothing extra.
    followed_seqs = [e.seq for e in followed]
    assert len(followed_seqs) == len(set(followed_seqs)) == total
    assert set(followed_seqs) == set(seqs)
    assert hooks.latest_event_seq() == seqs[-1]
