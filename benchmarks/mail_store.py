"""Mail under burst: the built-in SQLite store next to PostgreSQL, in one run.

Each sender is a separate process with its own store object, as every agent's
``gc mail send`` is: that is where SQLite's single writer lock bites (threads in one
process would share a connection and hide it). All senders are released at once;
each sends ``per_sender`` messages back to back and times every send.

Reported per backend and sender count: burst wall time and throughput, p50/p99
send latency, sends that raised, and sends the store retried internally
(PostgreSQL counts retries after a provably uncommitted attempt; the SQLite store
waits inside its busy timeout, so its retries are only visible as latency).

PostgreSQL runs with its durable defaults (fsync on, synchronous_commit on), plus
rows without NOTIFY and with asynchronous commit (the durability SQLite's WAL mode
with synchronous=NORMAL offers), so each cost is visible on its own.

    python -m benchmarks.mail_store [--quick] [--json]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.common import BenchTable, print_tables
from gascity.plugins import PluginContext
from gascity.types import MailDraft

__all__ = ["run"]

SENDER_COUNTS = (1, 20, 100)
COLUMNS = [
    "backend", "senders", "messages", "wall s", "msgs/s", "p50 ms", "p99 ms",
    "failed", "retried", "pg/sqlite msgs/s",
]  # fmt: skip
RECIPIENTS = 7


def _sqlite_store(spec: str) -> Any:
    from gascity.builtin.sqlite_mail import SqliteMail

    return SqliteMail(PluginContext(role="mail", name="sqlite", city_dir=Path(spec)))


def _postgres_store(spec: str, notify: bool = True, durable: bool = True) -> Any:
    from gascity_pgmail.store import PostgresMail

    dsn, schema = spec.split("|", 1)
    if not durable:
        # Per-session asynchronous commit: a crash may lose the last moments of mail
        # but never corrupts, the same promise as SQLite's WAL with synchronous=NORMAL.
        dsn += " options='-c synchronous_commit=off'"
    settings = {"dsn": dsn, "schema": schema, "pool_min": 1, "pool_max": 1, "notify": notify}
    return PostgresMail(PluginContext(role="mail", name="postgres", settings=settings, env={}))


def _postgres_quiet_store(spec: str) -> Any:
    return _postgres_store(spec, notify=False)


def _postgres_async_store(spec: str) -> Any:
    return _postgres_store(spec, durable=False)


_FACTORIES: dict[str, Callable[[str], Any]] = {
    "sqlite": _sqlite_store,
    "postgres": _postgres_store,
    "postgres, notify off": _postgres_quiet_store,
    "postgres, async commit": _postgres_async_store,
}


def _close(store: Any) -> None:
    for name in ("close", "shutdown"):
        fn = getattr(store, name, None)
        if callable(fn):
            fn()
            return


def _sender(kind: str, spec: str, n: int, per_sender: int, sync: tuple[Any, Any, Any]) -> None:
    ready, go, out = sync
    store = _FACTORIES[kind](spec)
    latencies: list[float] = []
    failed = 0
    errors: list[str] = []
    start = end = 0.0
    try:
        store.mail_count("warmup")  # open files / connections before the gate
        ready.release()
        go.wait(120)
        start = time.monotonic()
        for i in range(per_sender):
            draft = MailDraft(f"agent-{n}", f"r{n % RECIPIENTS}", f"task {n}-{i}", "x" * 200)
            t0 = time.perf_counter()
            try:
                store.send_mail(draft)
            except Exception as exc:
                failed += 1
                if len(errors) < 3:
                    errors.append(f"{type(exc).__name__}: {exc}"[:200])
            latencies.append(time.perf_counter() - t0)
        end = time.monotonic()
    except Exception as exc:
        ready.release()
        errors.append(f"setup {type(exc).__name__}: {exc}"[:200])
        failed = per_sender
    finally:
        retried = int(getattr(store, "retries", 0) or 0)
        _close(store)
        out.put((latencies, failed, retried, start, end, errors))


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[k]


def _burst(kind: str, spec: str, senders: int, per_sender: int) -> dict[str, Any]:
    mp = multiprocessing.get_context("fork")
    ready, go, out = mp.Semaphore(0), mp.Event(), mp.Queue()
    procs = [
        mp.Process(target=_sender, args=(kind, spec, n, per_sender, (ready, go, out)))
        for n in range(senders)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=120):
            raise RuntimeError(f"{kind}: a sender never got ready")
    go.set()
    results = [out.get(timeout=600) for _ in procs]
    for p in procs:
        p.join(60)
    latencies = [x for r in results for x in r[0]]
    starts = [r[3] for r in results if r[3]]
    ends = [r[4] for r in results if r[4]]
    wall = (max(ends) - min(starts)) if starts and ends else float("nan")
    failed = sum(r[1] for r in results)
    sent = senders * per_sender - failed
    return {
        "wall": wall,
        "sent": sent,
        "failed": failed,
        "retried": sum(r[2] for r in results),
        "p50": _percentile(latencies, 0.50),
        "p99": _percentile(latencies, 0.99),
        "throughput": sent / wall if wall > 0 else 0.0,
        "errors": [e for r in results for e in r[5]][:3],
    }


def _stored(store: Any) -> int:
    return sum(store.mail_count(f"r{r}").open for r in range(RECIPIENTS))


def run(quick: bool = False) -> list[BenchTable]:
    from gascity_pgmail.testing import PostgresServer

    per_sender = 5 if quick else 50
    rows: list[list[Any]] = []
    data: dict[str, list[Any]] = {
        k: [] for k in ("backend", "senders", "throughput", "p50_ms", "p99_ms")
    }
    by_cell: dict[tuple[str, int], dict[str, Any]] = {}
    notes: list[str] = []
    with PostgresServer(fast=False) as server, tempfile.TemporaryDirectory() as tmp:
        for senders in SENDER_COUNTS:
            for kind, factory in _FACTORIES.items():
                if kind == "sqlite":
                    city = Path(tmp) / f"city-{senders}"
                    (city / ".gc").mkdir(parents=True)
                    spec = str(city)
                else:
                    spec = f"{server.dsn}|bench_{uuid.uuid4().hex[:8]}"
                check = factory(spec)
                check.mail_count("warmup")  # schema/file created before the race
                result = _burst(kind, spec, senders, per_sender)
                stored = _stored(check)
                _close(check)
                if stored != result["sent"]:
                    notes.append(
                        f"{kind} x{senders}: {stored} stored but {result['sent']} reported sent"
                    )
                notes.extend(f"{kind} x{senders}: {e}" for e in result["errors"])
                by_cell[(kind, senders)] = result
                rows.append(
                    [
                        kind,
                        senders,
                        senders * per_sender,
                        f"{result['wall']:.3f}",
                        f"{result['throughput']:.0f}",
                        f"{result['p50'] * 1000:.2f}",
                        f"{result['p99'] * 1000:.2f}",
                        result["failed"],
                        result["retried"],
                        "",
                    ]
                )
                data["backend"].append(kind)
                data["senders"].append(senders)
                data["throughput"].append(result["throughput"])
                data["p50_ms"].append(result["p50"] * 1000)
                data["p99_ms"].append(result["p99"] * 1000)
    for row in rows:
        kind, senders = row[0], row[1]
        base = by_cell[("sqlite", senders)]["throughput"]
        if kind != "sqlite" and base:
            row[-1] = f"{by_cell[(kind, senders)]['throughput'] / base:.2f}x"
    table = BenchTable(
        title=f"Mail burst: SQLite vs PostgreSQL ({per_sender} messages per sender process)",
        columns=COLUMNS,
        rows=rows,
        notes=(
            "`postgres` sends a NOTIFY after each message (for `gc mail inbox --follow`); "
            "`notify off` is `[mail.postgres] notify = false`; `async commit` adds "
            "`options='-c synchronous_commit=off'` to the DSN, matching the crash "
            "promise of SQLite's WAL with synchronous=NORMAL (recent commits may be lost "
            "on an OS crash, nothing is corrupted), which fsyncs only at checkpoints. "
            "SQLite has no retry counter: its lock waits happen inside the busy timeout and "
            "show up in p99. Each sender is its own process with its own store "
            "(PostgreSQL: a pool of one "
            "connection); all start together. PostgreSQL with durable defaults (fsync, "
            "synchronous_commit on) on loopback TCP; SQLite in WAL mode in the city's .gc. "
            f"{multiprocessing.cpu_count()} CPUs."
            + ("\n\n" + "\n".join(f"- {n}" for n in notes) if notes else "")
        ),
        data=data,
    )
    return [table]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    print_tables(run(quick=args.quick), as_json=args.json)


if __name__ == "__main__":
    main()
