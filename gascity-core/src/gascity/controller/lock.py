"""One controller per city: an exclusive ``flock`` on ``.gc/controller.lock``.

The kernel drops the lock when the process dies, so a ``kill -9`` never leaves a
stale lock behind; the pid written into the file is only for the error message.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import GasCityError
from ..osutil.flock import Busy, open_lock, unlock_fd

__all__ = ["ControllerLock", "ControllerRunning", "holder_pid"]


class ControllerRunning(GasCityError):
    def __init__(self, pid: int | None) -> None:
        self.pid = pid
        super().__init__(f"controller already running (pid {pid if pid else 'unknown'})")


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


def holder_pid(path: Path) -> int | None:
    """The pid of the running controller (-1 if it wrote none yet), or ``None`` if no
    controller holds the lock.

    Read-only: asking never creates or writes the lock file, so it works on a
    read-only ``.gc`` and by users who may read the city but not run it.
    """
    try:
        fd = open_lock(path, shared=True, blocking=False, create=False)
    except Busy:
        try:
            reader = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return -1
        try:
            pid = _read_pid(reader)
        finally:
            os.close(reader)
        return -1 if pid is None else pid
    except OSError:
        return None  # no lock file (or none we may read): no controller we can see
    os.close(fd)
    return None


class ControllerLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = open_lock(self.path, blocking=False)
        except Busy:
            holder = holder_pid(self.path)
            raise ControllerRunning(holder if holder and holder > 0 else None) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            unlock_fd(self._fd)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> ControllerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
