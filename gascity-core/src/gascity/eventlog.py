"""Reading the event log as a stream: ``gc events --follow`` and friends.

Stores assign seqs at insert time but commit in any order, so a reader polling
``seq > last_seen`` can skip a seq that becomes visible *after* a higher one (two
concurrent INSERTs into an AUTO_INCREMENT table). The follower therefore keeps a
*low watermark*: the highest seq below which every seq has been seen or has been
missing for longer than ``grace`` seconds. It re-reads from the watermark each poll and
de-duplicates by seq, so a late commit inside the grace window is still delivered,
exactly once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from .errors import StoreUnavailable, Unsupported
from .osutil.backoff import Backoff
from .plugins import Hooks
from .types import Event, EventFilter

__all__ = ["follow", "matches"]

log = logging.getLogger("gascity.events")


def follow(
    hooks: Hooks,
    filter: EventFilter | None = None,
    poll_interval: float = 0.5,
    grace: float = 2.0,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
    page_size: int = 1000,
    wait: Callable[[float], object] | None = None,
) -> Iterator[Event]:
    """Yield matching events as they are recorded, in seq order per poll, each once.

    Starts after ``filter.after_seq`` (use ``hooks.latest_event_seq()`` to follow only
    new events). Stops when ``stop`` is set. ``wait(seconds)`` blocks between reads
    until the store may have changed (a :class:`~gascity.watch.FileWatch`); without
    it the store is read every ``poll_interval``. A store that can push
    (``watch_events``, e.g. the reference's ``script watch``) is streamed instead.
    """
    base = filter or EventFilter()
    stop = stop or threading.Event()
    if hooks.implements("watch_events"):
        stream = hooks.watch_events(base.after_seq, stop)
        if stream is not None:
            try:
                for event in stream:
                    if matches(event, base):
                        yield event
                return
            except Unsupported:
                pass  # the store said so before its first event: poll instead
    yield from _poll(hooks, base, poll_interval, grace, stop, clock, page_size, wait)


def matches(event: Event, filter: EventFilter) -> bool:
    """The filter applied to a pushed event (a polled page is filtered by the store)."""
    return (
        event.seq > filter.after_seq
        and (not filter.types or event.type in filter.types)
        and (filter.actor is None or event.actor == filter.actor)
        and (filter.subject is None or event.subject == filter.subject)
        and (filter.since is None or event.ts >= filter.since)
    )


def _pages(hooks: Hooks, base: EventFilter, cursor: int, page_size: int) -> Iterator[list[Event]]:
    """Every page after ``cursor`` (read before any is yielded by the caller's list())."""
    while True:
        page = hooks.list_events(replace(base, after_seq=cursor, limit=page_size, newest=False))
        yield page
        if len(page) < page_size:
            return
        cursor = page[-1].seq


class _Watermark:
    """Which seqs were delivered, and the low watermark the next poll reads after."""

    def __init__(self, after: int, grace: float) -> None:
        self.value = after
        self.grace = grace
        self.seen: set[int] = set()
        self.gaps: dict[int, float] = {}
        """seq -> when it was first noticed missing (a gap below a seen seq)."""

    def fresh(self, pages: list[list[Event]]) -> Iterator[Event]:
        """The events not delivered before, each once."""
        for page in pages:
            for event in page:
                if event.seq not in self.seen:
                    self.seen.add(event.seq)
                    self.gaps.pop(event.seq, None)
                    yield event

    def advance(self, clock: Callable[[], float]) -> None:
        """Past seen seqs and past gaps older than the grace window; a filtered
        follower sees "gaps" for every non-matching seq, and the grace window is
        what lets it move on."""
        if not self.seen:
            return
        now, top = clock(), max(self.seen)
        for seq in range(self.value + 1, top):
            if seq not in self.seen:
                self.gaps.setdefault(seq, now)
        while self.value + 1 <= top:
            nxt = self.value + 1
            if nxt in self.seen:
                self.seen.discard(nxt)
            elif now - self.gaps.get(nxt, now) >= self.grace:
                self.gaps.pop(nxt, None)
            else:
                break
            self.value = nxt


def _poll(
    hooks: Hooks,
    base: EventFilter,
    poll_interval: float,
    grace: float,
    stop: threading.Event,
    clock: Callable[[], float],
    page_size: int,
    wait: Callable[[float], object] | None,
) -> Iterator[Event]:
    mark = _Watermark(base.after_seq, grace)
    pace = Backoff(0.2, 5.0)
    down = False
    while not stop.is_set():
        try:
            pages = list(_pages(hooks, base, mark.value, page_size))
        except StoreUnavailable as exc:
            # A follower outlives a blip of its store (a server restart, a network
            # hiccup): it says so once, backs off and picks up where it was.
            if not down:
                log.warning("events store unreachable (%s); still following", exc)
                down = True
            stop.wait(pace.next())
            continue
        if down:
            log.warning("events store reachable again; following")
            down = False
            pace.reset()
        yield from mark.fresh(pages)
        mark.advance(clock)
        if wait is None:
            stop.wait(poll_interval)
        elif not stop.is_set():
            wait(poll_interval)
