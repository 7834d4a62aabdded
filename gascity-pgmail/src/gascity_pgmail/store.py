"""The ``postgres`` mail backend: one row per delivered message, one statement per call.

Selected with ``[mail] provider = "postgres"`` (or ``GC_MAIL=postgres``) and
configured by ``[mail.postgres]`` (see :mod:`gascity_pgmail.settings`). psycopg and
its pool are imported when the plugin is built, never at discovery.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from gascity import hookimpl, mailrow
from gascity.errors import GasCityError, MailNotFound, StoreUnavailable
from gascity.mailrow import row_key
from gascity.osutil.backoff import Backoff
from gascity.plugins import PluginContext
from gascity.types import MailCount, MailDraft, Message

from .listener import MailListener
from .schema import Names, migrate
from .settings import PgMailSettings, mask_dsn, resolve, scrub
from .statements import Statements

if TYPE_CHECKING:
    import psycopg
    from psycopg_pool import ConnectionPool

__all__ = ["PostgresMail"]

log = logging.getLogger("gascity.mail.postgres")
T = TypeVar("T")


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


def message_from_row(row: tuple[Any, ...]) -> Message:
    return mailrow.message_from_row(row, _utc)


default_subject = mailrow.default_subject


class PostgresMail:
    """Mail store over a ``psycopg_pool.ConnectionPool``.

    Thread-safe: every hook borrows a pooled connection for one autocommitted
    statement. Operations that could not have committed (the server was shutting
    down, or no connection could be had) are retried for ``retry_window`` seconds, so
    a server restart costs senders a pause rather than errors; anything ambiguous is
    raised as :class:`~gascity.errors.StoreUnavailable`, never silently repeated.
    """

    def __init__(self, ctx: PluginContext) -> None:
        import psycopg  # noqa: F401  (fail at selection time if the driver is missing)
        import psycopg_pool  # noqa: F401

        self.ctx = ctx
        self.settings: PgMailSettings
        self.settings, self._dsn = resolve(ctx)
        self.city = ctx.city_name
        self.names = Names(self.settings.schema_)
        self.sql = Statements.build(self.names, notify=self.settings.notify)
        self._pool: ConnectionPool[Any] | None = None
        self._init_lock = threading.Lock()
        self._check_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._listener: MailListener | None = None
        self._closed = False
        self.retries = 0
        """Attempts repeated because the earlier one provably did not commit."""
        self.failures = 0
        """Operations that raised StoreUnavailable."""

    # ----------------------------------------------------------------- plumbing

    @property
    def masked_dsn(self) -> str:
        return mask_dsn(self._dsn)

    def describe(self, exc: BaseException) -> str:
        return scrub(f"{type(exc).__name__}: {exc}".strip(), self._dsn)

    def _conn_kwargs(self) -> dict[str, Any]:
        return {
            "autocommit": True,
            "connect_timeout": self.settings.connect_timeout,
            "application_name": "gascity-pgmail",
        }

    def connect(self) -> psycopg.Connection[tuple[Any, ...]]:
        """A fresh connection outside the pool (schema setup, LISTEN, migrations)."""
        import psycopg

        return psycopg.connect(self._dsn, **self._conn_kwargs())

    def _unavailable(self, exc: BaseException) -> StoreUnavailable:
        return StoreUnavailable(
            f"mail store postgres ({self.masked_dsn}, schema {self.names.schema_name}) "
            f"is unavailable: {self.describe(exc)}"
        )

    def _ready(self) -> ConnectionPool[Any]:
        pool = self._pool
        if pool is not None:
            return pool
        import psycopg
        from psycopg_pool import ConnectionPool

        with self._init_lock:
            if self._closed:
                raise StoreUnavailable("the postgres mail store was shut down")
            if self._pool is None:
                try:
                    with self.connect() as conn:
                        migrate(conn, self.names)
                except psycopg.Error as exc:
                    raise self._unavailable(exc) from None
                pool = ConnectionPool(
                    self._dsn,
                    min_size=self.settings.pool_min,
                    max_size=self.settings.pool_max,
                    timeout=self.settings.pool_timeout,
                    kwargs=self._conn_kwargs(),
                    name="gascity-mail",
                    open=False,
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def ensure_schema(self) -> None:
        """Create or migrate the schema now rather than on the first mail call."""
        self._ready()

    def _not_committed(self, exc: BaseException) -> bool:
        """Did ``exc`` prove the statement never committed (so repeating is safe)?"""
        from psycopg import errors
        from psycopg_pool import PoolTimeout

        if isinstance(exc, PoolTimeout):
            return True  # never got a connection, so nothing was sent
        # The server was shutting down or starting: a fast shutdown rolls back what
        # it interrupts, and a refused connection ran nothing.
        return isinstance(
            exc,
            errors.AdminShutdown | errors.CrashShutdown | errors.CannotConnectNow,
        )

    def _recheck_pool(self, pool: ConnectionPool[Any]) -> None:
        # After a restart every idle pooled connection is dead; one thread sweeps them
        # out instead of each caller discovering a different corpse.
        if self._check_lock.acquire(blocking=False):
            try:
                pool.check()
            except Exception:
                pass
            finally:
                self._check_lock.release()

    def run(self, fn: Callable[[psycopg.Connection[tuple[Any, ...]]], T], *, idempotent: bool) -> T:
        """Run ``fn`` on a pooled connection, retrying only what is safe to repeat."""
        import psycopg
        from psycopg_pool import PoolTimeout

        pool = self._ready()
        deadline = time.monotonic() + self.settings.retry_window
        pace = Backoff(0.05, 1.0)
        while True:
            try:
                with pool.connection() as conn:
                    return fn(conn)
            except (psycopg.OperationalError, PoolTimeout) as exc:
                safe = idempotent or self._not_committed(exc)
                if not safe or time.monotonic() + pace.delay > deadline or self._closed:
                    with self._stats_lock:
                        self.failures += 1
                    raise self._unavailable(exc) from None
                with self._stats_lock:
                    self.retries += 1
                self._recheck_pool(pool)
                pace.sleep()

    def _one(self, query: str, params: Mapping[str, Any], *, idempotent: bool) -> Any:
        def go(conn: psycopg.Connection[tuple[Any, ...]]) -> Any:
            return conn.execute(query, params).fetchone()

        return self.run(go, idempotent=idempotent)

    def _all(self, query: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        def go(conn: psycopg.Connection[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
            rows: list[tuple[Any, ...]] = conn.execute(query, params).fetchall()
            return rows

        return self.run(go, idempotent=True)

    def _deliver(self, query: str, params: Mapping[str, Any]) -> Message | None:
        """Insert one message, then tell listeners about it (best effort).

        With a ``send_key`` in ``params`` the insert is idempotent: a retry after an
        ambiguous failure reads back the row the first attempt committed."""
        import psycopg

        notify = self.sql.notify
        keyed = params.get("send_key") is not None

        def go(conn: psycopg.Connection[tuple[Any, ...]]) -> Any:
            row = conn.execute(query, params).fetchone()
            if row is None and keyed:
                row = conn.execute(self.sql.sent, params).fetchone()
            if row is not None and notify is not None:
                try:
                    conn.execute(notify, {"city": self.city, "to": row[4]})
                except psycopg.Error as exc:
                    # The message is stored; a follower falls back to its timeout.
                    log.debug("mail notify failed: %s", self.describe(exc))
            return row

        row = self.run(go, idempotent=keyed)
        return None if row is None else message_from_row(row)

    # -------------------------------------------------------------------- hooks

    @staticmethod
    def _check_text(**fields: str | None) -> None:
        for name, value in fields.items():
            if value and "\x00" in value:
                raise GasCityError(
                    f"mail {name} holds a NUL character, which PostgreSQL text cannot "
                    "store; remove it (or encode binary data) and send again"
                )

    @hookimpl
    def send_mail(self, draft: MailDraft) -> Message:
        self._check_text(subject=draft.subject, body=draft.body, sender=draft.sender,
                         recipient=draft.recipient)
        msg = self._deliver(
            self.sql.send,
            {
                "thread_id": None if draft.thread_id is None else row_key(draft.thread_id),
                "reply_to": None if draft.reply_to is None else row_key(draft.reply_to),
                "sender": draft.sender,
                "recipient": draft.recipient,
                "subject": default_subject(draft.subject, draft.body),
                "body": draft.body,
                "city": self.city,
                "send_key": uuid.uuid4().hex,
            },
        )
        assert msg is not None  # an INSERT ... SELECT without a WHERE always returns
        return msg

    @hookimpl
    def mail_inbox(
        self, recipient: str, include_read: bool, include_archived: bool, limit: int | None
    ) -> list[Message]:
        if include_archived:
            query = self.sql.inbox_all if include_read else self.sql.inbox_unread_all
        else:
            query = self.sql.inbox_open if include_read else self.sql.inbox_unread
        rows = self._all(query, {"city": self.city, "recipient": recipient, "limit": limit})
        return [message_from_row(r) for r in rows]

    @hookimpl
    def get_mail(self, message_id: str) -> Message | None:
        try:
            key = row_key(message_id)
        except MailNotFound:
            return None
        row = self._one(self.sql.get, {"id": key, "city": self.city}, idempotent=True)
        return None if row is None else message_from_row(row)

    @hookimpl
    def read_mail(self, message_id: str) -> Message:
        params = {"id": row_key(message_id), "city": self.city}
        row = self._one(self.sql.read, params, idempotent=True)
        if row is None:
            raise MailNotFound(f"no message {message_id}")
        return message_from_row(row)

    @hookimpl
    def mark_unread(self, message_id: str) -> bool:
        params = {"id": row_key(message_id), "city": self.city}
        row = self._one(self.sql.unread, params, idempotent=True)
        if row is None:
            raise MailNotFound(f"no message {message_id}")
        return True

    @hookimpl
    def archive_mail(self, message_id: str) -> bool:
        # Not idempotent in its answer: a blind retry after a lost reply would report
        # "already archived" to the caller that actually won.
        won, exists = self._one(
            self.sql.archive, {"id": row_key(message_id), "city": self.city}, idempotent=False
        )
        if not exists:
            raise MailNotFound(f"no message {message_id}")
        return bool(won)

    @hookimpl
    def reply_mail(self, message_id: str, sender: str, body: str, subject: str | None) -> Message:
        self._check_text(subject=subject, body=body, sender=sender)
        msg = self._deliver(
            self.sql.reply,
            {
                "id": row_key(message_id),
                "sender": sender,
                "body": body,
                "subject": None if subject is None else default_subject(subject, body),
                "city": self.city,
            },
        )
        if msg is None:
            raise MailNotFound(f"no message {message_id}")
        return msg

    @hookimpl
    def mail_thread(self, thread_id: str) -> list[Message]:
        try:
            key = row_key(thread_id)
        except MailNotFound:
            return []
        rows = self._all(self.sql.thread, {"thread_id": key, "city": self.city})
        return [message_from_row(r) for r in rows]

    @hookimpl
    def mail_count(self, recipient: str) -> MailCount:
        row = self._one(
            self.sql.count, {"city": self.city, "recipient": recipient}, idempotent=True
        )
        return MailCount(open=int(row[0]), unread=int(row[1]))

    @hookimpl
    def mail_counts(self, recipients: Sequence[str]) -> dict[str, MailCount]:
        # One round trip for any number: the names travel as one text[] parameter.
        rows = self._all(self.sql.counts, {"city": self.city, "recipients": list(recipients)})
        return {str(r[0]): MailCount(open=int(r[1]), unread=int(r[2])) for r in rows}

    @hookimpl
    def wait_mail(self, recipient: str, timeout: float) -> bool | None:
        if not self.settings.notify:
            return None  # no push: the caller polls
        self._ready()
        with self._init_lock:
            if self._listener is None:
                self._listener = MailListener(
                    self.connect, self.names.channel_name, self.city, self.describe
                )
            listener = self._listener
        return listener.wait(recipient, timeout)

    @hookimpl
    def status_info(self) -> Mapping[str, Any]:
        info: dict[str, Any] = {
            "mail.postgres.schema": self.names.schema_name,
            "mail.postgres.retries": self.retries,
            "mail.postgres.failures": self.failures,
        }
        pool = self._pool
        if pool is not None:
            stats = pool.get_stats()
            info["mail.postgres.pool_size"] = stats.get("pool_size", 0)
            info["mail.postgres.pool_available"] = stats.get("pool_available", 0)
        return info

    @hookimpl
    def shutdown(self) -> None:
        self.close()

    def close(self) -> None:
        with self._init_lock:
            self._closed = True
            listener, self._listener = self._listener, None
            pool, self._pool = self._pool, None
        if listener is not None:
            listener.close()
        if pool is not None:
            pool.close()


if TYPE_CHECKING:
    from gascity.hookspecs import MailStore

    # mypy checks the class against the role's hook contract.
    _contract: type[MailStore] = PostgresMail
