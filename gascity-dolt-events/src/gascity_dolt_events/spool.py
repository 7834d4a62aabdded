"""The local spool: events kept on disk while the server is unreachable.

One JSON object per line in ``<city>/.gc/events-dolt.spool.jsonl``. Appends and the
replay take an exclusive ``flock`` on the file, so several processes spool and replay
safely, and file order is each process's emit order. A replay inserts everything and
only then truncates; every spooled line carries an idempotency key, so a replay cut
short (a crash, the server dropping again) is simply repeated without duplicates.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from gascity.osutil.flock import lock_fd, unlock_fd

__all__ = ["Spool"]

log = logging.getLogger("gascity.events.dolt")


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[IO[bytes]]:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # Created 0600: spooled events are the city owner's alone, like all of .gc.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "a+b") as fh:
            lock_fd(fh.fileno())
            try:
                yield fh
            finally:
                unlock_fd(fh.fileno())

    def append(self, record: dict[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        with self._locked() as fh:
            # O_APPEND plus the lock: one whole line per record, never interleaved.
            fh.write(line.encode("utf-8") + b"\n")
            fh.flush()

    def has_entries(self) -> bool:
        """One ``stat``: cheap enough to check before every emit."""
        try:
            return os.stat(self.path).st_size > 0
        except FileNotFoundError:
            return False

    def depth(self) -> int:
        try:
            with open(self.path, "rb") as fh:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def drain(self, sink: Callable[[Sequence[dict[str, Any]]], None], batch: int = 500) -> int:
        """Feed every spooled record to ``sink`` in order, ``batch`` at a time, then
        empty the spool. If ``sink`` raises, the spool is left as it was."""
        with self._locked() as fh:
            fh.seek(0)
            data = fh.read()
            if not data:
                return 0
            records = [_parse(line) for line in data.splitlines() if line.strip()]
            kept = [r for r in records if r is not None]
            for start in range(0, len(kept), batch):
                sink(kept[start : start + batch])
            fh.truncate(0)
            return len(kept)


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        # A torn last line (a crash mid-write) cannot be replayed; everything
        # before it still is, and the loss is said out loud.
        log.error("dropping an unreadable spooled event line (%d bytes)", len(line))
        return None
    return record if isinstance(record, dict) else None
