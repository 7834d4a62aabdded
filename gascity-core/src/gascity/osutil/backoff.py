"""Retry pacing: a delay that grows geometrically to a cap, and a bounded poll loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Backoff", "poll"]

T = TypeVar("T")


class Backoff:
    """``first``, ``first*factor``, ... up to ``cap``; :meth:`reset` after a success."""

    def __init__(self, first: float = 0.05, cap: float = 1.0, factor: float = 2.0) -> None:
        self.first = first
        self.cap = cap
        self.factor = factor
        self.delay = first

    def next(self) -> float:
        """The delay to wait now; the following one grows."""
        delay = self.delay
        self.delay = min(self.cap, self.delay * self.factor)
        return delay

    def reset(self) -> None:
        self.delay = self.first

    def sleep(self, deadline: float | None = None, stop: threading.Event | None = None) -> bool:
        """Wait the next delay (never past ``deadline``); False if ``stop`` was set."""
        delay = self.next()
        if deadline is not None:
            delay = min(delay, max(0.0, deadline - time.monotonic()))
        if stop is not None:
            return not stop.wait(delay)
        time.sleep(delay)
        return True


def poll(
    probe: Callable[[], T | None],
    timeout: float,
    *,
    first: float = 0.05,
    cap: float = 0.5,
    factor: float = 1.5,
) -> T | None:
    """Call ``probe`` until it returns something other than ``None`` or ``timeout``
    passes (then ``None``); the pauses between calls back off."""
    deadline = time.monotonic() + timeout
    pace = Backoff(first, cap, factor)
    while True:
        value = probe()
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            return None
        pace.sleep(deadline)
