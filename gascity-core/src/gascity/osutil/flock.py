"""Advisory ``flock`` locks: the one helper every lock file in gascity goes through.

A fresh open file description per call, so threads of one process exclude each other
as well as separate processes do. Lock files are created 0600: they live under
``.gc/``, which is the owner's alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

TYPE_CHECKING = False  # on the agents' fast path: no typing, no pathlib
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Busy", "lock_fd", "locked", "open_lock", "unlock_fd"]


class Busy(OSError):
    """A non-blocking lock attempt found the lock held elsewhere."""


def lock_fd(fd: int, *, shared: bool = False, blocking: bool = True) -> None:
    """Take the lock on an fd the caller keeps open (for locks taken many times over)."""
    op = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, op)
    except BlockingIOError:
        raise Busy("the lock is held by another process") from None


def unlock_fd(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)


def open_lock(
    path: str | os.PathLike[str], *, shared: bool = False, blocking: bool = True,
    create: bool = True,
) -> int:
    """Open ``path`` and take the lock; return the fd, whose closing releases it.

    Raises :class:`Busy` when ``blocking`` is false and the lock is held. With
    ``create`` false the file is opened read-only and never created, so a reader on a
    read-only directory can still take a shared lock.
    """
    flags = os.O_CLOEXEC | (os.O_RDWR | os.O_CREAT if create else os.O_RDONLY)
    fd = os.open(path, flags, 0o600)
    try:
        lock_fd(fd, shared=shared, blocking=blocking)
    except Busy:
        os.close(fd)
        raise Busy(f"{os.fspath(path)} is locked by another process") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def locked(
    path: Path | str, *, shared: bool = False, blocking: bool = True, create: bool = True
) -> Iterator[int]:
    """Hold the lock on ``path`` for the block (see :func:`open_lock`); yields the fd."""
    fd = open_lock(path, shared=shared, blocking=blocking, create=create)
    try:
        yield fd
    finally:
        os.close(fd)
