"""The typed facade over ``pm.hook``: the only way the rest of Gas City calls plugins.

Each method has the real signature and return type, turns "no plugin answered"
(``None`` from a select-one hook) into :class:`~gascity.errors.Unsupported`, and keeps
the reconciler safe from event-store failures.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import pluggy

from ..coordination import Coordination
from ..errors import Unsupported
from ..types import (
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
T = TypeVar("T")


def _need(value: T | None, hook: str) -> T:
    if value is None:
        raise Unsupported(f"the selected plugin does not implement '{hook}'")
    return value


class Hooks:
    def __init__(self, pm: pluggy.PluginManager) -> None:
        self._hook: Any = pm.hook

    # ------------------------------------------------------------------ session

    def list_running(self, prefix: str = "") -> list[RunningSession]:
        return _need(self._hook.list_running(prefix=prefix), "list_running")

    def start(self, name: str, config: StartConfig) -> None:
        _need(self._hook.start(name=name, config=config), "start")

    def stop(self, name: str) -> bool:
        return bool(_need(self._hook.stop(name=name), "stop"))

    def interrupt(self, name: str) -> None:
        _need(self._hook.interrupt(name=name), "interrupt")

    def nudge(self, name: str, text: str) -> None:
        _need(self._hook.nudge(name=name, text=text), "nudge")

    def peek(self, name: str, lines: int = 50) -> str:
        return str(_need(self._hook.peek(name=name, lines=lines), "peek"))

    def get_meta(self, name: str, key: str) -> str | None:
        result: str | None = self._hook.get_meta(name=name, key=key)
        return result

    def set_meta(self, name: str, key: str, value: str) -> None:
        _need(self._hook.set_meta(name=name, key=key, value=value), "set_meta")

    def remove_meta(self, name: str, key: str) -> None:
        _need(self._hook.remove_meta(name=name, key=key), "remove_meta")

    def process_alive(self, name: str, process_names: Sequence[str]) -> bool | None:
        result: bool | None = self._hook.process_alive(name=name, process_names=process_names)
        return result

    def attach(self, name: str) -> int:
        return int(_need(self._hook.attach(name=name), "attach"))

    def last_activity(self, name: str) -> datetime | None:
        result: datetime | None = self._hook.last_activity(name=name)
        return result

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
        return _need(self._hook.list_events(filter=filter or EventFilter()), "list_events")

    def latest_event_seq(self) -> int:
        return int(_need(self._hook.latest_event_seq(), "latest_event_seq"))

    def prune_events(self, before: datetime) -> int:
        return int(_need(self._hook.prune_events(before=before), "prune_events"))

    # --------------------------------------------------------------------- mail

    def send_mail(self, draft: MailDraft) -> Message:
        sent: Message = _need(self._hook.send_mail(draft=draft), "send_mail")
        return sent

    def mail_inbox(
        self,
        recipient: str,
        *,
        include_read: bool = True,
        include_archived: bool = False,
        limit: int | None = None,
    ) -> list[Message]:
        return _need(
            self._hook.mail_inbox(
                recipient=recipient,
                include_read=include_read,
                include_archived=include_archived,
                limit=limit,
            ),
            "mail_inbox",
        )

    def get_mail(self, message_id: int) -> Message | None:
        result: Message | None = self._hook.get_mail(message_id=message_id)
        return result

    def read_mail(self, message_id: int) -> Message:
        message: Message = _need(self._hook.read_mail(message_id=message_id), "read_mail")
        return message

    def mark_unread(self, message_id: int) -> None:
        _need(self._hook.mark_unread(message_id=message_id), "mark_unread")

    def archive_mail(self, message_id: int) -> bool:
        return bool(_need(self._hook.archive_mail(message_id=message_id), "archive_mail"))

    def reply_mail(
        self, message_id: int, sender: str, body: str, subject: str | None = None
    ) -> Message:
        reply: Message = _need(
            self._hook.reply_mail(message_id=message_id, sender=sender, body=body, subject=subject),
            "reply_mail",
        )
        return reply

    def mail_thread(self, thread_id: int) -> list[Message]:
        return _need(self._hook.mail_thread(thread_id=thread_id), "mail_thread")

    def mail_count(self, recipient: str) -> MailCount:
        count: MailCount = _need(self._hook.mail_count(recipient=recipient), "mail_count")
        return count

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
