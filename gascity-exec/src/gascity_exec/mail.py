"""The ``exec:`` mail backend: the reference's mail script protocol.

``script send <to>`` and ``script reply <id>`` take ``{"from","subject","body"}`` on
stdin and print the message; ``inbox <recipient>`` (unread), ``all <recipient>``
(open: read and unread), ``thread <id>`` print a JSON array; ``get <id>`` and
``read <id>`` print one message; ``check <recipient>`` prints the unread ones
without marking them; ``mark-read``, ``mark-unread``, ``archive``, ``delete`` print
nothing (stderr "already archived" on a second archive or delete); ``count <recipient>`` prints
``{"total","unread"}``; ``ensure-running`` once per process. Ids are the script's
strings. A message is the reference's JSON: ``id, from, to, subject, body,
created_at`` (RFC 3339), ``read``, and ``thread_id`` / ``reply_to`` when set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gascity import hookimpl
from gascity.errors import MailNotFound, StoreUnavailable, Unsupported
from gascity.mailrow import default_subject, reply_subject
from gascity.plugins import PluginContext
from gascity.types import MailCount, MailDraft, Message

from .scriptstore import ScriptClient, parse_rfc3339
from .wire import go_json

__all__ = ["ExecMail", "message_from_json"]

_NOT_FOUND = re.compile(r"not found|no such|does not exist|unknown (message|id)", re.I)


def message_from_json(data: Any) -> Message:
    if not isinstance(data, Mapping):
        raise ValueError(f"a message is a JSON object, not {type(data).__name__}")
    mid = data.get("id")
    if not isinstance(mid, str | int) or isinstance(mid, bool) or str(mid) == "":
        raise ValueError(f"'id' must be a non-empty string, got {mid!r}")
    created = data.get("created_at")
    if not isinstance(created, str):
        raise ValueError(f"'created_at' must be an RFC 3339 string, got {created!r}")
    when = parse_rfc3339(created)
    reply_to = data.get("reply_to") or None
    return Message(
        id=str(mid),
        thread_id=str(data.get("thread_id") or mid),
        reply_to=None if reply_to is None else str(reply_to),
        sender=str(data.get("from") or ""),
        recipient=str(data.get("to") or ""),
        subject=str(data.get("subject") or ""),
        body=str(data.get("body") or ""),
        created_at=when,
        # The protocol says whether, not when: the creation time stands in.
        read_at=when if data.get("read") else None,
    )


class ExecMail:
    """Entry point ``exec`` in ``gascity.mail``: ``[mail] provider = "exec:<script>"``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.client = ScriptClient(ctx, "mail")

    # ------------------------------------------------------------- plumbing

    def _run(self, args: list[str], stdin: bytes | None = None) -> str | None:
        try:
            return self.client.run(args, stdin)
        except StoreUnavailable as exc:
            if len(args) > 1 and _NOT_FOUND.search(str(exc)):
                raise MailNotFound(str(exc)) from exc
            raise

    def _one(self, args: list[str], stdin: bytes | None = None) -> Message:
        out = self._run(args, stdin)
        if not out:
            raise Unsupported(f"{self.client.script} does not implement {args[0]}")
        try:
            return message_from_json(json.loads(out))
        except ValueError as exc:
            raise self.client.garbage(args, out, "a message as JSON", exc) from exc

    def _many(self, args: list[str]) -> list[Message]:
        return self.client.parse_array(args, self._run(args) or "", message_from_json, "messages")

    @staticmethod
    def _letter(sender: str, subject: str, body: str) -> bytes:
        return go_json({"from": sender, "subject": subject, "body": body})

    # ---------------------------------------------------------------- hooks

    @hookimpl
    def send_mail(self, draft: MailDraft) -> Message:
        subject = default_subject(draft.subject, draft.body)
        if draft.reply_to is not None:
            return self._one(
                ["reply", draft.reply_to], self._letter(draft.sender, subject, draft.body)
            )
        return self._one(["send", draft.recipient], self._letter(draft.sender, subject, draft.body))

    @hookimpl
    def mail_inbox(
        self, recipient: str, include_read: bool, include_archived: bool, limit: int | None
    ) -> list[Message]:
        if include_archived:
            raise Unsupported("the exec mail protocol does not list archived messages")
        messages = self._many(["all" if include_read else "inbox", recipient])
        return messages if limit is None else messages[:limit]

    @hookimpl
    def get_mail(self, message_id: str) -> Message | None:
        try:
            return self._one(["get", message_id])
        except MailNotFound:
            return None

    @hookimpl
    def read_mail(self, message_id: str) -> Message:
        return self._one(["read", message_id])

    @hookimpl
    def mark_unread(self, message_id: str) -> bool:
        self._run(["mark-unread", message_id])
        return True

    @hookimpl
    def mark_read(self, message_id: str) -> bool:
        self._run(["mark-read", message_id])
        return True

    def _close(self, op: str, message_id: str) -> bool:
        try:
            self._run([op, message_id])
        except StoreUnavailable as exc:
            if "already archived" in str(exc):
                return False
            raise
        return True

    @hookimpl
    def archive_mail(self, message_id: str) -> bool:
        return self._close("archive", message_id)

    @hookimpl
    def delete_mail(self, message_id: str) -> bool:
        return self._close("delete", message_id)

    @hookimpl
    def mail_check(self, recipient: str) -> list[Message]:
        return self._many(["check", recipient])

    @hookimpl
    def reply_mail(self, message_id: str, sender: str, body: str, subject: str | None) -> Message:
        if subject is None:
            original = self.get_mail(message_id)
            if original is None:
                raise MailNotFound(f"no message {message_id}")
            subject = reply_subject(original.subject)
        return self._one(["reply", message_id], self._letter(sender, subject, body))

    @hookimpl
    def mail_thread(self, thread_id: str) -> list[Message]:
        return self._many(["thread", thread_id])

    @hookimpl
    def mail_counts(self, recipients: Sequence[str]) -> dict[str, MailCount]:
        # The reference's script protocol has no op counting many mailboxes: one
        # ``count <recipient>`` each, as its own callers do.
        return {name: self.mail_count(name) for name in recipients}

    @hookimpl
    def mail_count(self, recipient: str) -> MailCount:
        args = ["count", recipient]
        out = self._run(args)
        if not out:
            return MailCount(open=0, unread=0)
        try:
            data = json.loads(out)
            total, unread = data["total"], data["unread"]
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in (total, unread)):
                raise ValueError("total and unread must be integers")
        except (ValueError, KeyError, TypeError) as exc:
            raise self.client.garbage(args, out, '{"total":N,"unread":N}', exc) from exc
        return MailCount(open=total, unread=unread)


if TYPE_CHECKING:
    from gascity.hookspecs import MailStore

    # mypy checks the class against the role's hook contract.
    _contract: type[MailStore] = ExecMail
