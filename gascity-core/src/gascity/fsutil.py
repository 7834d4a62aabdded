"""Small file primitives the core's stores share: atomic replace (and, re-exported from
:mod:`gascity.osutil.flock`, the lock helper)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .osutil.flock import locked

__all__ = ["atomic_write", "locked"]


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half.

    The temporary file lives in the same directory (``os.replace`` is atomic only within
    one filesystem) and is removed if anything fails.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
