"""Converting between events, spool records and table rows.

The table stores ``ts`` as a naive ``DATETIME(6)`` in UTC (the connection's time zone
is pinned to UTC); everything outside this module sees aware UTC datetimes.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from gascity.types import Event, EventDraft

__all__ = [
    "MAX_LABEL",
    "draft_values",
    "dump_payload",
    "event_from_row",
    "event_values",
    "from_db_ts",
    "load_payload",
    "record_from_draft",
    "record_values",
    "to_db_ts",
]

MAX_LABEL = 191
"""Length of the indexed text columns (``type``, ``actor``, ``subject``, ``event_key``)."""


def to_db_ts(ts: datetime) -> datetime:
    """Aware (or naive-meaning-UTC) datetime -> naive UTC for the table."""
    if ts.tzinfo is not None:
        ts = ts.astimezone(UTC)
    return ts.replace(tzinfo=None)


def from_db_ts(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC)


def _label(text: str) -> str:
    # Longer values would fail the INSERT in strict mode; a recorded, truncated label
    # beats a lost event.
    return text[:MAX_LABEL]


def dump_payload(payload: Any) -> str | None:
    if isinstance(payload, Mapping) and not payload:
        return None
    if isinstance(payload, Mapping):
        payload = dict(payload)
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"), default=str)


def load_payload(value: Any) -> Any:
    """Any JSON value, as emitted (an empty object for a NULL column)."""
    if value is None or value == "":
        return {}
    if isinstance(value, bytes | bytearray):
        value = value.decode("utf-8")
    return json.loads(value) if isinstance(value, str) else value


def draft_values(draft: EventDraft, ts: datetime, city: str) -> tuple[Any, ...]:
    """Values for :meth:`Schema.insert` (without seq), in column order."""
    return (
        to_db_ts(ts),
        _label(draft.type),
        _label(draft.actor),
        _label(draft.subject),
        draft.message,
        dump_payload(draft.payload),
        None if draft.key is None else _label(draft.key),
        city,
    )


def record_from_draft(draft: EventDraft, ts: datetime) -> dict[str, Any]:
    """A spool line. The time is fixed now (not at replay), and a key is generated
    when the emitter gave none, so a repeated replay cannot record it twice."""
    return {
        "type": draft.type,
        "ts": to_db_ts(ts).isoformat(timespec="microseconds"),
        "actor": draft.actor,
        "subject": draft.subject,
        "message": draft.message,
        "payload": dict(draft.payload) if isinstance(draft.payload, Mapping) else draft.payload,
        "key": draft.key if draft.key is not None else f"spool:{uuid.uuid4().hex}",
    }


def record_values(record: Mapping[str, Any], city: str) -> tuple[Any, ...]:
    draft = EventDraft(
        type=str(record.get("type", "")),
        actor=str(record.get("actor", "")),
        subject=str(record.get("subject", "")),
        message=str(record.get("message", "")),
        payload=record.get("payload") or {},
        key=record.get("key"),
    )
    return draft_values(draft, datetime.fromisoformat(str(record["ts"])), city)


def event_values(event: Event, city: str) -> tuple[Any, ...]:
    """Values for :meth:`Schema.insert` with an explicit seq (migration, bulk load)."""
    draft = EventDraft(
        type=event.type,
        actor=event.actor,
        subject=event.subject,
        message=event.message,
        payload=event.payload,
    )
    return (event.seq, *draft_values(draft, event.ts, city))


def event_from_row(row: Sequence[Any]) -> Event:
    seq, ts, type_, actor, subject, message, payload = row
    return Event(
        seq=int(seq),
        type=type_,
        ts=from_db_ts(ts),
        actor=actor,
        subject=subject,
        message=message,
        payload=load_payload(payload),
    )
