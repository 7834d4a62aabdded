"""The event log: the built-in file backend next to the Dolt table, in one run.

Append throughput: 1, 8 and 64 writer processes (each with its own store object, as
every agent's ``gc event emit`` is), released at once, each emitting back to back and
timing every emit. Reads: the 100 newest events (what ``gc events`` shows) and a
100-event page after a cursor in the middle of the log (what a follower or a paging
reader does), at 10^3, 10^5 and 10^6 rows. The large logs are bulk-loaded (the file
backend's own line format written directly; multi-row INSERTs for the table), then
read through each store's ``list_events``.

The MySQL-protocol server is MariaDB from Debian standing in for Dolt's wire protocol,
started in a temp dir with ``innodb_flush_log_at_trx_commit=2`` (log written at each
commit, flushed once a second), the counterpart of the file backend's default
``fsync = false`` (written, not flushed). ``--durable`` flushes at every commit.

    python -m benchmarks.events_store [--quick] [--durable] [--json]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import BenchTable, print_tables, timings
from gascity.plugins import PluginContext
from gascity.types import Event, EventDraft, EventFilter

__all__ = ["run"]

WRITERS = (1, 8, 64)
BACKENDS = ("file", "dolt")


# ----------------------------------------------------------------------- stores


def _context(city_dir: Path, settings: dict[str, Any]) -> PluginContext:
    return PluginContext(
        role="events", name="bench", settings=settings, city_name="bench", city_dir=city_dir,
        env={},
    )


def _make_store(kind: str, city_dir: Path, dolt: dict[str, Any]) -> Any:
    if kind == "file":
        from gascity.builtin.file_events import FileEvents

        return FileEvents(_context(city_dir, {}))
    from gascity_dolt_events.store import DoltEvents

    return DoltEvents(_context(city_dir, dolt))


# ---------------------------------------------------------------------- appends


def _writer(
    kind: str, city_dir: Path, dolt: dict[str, Any], n: int, count: int, sync: tuple[Any, ...]
) -> None:
    ready, go, out = sync
    store = _make_store(kind, city_dir, dolt)
    store.emit_event(EventDraft(type="warmup", actor=f"w{n}"))  # connect, create schema
    ready.release()
    go.wait()
    latencies: list[float] = []
    failed = 0
    start = time.monotonic()
    for i in range(count):
        t0 = time.perf_counter()
        event = store.emit_event(
            EventDraft(type="bench.append", actor=f"w{n}", message=str(i), payload={"i": i})
        )
        latencies.append(time.perf_counter() - t0)
        failed += event is None
    end = time.monotonic()
    store.shutdown()
    out.put((start, end, latencies, failed))


def _append_run(
    kind: str, city_dir: Path, dolt: dict[str, Any], writers: int, per_writer: int
) -> dict[str, Any]:
    mp = multiprocessing.get_context("fork")
    ready, go, out = mp.Semaphore(0), mp.Event(), mp.Queue()
    procs = [
        mp.Process(target=_writer, args=(kind, city_dir, dolt, n, per_writer, (ready, go, out)))
        for n in range(writers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=120):
            raise RuntimeError(f"{kind}: a writer did not come up")
    released = time.monotonic()
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join()
    wall = max(r[1] for r in results) - released
    latencies = sorted(x for r in results for x in r[2])
    total = len(latencies)
    return {
        "events": total,
        "wall": wall,
        "rate": total / wall,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(total - 1, int(total * 0.99))] * 1000,
        "failed": sum(r[3] for r in results),
    }


def _append_table(base: Path, dolt_settings: Callable[[str], dict[str, Any]],
                   quick: bool) -> BenchTable:
    total = 200 if quick else 4000
    rows: list[list[Any]] = []
    data: dict[str, Any] = {"writers": list(WRITERS), "file": [], "dolt": []}
    for writers in WRITERS:
        per_writer = max(total // writers, 10 if quick else 40)
        figures: dict[str, dict[str, Any]] = {}
        for kind in BACKENDS:
            city = base / f"append-{kind}-{writers}"
            (city / ".gc").mkdir(parents=True)
            figures[kind] = _append_run(
                kind, city, dolt_settings(f"bench_append_{writers}"), writers, per_writer
            )
            data[kind].append(figures[kind]["rate"])
        for kind in BACKENDS:
            f = figures[kind]
            ratio = f["rate"] / figures["file"]["rate"]
            rows.append([
                kind, writers, f["events"], f"{f['wall']:.2f}", f"{f['rate']:.0f}",
                f"{f['p50']:.2f}", f"{f['p99']:.2f}", f["failed"], f"{ratio:.2f}x",
            ])
    return BenchTable(
        title="Event append throughput: file vs dolt (writer processes released at once)",
        columns=["backend", "writers", "events", "wall s", "events/s", "p50 ms", "p99 ms",
                 "failed", "vs file"],
        rows=rows,
        notes=(
            "One emit_event call per event (the file backend: flock + append; dolt: one "
            "autocommit INSERT with the seq read back, a network round trip). 'failed' "
            "counts emits that returned no event (spooled or lost). Server and writers "
            f"share {multiprocessing.cpu_count()} CPUs here, so 64 writers measure CPU "
            "contention as much as the store. A local file append is the cheapest possible "
            "write, but it only works where every writer shares one filesystem; dolt is "
            "the store for writers on many hosts (pods), where the reference's ConfigMap "
            "counter serialized every writer."
        ),
        data=data,
    )


# ------------------------------------------------------------------------ reads


def _synthetic(start: int, stop: int) -> Iterator[Event]:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(start, stop + 1):
        yield Event(
            seq=seq,
            type=f"bench.t{seq % 8}",
            ts=base + timedelta(milliseconds=seq),
            actor=f"agent-{seq % 100}",
            subject=f"session-{seq % 1000}",
            message=f"event {seq}",
            payload={"n": seq},
        )


def _load_file(path: Path, start: int, stop: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as fh:
        buf: list[bytes] = []
        for event in _synthetic(start, stop):
            buf.append(json.dumps(event.to_json(), separators=(",", ":")).encode() + b"\n")
            if len(buf) >= 10_000:
                fh.writelines(buf)
                buf.clear()
        fh.writelines(buf)


def _reader(store: Any, flt: EventFilter) -> Callable[[], Any]:
    return lambda: store.list_events(flt)


def _load_dolt(store: Any, start: int, stop: int) -> None:
    """Generate the same rows as :func:`_synthetic` inside the server (MariaDB's
    SEQUENCE engine): a million rows in seconds, where client-side multi-row INSERTs
    spend minutes escaping values in Python. Other servers get those INSERTs."""
    import pymysql

    table = store.schema.q
    sql = (
        f"INSERT INTO {table} (seq, ts, recorded_at, type, actor, subject, message, "
        "payload, city) SELECT seq, TIMESTAMP('2026-01-01') + INTERVAL seq * 1000 MICROSECOND, "
        "UTC_TIMESTAMP(6), CONCAT('bench.t', seq % 8), CONCAT('agent-', seq % 100), "
        "CONCAT('session-', seq % 1000), CONCAT('event ', seq), CONCAT('{\"n\":', seq, '}'), "
        f"'bench' FROM `{store.schema.database}`.seq_{start}_to_{stop}"
    )
    try:
        store._run(lambda cur: cur.execute(sql))
    except (pymysql.err.ProgrammingError, pymysql.err.OperationalError):
        store.import_events(_synthetic(start, stop), batch=5000)


def _read_table(base: Path, dolt: dict[str, Any], quick: bool) -> BenchTable:
    sizes = (1_000, 10_000) if quick else (1_000, 100_000, 1_000_000)
    repeat = 5 if quick else 15
    file_city = base / "reads-file"
    dolt_city = base / "reads-dolt"
    file_store = _make_store("file", file_city, {})
    dolt_store = _make_store("dolt", dolt_city, dolt)
    stores = {"file": file_store, "dolt": dolt_store}
    rows: list[list[Any]] = []
    data: dict[str, Any] = {"rows": list(sizes)}
    first: dict[tuple[str, str], float] = {}
    loaded = 0
    try:
        for size in sizes:
            t0 = time.perf_counter()
            _load_file(file_city / ".gc" / "events.jsonl", loaded + 1, size)
            file_load = time.perf_counter() - t0
            t0 = time.perf_counter()
            _load_dolt(dolt_store, loaded + 1, size)
            dolt_load = time.perf_counter() - t0
            loaded = size
            assert dolt_store.latest_event_seq() == file_store.latest_event_seq() == size
            reads: dict[str, EventFilter] = {
                "newest 100": EventFilter(limit=100, newest=True),
                "page after cursor": EventFilter(after_seq=size // 2, limit=100),
                "newest 100 of one type": EventFilter(types=("bench.t3",), limit=100,
                                                      newest=True),
            }
            for kind, store in stores.items():
                for what, flt in reads.items():
                    got = store.list_events(flt)
                    assert len(got) == 100, (kind, what, len(got))
                    if what == "newest 100":
                        assert got[-1].seq == size and got[0].payload == {"n": size - 99}
                    timing = timings(_reader(store, flt), repeat=repeat)
                    key = (kind, what)
                    first.setdefault(key, timing.median)
                    data.setdefault(f"{kind} {what} ms", []).append(timing.median * 1000)
                    rows.append([
                        kind, f"{size:,}", what, timing.ms(),
                        f"{timing.median / first[key]:.2f}x",
                        f"{(file_load if kind == 'file' else dolt_load):.1f}",
                    ])
    finally:
        file_store.shutdown()
        dolt_store.shutdown()
    return BenchTable(
        title="Event reads as the log grows: file vs dolt (100 events per read)",
        columns=["backend", "rows", "read", "time", f"vs {sizes[0]:,} rows", "bulk load s"],
        rows=rows,
        notes=(
            "Each figure is the median of repeated list_events calls (±half the spread). "
            "'vs rows' compares with the same read at the smallest size: flat means the "
            "read does not grow with the log. dolt reads by keyset on indexes ending in "
            "seq; the file backend reads backwards from the end for the newest and "
            "bisects the seq-ordered file for a cursor. 'bulk load s' is the time to add "
            "the rows for that size."
        ),
        data=data,
    )


# -------------------------------------------------------------------------- run


def run(quick: bool = False, durable: bool = False) -> list[BenchTable]:
    from gascity_dolt_events.testing import MariaDBServer

    with tempfile.TemporaryDirectory(prefix="gc-bench-events-") as tmp:
        base = Path(tmp)
        with MariaDBServer(base / "mariadb", durable=durable) as server:

            def dolt_settings(database: str) -> dict[str, Any]:
                return server.settings(database=database, retention=0)

            tables = [_append_table(base, dolt_settings, quick)]
            tables.append(_read_table(base, dolt_settings("bench_reads"), quick))
    return tables


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--durable", action="store_true",
                        help="MariaDB flushes its log at every commit")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print_tables(run(quick=args.quick, durable=args.durable), as_json=args.json)


if __name__ == "__main__":
    main()
