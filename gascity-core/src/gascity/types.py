"""The data that crosses the plugin boundary.

Every hook takes and returns these records, never provider-specific objects, so a
provider, the reconciler and the tests all speak one vocabulary. They are frozen
dataclasses: cheap to build by the thousand on every tick and safe to share
between threads.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import metakeys
from .metakeys import *  # noqa: F403 - the session metadata keys live there
from .wire import event_json, message_json

__all__ = [  # noqa: PLE0604 - metakeys' names are re-exported
    *metakeys.__all__,
    "CopyEntry",
    "DoctorCheck",
    "Event",
    "EventDraft",
    "EventFilter",
    "Liveness",
    "MailCount",
    "MailDraft",
    "Message",
    "RunningSession",
    "StartConfig",
]


class Liveness(enum.Enum):
    """What a provider knows about the agent process inside a session."""

    ALIVE = "alive"
    """The session's main process is running."""
    DEAD = "dead"
    """The session exists but its main process has exited (a zombie session)."""
    STARTING = "starting"
    """Still coming up (a pod pulling its image); neither healthy nor crashed."""
    UNKNOWN = "unknown"
    """The provider cannot tell cheaply. Never treated as dead."""


@dataclass(frozen=True, slots=True)
class RunningSession:
    """One session as seen by a single ``list_running`` call.

    ``meta`` is ``None`` when the provider cannot read metadata in the listing call
    (the controller then falls back to its own state); an empty mapping means "read,
    and nothing is set". ``processes`` likewise is ``None`` when unknown; otherwise
    it holds the command names running in the session, for zombie detection by an
    agent's ``process_names`` (a frozenset, or a set the provider reads on first use
    where finding the names costs more than the listing itself). ``last_activity`` is
    when the session last showed activity (output, input), if the listing call can
    tell; with it the controller enforces ``idle_timeout`` without a
    ``last_activity`` call per session.
    """

    name: str
    liveness: Liveness = Liveness.UNKNOWN
    meta: Mapping[str, str] | None = None
    processes: AbstractSet[str] | None = None
    started_at: datetime | None = None
    detail: str = ""
    last_activity: datetime | None = None


@dataclass(frozen=True, slots=True)
class CopyEntry:
    """A file or directory to stage into the session before its command runs (Gas
    City's ``CopyEntry``): ``src`` on the controller's filesystem, ``rel_dst``
    relative to the session's ``work_dir`` ("" is the ``work_dir`` itself)."""

    src: str
    rel_dst: str = ""


@dataclass(frozen=True, slots=True)
class StartConfig:
    """Everything a provider needs to start one session.

    Commands are shell text written by the city's author (they run under ``sh -c``
    inside the session, as in the reference); names and user text never are.
    """

    command: str
    work_dir: str
    agent: str = ""
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment for the session; an empty value means "unset this variable"."""
    process_names: tuple[str, ...] = ()
    nudge: str = ""
    """Text typed into the session once it is up (the agent's first prompt)."""
    pre_start: tuple[str, ...] = ()
    """Shell commands run before the session starts; a failure is reported (Gas City:
    it does not abort the start)."""
    session_setup: tuple[str, ...] = ()
    """Shell commands run after the session starts; failures are only reported."""
    session_setup_script: str = ""
    session_live: tuple[str, ...] = ()
    """Idempotent shell commands run after ``session_setup`` (and its script) at start,
    and re-applied by the controller when they change, without a restart. A provider
    runs them as it runs ``session_setup``: failures are only reported."""
    pack_overlay_dirs: tuple[str, ...] = ()
    """Absolute ``overlay/`` directories of the agent's packs, lowest priority first.
    The controller has already copied them into ``work_dir`` when it is local; a
    provider whose sessions run elsewhere (a pod) stages them itself."""
    overlay_dir: str = ""
    """The agent's own overlay (absolute), staged after the packs' (it wins)."""
    copy_files: tuple[CopyEntry, ...] = ()
    """Further files to stage (the city's ``scripts/``, Claude settings and skills),
    for providers whose sessions do not share the controller's filesystem."""
    meta: Mapping[str, str] = field(default_factory=dict)
    """Initial metadata (fingerprint, agent name) stored with the session."""
    startup_timeout: float = 60.0
    ready_delay_ms: int = 0
    """Wait this long after the launch before typing ``nudge`` (the agent's boot)."""
    ready_prompt_prefix: str = ""
    """When set, ``nudge`` waits (up to ``ready_delay_ms``, at least 10s) until a screen
    line starts with this text, where the provider can read the screen."""
    emits_permission_warning: bool = False
    """The agent shows a bypass-permissions warning at start. With it, or with
    ``process_names``, the controller answers the startup dialogs after the start
    through ``peek`` and ``send_keys``; providers need not read it."""


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event before the store has given it a sequence number."""

    type: str
    actor: str = ""
    subject: str = ""
    message: str = ""
    payload: Any = field(default_factory=dict)
    """Any JSON value; an object (a mapping) is what Gas City itself records."""
    ts: datetime | None = None
    """When it happened (UTC); ``None`` means now."""
    key: str | None = None
    """Optional idempotency key: a store that supports it records one event per key."""


@dataclass(frozen=True, slots=True)
class Event:
    """A recorded event. ``seq`` is assigned by the store and strictly increasing."""

    seq: int
    type: str
    ts: datetime
    actor: str = ""
    subject: str = ""
    message: str = ""
    payload: Any = field(default_factory=dict)
    """Any JSON value: the reference lets an emitter attach arrays and strings too."""

    def to_json(self) -> dict[str, Any]:
        return event_json(self.seq, self.type, self.ts, self.actor, self.subject,
                          self.message, self.payload)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events to read. Every field narrows; the default reads everything.

    Results are always in ascending ``seq`` order. With ``newest=True`` and a
    ``limit`` the store returns the *last* ``limit`` matching events (still
    ascending), which is what ``gc events`` shows by default.
    """

    types: tuple[str, ...] = ()
    actor: str | None = None
    subject: str | None = None
    since: datetime | None = None
    after_seq: int = 0
    limit: int | None = None
    newest: bool = False


@dataclass(frozen=True, slots=True)
class MailDraft:
    sender: str
    recipient: str
    subject: str
    body: str
    reply_to: str | None = None
    thread_id: str | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """One delivered message. ``thread_id`` is the id of the thread's first message."""

    id: str
    thread_id: str
    sender: str
    recipient: str
    subject: str
    body: str
    created_at: datetime
    reply_to: str | None = None
    read_at: datetime | None = None
    archived_at: datetime | None = None

    @property
    def read(self) -> bool:
        return self.read_at is not None

    @property
    def archived(self) -> bool:
        return self.archived_at is not None

    def to_json(self) -> dict[str, Any]:
        return message_json(self.id, self.thread_id, self.sender, self.recipient,
                            self.subject, self.body, self.created_at, self.reply_to,
                            self.read_at, self.archived_at)


@dataclass(frozen=True, slots=True)
class MailCount:
    open: int
    """Messages not archived."""
    unread: int
    """Messages neither read nor archived."""


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    """One line of ``gc doctor``: ``level`` is ``ok``, ``warn`` or ``fail``."""

    level: str
    area: str
    text: str
    hint: str = ""
    """What to do about it (shown when the check is not ok)."""
