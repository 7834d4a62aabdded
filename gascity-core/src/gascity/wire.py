"""The JSON form of events and messages: what stores write and ``--json`` prints.

:meth:`Event.to_json <gascity.types.Event.to_json>` and
:meth:`Message.to_json <gascity.types.Message.to_json>` are these functions; the agents'
fast path (:mod:`gascity.cli.fast`) calls them without building the records, so this
module imports nothing beyond what a bare interpreter has loaded.
"""

from __future__ import annotations

from collections.abc import Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime
    from typing import Any

__all__ = ["event_json", "iso", "message_json"]


def iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat(timespec="microseconds")


def event_json(seq: int, type_: str, ts: datetime, actor: str, subject: str, message: str,
               payload: Any) -> dict[str, Any]:
    return {
        "seq": seq,
        "type": type_,
        "ts": ts.isoformat(timespec="microseconds"),
        "actor": actor,
        "subject": subject,
        "message": message,
        "payload": dict(payload) if isinstance(payload, Mapping) else payload,
    }


def message_json(id: str, thread_id: str, sender: str, recipient: str, subject: str,
                 body: str, created_at: datetime, reply_to: str | None = None,
                 read_at: datetime | None = None,
                 archived_at: datetime | None = None) -> dict[str, Any]:
    return {
        "id": id,
        "thread_id": thread_id,
        "reply_to": reply_to,
        "from": sender,
        "to": recipient,
        "subject": subject,
        "body": body,
        "created_at": iso(created_at),
        "read": read_at is not None,
        "read_at": iso(read_at),
        "archived_at": iso(archived_at),
    }
