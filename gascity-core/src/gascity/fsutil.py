"""Small file primitives the core's stores share: atomic replace (and, re-exported from
:mod:`gascity.osutil.flock`, the lock helper)."""

from __future__ import annotations

import os
from pathlib import Path

from .osutil.flock import locked

__all__ = ["atomic_write", "locked"]


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half.

    The temporary file lives in the same directory (``os.replace`` is atomic only within
    one filesystem) and is removed if anything fails.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    # What tempfile.mkstemp does (O_EXCL, 0600, a random name), without importing
    # tempfile on every agent's `gc runtime drain-ack`.
    while True:
        tmp = str(path.parent / f".{path.name}.{os.urandom(6).hex()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
