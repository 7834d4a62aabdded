"""LISTEN/NOTIFY: wake ``gc mail inbox --follow`` when mail arrives.

One background thread holds one dedicated connection (a LISTEN needs a session
that stays open, so it cannot live in the pool) and turns notifications into
per-recipient flags that :meth:`MailListener.wait` consumes.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from gascity.osutil.backoff import Backoff

if TYPE_CHECKING:
    import psycopg

__all__ = ["MailListener"]

log = logging.getLogger("gascity.mail.postgres")


class MailListener:
    """Dispatches ``NOTIFY`` payloads ``{"city", "to", "id"}`` to waiting callers.

    A flag is raised for every subscribed recipient when mail for it commits, and
    for *all* of them when the connection drops (notifications sent while we were
    disconnected are lost, so a waiter must re-read rather than trust silence).
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection[tuple[object, ...]]],
        channel: str,
        city: str,
        describe_error: Callable[[BaseException], str],
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._city = city
        self._describe = describe_error
        self._cond = threading.Condition()
        self._pending: dict[str, bool] = {}
        self._listening = False
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.notifications = 0
        self.reconnects = 0

    def _ensure_thread(self) -> None:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="gascity-pgmail-listen", daemon=True
                )
                self._thread.start()

    def wait(self, recipient: str, timeout: float) -> bool:
        """True when mail for ``recipient`` may have arrived; False after ``timeout``.

        The first call for a recipient subscribes and returns True as soon as the
        LISTEN is in place: mail that arrived before the subscription sent no
        notification we could see, so the caller must look once more.
        """
        self._ensure_thread()
        deadline = time.monotonic() + max(0.0, timeout)
        with self._cond:
            first = recipient not in self._pending
            if first:
                self._pending[recipient] = False
            while True:
                if first and self._listening:
                    return True
                if not first and self._pending.get(recipient):
                    self._pending[recipient] = False
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)

    def _deliver(self, payload: str) -> None:
        try:
            data = json.loads(payload)
            city, to = str(data["city"]), str(data["to"])
        except (ValueError, KeyError, TypeError):
            return
        if city != self._city:
            return
        with self._cond:
            self.notifications += 1
            if to in self._pending:
                self._pending[to] = True
                self._cond.notify_all()

    def _set_listening(self, listening: bool) -> None:
        with self._cond:
            # Losing the connection, and regaining it after a loss, may each have
            # swallowed notifications; the very first LISTEN has nothing to make up.
            if not listening or self._lost:
                for name in self._pending:
                    self._pending[name] = True
            self._lost = not listening
            self._listening = listening
            self._cond.notify_all()

    def _run(self) -> None:
        from psycopg import sql

        pace = Backoff(0.1, 2.0)
        while not self._stop.is_set():
            conn = None
            try:
                conn = self._connect()
                conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                self._set_listening(True)
                pace.reset()
                while not self._stop.is_set():
                    # A short timeout bounds how long shutdown waits for this thread.
                    for note in conn.notifies(timeout=0.25):
                        self._deliver(note.payload)
            except Exception as exc:
                if self._stop.is_set():
                    break
                self.reconnects += 1
                log.warning("mail listener lost its connection: %s", self._describe(exc))
                self._set_listening(False)
                pace.sleep(stop=self._stop)
            finally:
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout=5)
        with self._cond:
            self._listening = False
            self._cond.notify_all()
