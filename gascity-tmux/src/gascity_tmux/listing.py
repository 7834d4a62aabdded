"""The one ``list-panes -a`` call of a steady tick: its format and its parser.

Each pane line carries the session's name, creation time, the pane's liveness and
current command, and the session's gascity metadata: the start bundle on the agent's
pane and the per-key options set since (see :mod:`gascity.tmuxconv`), so the reconciler
learns everything it needs from a single tmux process.

A steady tick lists the same lines again and again: :class:`ListingCache` keeps the
previous listing's records by each session's raw lines, so only sessions whose panes
changed (output moves ``window_activity``) are decoded and parsed again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gascity.tmuxconv import AGENT_PANE_OPTION, decode_bundle, decode_name, option_for, resolve
from gascity.types import (
    META_AGENT,
    META_DRAIN,
    META_DRAIN_ACK,
    META_FINGERPRINT,
    Liveness,
    RunningSession,
)

__all__ = ["AGENT_PANE_OPTION", "LISTED_META", "ListingCache", "list_format", "parse_listing"]

LISTED_META = (META_FINGERPRINT, META_DRAIN, META_DRAIN_ACK, META_AGENT)

_FIXED = (
    "#{session_name}",
    "#{session_created}",
    "#{pane_dead}",
    "#{pane_dead_status}",
    "#{pane_dead_signal}",
    "#{" + AGENT_PANE_OPTION + "}",
    "#{window_activity}",
)
# The command name is free text, so it goes last and keeps any tab it might hold.
_LISTED_OPTIONS = tuple(option_for(k) for k in LISTED_META)
_FIELDS = (*_FIXED, *("#{" + o + "}" for o in _LISTED_OPTIONS), "#{pane_current_command}")


def list_format() -> str:
    return "\t".join(_FIELDS)


@dataclass
class _Pane:
    dead: bool
    status: str
    signal: str
    agent: bool
    command: str


@dataclass
class _Session:
    name: str
    created: str
    meta: dict[str, str]
    panes: list[_Pane] = field(default_factory=list)
    activity: int = 0
    """Newest ``window_activity`` of its panes: what the last_activity hook reads."""
    own: list[str] = field(default_factory=list)
    """The listed metadata options as the session holds them (they win over the bundle)."""
    bundle: str = ""
    """The agent pane's start bundle, as listed."""


def _liveness(panes: list[_Pane]) -> tuple[Liveness, str]:
    agent = [p for p in panes if p.agent]
    watched = agent or panes
    if all(p.dead for p in watched):
        pane = watched[0]
        if pane.signal:
            return Liveness.DEAD, f"agent killed by signal {pane.signal}"
        if pane.status:
            return Liveness.DEAD, f"agent exited (status {pane.status})"
        return Liveness.DEAD, "agent exited"
    return Liveness.ALIVE, ""


def _started(created: str) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(created), UTC)
    except ValueError:
        return None


def parse_listing(lines: Iterable[str], prefix: str = "") -> list[RunningSession]:
    sessions: dict[str, _Session] = {}
    width = len(_FIELDS)
    for line in lines:
        parts = line.split("\t", width - 1)
        if len(parts) != width:
            continue
        encoded, created, dead, status, sig, agent, activity = parts[: len(_FIXED)]
        name = decode_name(encoded)
        if not name.startswith(prefix):
            continue
        session = sessions.get(name)
        if session is None:
            session = sessions[name] = _Session(name, created, {})
            session.own = parts[len(_FIXED) : len(_FIXED) + len(LISTED_META)]
        if agent:
            session.bundle = agent
        session.panes.append(_Pane(dead == "1", status, sig, bool(agent), parts[-1]))
        if activity.isdigit():
            session.activity = max(session.activity, int(activity))
    out: list[RunningSession] = []
    for session in sessions.values():
        bundle = decode_bundle(session.bundle) if session.bundle else {}
        for key, option, own in zip(LISTED_META, _LISTED_OPTIONS, session.own, strict=True):
            value = resolve(own, bundle, option)
            if value is not None:
                session.meta[key] = value
        liveness, detail = _liveness(session.panes)
        out.append(
            RunningSession(
                name=session.name,
                liveness=liveness,
                meta=session.meta,
                processes=frozenset(p.command for p in session.panes if not p.dead and p.command),
                started_at=_started(session.created),
                detail=detail,
                last_activity=(datetime.fromtimestamp(session.activity, UTC)
                               if session.activity else None),
            )
        )
    return out


class ListingCache:
    """:func:`parse_listing` of raw ``list-panes -a`` output, reusing the previous full
    listing's records for sessions whose lines are byte for byte the same (records are
    immutable, so sharing one between ticks is safe)."""

    def __init__(self) -> None:
        self._records: dict[bytes, RunningSession] = {}

    def parse(self, out: bytes, prefix: str = "") -> list[RunningSession]:
        # tmux prints a session's panes one after another, but grouping by name does
        # not rely on it.
        blocks: dict[bytes, bytes] = {}
        for line in out.splitlines():
            tab = line.find(b"\t")
            if tab < 0:
                continue  # not a listing line: parse_listing skips it too
            key = line[:tab]
            block = blocks.get(key)
            blocks[key] = line if block is None else block + b"\n" + line
        known = self._records
        seen: dict[bytes, RunningSession] = {}
        out_records: list[RunningSession] = []
        for block in blocks.values():
            record = known.get(block)
            if record is None:
                parsed = parse_listing(block.decode("utf-8", "replace").split("\n"))
                if not parsed:
                    continue
                record = parsed[0]
            seen[block] = record
            if record.name.startswith(prefix):
                out_records.append(record)
        if len({r.name for r in seen.values()}) != len(seen):
            # Two tmux names that decode alike (``A`` and ``%41``): one session, as
            # parse_listing merges them.
            return parse_listing(out.decode("utf-8", "replace").splitlines(), prefix)
        if not prefix:
            self._records = seen  # a full listing: sessions gone since drop out
        return out_records
