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

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace

from .plugins import Hooks
from .types import Event, EventFilter

__all__ = ["follow"]


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
    it the store is read every ``poll_interval``.
    """
    base = filter or EventFilter()
    watermark = base.after_seq
    seen: set[int] = set()
    # seq -> when we first noticed it missing (a gap below a seen seq)
    gaps: dict[int, float] = {}
    stop = stop or threading.Event()
    while not stop.is_set():
        cursor = watermark
        while True:
            page = hooks.list_events(
                replace(base, after_seq=cursor, limit=page_size, newest=False)
            )
            for event in page:
                if event.seq not in seen:
                    seen.add(event.seq)
                    gaps.pop(event.seq, None)
                    yield event
            if len(page) < page_size:
                break
            cursor = page[-1].seq
        if seen:
            now = clock()
            top = max(seen)
            for seq in range(watermark + 1, top):
                if seq not in seen:
                    gaps.setdefault(seq, now)
            # Advance past seen seqs and past gaps older than the grace window; a
            # filtered follower sees "gaps" for every non-matching seq, and the grace
            # window is what lets it move on.
            while watermark + 1 <= top:
                nxt = watermark + 1
                if nxt in seen:
                    seen.discard(nxt)
                elif now - gaps.get(nxt, now) >= grace:
                    gaps.pop(nxt, None)
                else:
                    break
                watermark = nxt
        if wait is None:
            stop.wait(poll_interval)
        elif not stop.is_set():
            wait(poll_interval)
