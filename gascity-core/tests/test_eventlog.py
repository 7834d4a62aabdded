"""The follower behind `gc events --follow`: late commits are delivered, once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from gascity import hookimpl
from gascity.eventlog import follow
from gascity.testing import hooks_for
from gascity.types import Event, EventFilter


class LateCommitStore:
    """Rows become visible in the order the test commits them, not by seq: what two
    concurrent INSERTs into an AUTO_INCREMENT table look like to a reader."""

    def __init__(self) -> None:
        self.visible: dict[int, Event] = {}
        self.lock = threading.Lock()

    def commit(self, seq: int, type_: str = "t") -> None:
        with self.lock:
            self.visible[seq] = Event(seq=seq, type=type_, ts=datetime.now(UTC))

    @hookimpl
    def list_events(self, filter: EventFilter) -> list[Event]:
        with self.lock:
            rows = sorted(
                (e for s, e in self.visible.items() if s > filter.after_seq
                 and (not filter.types or e.type in filter.types)),
                key=lambda e: e.seq,
            )
        return rows[: filter.limit] if filter.limit else rows


def run_follower(store: LateCommitStore, stop: threading.Event, out: list[int],
                 clock: list[float], **kw: object) -> threading.Thread:
    hooks = hooks_for(store, role="events")

    def go() -> None:
        for event in follow(hooks, poll_interval=0.01, stop=stop,
                            clock=lambda: clock[0], **kw):  # type: ignore[arg-type]
            out.append(event.seq)

    thread = threading.Thread(target=go)
    thread.start()
    return thread


def wait_until(pred, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    import time

    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_a_late_commit_inside_the_grace_window_is_delivered_once() -> None:
    store, stop, out, clock = LateCommitStore(), threading.Event(), [], [0.0]
    thread = run_follower(store, stop, out, clock, grace=5.0)
    store.commit(1)
    store.commit(2)
    store.commit(4)  # seq 3 is still in flight
    wait_until(lambda: out == [1, 2, 4])
    clock[0] = 1.0  # within the grace window
    store.commit(3)
    store.commit(5)
    wait_until(lambda: sorted(out) == [1, 2, 3, 4, 5])
    stop.set()
    thread.join()
    assert sorted(out) == [1, 2, 3, 4, 5]
    assert len(out) == len(set(out)), "every seq exactly once"


def test_a_gap_older_than_grace_is_given_up_and_reading_moves_on() -> None:
    store, stop, out, clock = LateCommitStore(), threading.Event(), [], [0.0]
    thread = run_follower(store, stop, out, clock, grace=2.0)
    store.commit(1)
    store.commit(3)  # 2 never commits (a rolled-back insert)
    wait_until(lambda: out == [1, 3])
    clock[0] = 10.0
    store.commit(4)
    wait_until(lambda: out == [1, 3, 4])
    stop.set()
    thread.join()


def test_a_type_filter_follows_only_matching_events() -> None:
    store, stop, seen, clock = LateCommitStore(), threading.Event(), [], [0.0]
    store.commit(1, "a")
    store.commit(2, "b")
    store.commit(3, "a")
    thread = run_follower(store, stop, seen, clock, filter=EventFilter(types=("a",)))
    wait_until(lambda: seen == [1, 3])
    clock[0] = 100.0  # the non-matching seq 2 is a "gap" until the grace window passes
    store.commit(4, "a")
    wait_until(lambda: seen == [1, 3, 4])
    stop.set()
    thread.join()


class BlippingStore(LateCommitStore):
    """Unreachable while ``down`` is set, as a database server is during a restart."""

    def __init__(self) -> None:
        super().__init__()
        self.down = threading.Event()

    @hookimpl
    def list_events(self, filter: EventFilter) -> list[Event]:
        from gascity.errors import StoreUnavailable

        if self.down.is_set():
            raise StoreUnavailable("events server 127.0.0.1:3306 unreachable: refused")
        return super().list_events(filter)


def test_a_follower_survives_a_store_blip() -> None:
    """Issue 12, defect 8: `gc events --follow` on dolt used to exit on a 3 s blip."""
    import time

    store = BlippingStore()
    stop = threading.Event()
    out: list[int] = []
    thread = run_follower(store, stop, out, [0.0])  # type: ignore[arg-type]
    try:
        store.commit(1)
        wait_until(lambda: out == [1])
        store.down.set()
        time.sleep(0.6)  # several failed polls
        assert thread.is_alive(), "the follower gave up during the outage"
        store.commit(2)
        store.down.clear()
        wait_until(lambda: out == [1, 2], timeout=10)
    finally:
        stop.set()
        thread.join(5)
