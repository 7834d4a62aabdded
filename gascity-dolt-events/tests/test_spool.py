"""The spool file on its own: order, concurrency, torn lines, failed drains."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gascity_dolt_events.spool import Spool


def test_append_and_drain_in_order(tmp_path: Path) -> None:
    spool = Spool(tmp_path / ".gc" / "s.jsonl")
    assert not spool.has_entries()
    assert spool.depth() == 0
    for i in range(7):
        spool.append({"i": i, "text": "ü\nline"})
    assert spool.has_entries()
    assert spool.depth() == 7
    batches: list[list[int]] = []
    assert spool.drain(lambda rs: batches.append([r["i"] for r in rs]), batch=3) == 7
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert not spool.has_entries()


def test_failed_drain_keeps_everything(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    for i in range(4):
        spool.append({"i": i})

    def sink(records: Sequence[dict[str, Any]]) -> None:
        if records[0]["i"] == 2:
            raise ConnectionError("server went away")

    with pytest.raises(ConnectionError):
        spool.drain(sink, batch=2)
    assert spool.depth() == 4


def test_torn_line_is_dropped_loudly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "s.jsonl")
    spool.append({"i": 0})
    with open(spool.path, "ab") as fh:
        fh.write(b'{"i": 1, "trunc\n')
    spool.append({"i": 2})
    seen: list[int] = []
    spool.drain(lambda rs: seen.extend(r["i"] for r in rs))
    assert seen == [0, 2]
    assert "unreadable spooled event" in caplog.text


def test_concurrent_appenders_keep_whole_lines(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.jsonl")

    def writer(n: int) -> None:
        other = Spool(spool.path)  # separate open file descriptions, like processes
        for i in range(100):
            other.append({"w": n, "i": i, "pad": "x" * 500})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    records: list[dict[str, Any]] = []
    spool.drain(records.extend)
    assert len(records) == 800
    for n in range(8):
        assert [r["i"] for r in records if r["w"] == n] == list(range(100))
