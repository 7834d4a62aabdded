"""Startup dialogs answered in the background, after the controller started a session.

Gas City answers them inside each provider's start, which holds the start (and so
the tick) for up to 32 s per session. Here the controller does it once for every
provider, off the tick: each dismissal is a daemon thread, at most ``workers`` of
them polling at a time, each with a cancel event that a stop of its session, a new
start of the same name or the controller's end sets. A failure is logged, never
raised: the session runs on, and its liveness checks decide what happens to it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

from ..config.presets import Launch
from ..errors import NotLeader, SessionNotFound
from ..plugins.facade import Hooks
from ..startup_dialogs import accept_startup_dialogs, wants_dismissal
from ..types import StartConfig

__all__ = ["DialogDismissals", "wants_dismissal"]

log = logging.getLogger("gascity.controller.dialogs")


class DialogDismissals:
    def __init__(self, hooks: Hooks, workers: int,
                 may_act: Callable[[], bool] = lambda: True) -> None:
        self._hooks = hooks
        self._may_act = may_act
        """Asked before each key: a replica that lost its lease types nothing more, as
        it starts and stops nothing more (the provider's own fence may not exist)."""
        self._slots = threading.BoundedSemaphore(max(1, workers))
        self._lock = threading.Lock()
        self._running: dict[str, tuple[threading.Event, threading.Thread]] = {}
        self._closed = False
        self._supported: bool | None = None

    def supported(self) -> bool:
        """Can the session provider show a screen and take keys? (Asked once.)"""
        if self._supported is None:
            self._supported = self._hooks.implements("peek") and self._hooks.implements(
                "send_keys")
        return self._supported

    def begin(self, name: str, launch: StartConfig | Launch) -> bool:
        """Start answering ``name``'s dialogs if its agent is gated in and the provider
        can; returns whether it did."""
        if not wants_dismissal(launch) or not self.supported():
            return False
        cancel = threading.Event()
        thread = threading.Thread(target=self._run, args=(name, cancel),
                                  name=f"gc-dialogs-{name}", daemon=True)
        with self._lock:
            if self._closed:
                return False
            previous = self._running.get(name)
            if previous is not None:
                previous[0].set()  # an older start of the same name: its screen is gone
            self._running[name] = (cancel, thread)
        thread.start()
        return True

    def cancel(self, name: str) -> None:
        """The session is being stopped: stop looking at it."""
        with self._lock:
            entry = self._running.pop(name, None)
        if entry is not None:
            entry[0].set()

    def active(self) -> list[str]:
        with self._lock:
            return sorted(n for n, (_, t) in self._running.items() if t.is_alive())

    def wait(self, timeout: float) -> bool:
        """Block until every dismissal under way finished (``gc start --once`` leaves
        no session at a dialog). True when all did within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = [t for _, t in self._running.values()]
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in threads)

    def close(self, timeout: float = 5.0) -> None:
        """Cancel everything (the controller stops) and wait briefly for the threads:
        each one ends at its next look, or when a provider call in flight returns."""
        with self._lock:
            self._closed = True
            entries = list(self._running.values())
            self._running.clear()
        for cancel, _ in entries:
            cancel.set()
        deadline = time.monotonic() + timeout
        for _, thread in entries:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _send(self, name: str, keys: Sequence[str]) -> None:
        if not self._may_act():
            raise NotLeader(f"no longer leading; no keys to {name}")
        self._hooks.send_keys(name, keys)

    def _run(self, name: str, cancel: threading.Event) -> None:
        try:
            # A bounded number poll at once; the others wait here (cancellable).
            while not self._slots.acquire(timeout=0.5):
                if cancel.is_set():
                    return
            try:
                if cancel.is_set():
                    return
                outcome = accept_startup_dialogs(
                    lambda lines: self._hooks.peek(name, lines),
                    lambda keys: self._send(name, keys),
                    cancel=cancel,
                )
            finally:
                self._slots.release()
            if outcome.dismissed:
                log.info("session %s: answered startup dialogs: %s", name,
                         ", ".join(outcome.dismissed))
        except Exception as exc:
            # A session stopped from elsewhere (gc session kill) is gone, not broken.
            gone = isinstance(exc.__cause__, SessionNotFound)
            log.log(logging.DEBUG if gone else logging.WARNING,
                    "session %s: startup dialogs not answered: %s", name, exc)
        finally:
            with self._lock:
                entry = self._running.get(name)
                if entry is not None and entry[0] is cancel:
                    del self._running[name]
