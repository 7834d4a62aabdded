"""``gc mail``: agents and humans writing to each other."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import click

from ..errors import GasCityError
from ..event_names import (
    MAIL_ARCHIVED,
    MAIL_DELETED,
    MAIL_MARKED_READ,
    MAIL_MARKED_UNREAD,
    MAIL_READ,
    MAIL_REPLIED,
    MAIL_SENT,
)
from ..mailrow import mail_event
from ..types import MailDraft, Message
from .common import (
    EXIT_FAILED,
    EXIT_PARTIAL,
    CliState,
    caller,
    echo_json,
    format_table,
    guard,
    pass_state,
)
from .lazy import PluginHostGroup
from .terminal import safe_line, safe_text

if TYPE_CHECKING:
    from ..city import LightCity

__all__ = ["mail"]


def _row(m: Message) -> list[str]:
    flags = ("" if m.read else "new") + (" archived" if m.archived else "")
    return [str(m.id), m.created_at.strftime("%Y-%m-%d %H:%M"), safe_line(m.sender),
            safe_line(m.subject[:50]), flags.strip()]


def _show(m: Message) -> str:
    head = [f"id:      {m.id} (thread {m.thread_id})", f"from:    {safe_line(m.sender)}",
            f"to:      {safe_line(m.recipient)}",
            f"date:    {m.created_at.isoformat(timespec='seconds')}",
            f"subject: {safe_line(m.subject)}"]
    return "\n".join(head) + "\n\n" + safe_text(m.body)


@click.group(cls=PluginHostGroup)
def mail() -> None:
    """Send, read and archive mail between agents."""


def _record(city: LightCity, type_: str, actor: str, msg: Message | None,
            message: str, **extra: Any) -> None:
    """Record a mail event; the mail is delivered whatever happens to the event."""
    try:
        city.hooks.emit_event(mail_event(type_, actor, msg, message, **extra))
    except GasCityError:
        pass  # the mail was delivered; a missing event must not say otherwise


def _notify(city: LightCity, recipient: str, msg: Message) -> str | None:
    """Nudge the recipient's session about new mail; the error text when it failed."""
    try:
        city.hooks.nudge(recipient, f"You have mail from {msg.sender} (gc mail read "
                                    f"{msg.id}): {msg.subject}")
    except GasCityError as exc:
        return str(exc)
    return None


@mail.command("send")
@click.argument("to", required=False)
@click.argument("text", metavar="[BODY]", required=False)
@click.option("--to", "to_option", metavar="NAME",
              help="The recipient (instead of the positional TO).")
@click.option("--from", "sender", default=None,
              help="Sender identity (default: $GC_AGENT, $GC_ALIAS, $GC_SESSION_ID, "
                   "or human).")
@click.option("-s", "--subject", default="", help="Subject line (default: the body's "
                                                  "first line).")
@click.option("-m", "--message", "--body", "body", default=None,
              help="The body text; '-' reads standard input.")
@click.option("--all", "broadcast", is_flag=True,
              help="Send to every live session (not the sender, not human).")
@click.option("--notify", is_flag=True, help="Nudge the recipient's session after sending.")
@click.option("--json", "as_json", is_flag=True, help="Print the sent message(s) as JSON.")
@pass_state
@guard
def send(state: CliState, to: str | None, text: str | None, to_option: str | None,
         sender: str | None, subject: str, body: str | None, broadcast: bool, notify: bool,
         as_json: bool) -> None:
    """Send a message to a session or human: gc mail send TO BODY.

    \b
    gc mail send mayor "Build is green"
    gc mail send mayor -s "Need review" -m "PR 42 is ready"
    gc mail send --to mayor "Build is green"
    gc mail send --all "Status update: tests passing"
    """
    sender = sender or caller()
    recipient, body = _addressing(to, text, to_option, body, broadcast)
    if body == "-":
        body = sys.stdin.read()
    if body is None and not subject:
        raise click.UsageError("missing the message: pass BODY, -m TEXT or -s SUBJECT")
    body = body or ""
    roles = ("mail", "events", "session") if broadcast or notify else ("mail", "events")
    with state.open_light(*roles) as city:
        if broadcast:
            recipients = sorted({r.name for r in city.hooks.list_running("")}
                                - {sender, "human"})
            if not recipients:
                raise click.ClickException("no live session to send to")
        else:
            assert recipient is not None
            recipients = [recipient]
        sent: list[Message] = []
        failed: dict[str, str] = {}
        for name in recipients:
            try:
                msg = city.hooks.send_mail(MailDraft(sender, name, subject, body))
            except GasCityError as exc:
                failed[name] = str(exc)
                continue
            sent.append(msg)
            _record(city, MAIL_SENT, sender, msg, name)
            if notify and (why := _notify(city, name, msg)):
                click.echo(f"gc: warning: sent {msg.id} but could not nudge {name}: {why}",
                           err=True)
    _report_sent(sent, failed, broadcast=broadcast, as_json=as_json)


def _addressing(to: str | None, text: str | None, to_option: str | None, body: str | None,
                broadcast: bool) -> tuple[str | None, str | None]:
    """(recipient, body) from the positional words and the options: ``TO BODY``, or
    ``BODY`` alone with ``--to``/``--all``; ``-m`` wins over a positional body."""
    words = [w for w in (to, text) if w is not None]
    if broadcast or to_option:
        if broadcast and to_option:
            raise click.UsageError("--all and --to exclude each other")
        if len(words) > 1:
            raise click.UsageError(f"unexpected extra argument {words[1]!r} (the recipient "
                                   "comes from " + ("--all" if broadcast else "--to") + ")")
        return to_option, body if body is not None else (words[0] if words else None)
    if not words:
        raise click.UsageError("missing the recipient: gc mail send TO BODY")
    return words[0], body if body is not None else (words[1] if len(words) > 1 else None)


def _report_sent(sent: list[Message], failed: dict[str, str], *, broadcast: bool,
                 as_json: bool) -> None:
    if as_json:
        echo_json([m.to_json() for m in sent] if broadcast else sent[0].to_json()
                  if sent else {})
    else:
        for m in sent:
            click.echo(f"sent {m.id} to {m.recipient}")
    if failed:
        for name, why in failed.items():
            click.echo(f"gc: sending to {name} failed: {why}", err=True)
        sys.exit(EXIT_PARTIAL if sent else EXIT_FAILED)


def _mailbox(session: str | None) -> str:
    return session or caller()


@mail.command("inbox")
@click.argument("session", required=False)
@click.option("--to", "to_option", metavar="NAME", help="Whose inbox (instead of SESSION).")
@click.option("--all", "include_read", is_flag=True, help="Include messages already read.")
@click.option("--archived", is_flag=True, help="Include archived messages.")
@click.option("--json", "as_json", is_flag=True, help="JSON output (one line each with -f).")
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new mail.")
@pass_state
@guard
def inbox(state: CliState, session: str | None, to_option: str | None, include_read: bool,
          archived: bool, as_json: bool, follow_: bool) -> None:
    """Unread mail of SESSION (default: your own, or human's).

    The mailbox defaults to $GC_AGENT, $GC_ALIAS or $GC_SESSION_ID inside a session,
    else human. --all includes messages already read.
    """
    if session and to_option and session != to_option:
        raise click.UsageError("give the mailbox once: SESSION or --to")
    name = _mailbox(session or to_option)
    with state.open_light("mail") as city:
        msgs = city.hooks.mail_inbox(name, include_read=include_read or follow_,
                                     include_archived=archived)
        if as_json and not follow_:
            echo_json([m.to_json() for m in msgs])
            return
        if not follow_:
            if not msgs:
                click.echo(f"no mail for {name}")
                return
            click.echo(format_table(["ID", "DATE", "FROM", "SUBJECT", ""],
                                    [_row(m) for m in msgs]))
            return
        seen = {m.id for m in msgs}
        for m in msgs:
            click.echo(json.dumps(m.to_json()) if as_json else "  ".join(_row(m)))
        try:
            while True:
                if city.hooks.wait_mail(name, 5.0) is None:
                    time.sleep(1.0)  # the store has no push: poll
                for m in city.hooks.mail_inbox(name, include_read=True):
                    if m.id not in seen:
                        seen.add(m.id)
                        click.echo(json.dumps(m.to_json()) if as_json else "  ".join(_row(m)))
        except KeyboardInterrupt:
            return


@mail.command("check")
@click.argument("session", required=False)
@click.option("--inject", is_flag=True,
              help="Print a <system-reminder> block for an agent hook (always exits 0).")
@pass_state
@guard
def check(state: CliState, session: str | None, inject: bool) -> None:
    """Whether SESSION has unread mail: exit 0 if so, 1 if not.

    The mailbox defaults to your own (or human's). With --inject, print the unread
    messages as a <system-reminder> block for hook injection and always exit 0.
    """
    name = _mailbox(session)
    try:
        with state.open_light("mail") as city:
            unread = city.hooks.mail_check(name)
    except (GasCityError, click.ClickException):
        if inject:
            return  # a hook must never fail its agent
        raise
    if inject:
        if unread:
            lines = ["<system-reminder>",
                     f"You have {len(unread)} unread message(s) (read one with: gc mail read "
                     "ID):"]
            lines += [f"- {m.id} from {safe_line(m.sender)}: {safe_line(m.subject)}"
                      for m in unread]
            lines.append("</system-reminder>")
            click.echo("\n".join(lines))
        return
    click.echo(f"{name}: {len(unread)} unread")
    sys.exit(0 if unread else 1)


@mail.command("read")
@click.argument("message_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@pass_state
@guard
def read(state: CliState, message_id: str, as_json: bool) -> None:
    """Show message ID and mark it read."""
    with state.open_light("mail", "events") as city:
        msg = city.hooks.read_mail(message_id)
        _record(city, MAIL_READ, caller(), msg, msg.recipient)
    if as_json:
        echo_json(msg.to_json())
    else:
        click.echo(_show(msg))


@mail.command("peek")
@click.argument("message_id", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@pass_state
@guard
def peek(state: CliState, message_id: str, as_json: bool) -> None:
    """Show message ID without marking it read."""
    with state.open_light("mail") as city:
        msg = city.hooks.get_mail(message_id)
    if msg is None:
        raise click.ClickException(f"no message {message_id}")
    if as_json:
        echo_json(msg.to_json())
    else:
        click.echo(_show(msg))


@mail.command("mark-read")
@click.argument("message_id", metavar="ID")
@pass_state
@guard
def mark_read(state: CliState, message_id: str) -> None:
    """Mark message ID read without showing it."""
    with state.open_light("mail", "events") as city:
        city.hooks.mark_read(message_id)
        msg = city.hooks.get_mail(message_id)
        _record(city, MAIL_MARKED_READ, caller(), msg, msg.recipient if msg else "")
    click.echo(f"{message_id}: read")


@mail.command("mark-unread")
@click.argument("message_id", metavar="ID")
@pass_state
@guard
def mark_unread(state: CliState, message_id: str) -> None:
    """Mark message ID unread: it shows in the inbox again."""
    with state.open_light("mail", "events") as city:
        city.hooks.mark_unread(message_id)
        _record(city, MAIL_MARKED_UNREAD, caller(), city.hooks.get_mail(message_id), "")
    click.echo(f"{message_id}: unread")


# The old name, kept for scripts written against it.
mail.add_command(click.Command("unread", callback=mark_unread.callback,
                               params=mark_unread.params, hidden=True,
                               help=mark_unread.help))


@mail.command("reply")
@click.argument("message_id", metavar="ID")
@click.argument("text", metavar="[BODY]", required=False)
@click.option("--from", "sender", default=None,
              help="Sender identity (default: $GC_AGENT, $GC_ALIAS, $GC_SESSION_ID, "
                   "or human).")
@click.option("-m", "--message", "--body", "body", default=None,
              help="The reply's text; '-' reads standard input.")
@click.option("-s", "--subject", default=None, help="Default: Re: <original subject>.")
@click.option("--notify", is_flag=True, help="Nudge the recipient's session after replying.")
@click.option("--json", "as_json", is_flag=True, help="Print the reply as JSON.")
@pass_state
@guard
def reply(state: CliState, message_id: str, text: str | None, sender: str | None,
          body: str | None, subject: str | None, notify: bool, as_json: bool) -> None:
    """Reply to message ID's sender, in its thread."""
    body = body if body is not None else text
    if body == "-":
        body = sys.stdin.read()
    if body is None:
        raise click.UsageError("missing the reply: pass BODY or -m TEXT")
    sender = sender or caller()
    roles = ("mail", "events", "session") if notify else ("mail", "events")
    with state.open_light(*roles) as city:
        msg = city.hooks.reply_mail(message_id, sender, body, subject)
        _record(city, MAIL_REPLIED, sender, msg, msg.recipient, reply_to=message_id)
        if notify and (why := _notify(city, msg.recipient, msg)):
            click.echo(f"gc: warning: could not nudge {msg.recipient}: {why}", err=True)
    if as_json:
        echo_json(msg.to_json())
    else:
        click.echo(f"sent {msg.id} to {msg.recipient} (thread {msg.thread_id})")


@mail.command("thread")
@click.argument("message_id", metavar="THREAD_ID")
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@pass_state
@guard
def thread(state: CliState, message_id: str, as_json: bool) -> None:
    """Every message of a thread, oldest first (any message's id names its thread)."""
    with state.open_light("mail") as city:
        msg = city.hooks.get_mail(message_id)
        if msg is None:
            raise click.ClickException(f"no message {message_id}")
        msgs = city.hooks.mail_thread(msg.thread_id)
    if as_json:
        echo_json([m.to_json() for m in msgs])
        return
    click.echo("\n\n---\n\n".join(_show(m) for m in msgs))


def _close(state: CliState, message_id: str, type_: str, word: str) -> None:
    with state.open_light("mail", "events") as city:
        hooks = city.hooks
        won = hooks.delete_mail(message_id) if type_ == MAIL_DELETED else hooks.archive_mail(
            message_id)
        if won:
            _record(city, type_, caller(), city.hooks.get_mail(message_id), "")
    if not won:
        raise click.ClickException(f"{message_id}: already archived")
    click.echo(f"{message_id}: {word}")


@mail.command("archive")
@click.argument("message_id", metavar="ID")
@pass_state
@guard
def archive(state: CliState, message_id: str) -> None:
    """Archive message ID without reading it: it leaves inbox and check."""
    _close(state, message_id, MAIL_ARCHIVED, "archived")


@mail.command("delete")
@click.argument("message_id", metavar="ID")
@pass_state
@guard
def delete(state: CliState, message_id: str) -> None:
    """Delete message ID (closes it, as archive does)."""
    _close(state, message_id, MAIL_DELETED, "deleted")


@mail.command("count")
@click.argument("session", required=False)
@click.option("--json", "as_json", is_flag=True, help="JSON output.")
@pass_state
@guard
def count(state: CliState, session: str | None, as_json: bool) -> None:
    """Open and unread counts of SESSION's mailbox (default: your own, or human's)."""
    name = _mailbox(session)
    with state.open_light("mail") as city:
        c = city.hooks.mail_count(name)
    if as_json:
        echo_json({"open": c.open, "unread": c.unread})
    else:
        click.echo(f"{name}: {c.unread} unread, {c.open} open")
