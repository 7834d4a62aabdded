"""The ``sqlite`` mail store: ``.gc/mail.db`` in WAL mode.

WAL lets readers run while one writer commits; every write is one short
``BEGIN IMMEDIATE`` transaction (or a single statement), so writers queue on the
busy timeout instead of failing with "database is locked" halfway through. SQLite
connections must not be shared between threads, so each thread gets its own.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import hookimpl
from ..errors import MailNotFound
from ..mailrow import SELECT_COLUMNS, message_from_row, reply_subject, row_key
from ..plugins.context import PluginContext, load_settings
from ..types import MailCount, MailDraft, Message
from . import maildb
from .maildb import DEFAULT_BUSY_TIMEOUT, SCHEMA_VERSION

__all__ = ["SCHEMA_VERSION", "SqliteMail", "SqliteMailSettings"]

_COLUMNS = SELECT_COLUMNS
# Recipients per grouped count query: under every SQLite's bound-variable limit.
_COUNT_CHUNK = 500


@dataclass(frozen=True)
class SqliteMailSettings:
    """``[mail.sqlite]`` in city.toml, or ``GC_SQLITE_MAIL_<KEY>``."""

    busy_timeout: float = field(default=DEFAULT_BUSY_TIMEOUT, metadata={"gt": 0})
    """Seconds a writer waits for another's transaction before giving up."""


_now_us = maildb.now_us
_to_us = maildb.to_us
_from_us = maildb.from_us


def _message(row: tuple[Any, ...]) -> Message:
    return message_from_row(row, _from_us)


class SqliteMail:
    """Mail in a local SQLite database. Built as ``SqliteMail(ctx)``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.settings = load_settings(ctx, SqliteMailSettings, env_prefix="GC_SQLITE_MAIL_")
        self.path = ctx.state_dir / "mail.db"
        self._local = threading.local()
        self._all: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._guard = threading.Lock()
        self._ready = False

    # ------------------------------------------------------------ connections

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        conn = maildb.connect(str(self.path), self.settings.busy_timeout,
                              migrate=not self._ready)
        self._ready = True
        self._local.conn = conn
        with self._guard:
            # Threads come and go (a start pool, a request per thread): close the
            # connections of finished ones instead of keeping them until shutdown.
            finished = [c for t, c in self._all if not t.is_alive()]
            self._all = [(t, c) for t, c in self._all if t.is_alive()]
            self._all.append((threading.current_thread(), conn))
        for old in finished:
            with contextlib.suppress(sqlite3.Error):
                old.close()
        return conn

    def _write(self, conn: sqlite3.Connection | None = None
               ) -> contextlib.AbstractContextManager[sqlite3.Connection]:
        """One short write transaction (:func:`maildb.write`)."""
        return maildb.write(conn or self._conn(), str(self.path))

    def _get(self, conn: sqlite3.Connection, message_id: int) -> Message | None:
        row = maildb.row(conn, message_id)
        return None if row is None else _message(row)

    def _must(self, conn: sqlite3.Connection, message_id: int) -> Message:
        msg = self._get(conn, message_id)
        if msg is None:
            raise MailNotFound(f"no message {message_id}")
        return msg

    # ------------------------------------------------------------------ hooks

    def _insert(
        self,
        conn: sqlite3.Connection,
        draft: MailDraft,
        thread_id: int | None,
        reply_to: int | None,
    ) -> Message:
        new_id = maildb.insert(conn, draft.sender, draft.recipient, draft.subject, draft.body,
                               thread_id, reply_to)
        return self._must(conn, new_id)

    @hookimpl
    def send_mail(self, draft: MailDraft) -> Message:
        with self._write() as conn:
            reply_to = None if draft.reply_to is None else row_key(draft.reply_to)
            thread = draft.thread_id
            if thread is None and reply_to is not None:
                thread = self._must(conn, reply_to).thread_id
            return self._insert(conn, draft, None if thread is None else row_key(thread), reply_to)

    @hookimpl
    def mail_inbox(
        self, recipient: str, include_read: bool, include_archived: bool, limit: int | None
    ) -> list[Message]:
        sql = f"SELECT {_COLUMNS} FROM messages WHERE recipient = ?"
        if not include_archived:
            sql += " AND archived_at IS NULL"
        if not include_read:
            sql += " AND read_at IS NULL"
        sql += " ORDER BY id"
        params: tuple[Any, ...] = (recipient,)
        if limit is not None:
            sql += " LIMIT ?"
            params += (limit,)
        return [_message(row) for row in self._conn().execute(sql, params)]

    @hookimpl
    def get_mail(self, message_id: str) -> Message | None:
        try:
            key = row_key(message_id)
        except MailNotFound:
            return None
        return self._get(self._conn(), key)

    @hookimpl
    def read_mail(self, message_id: str) -> Message:
        key = row_key(message_id)
        with self._write() as conn:
            conn.execute(
                "UPDATE messages SET read_at = ? WHERE id = ? AND read_at IS NULL",
                (_now_us(), key),
            )
            return self._must(conn, key)

    @hookimpl
    def mark_unread(self, message_id: str) -> bool:
        key = row_key(message_id)
        with self._write() as conn:
            cur = conn.execute("UPDATE messages SET read_at = NULL WHERE id = ?", (key,))
            if cur.rowcount == 0:
                raise MailNotFound(f"no message {message_id}")
        return True

    @hookimpl
    def archive_mail(self, message_id: str) -> bool:
        key = row_key(message_id)
        conn = self._conn()
        # The condition makes the race safe: of several archivers, exactly one
        # statement finds archived_at still NULL and changes the row.
        cur = conn.execute(
            "UPDATE messages SET archived_at = ? WHERE id = ? AND archived_at IS NULL",
            (_now_us(), key),
        )
        if cur.rowcount == 1:
            return True
        self._must(conn, key)
        return False

    @hookimpl
    def reply_mail(
        self, message_id: str, sender: str, body: str, subject: str | None
    ) -> Message:
        key = row_key(message_id)
        with self._write() as conn:
            original = self._must(conn, key)
            if subject is None:
                subject = reply_subject(original.subject)
            draft = MailDraft(
                sender=sender, recipient=original.sender, subject=subject, body=body
            )
            return self._insert(conn, draft, row_key(original.thread_id), key)

    @hookimpl
    def mail_thread(self, thread_id: str) -> list[Message]:
        try:
            key = row_key(thread_id)
        except MailNotFound:
            return []
        rows = self._conn().execute(
            f"SELECT {_COLUMNS} FROM messages WHERE thread_id = ? ORDER BY id", (key,)
        )
        return [_message(row) for row in rows]

    @hookimpl
    def mail_count(self, recipient: str) -> MailCount:
        total, unread = self._conn().execute(
            "SELECT COUNT(*), COALESCE(SUM(read_at IS NULL), 0) FROM messages"
            " WHERE recipient = ? AND archived_at IS NULL",
            (recipient,),
        ).fetchone()
        return MailCount(open=int(total), unread=int(unread))

    @hookimpl
    def mail_counts(self, recipients: Sequence[str]) -> dict[str, MailCount]:
        # One grouped query per chunk (SQLite before 3.32 binds at most 999 values).
        counts: dict[str, MailCount] = {}
        names = list(recipients)
        conn = self._conn()
        for at in range(0, len(names), _COUNT_CHUNK):
            chunk = names[at:at + _COUNT_CHUNK]
            rows = conn.execute(
                "SELECT recipient, COUNT(*), COALESCE(SUM(read_at IS NULL), 0) FROM messages"
                f" WHERE recipient IN ({', '.join(['?'] * len(chunk))}) AND archived_at IS NULL"
                " GROUP BY recipient",
                chunk,
            )
            for recipient, total, unread in rows:
                counts[recipient] = MailCount(open=int(total), unread=int(unread))
        return counts

    @hookimpl
    def status_info(self) -> dict[str, object]:
        return {"mail.path": str(self.path)}

    @hookimpl
    def shutdown(self) -> None:
        with self._guard:
            conns, self._all = self._all, []
        for _, conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()


if TYPE_CHECKING:
    from ..hookspecs import MailStore

    # mypy checks the class against the role's hook contract.
    _contract: type[MailStore] = SqliteMail
