"""A small thread-safe pool of pymysql connections.

pymysql connections are not thread-safe, so each call borrows one for its duration.
Idle connections are kept (LIFO, so the warm ones are reused); a connection idle for
long enough to have been dropped by the server or a proxy is pinged before use, and
one that fails mid-call is discarded rather than returned.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from pymysql.connections import Connection

__all__ = ["ConnectionPool", "is_connection_error"]

T = TypeVar("T")

# Client-side codes meaning "the server went away" rather than "your SQL is wrong".
_CONNECTION_ERRORS = {2002, 2003, 2006, 2013, 2014, 2055}


def is_connection_error(exc: BaseException) -> bool:
    import pymysql

    from gascity.errors import StoreUnavailable

    if isinstance(exc, StoreUnavailable | pymysql.err.InterfaceError | OSError):
        return True
    if isinstance(exc, pymysql.err.OperationalError):
        code = exc.args[0] if exc.args else None
        # 1053 shutdown in progress, 1927 connection killed, 4031 idle disconnect.
        return code in _CONNECTION_ERRORS or code in (1053, 1927, 4031)
    return False


class ConnectionPool:
    def __init__(
        self,
        connect: Callable[[], Connection[Any]],
        *,
        max_idle: int = 8,
        ping_after: float = 5.0,
    ) -> None:
        self._connect = connect
        self._idle: list[tuple[Connection[Any], float]] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle
        self._ping_after = ping_after
        self._closed = False

    def run(self, fn: Callable[[Connection[Any]], T]) -> T:
        """Run ``fn`` on a pooled connection. If a *pooled* connection turns out to be
        dead (a server restart leaves every idle one stale), drop the idle ones and
        run once more on a fresh connection; a failure to connect is not retried."""
        conn, pooled = self._checkout()
        try:
            result = fn(conn)
        except BaseException as exc:
            _close_quietly(conn)
            if not (pooled and isinstance(exc, Exception) and is_connection_error(exc)):
                raise
            self.clear()
            conn = self._connect()
            try:
                result = fn(conn)
            except BaseException:
                _close_quietly(conn)
                raise
        self._checkin(conn)
        return result

    def _checkout(self) -> tuple[Connection[Any], bool]:
        with self._lock:
            if self._closed:
                raise RuntimeError("connection pool is closed")
            item = self._idle.pop() if self._idle else None
        if item is None:
            return self._connect(), False
        conn, since = item
        if time.monotonic() - since > self._ping_after:
            try:
                conn.ping(reconnect=False)
            except Exception:
                _close_quietly(conn)
                return self._connect(), False
        return conn, True

    def _checkin(self, conn: Connection[Any]) -> None:
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append((conn, time.monotonic()))
                return
        _close_quietly(conn)

    def clear(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn, _ in idle:
            _close_quietly(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self.clear()

    @property
    def idle(self) -> int:
        return len(self._idle)


def _close_quietly(conn: Connection[Any]) -> None:
    with contextlib.suppress(Exception):
        conn.close()
