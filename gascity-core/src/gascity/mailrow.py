"""The one mapping between a stored mail row and :class:`~gascity.types.Message`.

Message ids are strings end to end, as in the reference (an exec mail script may use
any id it likes). A store keyed by integers (SQLite, PostgreSQL, a third party's
table) selects :data:`SELECT_COLUMNS`, builds messages with :func:`message_from_row`
and turns ids back into keys with :func:`row_key`.

The records load on first use: the agents' ``gc mail send`` fast path
(:mod:`gascity.cli.fast`) uses :func:`message_fields` and :func:`mail_payload` with
the JSON forms of :mod:`gascity.wire`, never the dataclasses.
"""

from __future__ import annotations

from .errors import MailNotFound

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime
    from typing import Any

    from .types import EventDraft, Message

__all__ = [
    "MESSAGE_COLUMNS",
    "SELECT_COLUMNS",
    "default_subject",
    "mail_event",
    "mail_payload",
    "message_fields",
    "message_from_row",
    "reply_subject",
    "row_key",
]

MESSAGE_COLUMNS: tuple[str, ...] = (
    "id",
    "thread_id",
    "reply_to",
    "sender",
    "recipient",
    "subject",
    "body",
    "created_at",
    "read_at",
    "archived_at",
)
SELECT_COLUMNS = ", ".join(MESSAGE_COLUMNS)
"""The column list, in the order :func:`message_from_row` reads a row."""


def message_fields(row: Sequence[Any], to_time: Callable[[Any], datetime | None]
                   ) -> dict[str, Any]:
    """A row of :data:`SELECT_COLUMNS` as :class:`~gascity.types.Message`'s fields (and
    :func:`gascity.wire.message_json`'s arguments); ``to_time`` turns the store's time
    into UTC."""
    created = to_time(row[7])
    if created is None:
        raise ValueError(f"mail row {row[0]!r} has no created_at")
    return {
        "id": str(row[0]),
        "thread_id": str(row[1]),
        "reply_to": None if row[2] is None else str(row[2]),
        "sender": row[3],
        "recipient": row[4],
        "subject": row[5],
        "body": row[6],
        "created_at": created,
        "read_at": to_time(row[8]),
        "archived_at": to_time(row[9]),
    }


def message_from_row(row: Sequence[Any], to_time: Callable[[Any], datetime | None]) -> Message:
    """A row of :data:`SELECT_COLUMNS`; ``to_time`` turns the store's time into UTC."""
    from .types import Message

    return Message(**message_fields(row, to_time))


def row_key(message_id: str | int) -> int:
    """The integer key of an id, for stores keyed by integers.

    :raises MailNotFound: the id is not one such a store hands out.
    """
    text = str(message_id).strip()
    if not text.isascii() or not text.isdecimal():
        raise MailNotFound(f"no message {message_id!r} (this store's ids are numbers)")
    return int(text)


def default_subject(subject: str, body: str) -> str:
    """An empty subject takes the body's first line."""
    if subject:
        return subject
    lines = body.strip().splitlines()
    return lines[0].strip() if lines else ""


def reply_subject(original: str) -> str:
    """``Re: <subject>``, not doubled."""
    return original if original.startswith("Re: ") else f"Re: {original}"


def mail_payload(message_json: Mapping[str, Any] | None, **extra: Any) -> dict[str, Any]:
    """A mail event's payload: the message's JSON form without its body (bodies stay in
    the mail store), plus ``extra``."""
    payload: dict[str, Any] = dict(message_json) if message_json is not None else {}
    payload.pop("body", None)
    payload.update(extra)
    return payload


def mail_event(type_: str, actor: str, msg: Message | None, message: str,
               **extra: Any) -> EventDraft:
    """The reference's mail events: actor = who acted, subject = the message id; the
    payload is :func:`mail_payload`."""
    from .types import EventDraft

    return EventDraft(type=type_, actor=actor, subject=str(msg.id) if msg else "",
                      message=message,
                      payload=mail_payload(msg.to_json() if msg is not None else None,
                                           **extra))
