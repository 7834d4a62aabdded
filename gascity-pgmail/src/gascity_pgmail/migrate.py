"""Copy a city's SQLite mail (``.gc/mail.db``) into the PostgreSQL store.

Ids, threads, reply links, timestamps and read/archived state are kept as they
are, so message numbers people have written down stay valid. The copy is one
transaction under an exclusive table lock, so it is all-or-nothing and no sender
can take an id the copy is about to use; rows already copied are skipped, so
running it again is harmless. A row whose id is taken by a *different* message
aborts the whole copy: that store was used before the migration and merging
would silently renumber someone's mail.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gascity.errors import GasCityError
from gascity.mailrow import MESSAGE_COLUMNS

from .store import PostgresMail, default_subject

__all__ = ["MigrationError", "MigrationReport", "SqliteRow", "migrate_sqlite", "read_sqlite"]

# Spellings a SQLite mail table may use for each field, first match wins.
_FIELDS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "thread_id": ("thread_id", "thread"),
    "reply_to": ("reply_to", "in_reply_to"),
    "sender": ("sender", "from_addr", "from_", "from"),
    "recipient": ("recipient", "to_addr", "to_", "to"),
    "subject": ("subject",),
    "body": ("body",),
    "created_at": ("created_at", "created", "ts", "sent_at"),
    "read_at": ("read_at",),
    "read": ("read", "is_read"),
    "archived_at": ("archived_at",),
    "archived": ("archived", "is_archived"),
}
_REQUIRED = ("id", "sender", "recipient", "body")


class MigrationError(GasCityError):
    """The source cannot be read, or its ids collide with different mail."""


@dataclass(frozen=True)
class SqliteRow:
    id: int
    thread_id: int
    reply_to: int | None
    sender: str
    recipient: str
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None
    archived_at: datetime | None


@dataclass(frozen=True)
class MigrationReport:
    source_rows: int
    copied: int
    already_present: int
    next_id: int


def _timestamp(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        seconds = float(value)
        # Epoch in s, ms, µs or ns: pick the unit that lands in a plausible year.
        for scale in (1.0, 1e3, 1e6, 1e9):
            if seconds / scale < 1e11:
                return datetime.fromtimestamp(seconds / scale, UTC)
        raise ValueError(f"unreadable timestamp {value!r}")
    text = str(value).strip().replace(" ", "T", 1)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _mail_table(db: sqlite3.Connection) -> tuple[str, dict[str, str]]:
    tables = [
        r[0]
        for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    for table in sorted(tables, key=lambda t: (t not in ("messages", "mail"), t)):
        columns = {str(r[1]) for r in db.execute("SELECT * FROM pragma_table_info(?)", (table,))}
        mapping: dict[str, str] = {}
        for field, spellings in _FIELDS.items():
            for spelling in spellings:
                if spelling in columns:
                    mapping[field] = spelling
                    break
        if all(f in mapping for f in _REQUIRED):
            return table, mapping
    raise MigrationError(f"no mail table found (tables: {', '.join(tables) or 'none'})")


def read_sqlite(path: Path) -> Iterator[SqliteRow]:
    """Every message of a SQLite mail store, by id, read without writing to it."""
    if not path.is_file():
        raise MigrationError(f"{path}: no such file (nothing to migrate)")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise MigrationError(f"{path}: cannot open: {exc}") from None
    try:
        table, cols = _mail_table(db)
        fields = list(cols)

        def quote(name: str) -> str:
            return '"' + name.replace('"', '""') + '"'

        select = ", ".join(quote(cols[f]) for f in fields)
        query = f"SELECT {select} FROM {quote(table)} ORDER BY {quote(cols['id'])}"
        for raw in db.execute(query):
            row = dict(zip(fields, raw, strict=True))
            yield _normalize(row)
    except sqlite3.Error as exc:
        raise MigrationError(f"{path}: cannot read: {exc}") from None
    finally:
        db.close()


def _normalize(row: dict[str, Any]) -> SqliteRow:
    mid = int(row["id"])
    created = _timestamp(row.get("created_at")) or datetime.now(UTC)
    read_at = _timestamp(row.get("read_at"))
    if read_at is None and row.get("read"):
        read_at = created  # only a flag was kept; the send time is the best bound
    archived_at = _timestamp(row.get("archived_at"))
    if archived_at is None and row.get("archived"):
        archived_at = created
    thread = row.get("thread_id")
    reply = row.get("reply_to")
    body = str(row["body"])
    return SqliteRow(
        id=mid,
        thread_id=int(thread) if thread not in (None, "", 0) else mid,
        reply_to=int(reply) if reply not in (None, "", 0) else None,
        sender=str(row["sender"]),
        recipient=str(row["recipient"]),
        subject=default_subject(str(row.get("subject") or ""), body),
        body=body,
        created_at=created,
        read_at=read_at,
        archived_at=archived_at,
    )


_COPY_COLUMNS = (*MESSAGE_COLUMNS, "city")


def migrate_sqlite(
    source: Path, store: PostgresMail, *, dry_run: bool = False
) -> MigrationReport:
    rows: Sequence[SqliteRow] = list(read_sqlite(source))
    store.ensure_schema()
    m = store.names.messages
    cols = ", ".join(_COPY_COLUMNS)
    try:
        conn = store.connect()
    except Exception as exc:
        raise MigrationError(f"cannot connect: {store.describe(exc)}") from None
    try:
        with conn.transaction(force_rollback=dry_run):
            # Senders wait for the copy; otherwise one could draw an id the copy needs.
            conn.execute(f"LOCK TABLE {m} IN EXCLUSIVE MODE")
            conn.execute(
                f"CREATE TEMP TABLE gc_import (LIKE {m} INCLUDING DEFAULTS) ON COMMIT DROP"
            )
            with conn.cursor().copy(f"COPY gc_import ({cols}) FROM STDIN") as copy:
                for r in rows:
                    copy.write_row(
                        (
                            r.id, r.thread_id, r.reply_to, r.sender, r.recipient, r.subject,
                            r.body, r.created_at, r.read_at, r.archived_at, store.city,
                        )
                    )  # fmt: skip
            clash = conn.execute(
                f"SELECT i.id FROM gc_import i JOIN {m} p ON p.id = i.id "
                "WHERE (p.sender, p.recipient, p.body, p.thread_id, p.city, p.created_at) "
                "IS DISTINCT FROM (i.sender, i.recipient, i.body, i.thread_id, i.city, "
                "i.created_at) ORDER BY i.id LIMIT 5"
            ).fetchall()
            if clash:
                ids = ", ".join(str(c[0]) for c in clash)
                raise MigrationError(
                    f"ids already used by different messages in schema "
                    f"{store.names.schema_name} (e.g. {ids}); migrate into an empty schema"
                )
            cur = conn.execute(
                f"INSERT INTO {m} ({cols}) SELECT {cols} FROM gc_import ORDER BY id "
                "ON CONFLICT (id) DO NOTHING"
            )
            copied = cur.rowcount
            # The identity sequence must continue after the highest copied id.
            nxt = conn.execute(
                f"SELECT setval({store.names.sequence_literal}, greatest("
                f"(SELECT coalesce(max(id), 0) FROM {m}), "
                f"(SELECT last_value FROM {store.names.sequence}), 1))"
            ).fetchone()
    except MigrationError:
        raise
    except Exception as exc:
        raise MigrationError(f"copy failed: {store.describe(exc)}") from None
    finally:
        conn.close()
    return MigrationReport(
        source_rows=len(rows),
        copied=copied,
        already_present=len(rows) - copied,
        next_id=int(nxt[0]) + 1 if nxt else 1,
    )
