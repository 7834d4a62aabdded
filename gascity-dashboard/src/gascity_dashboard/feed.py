"""Follow the city's event store and fan new events out to SSE subscribers.

The store is the one source of order: events from this controller and from any
``gc`` process (``gc event emit``, agents) are read back by cursor, so a subscriber
sees every event once, in ``seq`` order. The follower wakes when this process
records an event (:meth:`EventFeed.poke`) and otherwise checks the store's latest
``seq`` once per ``interval``: one cheap read, never a listing.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable

from gascity.plugins import Hooks
from gascity.types import Event, EventFilter

__all__ = ["EventFeed", "Subscription"]

log = logging.getLogger("gascity.dashboard")

_PAGE = 500


class Subscription:
    """One SSE client's queue; ``None`` in it means the feed closed."""

    def __init__(self, feed: EventFeed, maxsize: int) -> None:
        self.feed = feed
        self.queue: queue.Queue[Event | None] = queue.Queue(maxsize=maxsize)
        self.overflowed = False

    def get(self, timeout: float) -> Event | None:
        """The next event; raises :class:`queue.Empty` after ``timeout``."""
        return self.queue.get(timeout=timeout)

    def close(self) -> None:
        self.feed.unsubscribe(self)


class EventFeed:
    def __init__(self, hooks: Hooks, *, interval: float = 1.0,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.hooks = hooks
        self.interval = interval
        self.on_event = on_event
        self.cursor = 0
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def start(self) -> None:
        try:
            self.cursor = self.hooks.latest_event_seq()
        except Exception as exc:
            log.warning("event feed: cannot read the latest seq yet: %s", exc)
        self._thread = threading.Thread(target=self._run, name="gc-api-feed", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, maxsize)
        with self._lock:
            self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def close(self) -> None:
        self._closing.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._lock:
            subs, self._subs = self._subs, []
        for sub in subs:
            try:
                sub.queue.put_nowait(None)
            except queue.Full:
                pass

    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.wait(timeout=self.interval)
            self._wake.clear()
            if self._closing.is_set():
                return
            try:
                self._drain()
            except Exception as exc:
                # A store outage: keep the cursor, try again next round; say so once.
                if not self._failing:
                    log.warning("event feed: reading the event store failed (retrying "
                                "every %gs): %s", self.interval, exc)
                self._failing = True
            else:
                if self._failing:
                    log.info("event feed: the event store answers again")
                self._failing = False

    def _drain(self) -> None:
        if self.hooks.latest_event_seq() <= self.cursor:
            return
        while True:
            page = self.hooks.list_events(EventFilter(after_seq=self.cursor, limit=_PAGE))
            for event in page:
                self._publish(event)
                self.cursor = max(self.cursor, event.seq)
            if len(page) < _PAGE:
                return

    def _publish(self, event: Event) -> None:
        if self.on_event is not None:
            self.on_event(event)
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            try:
                sub.queue.put_nowait(event)
            except queue.Full:
                # A client that stopped reading loses its stream, not the feed.
                sub.overflowed = True
                self.unsubscribe(sub)
