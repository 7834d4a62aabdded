"""The SQL of every mail operation: each one a single statement.

A single autocommitted statement is its own short transaction: it holds row locks
only while it runs, so concurrent senders never wait on each other (ids come from a
sequence, not from a counter row), and racing readers or archivers resolve on the
one row they touch.

The NOTIFY for ``--follow`` is deliberately *not* part of the INSERT's
transaction: PostgreSQL serializes the commits of notifying transactions on one
global lock held through the WAL flush, which would line every sender up behind
every other. Sent as its own statement right after the commit it costs one more
round trip and no write, and a follower is never told about mail it cannot see yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from gascity.mailrow import SELECT_COLUMNS

from .schema import Names

__all__ = ["COLUMNS", "Statements"]

COLUMNS = SELECT_COLUMNS


@dataclass(frozen=True)
class Statements:
    send: str
    sent: str
    reply: str
    get: str
    read: str
    unread: str
    archive: str
    thread: str
    count: str
    counts: str
    inbox_open: str
    inbox_unread: str
    inbox_all: str
    inbox_unread_all: str
    notify: str | None

    @classmethod
    def build(cls, n: Names, notify: bool) -> Statements:
        m = n.messages
        seq = n.sequence_literal
        def returning(insert: str) -> str:
            return f"{insert} RETURNING {COLUMNS}"

        # A draft that only names reply_to joins that message's thread. Otherwise
        # thread_id defaults to the new row's own id, drawn once from the sequence so
        # the row is complete in one INSERT (no follow-up UPDATE).
        # A send_key already stored means this send committed before: nothing is
        # inserted and ``sent`` reads the row back.
        send = returning(
            f"INSERT INTO {m} (id, thread_id, reply_to, sender, recipient, subject, body, city, "
            f"send_key) "
            f"SELECT n.id, coalesce(%(thread_id)s, (SELECT r.thread_id FROM {m} AS r "
            f"WHERE r.id = %(reply_to)s AND r.city = %(city)s), n.id), %(reply_to)s, "
            f"%(sender)s, "
            f"%(recipient)s, %(subject)s, %(body)s, %(city)s, %(send_key)s "
            f"FROM (SELECT nextval({seq}) AS id) AS n "
            f"ON CONFLICT (city, send_key) WHERE send_key IS NOT NULL DO NOTHING"
        )
        reply = returning(
            f"INSERT INTO {m} (id, thread_id, reply_to, sender, recipient, subject, body, city) "
            f"SELECT nextval({seq}), o.thread_id, o.id, %(sender)s, o.sender, "
            f"coalesce(%(subject)s, CASE WHEN o.subject ILIKE 're:%%' THEN o.subject "
            f"ELSE 'Re: ' || o.subject END), %(body)s, o.city "
            f"FROM {m} AS o WHERE o.id = %(id)s AND o.city = %(city)s"
        )
        mine = "id = %(id)s AND city = %(city)s"
        # coalesce keeps the first read's time; racing readers queue on the row lock
        # and each re-evaluates against the committed winner, so all see one read_at.
        read = f"UPDATE {m} SET read_at = coalesce(read_at, now()) WHERE {mine} RETURNING {COLUMNS}"
        archive = (
            f"WITH won AS (UPDATE {m} SET archived_at = now() "
            f"WHERE {mine} AND archived_at IS NULL RETURNING id) "
            f"SELECT EXISTS (SELECT 1 FROM won), "
            f"EXISTS (SELECT 1 FROM {m} WHERE {mine})"
        )
        inbox = f"SELECT {COLUMNS} FROM {m} WHERE city = %(city)s AND recipient = %(recipient)s"
        tail = " ORDER BY id LIMIT %(limit)s"
        return cls(
            send=send,
            sent=f"SELECT {COLUMNS} FROM {m} WHERE city = %(city)s AND send_key = %(send_key)s",
            reply=reply,
            get=f"SELECT {COLUMNS} FROM {m} WHERE {mine}",
            read=read,
            unread=f"UPDATE {m} SET read_at = NULL WHERE {mine} RETURNING id",
            archive=archive,
            thread=(
                f"SELECT {COLUMNS} FROM {m} WHERE thread_id = %(thread_id)s "
                f"AND city = %(city)s ORDER BY created_at, id"
            ),
            count=(
                f"SELECT count(*), count(*) FILTER (WHERE read_at IS NULL) FROM {m} "
                f"WHERE city = %(city)s AND recipient = %(recipient)s AND archived_at IS NULL"
            ),
            counts=(
                f"SELECT recipient, count(*), count(*) FILTER (WHERE read_at IS NULL) "
                f"FROM {m} WHERE city = %(city)s AND recipient = ANY(%(recipients)s) "
                f"AND archived_at IS NULL GROUP BY recipient"
            ),
            inbox_open=inbox + " AND archived_at IS NULL" + tail,
            inbox_unread=inbox + " AND archived_at IS NULL AND read_at IS NULL" + tail,
            inbox_all=inbox + tail,
            inbox_unread_all=inbox + " AND read_at IS NULL" + tail,
            notify=(
                f"SELECT pg_notify('{n.channel_name}', "
                "json_build_object('city', %(city)s::text, 'to', %(to)s::text)::text)"
                if notify
                else None
            ),
        )
