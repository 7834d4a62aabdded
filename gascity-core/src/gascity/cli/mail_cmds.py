"""``gc mail``: agents and humans writing to each other."""

from __future__ import annotations

import json
import sys
import time

import click

from ..types import MailDraft, Message
from .common import CliState, echo_json, format_table, guard, pass_state
from .lazy import PluginHostGroup

__all__ = ["mail"]


def _row(m: Message) -> list[str]:
    flags = ("" if m.read else "new") + (" archived" if m.archived else "")
    return [str(m.id), m.created_at.strftime("%Y-%m-%d %H:%M"), m.sender, m.subject[:50],
            flags.strip()]


def _show(m: Message) -> str:
    head = [f"id:      {m.id} (thread {m.thread_id})", f"from:    {m.sender}",
            f"to:      {m.recipient}", f"date:    {m.created_at.isoformat(timespec='seconds')}",
            f"subject: {m.subject}"]
    return "\n".join(head) + "\n\n" + m.body


@click.group(cls=PluginHostGroup)
def mail() -> None:
    """Send, read and archive mail between agents."""


@mail.command("send")
@click.option("--from", "sender", required=True)
@click.option("--to", "recipient", required=True)
@click.option("--subject", default="", help="Default: the body's first line.")
@click.option("--body", required=True, help="The text; '-' reads standard input.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@guard
def send(state: CliState, sender: str, recipient: str, subject: str, body: str,
         as_json: bool) -> None:
    """Send one message."""
    if body == "-":
        body = sys.stdin.read()
    with state.open_light("mail") as city:
        msg = city.hooks.send_mail(MailDraft(sender, recipient, subject, body))
    if as_json:
        echo_json(msg.to_json())
    else:
        click.echo(f"sent {msg.id} to {recipient}")


@mail.command("inbox")
@click.argument("name")
@click.option("--all", "include_read", is_flag=True, help="Include messages already read.")
@click.option("--archived", is_flag=True, help="Include archived messages.")
@click.option("--json", "as_json", is_flag=True)
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new mail.")
@pass_state
@guard
def inbox(state: CliState, name: str, include_read: bool, archived: bool, as_json: bool,
          follow_: bool) -> None:
    """NAME's unread mail (with --all, everything not archived)."""
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


@mail.command("read")
@click.argument("message_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@guard
def read(state: CliState, message_id: int, as_json: bool) -> None:
    """Show a message and mark it read."""
    with state.open_light("mail") as city:
        msg = city.hooks.read_mail(message_id)
    if as_json:
        echo_json(msg.to_json())
    else:
        click.echo(_show(msg))


@mail.command("unread")
@click.argument("message_id", type=int)
@pass_state
@guard
def unread(state: CliState, message_id: int) -> None:
    """Mark a message unread."""
    with state.open_light("mail") as city:
        city.hooks.mark_unread(message_id)
    click.echo(f"{message_id}: unread")


@mail.command("reply")
@click.argument("message_id", type=int)
@click.option("--from", "sender", required=True)
@click.option("--body", required=True)
@click.option("--subject", default=None, help="Default: Re: <original subject>.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@guard
def reply(state: CliState, message_id: int, sender: str, body: str, subject: str | None,
          as_json: bool) -> None:
    """Reply to a message's sender, in its thread."""
    with state.open_light("mail") as city:
        msg = city.hooks.reply_mail(message_id, sender, body, subject)
    if as_json:
        echo_json(msg.to_json())
    else:
        click.echo(f"sent {msg.id} to {msg.recipient} (thread {msg.thread_id})")


@mail.command("thread")
@click.argument("message_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@pass_state
@guard
def thread(state: CliState, message_id: int, as_json: bool) -> None:
    """Every message in the thread of MESSAGE_ID."""
    with state.open_light("mail") as city:
        msg = city.hooks.get_mail(message_id)
        if msg is None:
            raise click.ClickException(f"no message {message_id}")
        msgs = city.hooks.mail_thread(msg.thread_id)
    if as_json:
        echo_json([m.to_json() for m in msgs])
        return
    click.echo("\n\n---\n\n".join(_show(m) for m in msgs))


@mail.command("archive")
@click.argument("message_id", type=int)
@pass_state
@guard
def archive(state: CliState, message_id: int) -> None:
    """Archive a message."""
    with state.open_light("mail") as city:
        won = city.hooks.archive_mail(message_id)
    if not won:
        raise click.ClickException(f"{message_id}: already archived")
    click.echo(f"{message_id}: archived")


@mail.command("count")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@guard
def count(state: CliState, name: str, as_json: bool) -> None:
    """Open and unread counts of NAME's mailbox."""
    with state.open_light("mail") as city:
        c = city.hooks.mail_count(name)
    if as_json:
        echo_json({"open": c.open, "unread": c.unread})
    else:
        click.echo(f"{name}: {c.unread} unread, {c.open} open")
