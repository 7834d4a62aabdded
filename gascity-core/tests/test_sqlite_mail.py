"""The built-in SQLite mail store, with real threads and processes on one file."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.builtin.sqlite_mail import SCHEMA_VERSION, SqliteMail
from gascity.errors import MailNotFound, StoreUnavailable
from gascity.plugins import Hooks, PluginContext
from gascity.testing import HookCallCounter, hooks_for
from gascity.testing.kits import MailStoreKit
from gascity.types import MailDraft


def make(city: Path) -> SqliteMail:
    return SqliteMail(PluginContext(role="mail", name="sqlite", city_dir=city))


class TestSqliteMailConformance(MailStoreKit):
    @pytest.fixture
    def mail_hooks(self, tmp_path: Path) -> Iterator[Hooks]:
        store = make(tmp_path)
        yield hooks_for(store, role="mail")
        store.shutdown()


class PerRecipientSqliteMail(SqliteMail):
    """As a third-party store without ``mail_counts``: pluggy registers no hook for
    an attribute that is not a function."""

    mail_counts = None  # type: ignore[assignment]


class TestFacadeFallbackConformance(MailStoreKit):
    """The facade's ``mail_counts`` over a store that has only ``mail_count``."""

    @pytest.fixture
    def mail_hooks(self, tmp_path: Path) -> Iterator[Hooks]:
        store = PerRecipientSqliteMail(
            PluginContext(role="mail", name="sqlite", city_dir=tmp_path))
        hooks = hooks_for(store, role="mail")
        assert not hooks.implements("mail_counts")
        yield hooks
        store.shutdown()


def test_many_counts_are_one_store_call_or_one_each(tmp_path: Path) -> None:
    names = [f"agent-{i}" for i in range(300)]
    for plugin, one_call in ((make(tmp_path / "a"), True),
                             (PerRecipientSqliteMail(PluginContext(
                                 role="mail", name="sqlite", city_dir=tmp_path / "b")), False)):
        counter = HookCallCounter()
        hooks = hooks_for(plugin, counter, role="mail")
        plugin.send_mail(MailDraft("mayor", "agent-3", "s", "x"))
        counter.reset()
        counts = hooks.mail_counts(names)
        assert counts["agent-3"].open == 1 and counts["agent-9"].open == 0
        calls = counter.snapshot()
        if one_call:
            assert calls == {"mail_counts": 1}
        else:  # no plugin has mail_counts: the facade asks each mailbox
            assert calls == {"mail_count": 300}
        plugin.shutdown()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteMail]:
    s = make(tmp_path)
    yield s
    s.shutdown()


def test_database_is_wal_with_a_recorded_schema_version(store: SqliteMail) -> None:
    store.send_mail(MailDraft("a", "b", "s", "x"))
    raw = sqlite3.connect(store.path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        raw.close()
    assert store.path == store.path.parent / "mail.db"
    assert store.path.parent.name == ".gc"


def test_mail_survives_a_new_instance(tmp_path: Path) -> None:
    first = make(tmp_path)
    msg = first.send_mail(MailDraft("mayor", "worker", "", "line one\nline two"))
    first.read_mail(msg.id)
    first.shutdown()
    second = make(tmp_path)
    again = second.get_mail(msg.id)
    assert again is not None
    assert again.subject == "line one"
    assert again.read_at is not None
    assert again.created_at == msg.created_at  # to the microsecond
    second.shutdown()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / ".gc").mkdir()
    raw = sqlite3.connect(tmp_path / ".gc" / "mail.db")
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(StoreUnavailable, match="schema version"):
        make(tmp_path).mail_count("x")


def test_draft_reply_to_joins_the_thread(store: SqliteMail) -> None:
    root = store.send_mail(MailDraft("a", "b", "topic", "x"))
    follow = store.send_mail(MailDraft("b", "a", "more", "y", reply_to=root.id))
    assert (follow.thread_id, follow.reply_to) == (root.id, root.id)
    with pytest.raises(MailNotFound):
        store.send_mail(MailDraft("b", "a", "s", "y", reply_to=424242))
    with pytest.raises(MailNotFound):
        store.mark_unread(424242)
    assert store.mail_count("b").open == 1  # the failed send left nothing


ARCHIVER = """
import sys
from pathlib import Path
from gascity.builtin.sqlite_mail import SqliteMail
from gascity.plugins import PluginContext
from gascity.types import MailDraft

city, ids = Path(sys.argv[1]), sys.argv[2].split(",")
store = SqliteMail(PluginContext(role="mail", name="sqlite", city_dir=city))
print("ready", flush=True)
sys.stdin.readline()
won = [i for i in ids if store.archive_mail(i)]
for n in range(25):
    store.send_mail(MailDraft("proc", "inbox", str(n), "from another process"))
print(",".join(map(str, won)), flush=True)
"""


def test_processes_race_to_archive_exactly_one_wins_each(tmp_path: Path) -> None:
    store = make(tmp_path)
    ids = [store.send_mail(MailDraft("a", "b", str(n), "x")).id for n in range(30)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", ARCHIVER, str(tmp_path), ",".join(map(str, ids))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(4)
    ]
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline() == b"ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write(b"go\n")
        p.stdin.flush()
    wins: list[int] = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        wins.extend(i for i in out.decode().strip().split(",") if i)
    assert sorted(wins, key=int) == ids  # every message archived once, by exactly one process
    assert store.mail_count("b").open == 0
    assert store.mail_count("inbox").open == 100
    assert len({m.id for m in store.mail_inbox("inbox", True, False, None)}) == 100
    store.shutdown()


def test_connections_of_finished_threads_are_closed(store: SqliteMail) -> None:
    def use() -> None:
        store.mail_count("x")

    for _ in range(5):
        t = threading.Thread(target=use)
        t.start()
        t.join()
    store.mail_count("x")  # this thread's connection sweeps the finished ones
    assert len(store._all) == 1
    assert store._all[0][0] is threading.current_thread()
