"""Many writers at once: threads, separate processes, racing readers and archivers."""

from __future__ import annotations

import multiprocessing
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from gascity.types import MailDraft
from gascity_pgmail.store import PostgresMail
from gascity_pgmail.testing import PostgresServer

from .conftest import StoreFactory, make_context

SENDERS = 100
PER_SENDER = 20
RECIPIENTS = 7  # does not divide 100, so per-recipient counts differ


def _expected_counts() -> Counter[str]:
    return Counter(f"r{n % RECIPIENTS}" for n in range(SENDERS) for _ in range(PER_SENDER))


def _check_store(store: PostgresMail, ids: list[int]) -> None:
    assert len(ids) == SENDERS * PER_SENDER
    assert len(set(ids)) == len(ids)
    for recipient, expected in _expected_counts().items():
        count = store.mail_count(recipient)
        assert (count.open, count.unread) == (expected, expected), recipient
    total = store.run(
        lambda c: c.execute(f"SELECT count(*) FROM {store.names.messages}").fetchone(),
        idempotent=True,
    )
    assert total is not None and total[0] == SENDERS * PER_SENDER


def _burst(store: PostgresMail, n: int, gate: Callable[[], Any]) -> list[int]:
    gate()
    return [
        store.send_mail(MailDraft(f"s{n}", f"r{n % RECIPIENTS}", f"{n}-{i}", f"body {n} {i}")).id
        for i in range(PER_SENDER)
    ]


def test_100_threads_x_20_messages(make_store: StoreFactory) -> None:
    store = make_store(pool_max=20)
    barrier = threading.Barrier(SENDERS)
    with ThreadPoolExecutor(SENDERS) as pool:
        futures = [pool.submit(_burst, store, n, barrier.wait) for n in range(SENDERS)]
        ids = [i for f in futures for i in f.result()]  # .result() re-raises any error
    _check_store(store, ids)
    assert store.failures == 0
    # Messages from one sender keep their order.
    inbox = store.mail_inbox("r3", include_read=True, include_archived=False, limit=None)
    by_sender: dict[str, list[str]] = {}
    for m in inbox:
        by_sender.setdefault(m.sender, []).append(m.subject)
    assert by_sender["s3"] == [f"3-{i}" for i in range(PER_SENDER)]


def _child(where: tuple[str, str, str], n: int, sync: tuple[Any, Any, Any]) -> None:
    dsn, schema, city_dir = where
    ready, go, out = sync
    store = PostgresMail(make_context(dsn, Path(city_dir), schema=schema, pool_min=1, pool_max=1))
    try:
        store.mail_count("warmup")  # connect before the gate so the burst is concurrent
        ready.release()
        ids = _burst(store, n, lambda: go.wait(60))
        out.put((n, ids, None))
    except BaseException as exc:
        out.put((n, [], f"{type(exc).__name__}: {exc}"))
    finally:
        store.close()


def test_100_processes_x_20_messages(
    pg_server: PostgresServer, make_store: StoreFactory, tmp_path: Path
) -> None:
    store = make_store()
    store.mail_count("nobody")  # creates the schema once, before the children race
    mp = multiprocessing.get_context("fork")
    ready, go, out = mp.Semaphore(0), mp.Event(), mp.Queue()
    procs = [
        mp.Process(
            target=_child,
            args=((pg_server.dsn, store.names.schema_name, str(tmp_path)), n, (ready, go, out)),
        )
        for n in range(SENDERS)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        assert ready.acquire(timeout=120), "a sender process never connected"
    go.set()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    errors = [err for _, _, err in results if err]
    assert errors == []
    _check_store(store, [i for _, ids, _ in results for i in ids])


def test_ten_concurrent_readers_read_once(make_store: StoreFactory) -> None:
    store = make_store(pool_max=10)
    for _ in range(5):
        msg = store.send_mail(MailDraft("mayor", "worker", "s", "b"))
        barrier = threading.Barrier(10)

        def reader(message_id: int = msg.id, barrier: threading.Barrier = barrier) -> Any:
            barrier.wait()
            return store.read_mail(message_id).read_at

        with ThreadPoolExecutor(10) as pool:
            stamps = [f.result() for f in [pool.submit(reader) for _ in range(10)]]
        assert None not in stamps
        assert len(set(stamps)) == 1, "every reader must see the first read's time"
        after = store.get_mail(msg.id)
        assert after is not None and after.read_at == stamps[0]
        assert store.mail_count("worker").unread == 0


def test_two_concurrent_archivers_exactly_one_wins(make_store: StoreFactory) -> None:
    # Two stores = two pools, as two gc processes would have.
    first, second = make_store(), make_store()
    for _ in range(20):
        msg = first.send_mail(MailDraft("mayor", "worker", "s", "b"))
        barrier = threading.Barrier(2)

        def archive(
            store: PostgresMail, message_id: int = msg.id, barrier: threading.Barrier = barrier
        ) -> bool:
            barrier.wait()
            return store.archive_mail(message_id)

        with ThreadPoolExecutor(2) as pool:
            results = [f.result() for f in [pool.submit(archive, s) for s in (first, second)]]
        assert sorted(results) == [False, True]
    assert first.mail_count("worker").open == 0
