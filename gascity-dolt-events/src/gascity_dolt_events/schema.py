"""The event table's DDL and the SQL the store runs.

One row per event; ``seq`` is the server's AUTO_INCREMENT, so no counter row is shared
between writers. Every filter has an index that ends in ``seq``: a filtered keyset
read (``type = ? AND seq > ? ORDER BY seq LIMIT n``) walks one index range in order,
whatever the table size. A small ``<table>_meta`` table records the schema version
and the high water mark that keeps ``latest_event_seq`` from going back after a prune.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["COLUMNS", "SCHEMA_VERSION", "Schema"]

SCHEMA_VERSION = 1
COLUMNS = "seq, ts, type, actor, subject, message, payload"


class Schema:
    """SQL text for one ``database.table``; identifiers are validated by the settings."""

    def __init__(self, database: str, table: str) -> None:
        self.database = database
        self.table = table
        self.q = f"`{database}`.`{table}`"
        self.meta = f"`{database}`.`{table}_meta`"

    def create_statements(self) -> list[str]:
        return [
            f"CREATE DATABASE IF NOT EXISTS `{self.database}` CHARACTER SET utf8mb4",
            f"""CREATE TABLE IF NOT EXISTS {self.q} (
                seq BIGINT NOT NULL AUTO_INCREMENT,
                ts DATETIME(6) NOT NULL,
                recorded_at DATETIME(6) NOT NULL,
                type VARCHAR(191) NOT NULL,
                actor VARCHAR(191) NOT NULL DEFAULT '',
                subject VARCHAR(191) NOT NULL DEFAULT '',
                message TEXT NOT NULL,
                payload JSON NULL,
                event_key VARCHAR(191) NULL,
                city VARCHAR(191) NOT NULL DEFAULT '',
                PRIMARY KEY (seq),
                UNIQUE KEY ux_event_key (event_key),
                KEY ix_type_seq (type, seq),
                KEY ix_actor_seq (actor, seq),
                KEY ix_subject_seq (subject, seq),
                KEY ix_ts_seq (ts, seq)
            ) CHARACTER SET utf8mb4""",
            f"""CREATE TABLE IF NOT EXISTS {self.meta} (
                name VARCHAR(64) NOT NULL,
                value BIGINT NOT NULL,
                PRIMARY KEY (name)
            )""",
        ]

    # ------------------------------------------------------------------ writing

    def insert(
        self, rows: int = 1, *, with_seq: bool = False, skip_duplicates: bool = False
    ) -> str:
        cols = "ts, recorded_at, type, actor, subject, message, payload, event_key, city"
        one = "(%s, UTC_TIMESTAMP(6), %s, %s, %s, %s, %s, %s, %s)"
        if with_seq:
            cols = "seq, " + cols
            one = "(%s, " + one[1:]
        sql = f"INSERT INTO {self.q} ({cols}) VALUES {', '.join([one] * rows)}"
        if skip_duplicates:
            # A no-op update turns a row already present (same key or same seq: a
            # replay or a migration run again) into a skip instead of an error.
            sql += " ON DUPLICATE KEY UPDATE seq = seq"
        return sql

    def by_key(self) -> str:
        return f"SELECT {COLUMNS} FROM {self.q} WHERE event_key = %s"

    def set_meta_max(self) -> str:
        return (
            f"INSERT INTO {self.meta} (name, value) VALUES (%s, %s) "
            "ON DUPLICATE KEY UPDATE value = GREATEST(value, VALUES(value))"
        )

    def get_meta(self) -> str:
        return f"SELECT value FROM {self.meta} WHERE name = %s"

    def latest(self) -> str:
        return (
            f"SELECT GREATEST(COALESCE((SELECT MAX(seq) FROM {self.q}), 0), "
            f"COALESCE((SELECT value FROM {self.meta} WHERE name = 'high_water'), 0))"
        )

    def max_seq(self) -> str:
        return f"SELECT COALESCE(MAX(seq), 0) FROM {self.q}"

    def bump_auto_increment(self, next_seq: int) -> str:
        # Some servers rebuild the counter from MAX(seq) at restart; after a prune
        # emptied the table that would hand out old seqs again. Raising it explicitly
        # is a no-op when the counter is already higher.
        return f"ALTER TABLE {self.q} AUTO_INCREMENT = {int(next_seq)}"

    def prune_batch(self) -> str:
        return f"SELECT seq FROM {self.q} WHERE ts < %s ORDER BY ts, seq LIMIT %s"

    def delete_seqs(self, count: int) -> str:
        marks = ", ".join(["%s"] * count)
        return f"DELETE FROM {self.q} WHERE seq IN ({marks})"

    # ------------------------------------------------------------------ reading

    def select(
        self,
        *,
        types: Sequence[str],
        actor: str | None,
        subject: str | None,
        since: Any,
        after_seq: int,
        limit: int | None,
        newest: bool,
    ) -> tuple[str, list[Any]]:
        where = ["seq > %s"]
        args: list[Any] = [after_seq]
        if types:
            where.append(f"type IN ({', '.join(['%s'] * len(types))})")
            args.extend(types)
        if actor is not None:
            where.append("actor = %s")
            args.append(actor)
        if subject is not None:
            where.append("subject = %s")
            args.append(subject)
        if since is not None:
            where.append("ts >= %s")
            args.append(since)
        sql = f"SELECT {COLUMNS} FROM {self.q} WHERE {' AND '.join(where)}"
        sql += " ORDER BY seq DESC" if newest and limit is not None else " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(int(limit))
        return sql, args
