"""Hook specifications: the contract between Gas City and its plugins.

A plugin is an object (usually a class instance built by the factory its entry point
names) whose methods carry :data:`gascity.hookimpl` and have the names below. Only the
*selected* plugin of each role is registered, so every ``firstresult`` hook has exactly
one implementation answering; :func:`emit_event`, :func:`status_info`,
:func:`doctor_checks`, :func:`cli_commands`, :func:`shutdown` and the controller lifecycle hooks
(:func:`controller_started`, :func:`tick_finished`, :func:`controller_stopped`,
:func:`readiness`) are broadcasts that observers may join.

Conventions every provider follows:

* Names are the controller's session names (``[A-Za-z0-9][A-Za-z0-9_-]*``, pool
  instances ``name-N``); a provider that needs another spelling maps it reversibly.
* An operation the provider does not support raises :class:`gascity.errors.Unsupported`.
* An operation on a session that does not exist raises
  :class:`gascity.errors.SessionNotFound`, except ``stop`` which is idempotent. The
  facade makes ``interrupt``, ``nudge``, ``send_keys``, ``clear_scrollback`` and
  ``copy_to`` best-effort, as the reference does: for them ``SessionNotFound`` is
  success to the caller (raising it, or returning quietly, are both fine).
* Hooks may be called from several threads at once (starts run concurrently).

Each role's hooks are written once, in its spec class (:class:`SessionSpec`,
:class:`EventsSpec`, :class:`MailSpec`, plus :class:`EveryPluginSpec` and
:class:`ControllerSpec` for the broadcasts). The required part of each role is a ``typing.Protocol``
(:class:`SessionProvider`, :class:`EventStore`, :class:`MailStore`) that mypy checks
provider classes against. The role table of the plugin manager, the call counter of
:mod:`gascity.testing` and the hook list of ``docs/plugin-authors.md`` are read from
these classes (a test keeps the docs in step); adding a hook is one method here plus
its facade method in :class:`gascity.plugins.facade.Hooks`.

Code outside :mod:`gascity.plugins` never calls these through ``pm.hook``; it uses the
typed facade :class:`gascity.plugins.facade.Hooks`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

import pluggy

from .coordination import Coordination
from .types import (
    DoctorCheck,
    Event,
    EventDraft,
    EventFilter,
    MailCount,
    MailDraft,
    Message,
    RunningSession,
    StartConfig,
)

if TYPE_CHECKING:
    import click

    from .controller.controller import Controller, TickReport

PROJECT = "gascity"

hookspec = pluggy.HookspecMarker(PROJECT)


# --------------------------------------------------------------------------- session


class SessionProvider(Protocol):
    """The session hooks every full provider implements (a ``typing.Protocol``).

    Check a provider class against it with mypy
    (``_: type[SessionProvider] = MyProvider``); :class:`SessionSpec` adds the optional
    hooks a provider may leave out.
    """

    @hookspec(firstresult=True)
    def list_running(self, prefix: str) -> list[RunningSession] | None:
        """List every session of this city whose name starts with ``prefix``.

        This is the reconciler's only call in a steady tick, so it must be **one** round
        trip to the backing system (one ``tmux list-panes -a``, one pod list by label
        selector), whatever the number of sessions. Return whatever that one call can
        tell: liveness, the gascity metadata (:data:`gascity.types.META_FINGERPRINT`,
        drain flags) and the command names running in the session. Use ``None`` for
        fields the call cannot provide rather than making extra calls.

        :param prefix: name prefix; ``""`` lists the whole city.
        :return: one :class:`~gascity.types.RunningSession` per session, any order.
        :select-one: yes (``firstresult``).

        Example::

            @hookimpl
            def list_running(self, prefix):
                return [RunningSession(name=n, liveness=Liveness.ALIVE, meta={})
                        for n in self._names() if n.startswith(prefix)]
        """

    @hookspec(firstresult=True)
    def start(self, name: str, config: StartConfig) -> bool | None:
        """Start session ``name`` and return ``True`` once it is up.

        Run ``config.pre_start`` first (a failure is reported and the start goes on,
        as Gas City specifies; providers may be stricter), then the session
        with ``config.command`` in ``config.work_dir`` and ``config.env`` (an empty value
        unsets a variable), store ``config.meta`` with it, run ``config.session_setup``,
        ``config.session_setup_script`` and ``config.session_live`` (failures are
        reported, not fatal) and type ``config.nudge``. The overlays are already in a
        local ``work_dir``; a provider whose sessions run elsewhere stages
        ``config.pack_overlay_dirs``, ``config.overlay_dir`` and ``config.copy_files``.
        Finish within ``config.startup_timeout`` seconds; on failure remove whatever was created.

        :raises gascity.errors.SessionExists: a session by that name is running.
        :raises gascity.errors.SessionError: anything else that failed, with the reason.
        :select-one: yes.

        Example::

            @hookimpl
            def start(self, name, config):
                self._spawn(name, ["sh", "-c", config.command], cwd=config.work_dir)
                return True
        """

    @hookspec(firstresult=True)
    def stop(self, name: str) -> bool | None:
        """Stop session ``name`` and everything it started. Idempotent.

        Kill the whole process tree (children that ignore SIGHUP or left the process
        group included), waiting with a bounded grace rather than fixed sleeps.

        :return: ``True`` if a session was stopped, ``False`` if none was running.
        :select-one: yes.

        Example::

            @hookimpl
            def stop(self, name):
                if name not in self._procs:
                    return False
                self._kill_tree(self._procs.pop(name))
                return True
        """

    @hookspec(firstresult=True)
    def interrupt(self, name: str) -> bool | None:
        """Send the session an interrupt (Ctrl-C / SIGINT) so the agent can wind down.

        Best-effort: ``SessionNotFound`` (no such session) is success to the caller.
        :select-one: yes.

        Example: ``hooks.interrupt("polecat-2")`` before a graceful shutdown.
        """

    @hookspec(firstresult=True)
    def nudge(self, name: str, text: str) -> bool | None:
        """Type ``text`` literally into the session, then press Enter.

        Never interpret ``text`` (no key names, no shell). Nudges to one session are
        serialized so two of them never interleave.

        :select-one: yes.

        Example: ``hooks.nudge("mayor", "Check your mail: gc mail inbox mayor")``.
        """

    @hookspec(firstresult=True)
    def peek(self, name: str, lines: int) -> str | None:
        """Return the last ``lines`` lines of the session's output.

        :select-one: yes.

        Example: ``hooks.peek("mayor", 20)`` -> ``"$ claude\\n> thinking...\\n"``.
        """

    @hookspec(firstresult=True)
    def get_meta(self, name: str, key: str) -> str | None:
        """Return the metadata value ``key`` of session ``name``, or ``None`` if unset.

        :raises gascity.errors.Unsupported: the provider cannot store metadata.
        :select-one: yes.

        Example: ``hooks.get_meta("mayor", "gc.drain")`` -> ``"scale"`` or ``None``.
        """

    @hookspec(firstresult=True)
    def set_meta(self, name: str, key: str, value: str) -> bool | None:
        """Store ``key=value`` with session ``name`` so ``list_running`` returns it.

        :raises gascity.errors.Unsupported: the provider cannot store metadata (the
            controller then keeps the value in its own state).
        :select-one: yes.

        Example: ``hooks.set_meta("polecat-3", "gc.drain", "scale")``.
        """

    @hookspec(firstresult=True)
    def remove_meta(self, name: str, key: str) -> bool | None:
        """Remove ``key`` from session ``name``'s metadata. Removing an unset key is fine.

        :select-one: yes.

        Example: ``hooks.remove_meta("polecat-3", "gc.drain")``.
        """

    @hookspec(firstresult=True)
    def process_alive(self, name: str, process_names: Sequence[str]) -> bool | None:
        """Is one of ``process_names`` running in session ``name``?

        Only used off the steady path (``gc session list --deep``, a provider's own
        tests). Return ``None`` when the provider cannot tell: unknown is never dead.

        :select-one: yes.

        Example: ``hooks.process_alive("mayor", ["claude", "node"])`` -> ``True``.
        """

    @hookspec(firstresult=True)
    def attach(self, name: str) -> int | None:
        """Hand the caller's terminal to the session until the user detaches.

        :return: the exit status of the attach client.
        :select-one: yes.

        Example: ``sys.exit(hooks.attach("mayor"))`` (what ``gc session attach`` does).
        """


class SessionSpec(SessionProvider):
    """The ``session`` role: :class:`SessionProvider` plus the optional hooks.

    A provider that leaves one of these out is asked through a fallback (or the
    caller is told :class:`~gascity.errors.Unsupported`).
    """

    @hookspec(firstresult=True)
    def coordination(self) -> Coordination | None:
        """How this controller shares the city with other replicas: leader election and
        where the controller's state lives (see :class:`gascity.coordination.Coordination`).

        Called once by a controller before its first tick, never by one-shot commands, so
        an implementation may start background work here (a lease renewer, a watch). No
        implementation means one controller per city and state in ``.gc/``.

        :select-one: yes.

        Example: the Kubernetes provider returns an object backed by a ``Lease`` and a
        ``ConfigMap`` in the city's namespace.
        """

    @hookspec(firstresult=True)
    def is_running(self, name: str) -> bool | None:
        """Does session ``name`` exist with a live process?

        The per-session probe the controller falls back to when ``list_running``
        failed; without it a desired session cannot be judged during the outage and is
        left alone (never started twice, never counted as crashed).

        :select-one: yes.

        Example: ``hooks.is_running("mayor")`` -> ``True``.
        """

    @hookspec(firstresult=True)
    def send_keys(self, name: str, keys: Sequence[str]) -> bool | None:
        """Send bare keystrokes (``"Enter"``, ``"Down"``, ``"C-c"``), no Enter appended.

        Best-effort: a missing session is not an error.

        :select-one: yes.

        Example: ``hooks.send_keys("mayor", ["Down", "Enter"])`` to pick a dialog entry.
        """

    @hookspec(firstresult=True)
    def clear_scrollback(self, name: str) -> bool | None:
        """Forget the session's scrollback (a clean slate after a restart). Best-effort.

        :select-one: yes.

        Example: ``hooks.clear_scrollback("mayor")``; a later ``peek`` shows no old output.
        """

    @hookspec(firstresult=True)
    def copy_to(self, name: str, src: str, rel_dst: str) -> bool | None:
        """Copy the local file or directory ``src`` into the session's filesystem at
        ``rel_dst`` (relative to its work dir). Best-effort: a missing session or a
        missing ``src`` is not an error.

        :select-one: yes.

        Example: ``hooks.copy_to("mayor", "/tmp/notes.md", "docs/notes.md")``.
        """

    @hookspec(firstresult=True)
    def last_activity(self, name: str) -> datetime | None:
        """When the session last produced output or received input (UTC), if known.

        :select-one: yes.

        Example: ``hooks.last_activity("mayor")`` -> ``datetime(2026, 1, 2, 3, 4, tzinfo=UTC)``.
        """


# ---------------------------------------------------------------------------- events


class EventStore(Protocol):
    """The ``events`` role, every hook required (a ``typing.Protocol``)."""

    @hookspec
    def emit_event(self, event: EventDraft) -> Event | None:
        """Record ``event``. A broadcast: the selected store returns the stored
        :class:`~gascity.types.Event` with its ``seq``; observers (metrics, extra sinks)
        return ``None``.

        Must not raise for a store outage: spool locally and replay later, or raise
        :class:`gascity.errors.StoreUnavailable` only when the event cannot be kept at
        all. (The facade never lets an exception reach the reconciler.)

        :select-one: no (broadcast).

        Example::

            @hookimpl
            def emit_event(self, event):
                statsd.incr(f"gascity.{event.type}")
        """

    @hookspec(firstresult=True)
    def list_events(self, filter: EventFilter) -> list[Event] | None:
        """Return the events matching ``filter`` in ascending ``seq`` order.

        Stores read by keyset (``seq > after_seq ORDER BY seq LIMIT n``), never by offset,
        so reading a page costs the same at a thousand rows and at a million.

        :select-one: yes.

        Example: ``hooks.list_events(EventFilter(types=("session.crashed",), limit=20,
        newest=True))`` -> the 20 latest crashes, oldest first.
        """

    @hookspec(firstresult=True)
    def latest_event_seq(self) -> int | None:
        """The highest ``seq`` ever assigned (0 for an empty store).

        Never decreases, even after :func:`prune_events` removed every row.

        :select-one: yes.

        Example: follow only new events from ``hooks.latest_event_seq()`` on.
        """

    @hookspec(firstresult=True)
    def prune_events(self, before: datetime) -> int | None:
        """Delete events whose ``ts`` is older than ``before``; return how many.

        :select-one: yes.

        Example: ``hooks.prune_events(datetime.now(UTC) - timedelta(hours=24))`` -> ``1234``.
        """


class EventsSpec(EventStore):
    """The ``events`` role: :class:`EventStore` plus the optional hooks."""

    @hookspec(firstresult=True)
    def watch_events(self, after_seq: int, stop: threading.Event) -> Iterator[Event] | None:
        """Stream the events after ``after_seq`` as they are recorded, until ``stop``.

        For stores that can push (the reference's ``script watch <after>``);
        ``gc events --follow`` polls :func:`list_events` for stores without it. The
        iterator may raise :class:`~gascity.errors.Unsupported` before its first
        event to send the caller back to polling.

        :select-one: yes.

        Example::

            @hookimpl
            def watch_events(self, after_seq, stop):
                return self._stream(after_seq, stop)
        """


# ------------------------------------------------------------------------------ mail


class MailStore(Protocol):
    """The mail hooks every store implements (a ``typing.Protocol``)."""

    @hookspec(firstresult=True)
    def send_mail(self, draft: MailDraft) -> Message | None:
        """Deliver one message and return it with its id, thread and timestamp.

        A new message starts its own thread (``thread_id == id``). An empty subject
        takes the body's first line.

        :select-one: yes.

        Example:
        ``hooks.send_mail(MailDraft("mayor", "polecat-1", "", "Fix the test\nDetails..."))``
        -> ``Message(id="7", thread_id="7", subject="Fix the test", ...)``.
        """

    @hookspec(firstresult=True)
    def mail_inbox(
        self, recipient: str, include_read: bool, include_archived: bool, limit: int | None
    ) -> list[Message] | None:
        """Messages to ``recipient``, oldest first.

        :param include_read: also list messages already read.
        :param include_archived: also list archived messages.
        :select-one: yes.

        Example: ``hooks.mail_inbox("polecat-1", include_read=False, include_archived=False,
        limit=None)`` -> the unread mail.
        """

    @hookspec(firstresult=True)
    def get_mail(self, message_id: str) -> Message | None:
        """Return one message without marking it read, or ``None`` if there is none.

        :select-one: yes.

        Example: ``hooks.get_mail("7")`` -> ``Message(...)`` with ``read_at`` unchanged.
        """

    @hookspec(firstresult=True)
    def read_mail(self, message_id: str) -> Message | None:
        """Return one message and mark it read (the first read's time is kept).

        :raises gascity.errors.MailNotFound: no such message.
        :select-one: yes.

        Example: ``hooks.read_mail("7").read_at`` is set (the same on every later read).
        """

    @hookspec(firstresult=True)
    def mark_unread(self, message_id: str) -> bool | None:
        """Mark a message unread again.

        :raises gascity.errors.MailNotFound: no such message.
        :select-one: yes.

        Example: ``hooks.mark_unread("7")`` -> the message shows in unread inboxes again.
        """

    @hookspec(firstresult=True)
    def archive_mail(self, message_id: str) -> bool | None:
        """Archive a message. Exactly one of several racing callers gets ``True``.

        :return: ``True`` if this call archived it, ``False`` if it was archived already.
        :raises gascity.errors.MailNotFound: no such message.
        :select-one: yes.

        Example: two agents call ``hooks.archive_mail("7")`` at once: one gets ``True``.
        """

    @hookspec(firstresult=True)
    def reply_mail(
        self, message_id: str, sender: str, body: str, subject: str | None
    ) -> Message | None:
        """Reply to a message: to its sender, in its thread, ``reply_to`` set.

        ``subject=None`` means ``"Re: <original subject>"`` (not doubled).

        :raises gascity.errors.MailNotFound: no such message.
        :select-one: yes.

        Example: ``hooks.reply_mail("7", "polecat-1", "done")`` -> to ``mayor``, subject
        ``"Re: Fix the test"``, ``thread_id == "7"``, ``reply_to == "7"``.
        """

    @hookspec(firstresult=True)
    def mail_thread(self, thread_id: str) -> list[Message] | None:
        """Every message of a thread, in the order sent.

        :select-one: yes.

        Example: ``[m.id for m in hooks.mail_thread("7")]`` -> ``["7", "9", "12"]``.
        """

    @hookspec(firstresult=True)
    def mail_count(self, recipient: str) -> MailCount | None:
        """Counts for ``recipient``'s mailbox: open (not archived) and unread.

        :select-one: yes.

        Example: ``hooks.mail_count("polecat-1")`` -> ``MailCount(open=3, unread=1)``.
        """


class MailSpec(MailStore):
    """The ``mail`` role: :class:`MailStore` plus the optional hooks."""

    @hookspec(firstresult=True)
    def mark_read(self, message_id: str) -> bool | None:
        """Mark a message read without fetching it (``gc mail mark-read``).

        Without it the facade reads the message (:func:`read_mail`) instead.

        :raises gascity.errors.MailNotFound: no such message.
        :select-one: yes.

        Example: the exec store runs ``script mark-read 7``, as the reference's does.
        """

    @hookspec(firstresult=True)
    def delete_mail(self, message_id: str) -> bool | None:
        """Delete a message (``gc mail delete``): it leaves every view, as an archive does.

        Without it the facade archives the message (:func:`archive_mail`) instead.

        :return: ``True`` if this call removed it, ``False`` if it was archived already.
        :raises gascity.errors.MailNotFound: no such message.
        :select-one: yes.

        Example: the exec store runs ``script delete 7``, as the reference's does.
        """

    @hookspec(firstresult=True)
    def mail_check(self, recipient: str) -> list[Message] | None:
        """The unread messages to ``recipient``, none marked read (``gc mail check``).

        Without it the facade lists the unread inbox (:func:`mail_inbox`) instead.

        :select-one: yes.

        Example: the exec store runs ``script check polecat-1``, as the reference's does.
        """

    @hookspec(firstresult=True)
    def mail_counts(self, recipients: Sequence[str]) -> Mapping[str, MailCount] | None:
        """:func:`mail_count` for many recipients in one call (``/v0/status`` and
        ``/v0/mail/count`` of the HTTP API ask for every agent's at once).

        A recipient with no open mail may be left out: the facade answers
        ``MailCount(0, 0)`` for it. Without this hook the facade calls
        :func:`mail_count` once per recipient instead.

        :select-one: yes.

        Example: the sqlite and postgres stores answer with one grouped query,
        ``hooks.mail_counts(["mayor", "polecat-1"])`` ->
        ``{"mayor": MailCount(open=3, unread=1), "polecat-1": MailCount(0, 0)}``.
        """

    @hookspec(firstresult=True)
    def wait_mail(self, recipient: str, timeout: float) -> bool | None:
        """Block until new mail for ``recipient`` may have arrived, at most ``timeout`` s.

        Lets ``gc mail inbox NAME --follow`` wake on a push (PostgreSQL ``LISTEN/NOTIFY``)
        instead of polling. Return ``True`` when woken by a notification, ``False`` on
        timeout. Stores without push do not implement it; callers then poll.

        :select-one: yes.

        Example::

            @hookimpl
            def wait_mail(self, recipient, timeout):
                return self._listener.wait(recipient, timeout)
        """


# ----------------------------------------------------------------------- every plugin


class EveryPluginSpec:
    """Broadcasts any plugin of any role may join."""

    @hookspec
    def status_info(self) -> Mapping[str, Any] | None:
        """Extra lines for ``gc status``: e.g. ``{"events.spool_depth": 0}``.

        :select-one: no (broadcast); every plugin may add keys, prefixed by its role.

        Example::

            @hookimpl
            def status_info(self):
                return {"events.spool_depth": self._spool.depth()}
        """

    @hookspec
    def doctor_checks(self) -> Sequence[DoctorCheck] | None:
        """Lines for ``gc doctor`` about what this plugin depends on (a server, a
        cluster, credentials), each ``ok``, ``warn`` or ``fail`` with a hint.

        Called in ``gc doctor`` only, never by the controller, so it may ask the
        backend a few questions; each must be bounded by a short timeout. A check never
        prints a secret. An exception becomes one ``fail`` line naming the plugin.

        :select-one: no (broadcast).

        Example::

            @hookimpl
            def doctor_checks(self):
                return [DoctorCheck("ok", "nohup", "nohup found on PATH")]
        """

    @hookspec
    def cli_commands(self, group: click.Group) -> None:
        """Add ``click`` commands or groups to ``gc``. Loaded from ``gascity.cli``.

        Example::

            @hookimpl
            def cli_commands(group):
                group.add_command(k8s_group)

        :select-one: no (broadcast).
        """

    @hookspec
    def shutdown(self) -> None:
        """Release connections, pools and threads. Called once when Gas City exits.

        :select-one: no (broadcast).

        Example::

            @hookimpl
            def shutdown(self):
                self._pool.close()
        """


# ------------------------------------------------------------- controller lifecycle


class ControllerSpec:
    """Broadcasts of the foreground controller's life, for observers."""

    @hookspec
    def controller_started(self, controller: Controller) -> None:
        """The foreground controller is up and about to run its first tick.

        Called once, in the controller's thread, after ``controller.started`` was
        recorded. Observers that serve something for the life of the controller (the
        HTTP API of ``gascity-dashboard``) start it here, in a thread of their own, and
        must return promptly. Not called by one-shot ``gc start``.

        :select-one: no (broadcast).

        Example::

            @hookimpl
            def controller_started(self, controller):
                self._server = serve(controller.loaded.config.api, controller)
        """

    @hookspec
    def tick_finished(self, controller: Controller, report: TickReport) -> None:
        """A reconcile tick completed; ``report`` says what it did and how long it took.

        Called in the controller's thread after every tick (one-shot ``gc start``
        included), so an implementation must cost O(1) or close to it: keep references
        and do the work when someone asks (a scrape, a request), never per session here.
        An exception is logged and never reaches the reconciler.

        :select-one: no (broadcast).

        Example::

            @hookimpl
            def tick_finished(self, controller, report):
                TICK_SECONDS.observe(report.seconds)
        """

    @hookspec
    def controller_stopped(self, controller: Controller) -> None:
        """The foreground controller shut its sessions down and is exiting.

        :select-one: no (broadcast).

        Example::

            @hookimpl
            def controller_stopped(self, controller):
                self._server.close()
        """

    @hookspec
    def readiness(self, controller: Controller) -> str | None:
        """Why this controller should not receive traffic yet, or ``None`` if it may.

        ``/readyz`` is ready once the first tick finished and no plugin returns a
        reason; a high-availability plugin returns e.g. ``"standby: not the leader"``.

        :select-one: no (broadcast); every non-``None`` answer is a reason.

        Example::

            @hookimpl
            def readiness(self, controller):
                return None if self._lease.held else "standby: another replica leads"
        """


# ------------------------------------------------------------------- derived tables

#: The spec class of each role; every table below is read from these classes.
ROLE_SPECS: dict[str, type] = {"session": SessionSpec, "events": EventsSpec, "mail": MailSpec}
#: The ``Protocol`` of the hooks a full plugin of each role implements.
ROLE_PROTOCOLS: dict[str, type] = {
    "session": SessionProvider,
    "events": EventStore,
    "mail": MailStore,
}
SPEC_CLASSES: tuple[type, ...] = (*ROLE_SPECS.values(), EveryPluginSpec, ControllerSpec)


def spec_hooks(spec: type) -> tuple[str, ...]:
    """The hook names declared by ``spec`` and its bases, in declaration order."""
    names: list[str] = []
    for cls in reversed(spec.__mro__):
        for name, member in vars(cls).items():
            if getattr(member, f"{PROJECT}_spec", None) is not None and name not in names:
                names.append(name)
    return tuple(names)


def is_broadcast(name: str) -> bool:
    """Every plugin may answer a broadcast; a select-one hook has one answer."""
    for spec in SPEC_CLASSES:
        member = getattr(spec, name, None)
        opts = getattr(member, f"{PROJECT}_spec", None)
        if opts is not None:
            return not opts["firstresult"]
    raise KeyError(name)


ALL_HOOKS: tuple[str, ...] = tuple(n for spec in SPEC_CLASSES for n in spec_hooks(spec))
ROLE_HOOKS: dict[str, tuple[str, ...]] = {role: spec_hooks(s) for role, s in ROLE_SPECS.items()}
REQUIRED_HOOKS: dict[str, tuple[str, ...]] = {
    role: spec_hooks(p) for role, p in ROLE_PROTOCOLS.items()
}
BROADCASTS: frozenset[str] = frozenset(n for n in ALL_HOOKS if is_broadcast(n))
#: The controller telling observers about its life (not work asked of a plugin).
LIFECYCLE: frozenset[str] = frozenset(spec_hooks(ControllerSpec))
