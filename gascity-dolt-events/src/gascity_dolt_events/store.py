"""The ``dolt`` events backend: one autocommit INSERT per event, keyset reads.

Selected with ``[events] provider = "dolt"`` (or ``GC_EVENTS=dolt``); settings in
``[events.dolt]``. Works against Dolt's SQL server and any MySQL-protocol server.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import gascity
from gascity.errors import GasCityError, StoreUnavailable
from gascity.plugins import PluginContext
from gascity.types import Event, EventDraft, EventFilter

from .pool import ConnectionPool, is_connection_error
from .rows import (
    draft_values,
    event_from_row,
    event_values,
    record_from_draft,
    record_values,
    to_db_ts,
)
from .schema import SCHEMA_VERSION, Schema
from .settings import DoltSettings, load_dolt_settings
from .spool import Spool

if TYPE_CHECKING:
    from pymysql.connections import Connection

__all__ = ["SPOOL_FILE", "DoltEvents"]

log = logging.getLogger("gascity.events.dolt")
T = TypeVar("T")

SPOOL_FILE = "events-dolt.spool.jsonl"
_AUTH_ERRORS = frozenset({1044, 1045, 1698})
"""MySQL/MariaDB: database access denied, access denied for user, no password match."""
MAX_MESSAGE_BYTES = 65535
"""The ``message`` column is TEXT."""
PRUNE_BATCH = 5000
_DUPLICATE_ENTRY = 1062


class DoltEvents:
    """The event store plugin. Thread-safe; one instance per process."""

    def __init__(self, ctx: PluginContext) -> None:
        import pymysql  # noqa: F401  (fail at load with the install hint, not at first emit)

        self.settings: DoltSettings = load_dolt_settings(ctx)
        self._password = self.settings.resolve_password(ctx.env)
        self._city = ctx.city_name
        self.schema = Schema(self.settings.database, self.settings.table)
        self.pool = ConnectionPool(self._connect, max_idle=self.settings.pool_size)
        self.spool = Spool(ctx.state_dir / SPOOL_FILE)
        self._schema_ready = False
        self._schema_lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._down_until = 0.0
        self._spooling = False
        self._rejected = 0
        self._last_prune = time.monotonic()
        self._prune_thread: threading.Thread | None = None
        self._prune_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DoltEvents({self.settings.describe()})"

    # ------------------------------------------------------------- connections

    def _connect(self) -> Connection[Any]:
        import pymysql

        s = self.settings
        try:
            return self._open(pymysql)
        except pymysql.err.Error as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else None
            if code in _AUTH_ERRORS:
                # Wrong user or password is the operator's to fix, not an outage to
                # wait out: spooling would hide it until the disk fills.
                raise GasCityError(
                    f"{s.describe()} refused the login ({exc.args[-1]}); check "
                    "[events.dolt] user and password"
                ) from None
            # Any other failure to connect (refused, timeout) means the event cannot
            # reach the server: it is spooled, never dropped. pymysql's message names
            # user, host and port, never the password.
            raise StoreUnavailable(f"cannot connect to {s.describe()}: {exc}") from None

    def _open(self, pymysql: Any) -> Connection[Any]:
        s = self.settings
        conn: Connection[Any] = pymysql.connect(
            host=s.host,
            port=s.port,
            user=s.user,
            password=self._password,
            charset="utf8mb4",
            autocommit=True,
            connect_timeout=max(1, round(s.connect_timeout)),
            read_timeout=max(1, round(s.io_timeout)),
            write_timeout=max(1, round(s.io_timeout)),
            init_command="SET time_zone = '+00:00'",
        )
        return conn

    def _run(self, fn: Any) -> Any:
        """Run ``fn(cursor)`` on a pooled connection, creating the schema first."""
        if not self._schema_ready:
            self.pool.run(self._ensure_schema)

        def call(conn: Connection[Any]) -> Any:
            with conn.cursor() as cur:
                return fn(cur)

        return self.pool.run(call)

    def _ensure_schema(self, conn: Connection[Any]) -> None:
        with self._schema_lock:
            if self._schema_ready:
                return
            with conn.cursor() as cur:
                for statement in self.schema.create_statements():
                    cur.execute(statement)
                cur.execute(self.schema.get_meta(), ("schema_version",))
                row = cur.fetchone()
                stored = int(row[0]) if row else 0
                if stored > SCHEMA_VERSION:
                    raise GasCityError(
                        f"{self.settings.describe()} has schema version {stored}; this "
                        f"gascity-dolt-events understands {SCHEMA_VERSION}: upgrade it"
                    )
                cur.execute(self.schema.set_meta_max(), ("schema_version", SCHEMA_VERSION))
                cur.execute(self.schema.get_meta(), ("high_water",))
                row = cur.fetchone()
                high = int(row[0]) if row else 0
                cur.execute(self.schema.max_seq())
                top_row = cur.fetchone()
                top = int(top_row[0]) if top_row else 0
                if high > top:
                    cur.execute(self.schema.bump_auto_increment(high + 1))
            self._schema_ready = True

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        if isinstance(exc, StoreUnavailable):
            return exc
        return StoreUnavailable(f"events server {self.settings.describe()} unreachable: {exc}")

    # ------------------------------------------------------------------ spool

    def _in_backoff(self) -> bool:
        return time.monotonic() < self._down_until

    def _mark_down(self, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.settings.retry_backoff
        if not self._spooling:
            self._spooling = True
            log.warning(
                "events server %s unreachable (%s); spooling events to %s",
                self.settings.describe(),
                exc,
                self.spool.path,
            )

    def _insert_records(self, records: Sequence[Mapping[str, Any]]) -> None:
        # Lines already inserted by an earlier, interrupted drain carry the same
        # key and are skipped.
        sql = self.schema.insert(len(records), skip_duplicates=True)
        try:
            values: list[Any] = []
            for record in records:
                values.extend(record_values(record, self._city))
            self._run(lambda cur: cur.execute(sql, values))
        except Exception as exc:
            if is_connection_error(exc):
                raise
            if len(records) > 1:
                for record in records:
                    self._insert_records([record])
                return
            self._reject(records[0], exc)

    def _reject(self, record: Mapping[str, Any], exc: BaseException) -> None:
        # One line the server refuses (not an outage) must not block the spool for
        # every later event: it is set aside, loudly, instead of being retried forever.
        rejected = self.spool.path.with_suffix(".rejected.jsonl")
        self._rejected += 1
        fd = os.open(rejected, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(dict(record), ensure_ascii=False, default=str) + "\n")
        log.error(
            "the events server refused a spooled %r event (%s); kept in %s",
            record.get("type"),
            exc,
            rejected,
        )

    def replay(self, force: bool = False) -> bool:
        """Move spooled events into the table, in spool order.

        :return: ``True`` when the spool is empty afterwards.
        """
        if not self.spool.has_entries():
            return True
        if self._in_backoff() and not force:
            return False
        with self._replay_lock:
            rejected_before = self._rejected
            try:
                count = self.spool.drain(self._insert_records)
            except Exception as exc:
                if not is_connection_error(exc):
                    raise
                self._mark_down(exc)
                return False
        rejected = self._rejected - rejected_before
        if count:
            # Refused lines were set aside, not replayed: the summary says so.
            log.warning("replayed %d spooled events into %s%s", count - rejected,
                        self.settings.describe(),
                        f"; {rejected} refused by the server, kept in "
                        f"{self.spool.path.with_suffix('.rejected.jsonl')}" if rejected else "")
        self._spooling = False
        return True

    def _spool(self, draft: EventDraft, ts: datetime) -> None:
        try:
            self.spool.append(record_from_draft(draft, ts))
        except OSError as exc:
            raise StoreUnavailable(
                f"events server {self.settings.describe()} unreachable and the spool "
                f"{self.spool.path} cannot be written: {exc}"
            ) from exc

    # ------------------------------------------------------------------ hooks

    @gascity.hookimpl
    def emit_event(self, event: EventDraft) -> Event | None:
        """Insert one row and return it with the server's seq.

        While the server is unreachable the event goes to the spool and ``None`` is
        returned (recorded, but with no seq yet); the spool is replayed, in order,
        before this process's next insert.
        """
        ts = event.ts or datetime.now(UTC)
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=UTC)
        ts = ts.astimezone(UTC)
        size = len(event.message.encode("utf-8", "surrogateescape"))
        if size > MAX_MESSAGE_BYTES:
            raise GasCityError(
                f"event message is {size} bytes; the dolt events store holds at most "
                f"{MAX_MESSAGE_BYTES} (put large data in a file and refer to it)"
            )
        if not self.replay():
            self._spool(event, ts)
            return None
        values = draft_values(event, ts, self._city)
        sql = self.schema.insert()
        try:
            seq = int(self._run(lambda cur: (cur.execute(sql, values), cur.lastrowid)[1]))
        except Exception as exc:
            if _is_duplicate(exc) and event.key is not None:
                return self._by_key(event.key)
            if not is_connection_error(exc):
                raise
            self._mark_down(exc)
            self._spool(event, ts)
            return None
        self._maybe_prune()
        return Event(
            seq=seq,
            type=values[1],
            ts=ts,
            actor=values[2],
            subject=values[3],
            message=event.message,
            payload=dict(event.payload),
        )

    def _by_key(self, key: str) -> Event | None:
        def fetch(cur: Any) -> Any:
            cur.execute(self.schema.by_key(), (key,))
            return cur.fetchone()

        row = self._run(fetch)
        return None if row is None else event_from_row(row)

    @gascity.hookimpl
    def list_events(self, filter: EventFilter) -> list[Event]:
        self.replay()
        sql, args = self.schema.select(
            types=filter.types,
            actor=filter.actor,
            subject=filter.subject,
            since=None if filter.since is None else to_db_ts(filter.since),
            after_seq=filter.after_seq,
            limit=filter.limit,
            newest=filter.newest,
        )

        def fetch(cur: Any) -> Any:
            cur.execute(sql, args)
            return cur.fetchall()

        rows = self._read(fetch)
        events = [event_from_row(row) for row in rows]
        if filter.newest and filter.limit is not None:
            events.reverse()
        return events

    @gascity.hookimpl
    def latest_event_seq(self) -> int:
        self.replay()

        def fetch(cur: Any) -> int:
            cur.execute(self.schema.latest())
            row = cur.fetchone()
            return int(row[0]) if row else 0

        return int(self._read(fetch))

    @gascity.hookimpl
    def prune_events(self, before: datetime) -> int:
        cutoff = to_db_ts(before if before.tzinfo else before.replace(tzinfo=UTC))
        removed = 0
        while True:

            def batch(cur: Any) -> int:
                cur.execute(self.schema.prune_batch(), (cutoff, PRUNE_BATCH))
                seqs = [int(r[0]) for r in cur.fetchall()]
                if not seqs:
                    return 0
                # Recorded after the batch was read, so the mark covers every row
                # this batch deletes: latest_event_seq cannot fall below them.
                cur.execute(self.schema.max_seq())
                top = int(cur.fetchone()[0])
                cur.execute(self.schema.set_meta_max(), ("high_water", top))
                cur.execute(self.schema.delete_seqs(len(seqs)), seqs)
                return int(cur.rowcount)

            done = int(self._read(batch))
            removed += done
            if done == 0:
                return removed

    @gascity.hookimpl
    def status_info(self) -> dict[str, Any]:
        return {
            "events.backend": f"dolt {self.settings.describe()}",
            "events.spool_depth": self.spool.depth(),
        }

    @gascity.hookimpl
    def shutdown(self) -> None:
        try:
            self.replay(force=True)
        except Exception:
            log.exception("replaying the event spool at shutdown failed; it is kept")
        thread = self._prune_thread
        if thread is not None:
            thread.join()
        self.pool.close()

    # ---------------------------------------------------------------- helpers

    def _read(self, fn: Any) -> Any:
        try:
            return self._run(fn)
        except Exception as exc:
            if is_connection_error(exc):
                raise self._unavailable(exc) from None
            raise

    def _maybe_prune(self) -> None:
        """Retention for long-running processes: at most every ``retention / 24``
        (a minute to an hour), in a background thread, never on the emit path."""
        retention = self.settings.retention
        if not retention:
            return
        every = min(max(retention / 24, 60.0), 3600.0)
        if time.monotonic() - self._last_prune < every:
            return
        with self._prune_lock:
            if time.monotonic() - self._last_prune < every:
                return
            self._last_prune = time.monotonic()
            self._prune_thread = threading.Thread(
                target=self._prune_expired, name="gc-dolt-events-prune", daemon=True
            )
            self._prune_thread.start()

    def _prune_expired(self) -> None:
        try:
            cutoff = datetime.now(UTC) - timedelta(seconds=self.settings.retention)
            removed = self.prune_events(cutoff)
            if removed:
                log.info("pruned %d events older than the retention", removed)
        except Exception as exc:
            log.warning("pruning expired events failed: %s", exc)

    def raise_high_water(self, seq: int) -> None:
        """Make ``latest_event_seq`` at least ``seq`` and the next seq higher (used when
        taking over a log whose newest events were pruned elsewhere)."""

        def run(cur: Any) -> None:
            cur.execute(self.schema.set_meta_max(), ("high_water", int(seq)))
            cur.execute(self.schema.max_seq())
            if int(cur.fetchone()[0]) < seq:
                cur.execute(self.schema.bump_auto_increment(seq + 1))

        self._read(run)

    def import_events(self, events: Iterable[Event], batch: int = 1000) -> tuple[int, int]:
        """Insert events keeping their seqs (migration, bulk load).

        A seq already in the table is skipped, so an interrupted import can simply be
        run again. :return: ``(copied, skipped)``.
        """
        copied = skipped = 0
        chunk: list[Event] = []

        def flush() -> None:
            nonlocal copied, skipped
            values: list[Any] = []
            for event in chunk:
                values.extend(event_values(event, self._city))
            sql = self.schema.insert(len(chunk), with_seq=True, skip_duplicates=True)
            count = int(self._read(lambda cur: (cur.execute(sql, values), cur.rowcount)[1]))
            copied += count
            skipped += len(chunk) - count
            chunk.clear()

        for event in events:
            chunk.append(event)
            if len(chunk) >= batch:
                flush()
        if chunk:
            flush()
        return copied, skipped


def _is_duplicate(exc: BaseException) -> bool:
    import pymysql

    return isinstance(exc, pymysql.err.IntegrityError) and bool(
        exc.args and exc.args[0] == _DUPLICATE_ENTRY
    )


if TYPE_CHECKING:
    from gascity.hookspecs import EventStore

    # mypy checks the class against the role's hook contract.
    _contract: type[EventStore] = DoltEvents
