"""The ``sqlite`` mail store's database: opening, schema, one write, stdlib only.

:class:`~gascity.builtin.sqlite_mail.SqliteMail` (the plugin) opens its per-thread
connections and runs its transactions here, and the agents' ``gc mail send`` fast
path (:mod:`gascity.cli.fast`) inserts through the same functions without building
the plugin. No dataclasses, pathlib, logging or threading get imported.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from datetime import UTC, datetime

from ..errors import StoreUnavailable
from ..mailrow import SELECT_COLUMNS, default_subject

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any

__all__ = ["DEFAULT_BUSY_TIMEOUT", "SCHEMA_VERSION", "connect", "from_us", "insert",
           "now_us", "row", "to_us", "write"]

SCHEMA_VERSION = 1
DEFAULT_BUSY_TIMEOUT = 10.0
"""``[mail.sqlite] busy_timeout``'s default, in seconds."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id   INTEGER NOT NULL,
    reply_to    INTEGER,
    sender      TEXT    NOT NULL,
    recipient   TEXT    NOT NULL,
    subject     TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    read_at     INTEGER,
    archived_at INTEGER
);
CREATE INDEX IF NOT EXISTS messages_inbox ON messages (recipient, archived_at, id);
CREATE INDEX IF NOT EXISTS messages_thread ON messages (thread_id, id);
"""


def now_us() -> int:
    return to_us(datetime.now(UTC))


def to_us(ts: datetime) -> int:
    # Integer microseconds: exact round trips and cheap comparisons in SQL.
    delta = ts.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_us(value: int | None) -> datetime | None:
    if value is None:
        return None
    seconds, micros = divmod(value, 1_000_000)
    return datetime.fromtimestamp(seconds, UTC).replace(microsecond=micros)


def connect(path: str, busy_timeout: float, *, migrate: bool) -> sqlite3.Connection:
    """A connection to the database at ``path`` (created owner-only), its schema
    brought up to date first when ``migrate``.

    :raises StoreUnavailable: the database cannot be opened or is from a newer gascity.
    """
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    try:
        # Created 0600 before sqlite opens it (sqlite would use the umask, and its
        # -wal / -shm files copy the database's mode).
        os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600))
        conn = sqlite3.connect(
            path,
            timeout=busy_timeout,
            isolation_level=None,  # explicit BEGIN: we decide how long a transaction is
            check_same_thread=False,  # used by its own thread only; closed by its owner
        )
    except (sqlite3.Error, OSError) as exc:
        raise StoreUnavailable(f"mail database {path}: {exc}") from exc
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        conn.execute("PRAGMA synchronous = NORMAL")  # durable enough under WAL
        if migrate:
            _migrate(conn, path)
    except BaseException as exc:
        conn.close()
        if isinstance(exc, sqlite3.Error):
            raise StoreUnavailable(f"mail database {path}: {exc}") from exc
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    # WAL is a property of the database file: set once, kept by every connection.
    conn.execute("PRAGMA journal_mode = WAL")
    with write(conn, path):
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"mail database {path} has schema version {version}; "
                f"this gascity knows up to {SCHEMA_VERSION}: upgrade gascity"
            )
        if version < SCHEMA_VERSION:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


@contextlib.contextmanager
def write(conn: sqlite3.Connection, path: str) -> Iterator[sqlite3.Connection]:
    """One short write transaction, taking the write lock up front so it never has to
    upgrade a read lock (which would fail instead of waiting)."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"mail database {path}: {exc}") from exc
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def insert(conn: sqlite3.Connection, sender: str, recipient: str, subject: str, body: str,
           thread_id: int | None, reply_to: int | None) -> int:
    """Insert one message (a new thread when ``thread_id`` is ``None``); its id.
    The caller holds a :func:`write` transaction."""
    cur = conn.execute(
        "INSERT INTO messages (thread_id, reply_to, sender, recipient, subject, body,"
        " created_at) VALUES (COALESCE(?, 0), ?, ?, ?, ?, ?, ?)",
        (thread_id, reply_to, sender, recipient, default_subject(subject, body), body,
         now_us()),
    )
    new_id = cur.lastrowid
    assert new_id is not None
    if thread_id is None:
        conn.execute("UPDATE messages SET thread_id = id WHERE id = ?", (new_id,))
    return new_id


def row(conn: sqlite3.Connection, message_id: int) -> tuple[Any, ...] | None:
    """Message ``message_id``'s row of :data:`~gascity.mailrow.SELECT_COLUMNS`."""
    found: tuple[Any, ...] | None = conn.execute(
        f"SELECT {SELECT_COLUMNS} FROM messages WHERE id = ?", (message_id,)
    ).fetchone()
    return found
