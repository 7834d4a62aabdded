"""The typed facade over ``pm.hook``: the only way the rest of Gas City calls plugins.

Each method has the real signature and return type, turns "no plugin implements
this" into :class:`~gascity.errors.Unsupported` (an implementation returning ``None``
is something else), and keeps the reconciler safe from event-store failures.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pluggy

from ..coordination import Coordination
from ..errors import PluginError, SessionNotFound, Unsupported
from ..types import (
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

    from ..controller.controller import Controller, TickReport

__all__ = ["Hooks"]

log = logging.getLogger("gascity.hooks")


class Hooks:
    """One method per hook of :mod:`gascity.hookspecs`, with the real types.

    Three things are told apart for a select-one hook: no plugin implements it
    (:class:`~gascity.errors.Unsupported`), the implementation answered ``None``
    (success for an action such as ``start``; a plugin bug where a value is owed),
    and a real answer.
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._hook: Any = pm.hook

    def implements(self, hook: str) -> bool:
        """Does a registered plugin (not just a wrapper) implement ``hook``?"""
        caller = getattr(self._hook, hook, None)
        if caller is None:
            return False
        return any(not (i.wrapper or i.hookwrapper) for i in caller.get_hookimpls())

    def _unsupported(self, hook: str) -> Unsupported:
        return Unsupported(f"the selected plugin does not implement '{hook}'")

    def _value(self, hook: str, **kwargs: Any) -> Any:
        """Call a hook whose answer is needed: ``None`` is never a valid one."""
        result = getattr(self._hook, hook)(**kwargs)
        if result is None:
            if not self.implements(hook):
                raise self._unsupported(hook)
            raise PluginError(
                f"the selected plugin's '{hook}' returned None; it must return a value"
            )
        return result

    def _action(self, hook: str, **kwargs: Any) -> bool:
        """Call an action hook: an implementation returning ``None`` did the work."""
        result = getattr(self._hook, hook)(**kwargs)
        if result is None:
            if not self.implements(hook):
                raise self._unsupported(hook)
            return True
        return bool(result)

    # ------------------------------------------------------------------ session

    def list_running(self, prefix: str = "") -> list[RunningSession]:
        running: list[RunningSession] = self._value("list_running", prefix=prefix)
        return running

    def start(self, name: str, config: StartConfig) -> None:
        self._action("start", name=name, config=config)

    def stop(self, name: str) -> bool:
        return self._action("stop", name=name)

    def _best_effort(self, hook: str, **kwargs: Any) -> None:
        """The reference's best-effort ops: a session that is not there is no error."""
        try:
            self._action(hook, **kwargs)
        except SessionNotFound:
            log.debug("%s: session %s is not running", hook, kwargs.get("name"))

    def interrupt(self, name: str) -> None:
        self._best_effort("interrupt", name=name)

    def nudge(self, name: str, text: str) -> None:
        self._best_effort("nudge", name=name, text=text)

    def peek(self, name: str, lines: int = 50) -> str:
        return str(self._value("peek", name=name, lines=lines))

    def get_meta(self, name: str, key: str) -> str | None:
        result: str | None = self._hook.get_meta(name=name, key=key)
        return result

    def set_meta(self, name: str, key: str, value: str) -> None:
        self._action("set_meta", name=name, key=key, value=value)

    def remove_meta(self, name: str, key: str) -> None:
        self._action("remove_meta", name=name, key=key)

    def process_alive(self, name: str, process_names: Sequence[str]) -> bool | None:
        if not process_names:
            return True  # the reference: nothing to check is alive
        result: bool | None = self._hook.process_alive(name=name, process_names=process_names)
        return result

    def attach(self, name: str) -> int:
        return int(self._value("attach", name=name))

    def last_activity(self, name: str) -> datetime | None:
        result: datetime | None = self._hook.last_activity(name=name)
        return result

    def is_running(self, name: str) -> bool | None:
        """``None`` when the provider has no per-session probe (ask ``list_running``)."""
        result: bool | None = self._hook.is_running(name=name)
        return result

    def send_keys(self, name: str, keys: Sequence[str]) -> None:
        self._best_effort("send_keys", name=name, keys=list(keys))

    def clear_scrollback(self, name: str) -> None:
        self._best_effort("clear_scrollback", name=name)

    def copy_to(self, name: str, src: str, rel_dst: str) -> None:
        self._best_effort("copy_to", name=name, src=src, rel_dst=rel_dst)

    # ------------------------------------------------------------------- events

    def emit_event(self, event: EventDraft) -> Event | None:
        """Record an event; never raises (a lost event is logged loudly instead)."""
        try:
            results: list[Event | None] = self._hook.emit_event(event=event)
        except Exception:
            log.exception("recording event %s failed", event.type)
            return None
        for result in results:
            if result is not None:
                return result
        return None

    def record_event(self, event: EventDraft) -> Event | None:
        """:meth:`emit_event` for a caller that must know: a failure raises, and
        ``None`` means the store accepted the event without a seq yet (spooled)."""
        results: list[Event | None] = self._hook.emit_event(event=event)
        return next((r for r in results if r is not None), None)

    def emit(
        self,
        type: str,
        *,
        actor: str = "",
        subject: str = "",
        message: str = "",
        payload: Mapping[str, Any] | None = None,
    ) -> Event | None:
        return self.emit_event(
            EventDraft(
                type=type, actor=actor, subject=subject, message=message, payload=payload or {}
            )
        )

    def list_events(self, filter: EventFilter | None = None) -> list[Event]:
        events: list[Event] = self._value("list_events", filter=filter or EventFilter())
        return events

    def latest_event_seq(self) -> int:
        return int(self._value("latest_event_seq"))

    def watch_events(self, after_seq: int, stop: threading.Event) -> Iterator[Event] | None:
        """``None`` when the store cannot push (poll :meth:`list_events` instead)."""
        result: Iterator[Event] | None = self._hook.watch_events(after_seq=after_seq, stop=stop)
        return result

    def prune_events(self, before: datetime) -> int:
        return int(self._value("prune_events", before=before))

    # --------------------------------------------------------------------- mail

    def send_mail(self, draft: MailDraft) -> Message:
        sent: Message = self._value("send_mail", draft=draft)
        return sent

    def mail_inbox(
        self,
        recipient: str,
        *,
        include_read: bool = True,
        include_archived: bool = False,
        limit: int | None = None,
    ) -> list[Message]:
        inbox: list[Message] = self._value(
            "mail_inbox",
            recipient=recipient,
            include_read=include_read,
            include_archived=include_archived,
            limit=limit,
        )
        return inbox

    def get_mail(self, message_id: str) -> Message | None:
        result: Message | None = self._hook.get_mail(message_id=message_id)
        return result

    def read_mail(self, message_id: str) -> Message:
        message: Message = self._value("read_mail", message_id=message_id)
        return message

    def mark_unread(self, message_id: str) -> None:
        self._action("mark_unread", message_id=message_id)

    def archive_mail(self, message_id: str) -> bool:
        return bool(self._value("archive_mail", message_id=message_id))

    def reply_mail(
        self, message_id: str, sender: str, body: str, subject: str | None = None
    ) -> Message:
        reply: Message = self._value(
            "reply_mail", message_id=message_id, sender=sender, body=body, subject=subject
        )
        return reply

    def mail_thread(self, thread_id: str) -> list[Message]:
        thread: list[Message] = self._value("mail_thread", thread_id=thread_id)
        return thread

    def mail_count(self, recipient: str) -> MailCount:
        count: MailCount = self._value("mail_count", recipient=recipient)
        return count

    def mail_counts(self, recipients: Sequence[str]) -> dict[str, MailCount]:
        """Every recipient's :meth:`mail_count`, in the order given: one call to the
        store's ``mail_counts`` where it has one, else one ``mail_count`` each."""
        names = list(dict.fromkeys(recipients))
        if not names:
            return {}
        if not self.implements("mail_counts"):
            return {name: self.mail_count(name) for name in names}
        found: Mapping[str, MailCount] = self._value("mail_counts", recipients=names)
        empty = MailCount(open=0, unread=0)
        return {name: found.get(name, empty) for name in names}

    def mark_read(self, message_id: str) -> None:
        """The store's ``mark_read``, or :meth:`read_mail` where it has none."""
        if self.implements("mark_read"):
            self._action("mark_read", message_id=message_id)
        else:
            self.read_mail(message_id)

    def delete_mail(self, message_id: str) -> bool:
        """The store's ``delete_mail``, or :meth:`archive_mail` where it has none."""
        if self.implements("delete_mail"):
            return bool(self._value("delete_mail", message_id=message_id))
        return self.archive_mail(message_id)

    def mail_check(self, recipient: str) -> list[Message]:
        """The store's ``mail_check``, or the unread inbox where it has none."""
        if self.implements("mail_check"):
            unread: list[Message] = self._value("mail_check", recipient=recipient)
            return unread
        return self.mail_inbox(recipient, include_read=False, include_archived=False)

    def wait_mail(self, recipient: str, timeout: float) -> bool | None:
        """``None`` when the store has no push notifications (poll instead)."""
        result: bool | None = self._hook.wait_mail(recipient=recipient, timeout=timeout)
        return result

    # ---------------------------------------------------------------- broadcast

    def coordination(self) -> Coordination | None:
        result: Coordination | None = self._hook.coordination()
        return result

    def status_info(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for part in self._hook.status_info():
            if part:
                merged.update(part)
        return merged

    def doctor_checks(self) -> list[DoctorCheck]:
        """Each plugin's checks; one that raises is one ``fail`` line naming it, so
        it cannot hide the others' answers."""
        checks: list[DoctorCheck] = []
        for impl in reversed(self._hook.doctor_checks.get_hookimpls()):
            try:
                checks.extend(impl.function() or ())
            except Exception as exc:
                first = (str(exc).splitlines() or [type(exc).__name__])[0]
                checks.append(DoctorCheck("fail", impl.plugin_name,
                                          f"its doctor checks failed: {first}"))
        return checks

    def cli_commands(self, group: click.Group) -> None:
        self._hook.cli_commands(group=group)

    def shutdown(self) -> None:
        self._hook.shutdown()

    # ------------------------------------------------------- controller lifecycle
    # Observers must never break the loop they watch: their errors are logged here.

    def controller_started(self, controller: Controller) -> None:
        try:
            self._hook.controller_started(controller=controller)
        except Exception:
            log.exception("an observer failed in controller_started")

    def tick_finished(self, controller: Controller, report: TickReport) -> None:
        try:
            self._hook.tick_finished(controller=controller, report=report)
        except Exception:
            log.exception("an observer failed in tick_finished")

    def controller_stopped(self, controller: Controller) -> None:
        try:
            self._hook.controller_stopped(controller=controller)
        except Exception:
            log.exception("an observer failed in controller_stopped")

    def readiness(self, controller: Controller) -> list[str]:
        """Every reason a plugin gives for not being ready (empty: ready)."""
        try:
            reasons: list[str | None] = self._hook.readiness(controller=controller)
        except Exception as exc:
            log.exception("an observer failed in readiness")
            return [f"readiness check failed: {exc}"]
        return [r for r in reasons if r]
