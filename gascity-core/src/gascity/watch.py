"""Waiting for a file to change: inotify on Linux (through ctypes), else a stat poll.

``gc events --follow`` would otherwise wake on a fixed poll and read the store each
time. :class:`FileWatch` blocks until the file is written, replaced or created, or a
timeout passes, so a follower prints an event within milliseconds and costs nothing
while the city is quiet. inotify watches the file's directory (a prune replaces the
file by rename) and keeps only events naming the file. Where inotify is missing (not
Linux, or a network filesystem whose remote writes it does not see: turn it off with
``inotify = false``), the file's size, mtime and inode are compared every
``poll_interval``.
"""

from __future__ import annotations

import ctypes
import os
import select
import struct
import sys
import time
from pathlib import Path

__all__ = ["FileWatch"]

_IN_MODIFY = 0x002
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name


def _inotify_fd(directory: Path) -> int | None:
    """An inotify descriptor watching ``directory``, or ``None`` where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        # The running process already has libc: no library search (which may spawn
        # ldconfig).
        libc = ctypes.CDLL(None, use_errno=True)
        libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        fd = int(libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
    except (OSError, AttributeError):
        return None
    if fd < 0:
        return None
    # Every write is an IN_MODIFY; a prune renames over the file (IN_MOVED_TO).
    mask = _IN_MODIFY | _IN_MOVED_TO | _IN_CREATE
    if libc.inotify_add_watch(fd, os.fsencode(directory), mask) < 0:
        os.close(fd)
        return None
    return fd


class FileWatch:
    """``wait(timeout)`` returns ``True`` as soon as ``path`` may have changed."""

    def __init__(self, path: Path, poll_interval: float = 0.5, *, inotify: bool = True) -> None:
        self.path = path
        self.poll_interval = poll_interval
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._fd = _inotify_fd(path.parent) if inotify else None
        self._name = os.fsencode(path.name)
        self._last = self._stamp()

    @property
    def uses_inotify(self) -> bool:
        return self._fd is not None

    def _stamp(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return st.st_ino, st.st_size, st.st_mtime_ns

    def wait(self, timeout: float) -> bool:
        if self._fd is None:
            return self._poll(timeout)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self._fd], [], [], left)
            if ready and self._drain():
                return True

    def _drain(self) -> bool:
        """Read every pending event; whether one of them names our file."""
        assert self._fd is not None
        hit = False
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return hit
            offset = 0
            while offset + _HEADER.size <= len(data):
                _wd, _mask, _cookie, length = _HEADER.unpack_from(data, offset)
                offset += _HEADER.size
                name = data[offset:offset + length].rstrip(b"\0")
                offset += length
                hit = hit or name == self._name

    def _poll(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            stamp = self._stamp()
            if stamp != self._last:
                self._last = stamp
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(self.poll_interval, left))

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FileWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
