"""``gc events`` and ``gc event emit``."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from ..config.durations import parse_duration
from ..eventlog import follow
from ..types import Event, EventDraft, EventFilter
from .common import CliState, echo_json, format_table, guard, parse_when, pass_state
from .lazy import PluginHostGroup

if TYPE_CHECKING:
    from ..city import LightCity

__all__ = ["event", "events"]


def _line(event: Event) -> str:
    ts = event.ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    who = f" [{event.actor}]" if event.actor else ""
    subject = f" {event.subject}" if event.subject else ""
    text = event.message
    if event.subject and text.startswith(f"{event.subject}: "):
        text = text[len(event.subject) + 2 :]  # messages lead with their subject
    message = f": {text}" if text else ""
    return f"{event.seq:>6} {ts} {event.type}{who}{subject}{message}"


@click.group(cls=PluginHostGroup, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--type", "types", multiple=True, help="Only this type (repeatable).")
@click.option("--actor")
@click.option("--subject")
@click.option("--since", help="A duration back from now (10m) or an ISO time.")
@click.option("--after", "after", type=int, default=0, help="Only events with seq > AFTER.")
@click.option("-n", "--limit", type=int, default=50, show_default=True,
              help="Show the newest N (0 = all).")
@click.option("-f", "--follow", "follow_", is_flag=True, help="Keep printing new events.")
@click.pass_context
@guard
def events(ctx: click.Context, as_json: bool, types: tuple[str, ...], actor: str | None,
           subject: str | None, since: str | None, after: int, limit: int,
           follow_: bool) -> None:
    """Show the city's events (newest last)."""
    if ctx.invoked_subcommand is not None:
        return
    state: CliState = ctx.obj
    filt = EventFilter(
        types=types, actor=actor, subject=subject,
        since=parse_when(since) if since else None, after_seq=after,
        limit=limit or None, newest=bool(limit) and not after,
    )
    with state.open_light("events") as city:
        shown = city.hooks.list_events(filt)
        for event in shown:
            click.echo(json.dumps(event.to_json()) if as_json else _line(event))
        if not follow_:
            return
        start = shown[-1].seq if shown else max(after, city.hooks.latest_event_seq())
        poll, grace = _follow_timing(city)
        stop = threading.Event()
        # A store that can say when it changed (the file store: inotify) wakes the
        # follower at once; a re-read every few seconds stays as a safety net.
        make_watch = getattr(city.pm.instances.get("events"), "change_watch", None)
        watch = make_watch() if callable(make_watch) else None
        if watch is not None and getattr(watch, "uses_inotify", False):
            poll = max(poll, _SAFETY_POLL)
        try:
            for event in follow(city.hooks, EventFilter(
                    types=types, actor=actor, subject=subject, after_seq=start),
                    poll_interval=poll, grace=grace, stop=stop,
                    wait=watch.wait if watch is not None else None):
                click.echo(json.dumps(event.to_json()) if as_json else _line(event))
        except KeyboardInterrupt:
            stop.set()
        finally:
            if watch is not None:
                watch.close()


_SAFETY_POLL = 5.0
"""Seconds between reads of a store that notifies of changes, in case one is missed."""


def _follow_timing(city: LightCity) -> tuple[float, float]:
    """``poll_interval`` / ``follow_grace`` from the store's own table, if it has them."""
    selected = city.selected("events")
    table = city.plugin_settings("events", selected.name) if selected else {}
    try:
        poll = parse_duration(table.get("poll_interval", 0.5))
        grace = parse_duration(table.get("follow_grace", 2.0))
    except ValueError:
        return 0.5, 2.0
    return max(poll, 0.05), grace


@events.command("prune")
@click.option("--older-than", "older_than", required=True, help="A duration, e.g. 24h.")
@pass_state
@guard
def events_prune(state: CliState, older_than: str) -> None:
    """Delete events older than a duration."""
    try:
        seconds = parse_duration(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    with state.open_light("events") as city:
        removed = city.hooks.prune_events(datetime.now(UTC) - timedelta(seconds=seconds))
    click.echo(f"pruned {removed} event(s) older than {older_than}")


@click.group()
def event() -> None:
    """Record events."""


@event.command("emit")
@click.argument("type_", metavar="TYPE")
@click.option("--actor", default="")
@click.option("--subject", default="")
@click.option("--message", default="")
@click.option("--payload", default="{}", help="A JSON object.")
@click.option("--json", "as_json", is_flag=True)
@pass_state
@guard
def event_emit(state: CliState, type_: str, actor: str, subject: str, message: str,
               payload: str, as_json: bool) -> None:
    """Record one event of TYPE."""
    try:
        data: Any = json.loads(payload)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--payload") from None
    if not isinstance(data, dict):
        raise click.BadParameter("expected a JSON object", param_hint="--payload")
    with state.open_light("events") as city:
        recorded = city.hooks.emit_event(EventDraft(
            type=type_, actor=actor or "cli", subject=subject, message=message, payload=data))
    if recorded is None:
        raise click.ClickException("the event store did not record the event (see the log)")
    if as_json:
        echo_json(recorded.to_json())
    else:
        click.echo(recorded.seq)




_ = format_table  # re-exported for plugins extending `gc events`
