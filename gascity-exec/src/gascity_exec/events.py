"""The ``exec:`` events backend: the reference's events script protocol.

``script record`` (the event JSON on stdin; fire-and-forget), ``script list`` (the
reference's filter JSON on stdin, a JSON array out), ``script latest-seq``,
``script watch <after>`` (NDJSON, one event per line, for ``gc events --follow``) and
``ensure-running`` once per process. The JSON is what the reference's Go structs
marshal to: event keys ``seq, type, ts, actor`` then ``subject``, ``message``,
``payload`` when not empty, RFC 3339 times; the filter's keys are the Go field names
``Type, Actor, Since, AfterSeq`` (a zero ``Since`` is ``0001-01-01T00:00:00Z``).
"""

from __future__ import annotations

import json
import logging
import subprocess
import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gascity import hookimpl
from gascity.errors import StoreUnavailable, Unsupported
from gascity.eventlog import matches
from gascity.plugins import PluginContext
from gascity.types import Event, EventDraft, EventFilter

from .protocol import EXIT_UNKNOWN_OP
from .scriptstore import ScriptClient, format_rfc3339, parse_rfc3339
from .wire import go_json

__all__ = ["ExecEvents", "event_from_json", "event_to_json", "filter_to_json"]

log = logging.getLogger("gascity.exec.events")
_ZERO_TIME = "0001-01-01T00:00:00Z"


def event_to_json(event: EventDraft, seq: int = 0) -> dict[str, Any]:
    """The reference's ``events.Event`` as its ``json.Marshal`` orders and omits it."""
    out: dict[str, Any] = {
        "seq": seq,
        "type": event.type,
        "ts": format_rfc3339(event.ts or datetime.now(UTC)),
        "actor": event.actor,
    }
    if event.subject:
        out["subject"] = event.subject
    if event.message:
        out["message"] = event.message
    # Any JSON value: the reference's payload is a json.RawMessage, omitted only when
    # absent, so 0, false, "" and [] are sent. Ours is absent as the default {}.
    payload = event.payload
    if isinstance(payload, Mapping):
        if payload:
            out["payload"] = dict(payload)
    elif payload is not None:
        out["payload"] = payload
    return out


def filter_to_json(filter: EventFilter) -> dict[str, Any]:
    """The reference's ``events.Filter`` (no JSON tags: Go field names)."""
    return {
        "Type": filter.types[0] if len(filter.types) == 1 else "",
        "Actor": filter.actor or "",
        "Since": format_rfc3339(filter.since) if filter.since else _ZERO_TIME,
        "AfterSeq": max(filter.after_seq, 0),
    }


def event_from_json(data: Any) -> Event:
    if not isinstance(data, Mapping):
        raise ValueError(f"an event is a JSON object, not {type(data).__name__}")
    seq = data.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
        raise ValueError(f"'seq' must be a non-negative integer, got {seq!r}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ValueError(f"'type' must be a string, got {kind!r}")
    ts = data.get("ts")
    if not isinstance(ts, str):
        raise ValueError(f"'ts' must be an RFC 3339 string, got {ts!r}")
    payload = data.get("payload")
    if payload is None:
        payload = {}
    elif isinstance(payload, Mapping):
        payload = dict(payload)
    return Event(
        seq=seq,
        type=kind,
        ts=parse_rfc3339(ts),
        actor=str(data.get("actor") or ""),
        subject=str(data.get("subject") or ""),
        message=str(data.get("message") or ""),
        payload=payload,
    )


class ExecEvents:
    """Entry point ``exec`` in ``gascity.events``: ``[events] provider = "exec:<script>"``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.client = ScriptClient(ctx, "events")

    @hookimpl
    def emit_event(self, event: EventDraft) -> Event | None:
        # The reference's Record: best effort, errors to the log, never raised. The
        # script assigns the seq and tells nobody: the event handed back has seq 0.
        wire = event_to_json(event)
        try:
            self.client.run(["record"], go_json(wire))
        except StoreUnavailable as exc:
            log.warning("events exec: record: %s", exc)
            return None
        return event_from_json(wire)

    @hookimpl
    def list_events(self, filter: EventFilter) -> list[Event]:
        out = self.client.run(["list"], go_json(filter_to_json(filter))) or ""
        listed = self.client.parse_array(["list"], out, event_from_json, "events")
        events = sorted(
            (e for e in listed if matches(e, filter)),
            key=lambda e: e.seq,
        )
        if filter.limit is not None:
            events = events[-filter.limit :] if filter.newest else events[: filter.limit]
        return events

    @hookimpl
    def latest_event_seq(self) -> int:
        out = self.client.run(["latest-seq"])
        if not out:
            return 0
        try:
            seq = int(out.strip())
            if seq < 0:
                raise ValueError("negative")
        except ValueError as exc:
            raise self.client.garbage(["latest-seq"], out, "a sequence number", exc) from exc
        return seq

    @hookimpl
    def prune_events(self, before: datetime) -> int:
        raise Unsupported("the exec events protocol has no prune op; prune in the script's store")

    @hookimpl
    def watch_events(self, after_seq: int, stop: threading.Event) -> Iterator[Event]:
        return self._watch(after_seq, stop)

    def _watch(self, after_seq: int, stop: threading.Event) -> Iterator[Event]:
        self.client.ensure_running()
        args = ["watch", str(after_seq)]
        proc = subprocess.Popen(
            [self.client.script, *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.client.env,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stderr is not None
        done = threading.Event()

        def stopper() -> None:
            # Unblocks the readline below when the caller stops following.
            while not done.wait(0.2):
                if stop.is_set():
                    proc.kill()
                    return

        threading.Thread(target=stopper, daemon=True, name="exec-events-watch").start()
        got_any = False
        try:
            for raw in proc.stdout:
                line = raw.decode("utf-8", "replace").strip()
                if not line:
                    continue
                try:
                    event = event_from_json(json.loads(line))
                except ValueError as exc:
                    raise self.client.garbage(args, line, "one JSON event per line", exc) from exc
                got_any = True
                yield event
            code = proc.wait()
            if stop.is_set():
                return
            if code == EXIT_UNKNOWN_OP and not got_any:
                raise Unsupported(f"{self.client.script} does not implement watch")
            detail = proc.stderr.read().decode("utf-8", "replace").strip()
            raise StoreUnavailable(
                f"exec events provider {self.client.script} watch {after_seq}: the watcher "
                f"exited (status {code})" + (f": {detail}" if detail else "")
            )
        finally:
            done.set()
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()
            proc.stderr.close()


if TYPE_CHECKING:
    from gascity.hookspecs import EventStore

    # mypy checks the class against the role's hook contract.
    _contract: type[EventStore] = ExecEvents
