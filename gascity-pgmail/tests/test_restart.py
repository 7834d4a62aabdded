"""A server restart in the middle of a burst: the pool recovers, nothing is half-written."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gascity.errors import StoreUnavailable
from gascity.testing import wait_for
from gascity.types import MailDraft
from gascity_pgmail.store import PostgresMail
from gascity_pgmail.testing import PostgresServer

from .conftest import make_context

SENDERS = 20
PER_SENDER = 40


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    # Its own server: restarting the shared one would pull the rug from other tests.
    with PostgresServer() as server:
        yield server


def test_restart_mid_burst(own_server: PostgresServer, tmp_path: Path) -> None:
    store = PostgresMail(make_context(own_server.dsn, tmp_path, pool_min=4, pool_max=8))
    try:
        store.mail_count("warmup")
        sent: dict[str, int] = {}
        failed: list[tuple[str, str]] = []
        lock = threading.Lock()
        half = threading.Event()

        def sender(n: int) -> None:
            for i in range(PER_SENDER):
                token = f"s{n}-m{i}"
                try:
                    msg = store.send_mail(MailDraft(f"s{n}", "boss", token, f"body of {token}"))
                except StoreUnavailable as exc:
                    with lock:
                        failed.append((token, str(exc)))
                else:
                    assert msg.subject == token
                    with lock:
                        sent[token] = msg.id
                        if len(sent) >= SENDERS * PER_SENDER // 3:
                            half.set()

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(SENDERS)]
        for t in threads:
            t.start()
        assert half.wait(60), "the burst never got going"
        with lock:
            before = len(sent)
        own_server.restart()
        for t in threads:
            t.join(120)
            assert not t.is_alive()

        assert before < SENDERS * PER_SENDER, "the restart came after the burst"
        # Every call ended one way or the other.
        assert len(sent) + len(failed) == SENDERS * PER_SENDER
        rows = store.run(
            lambda c: c.execute(
                f"SELECT id, subject, body, sender, recipient FROM {store.names.messages}"
            ).fetchall(),
            idempotent=True,
        )
        stored = {subject: (str(mid), body, frm, to) for mid, subject, body, frm, to in rows}
        # Each success is stored once, complete, under the id the caller was given.
        for token, mid in sent.items():
            assert stored[token] == (mid, f"body of {token}", token.split("-")[0], "boss")
        # A failure may only be a statement whose fate was unknowable; if it did land,
        # it landed whole. Nothing else is in the table.
        assert len(rows) == len(stored)
        for token in set(stored) - set(sent):
            assert token in {t for t, _ in failed}
            assert stored[token][1] == f"body of {token}"
        for _, error in failed:
            assert "password" not in error
        assert store.retries + len(failed) > 0, "the restart went unnoticed"

        # The pool has recovered: sends work, without waiting for a new store.
        msg = wait_for(lambda: store.send_mail(MailDraft("after", "boss", "after", "restart")), 30)
        got = store.get_mail(msg.id)
        assert got is not None and got.body == "restart"
    finally:
        store.close()


def test_unreachable_server_raises_store_unavailable_without_secret(tmp_path: Path) -> None:
    from gascity_pgmail.testing import free_port

    dsn = f"host=127.0.0.1 port={free_port()} user=u password=s3cr3t-pw dbname=x"
    store = PostgresMail(make_context(dsn, tmp_path, retry_window=0, connect_timeout=2))
    try:
        with pytest.raises(StoreUnavailable) as info:
            store.mail_count("x")
        text = str(info.value)
        assert "s3cr3t-pw" not in text
        assert "password=***" in text
        assert "127.0.0.1" in text
    finally:
        store.close()


def test_a_send_whose_reply_was_lost_is_retried_without_a_second_row(
    make_store: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server dying between the commit and the reply used to end in
    StoreUnavailable, and the sender's retry stored the message twice."""
    import psycopg

    store = make_store(retry_window=5.0)
    store.mail_count("warmup")
    real_run = PostgresMail.run
    lost: list[str] = []

    def reply_lost_once(self: PostgresMail, fn: Any, *, idempotent: bool) -> Any:
        def go(conn: Any) -> Any:
            result = fn(conn)  # committed: autocommit
            if not lost:
                lost.append("reply")
                raise psycopg.OperationalError("server closed the connection unexpectedly")
            return result

        return real_run(self, go, idempotent=idempotent)

    monkeypatch.setattr(PostgresMail, "run", reply_lost_once)
    msg = store.send_mail(MailDraft("w", "boss", "once", "only once"))
    monkeypatch.undo()
    assert lost == ["reply"]
    stored = store.mail_inbox("boss", include_read=True, include_archived=True, limit=None)
    assert [(m.id, m.subject) for m in stored] == [(msg.id, "once")]
    # Two sends of equal text are still two messages: the key is per send.
    store.send_mail(MailDraft("w", "boss", "once", "only once"))
    assert store.mail_count("boss").open == 2


def test_a_version_1_schema_gains_send_keys_and_keeps_its_mail(make_store: Any) -> None:
    from gascity_pgmail import schema

    store = make_store()
    with store.connect() as conn, conn.transaction():
        conn.execute(f"CREATE SCHEMA {store.names.schema}")
        conn.execute(f"CREATE TABLE {store.names.versions} (version integer PRIMARY KEY, "
                     "applied_at timestamptz NOT NULL DEFAULT now())")
        for statement in schema.MIGRATIONS[0](store.names):
            conn.execute(statement)
        conn.execute(f"INSERT INTO {store.names.versions} (version) VALUES (1)")
        conn.execute(f"INSERT INTO {store.names.messages} (thread_id, sender, recipient, "
                     "subject, body, city) VALUES (1, 'a', 'boss', 'old', 'old', 'city')")
    new = store.send_mail(MailDraft("w", "boss", "new", "new"))
    subjects = [m.subject for m in store.mail_inbox("boss", True, True, None)]
    assert subjects == ["old", "new"] and new.subject == "new"
