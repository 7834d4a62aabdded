"""The ``file`` events store's writing side: seq allocation and the append, stdlib only.

:class:`~gascity.builtin.file_events.FileEvents` (the plugin) writes through
:class:`EventAppender`, and so does the agents' ``gc event emit`` fast path
(:mod:`gascity.cli.fast`) without building the plugin: one implementation of the file
format and its locking. This module imports nothing a bare interpreter with
:mod:`tomllib` has not loaded already (no dataclasses, pathlib, logging, threading).
"""

from __future__ import annotations

import _thread
import contextlib
import json
import os

from ..osutil.flock import lock_fd, unlock_fd
from ..wire import event_json

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from datetime import datetime
    from typing import Any, BinaryIO

__all__ = ["BLOCK", "DEFAULT_FSYNC", "HWM", "EventAppender", "lines_backwards", "seq_of",
           "warn_torn"]

BLOCK = 65536
HWM = "hwm"
DEFAULT_FSYNC = False
"""``[events.file] fsync``'s default."""


def seq_of(line: bytes) -> int | None:
    """The seq a complete line stands for (an event's, or a prune's high-water mark)."""
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    value = data.get("seq", data.get(HWM))
    return value if isinstance(value, int) else None


def lines_backwards(f: BinaryIO, end: int) -> Iterator[tuple[int, bytes]]:
    """Complete lines before offset ``end``, last first, as (start offset, bytes)."""
    pos = end
    rest = b""
    while pos > 0:
        step = min(BLOCK, pos)
        pos -= step
        f.seek(pos)
        chunk = f.read(step) + rest
        parts = chunk.split(b"\n")
        rest = parts[0]
        offset = pos + len(rest) + 1
        tail: list[tuple[int, bytes]] = []
        for part in parts[1:]:
            tail.append((offset, part))
            offset += len(part) + 1
        yield from reversed(tail)
    if rest:
        yield 0, rest


def warn_torn(path: str) -> None:
    """Log that a torn last line was ended (a writer died mid-line)."""
    import logging  # only for a writer that died mid-line

    logging.getLogger("gascity.events.file").warning("%s: skipping a torn last line", path)


class EventAppender:
    """Appends events to ``<directory>/events.jsonl`` under ``events.lock``.

    Writers allocate the next seq and append the line while holding one exclusive
    ``flock``, so any number of processes never duplicate a seq. The lock and append
    fds stay open between appends (a controller emits many); ``warn`` reports a torn
    last line (the default logs it to ``gascity.events.file``).
    """

    __slots__ = ("_fd", "_lock_fd", "_lock_pid", "_mutex", "_tail", "directory", "fsync",
                 "lock_path", "path", "warn")

    def __init__(self, directory: str, fsync: bool = DEFAULT_FSYNC,
                 warn: Callable[[str], None] = warn_torn) -> None:
        self.directory = directory
        self.path = os.path.join(directory, "events.jsonl")
        self.lock_path = os.path.join(directory, "events.lock")
        self.fsync = fsync
        self.warn = warn
        # flock excludes other processes; threads of this one share the lock fd, so
        # they also take this mutex (threading.Lock without importing threading).
        self._mutex = _thread.allocate_lock()
        self._lock_fd: int | None = None
        self._lock_pid = 0
        self._fd: int | None = None
        self._tail: tuple[int, int, int] | None = None
        """(inode, size, last seq) after our last append: skips re-reading the tail."""

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._mutex:
            if self._lock_fd is not None and self._lock_pid != os.getpid():
                # Forked: the inherited fd shares its lock with the parent, so it
                # would not exclude the parent at all. Take a lock of our own.
                os.close(self._lock_fd)
                self._lock_fd = None
            if self._lock_fd is None:
                self._lock_pid = os.getpid()
                os.makedirs(self.directory, exist_ok=True)
                self._lock_fd = os.open(
                    self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
                )
            lock_fd(self._lock_fd)
            try:
                yield
            finally:
                unlock_fd(self._lock_fd)

    def append_fd(self) -> int:
        """An append fd on the current file (a prune may have replaced it)."""
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = None
        if self._fd is not None and os.fstat(self._fd).st_ino != current:
            self.reset_fd()
        if self._fd is None:
            self._fd = os.open(
                self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
        return self._fd

    def last_seq(self, fd: int) -> int:
        """Highest seq in the file; repairs a torn tail first. Caller holds the lock."""
        st = os.fstat(fd)
        if self._tail is not None and self._tail[:2] == (st.st_ino, st.st_size):
            return self._tail[2]
        size = st.st_size
        with os.fdopen(os.dup(fd), "rb") as f:
            if size:
                f.seek(size - 1)
                if f.read(1) != b"\n":
                    # A writer died mid-line: end the fragment so the next line stands
                    # on its own; readers skip it as unparsable.
                    self.warn(self.path)
                    os.write(fd, b"\n")
                    size += 1
            for _, line in lines_backwards(f, size):
                seq = seq_of(line)
                if seq is not None:
                    return seq
        return 0

    def append(self, type_: str, ts: datetime, actor: str, subject: str, message: str,
               payload: Any) -> dict[str, Any]:
        """Record one event with the next seq; returns it as written (its JSON form)."""
        with self.locked():
            fd = self.append_fd()
            record = event_json(self.last_seq(fd) + 1, type_, ts, actor, subject, message,
                                payload)
            line = json.dumps(
                record, ensure_ascii=False, separators=(",", ":"), default=str
            ).encode("utf-8") + b"\n"
            # One write on an O_APPEND fd: the line lands whole at the end.
            written = os.write(fd, line)
            if written != len(line):
                os.write(fd, line[written:])
            if self.fsync:
                os.fsync(fd)
            st = os.fstat(fd)
            self._tail = (st.st_ino, st.st_size, record["seq"])
        return record

    def reset_fd(self) -> None:
        """Forget the append fd (the file was replaced)."""
        if self._fd is not None:
            os.close(self._fd)
        self._fd = None
        self._tail = None

    def close(self) -> None:
        with self._mutex:
            self.reset_fd()
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None
