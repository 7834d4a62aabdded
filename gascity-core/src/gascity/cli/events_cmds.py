"""``gc events`` and ``gc event emit``."""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import click

from ..config.durations import parse_duration
from ..event_names import canonical
from ..eventlog import follow
from ..types import Event, EventDraft, EventFilter
from .common import CliState, caller, echo_json, format_table, guard, parse_when, pass_state
from .fast import SPOOLED
from .lazy import PluginHostGroup
from .terminal import safe_line

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
    return safe_line(f"{event.seq:>6} {ts} {event.type}{who}{subject}{message}")


def parse_payload_match(args: tuple[str, ...]) -> dict[str, list[str]]:
    """``key=value`` options as the reference reads them: one key repeated is OR,
    different keys are AND."""
    wanted: dict[str, list[str]] = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{arg!r}: expected key=value",
                                     param_hint="--payload-match")
        wanted.setdefault(key, []).append(value)
    return wanted


def payload_matches(payload: Any, wanted: dict[str, list[str]]) -> bool:
    if not wanted:
        return True
    if not isinstance(payload, dict):
        return False  # an array or a string has no fields to match
    for key, values in wanted.items():
        if key not in payload:
            return False
        got = payload[key]
        text = got if isinstance(got, str) else json.dumps(got)
        if text not in values:
            return False
    return True


def _print(event: Event, as_json: bool) -> None:
    click.echo(json.dumps(event.to_json(), default=str) if as_json else _line(event))


@click.group(cls=PluginHostGroup, invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--type", "types", multiple=True,
              help="Only events of this type, e.g. session.woke (repeatable).")
@click.option("--actor", help="Only events recorded by this actor.")
@click.option("--subject", help="Only events about this subject (a session, agent, ...).")
@click.option("--since", help="Only events since a duration ago (10m, 1h) or an ISO time.")
@click.option("--payload-match", "payload_match", multiple=True, metavar="KEY=VALUE",
              help="Only events whose payload field KEY equals VALUE (repeatable: the "
                   "same key is OR, different keys AND).")
@click.option("--after", "after", type=click.IntRange(min=0), default=0,
              help="Only events with a sequence number above AFTER; with --watch, "
                   "0 means the current head.")
@click.option("-n", "--limit", type=click.IntRange(min=0), default=50, show_default=True,
              help="Show the newest N (0 = all).")
@click.option("-f", "--follow", "follow_", is_flag=True,
              help="Keep printing new events as they are recorded (Ctrl-C ends).")
@click.option("--watch", is_flag=True,
              help="Block until matching events arrive, print them as JSON lines and "
                   "exit; nothing printed means --timeout passed.")
@click.option("--timeout", default="30s", show_default=True,
              help="How long --watch waits (30s, 5m).")
@click.option("--seq", "head", is_flag=True,
              help="Print the current head sequence number and exit.")
@click.pass_context
@guard
def events(ctx: click.Context, as_json: bool, types: tuple[str, ...], actor: str | None,
           subject: str | None, since: str | None, payload_match: tuple[str, ...],
           after: int, limit: int, follow_: bool, watch: bool, timeout: str,
           head: bool) -> None:
    """Show the city's events (newest last), or wait for new ones."""
    if ctx.invoked_subcommand is not None:
        return
    state: CliState = ctx.obj
    wanted = parse_payload_match(payload_match)
    types = tuple(canonical(t) for t in types)
    try:
        wait_seconds = parse_duration(timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--timeout") from None
    with state.open_light("events") as city:
        if head:
            click.echo(city.hooks.latest_event_seq())
            return
        if watch:
            _watch(city, EventFilter(types=types, actor=actor, subject=subject,
                                     after_seq=after or city.hooks.latest_event_seq()),
                   wanted, wait_seconds)
            return
        filt = EventFilter(
            types=types, actor=actor, subject=subject,
            since=parse_when(since) if since else None, after_seq=after,
            limit=None if wanted else (limit or None),
            newest=bool(limit) and not after and not wanted,
        )
        shown = city.hooks.list_events(filt)
        last_seq = shown[-1].seq if shown else 0
        shown = [e for e in shown if payload_matches(e.payload, wanted)]
        if wanted and limit:
            shown = shown[-limit:]
        for event in shown:
            _print(event, as_json)
        if not follow_:
            return
        start = last_seq or max(after, city.hooks.latest_event_seq())
        poll, grace = _follow_timing(city)
        stop = threading.Event()
        # A store that can say when it changed (the file store: inotify) wakes the
        # follower at once; a re-read every few seconds stays as a safety net.
        make_watch = getattr(city.pm.instances.get("events"), "change_watch", None)
        change = make_watch() if callable(make_watch) else None
        if change is not None and getattr(change, "uses_inotify", False):
            poll = max(poll, _SAFETY_POLL)
        _interrupt_on_hangup_and_term()
        try:
            for event in follow(city.hooks, EventFilter(
                    types=types, actor=actor, subject=subject, after_seq=start),
                    poll_interval=poll, grace=grace, stop=stop,
                    wait=change.wait if change is not None else None):
                if payload_matches(event.payload, wanted):
                    _print(event, as_json)
        except KeyboardInterrupt:
            stop.set()
        finally:
            if change is not None:
                change.close()


def _interrupt_on_hangup_and_term() -> None:
    """A ``kill`` or a closed terminal ends a follower as Ctrl-C does.

    A store's watcher (the exec ``watch`` script) runs in its own session, so nothing but
    gc's own cleanup ends it; Python's default SIGTERM and SIGHUP would exit without
    that cleanup and leave the watcher running."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt)


def _watch(city: LightCity, filt: EventFilter, wanted: dict[str, list[str]],
           timeout: float) -> None:
    """The reference's ``--watch``: the first batch of matches after the start, as JSON
    lines; an empty output (exit 0) when ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    after = filt.after_seq
    poll, _grace = _follow_timing(city)
    while True:
        batch = city.hooks.list_events(replace(filt, after_seq=after))
        if batch:
            after = batch[-1].seq
        matches = [e for e in batch if payload_matches(e.payload, wanted)]
        if matches:
            for event in matches:
                _print(event, True)
            return
        left = deadline - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(poll, 0.25, left))


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
@click.option("--actor", default="",
              help="Who records it (default: $GC_AGENT, else $GC_ALIAS, else "
                   "$GC_SESSION_ID, else human).")
@click.option("--subject", default="", help="What it is about (a session, agent, id).")
@click.option("--message", default="", help="One line of text.")
@click.option("--payload", default="{}", show_default=True,
              help="Any JSON value to attach (an object, array, string, ...).")
@click.option("--json", "as_json", is_flag=True, help="Print the recorded event as JSON.")
@pass_state
@guard
def event_emit(state: CliState, type_: str, actor: str, subject: str, message: str,
               payload: str, as_json: bool) -> None:
    """Record one event of TYPE (e.g. build.done) in the city's event log."""
    if not type_.strip():
        raise click.BadParameter("an event type must not be empty (e.g. build.done)",
                                 param_hint="TYPE")
    try:
        data: Any = json.loads(payload)
    except ValueError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint="--payload") from None
    with state.open_light("events") as city:
        draft = EventDraft(
            type=type_, actor=actor or caller(), subject=subject, message=message,
            payload=data)
        try:
            recorded = city.hooks.record_event(draft)
        except OSError as exc:
            raise click.ClickException(f"the event was not recorded: {exc}") from None
    if recorded is None:
        # The store accepted it without a seq: it is spooled and will be recorded once
        # the store is back, so a retry would only duplicate it. Success, said plainly.
        click.echo(SPOOLED, err=True)
        return
    if as_json:
        echo_json(recorded.to_json())
    else:
        click.echo(recorded.seq)


_ = format_table  # re-exported for plugins extending `gc events`
