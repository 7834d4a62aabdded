"""The agents' hottest ``gc`` calls without click or the plugin manager.

``gc event emit``, ``gc mail send`` and ``gc runtime drain-ack`` run in every agent's
loop. On the embedded backends (``file`` events, ``sqlite`` mail, ``subprocess``
sessions) this module parses their arguments, builds the one built-in plugin each
needs and calls it directly: no click, no pluggy manager, no facade.

Where the city selects a built-in store and its settings need no validation (see
:data:`SETTINGS`; no ``GC_<PLUGIN>_<KEY>`` override), the store's own stdlib-only writer is called
without building the plugin at all (:mod:`gascity.builtin.eventlines`): no
dataclasses, pathlib, logging or pluggy get imported.

It is narrow on purpose and never different: :func:`run` returns ``None`` (and the
click command runs instead) for anything it does not handle exactly as the click
command would: ``--help``, an option it does not know, a usage or input error, a
broken city.toml (the click path falls back to the last good config), a backend
other than the built-in one, ``[plugins] disabled``, ``--all``/``--notify``/``-``
for mail, or a store raising before anything was printed. What each command accepts
is :data:`SPECS`; ``tests/test_cli_fast.py`` derives the same from the click
commands and fails when the two drift.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

TYPE_CHECKING = False  # typing loads anyway, but a NamedTuple class costs ms here
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from ..config.light import CityFile
    from ..plugins.epcache import FoundEntryPoint
    from ..types import Event, EventDraft, Message

__all__ = ["SPECS", "SPOOLED", "Spec", "run"]

SPOOLED = ("gc: spooled: the event store is unreachable; the event is kept and will be "
           "recorded when it is back (do not retry)")
"""What ``gc event emit`` says when the store accepted the event without a seq."""


class Spec:
    """One command's parameters as click declares them."""

    __slots__ = ("arguments", "flags", "options")

    def __init__(self, arguments: tuple[str, ...], options: dict[str, str],
                 flags: dict[str, str]) -> None:
        self.arguments = arguments
        """Positional parameter names, in order."""
        self.options = options
        """Every spelling of an option taking a value -> its parameter name."""
        self.flags = flags
        """Every spelling of a boolean flag -> its parameter name."""


SPECS: dict[tuple[str, str], Spec] = {
    ("event", "emit"): Spec(
        ("type_",),
        {"--actor": "actor", "--subject": "subject", "--message": "message",
         "--payload": "payload"},
        {"--json": "as_json"},
    ),
    ("mail", "send"): Spec(
        ("to", "text"),
        {"--to": "to_option", "--from": "sender", "-s": "subject", "--subject": "subject",
         "-m": "body", "--message": "body", "--body": "body"},
        {"--all": "broadcast", "--notify": "notify", "--json": "as_json"},
    ),
    ("runtime", "drain-ack"): Spec(("name",), {"--session": "name_option"}, {}),
}

_GROUPS = {"session": "gascity.session", "events": "gascity.events", "mail": "gascity.mail"}
_ENV = {"session": "GC_SESSION", "events": "GC_EVENTS", "mail": "GC_MAIL"}
_BUILTIN = {"session": "subprocess", "events": "file", "mail": "sqlite"}
_CORE = "gascity-core"
_SETTINGS_ENV = {"session": "GC_SUBPROCESS_", "events": "GC_FILE_EVENTS_",
                 "mail": "GC_SQLITE_MAIL_"}
SETTINGS: dict[str, dict[str, str]] = {
    "session": {"stop_grace": "positive", "kill_wait": "positive",
                "nudge_timeout": "positive"},
    "events": {"fsync": "bool", "poll_interval": "positive", "follow_grace": "positive",
               "inotify": "bool"},
    "mail": {"busy_timeout": "positive"},
}
"""The built-in plugins' settings fields, and which values the fast path takes as they
are: a boolean for ``bool``, a finite number above 0 for ``positive``
(``tests/test_cli_fast.py`` checks both against the settings classes and their
validator). With only such values the store is written without building the plugin;
anything else (a duration written ``"30s"``, an environment override, an unknown key)
builds the plugin, which validates it and reports a bad value."""


def _plain(kind: str, value: object) -> bool:
    """Is ``value`` one the settings validator takes unchanged for a field of ``kind``?"""
    if kind == "bool":
        return isinstance(value, bool)
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and 0 < value < float("inf"))


class _Fallback(Exception):
    """Hand the call to the click command."""


def run(argv: list[str]) -> int | None:
    """Run ``gc ARGV`` here and return its exit code, or ``None``: use click."""
    try:
        city_option, rest = _root_options(argv)
        if len(rest) < 2 or (rest[0], rest[1]) not in SPECS:
            return None
        command = (rest[0], rest[1])
        params = _parse(SPECS[command], rest[2:])
        return _HANDLERS[command](city_option, params)
    except _Fallback:
        return None


def _root_options(argv: list[str]) -> tuple[str | None, list[str]]:
    city: str | None = None
    rest = list(argv)
    while rest and rest[0].startswith("-"):
        if rest[0] == "--city" and len(rest) > 1:
            city, rest = rest[1], rest[2:]
        elif rest[0].startswith("--city="):
            city, rest = rest[0].removeprefix("--city="), rest[1:]
        else:
            raise _Fallback
    return city, rest


def _parse(spec: Spec, args: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    positional: list[str] = []
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if not token.startswith("-") or token == "-":
            positional.append(token)
            continue
        name, eq, value = token.partition("=")
        if name in spec.flags and not eq:
            params[spec.flags[name]] = True
        elif name in spec.options and (eq or i < len(args)) and not (eq and name[1] != "-"):
            if not eq:  # (click reads -s=x as the value "=x": that one falls back)
                value, i = args[i], i + 1
            params[spec.options[name]] = value
        else:
            raise _Fallback  # --help, --, -sVALUE, an unknown option, a missing value
    if len(positional) > len(spec.arguments):
        raise _Fallback
    params.update(zip(spec.arguments, positional, strict=False))
    return params


# ------------------------------------------------------------------ the city


def _city_file(city_option: str | None) -> CityFile:
    """city.toml as :class:`~gascity.cli.common.CliState` finds it, else fall back."""
    from ..config.light import find_city_dir_str, read_city_file_str
    from ..errors import ConfigError

    given = city_option if city_option is not None else os.environ.get("GC_CITY_DIR")
    if given is not None:
        if not given or not os.path.isdir(given) or not os.path.isfile(
                os.path.join(given, "city.toml")):
            raise _Fallback
        city_dir: str | None = os.path.realpath(given)
    else:
        city_dir = find_city_dir_str(os.getcwd())
    if city_dir is None:
        raise _Fallback
    try:
        file = read_city_file_str(city_dir)
    except ConfigError:
        raise _Fallback from None
    if file.disabled:
        raise _Fallback
    return file


class _Plugins:
    """The built-in plugins of one call, shut down in the order they were built."""

    def __init__(self, file: CityFile) -> None:
        self.file = file
        self.built: list[Any] = []
        self._installed: list[FoundEntryPoint] | None = None

    def installed(self) -> list[FoundEntryPoint]:
        """Gas City's installed entry points, read once (mail send asks for two roles)."""
        if self._installed is None:
            from ..plugins.epcache import entry_points_of

            self._installed = entry_points_of("gascity.")
        return self._installed

    def selected(self, role: str) -> None:
        """Fall back unless the city uses ``role``'s built-in plugin (the one installed)."""
        name = os.environ.get(_ENV[role]) or self.file.provider(role)
        if name != _BUILTIN[role] and not (name is None and role != "session"):
            raise _Fallback  # the session default depends on tmux being usable
        _builtin_entry_point(role, self.installed())

    def lean(self, role: str) -> dict[str, Any] | None:
        """The settings of ``role``'s built-in plugin when they need no validation (see
        :data:`SETTINGS`): then its store's writer is called directly. ``None``: build
        the plugin (it validates)."""
        self.selected(role)
        kinds, prefix = SETTINGS[role], _SETTINGS_ENV[role]
        if any(prefix + key.upper() in os.environ for key in kinds):
            return None
        table = self.file.plugin_settings(role, _BUILTIN[role])
        if all(key in kinds and _plain(kinds[key], value) for key, value in table.items()):
            return table
        return None

    def build(self, role: str) -> Any:
        self.selected(role)
        factory: Callable[[Any], Any] = _builtin_entry_point(role, self.installed()).load()
        from ..plugins.context import PluginContext

        ctx = PluginContext(
            role=role, name=_BUILTIN[role], argument=None,
            settings=self.file.plugin_settings(role, _BUILTIN[role]),
            city_name=self.file.city_name, city_dir=self.file.city_dir,
            config_path=self.file.path, env=dict(os.environ),
        )
        try:
            plugin = factory(ctx)
        except Exception:
            raise _Fallback from None  # the click path reports a bad setting its way
        self.built.append(plugin)
        return plugin

    def close(self) -> None:
        for plugin in self.built:
            plugin.shutdown()


def _builtin_entry_point(role: str, installed: list[FoundEntryPoint]) -> FoundEntryPoint:
    """The core's entry point for the built-in plugin, only if no other distribution
    has one of that name."""
    name = _BUILTIN[role]
    found = [ep for ep in installed if ep.group == _GROUPS[role] and ep.name == name]
    if len(found) != 1 or found[0].dist is None or found[0].dist.name != _CORE:
        raise _Fallback
    return found[0]


def _caller() -> str:
    from .identity import caller

    return caller()


def _logging() -> None:
    """The root callback's log setup, so a plugin's warning reads the same."""
    import logging

    logging.basicConfig(level=logging.WARNING, format="gc: %(message)s")


def _warn_torn(path: str) -> None:
    from ..builtin.eventlines import warn_torn

    _logging()
    warn_torn(path)


def _out(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _emit(events: Any, draft: EventDraft) -> Event | None:
    """What :meth:`Hooks.emit_event` does with one implementation: never raises."""
    try:
        recorded: Event | None = events.emit_event(draft)
    except Exception:
        _emit_failed(draft.type)
        return None
    return recorded


def _emit_failed(type_: str) -> None:
    """Log the exception being handled as :meth:`Hooks.emit_event` does."""
    import logging

    _logging()
    logging.getLogger("gascity.plugins").exception("recording event %s failed", type_)


# ------------------------------------------------------------------ commands


def _event_emit(city_option: str | None, p: dict[str, Any]) -> int:
    type_ = p.get("type_")
    if type_ is None or not type_.strip():
        raise _Fallback
    try:
        data = json.loads(p.get("payload", "{}"))
    except ValueError:
        raise _Fallback from None
    plugins = _Plugins(_city_file(city_option))
    actor, subject = p.get("actor", "") or _caller(), p.get("subject", "")
    settings = plugins.lean("events")
    if settings is not None:
        from datetime import UTC, datetime

        from ..builtin.eventlines import DEFAULT_FSYNC, EventAppender

        appender = EventAppender(os.path.join(plugins.file.city_dir_str, ".gc"),
                                 settings.get("fsync", DEFAULT_FSYNC), warn=_warn_torn)
        try:
            record = appender.append(type_, datetime.now(UTC), actor, subject,
                                     p.get("message", ""), data)
        except Exception:
            raise _Fallback from None  # nothing recorded; click logs and reports it
        finally:
            appender.close()
        _out(json.dumps(record, indent=2, default=str) if p.get("as_json")
             else str(record["seq"]))
        return 0
    from ..types import EventDraft

    _logging()
    try:
        events = plugins.build("events")
        draft = EventDraft(type=type_, actor=actor, subject=subject,
                           message=p.get("message", ""), payload=data)
        try:
            recorded = events.emit_event(draft)
        except Exception:
            raise _Fallback from None  # nothing recorded; click logs and reports it
    finally:
        plugins.close()
    if recorded is None:  # spooled: running it again through click would duplicate it
        sys.stderr.write(SPOOLED + "\n")
        return 0
    _out(json.dumps(recorded.to_json(), indent=2, default=str) if p.get("as_json")
         else str(recorded.seq))
    return 0


def _mail_send(city_option: str | None, p: dict[str, Any]) -> int:
    to, text, body = p.get("to"), p.get("text"), p.get("body")
    subject: str = p.get("subject", "")
    if p.get("broadcast") or p.get("notify"):
        raise _Fallback
    if p.get("to_option"):  # click's test: an empty --to counts as none
        if text is not None:
            raise _Fallback
        recipient, body = p["to_option"], body if body is not None else to
    else:
        recipient, body = to, body if body is not None else text
    if recipient is None or body == "-" or (body is None and not subject):
        raise _Fallback
    sender = p.get("sender") or _caller()
    plugins = _Plugins(_city_file(city_option))
    mail_settings, event_settings = plugins.lean("mail"), plugins.lean("events")
    if mail_settings is not None and event_settings is not None:
        return _mail_send_lean(plugins.file, mail_settings, event_settings, sender,
                               recipient, subject, body or "", bool(p.get("as_json")))
    from ..event_names import MAIL_SENT
    from ..mailrow import mail_event
    from ..types import MailDraft

    _logging()
    msg: Message
    try:
        mail = plugins.build("mail")
        events = plugins.build("events")
        try:
            msg = mail.send_mail(MailDraft(sender, recipient, subject, body or ""))
        except Exception:
            raise _Fallback from None  # nothing sent; click reports the failure
        if msg is None:
            raise _Fallback
        _emit(events, mail_event(MAIL_SENT, sender, msg, recipient))
    finally:
        plugins.close()
    _out(json.dumps(msg.to_json(), indent=2, default=str) if p.get("as_json")
         else f"sent {msg.id} to {msg.recipient}")
    return 0


def _mail_send_lean(file: CityFile, mail_settings: dict[str, Any],
                    event_settings: dict[str, Any], sender: str, recipient: str,
                    subject: str, body: str, as_json: bool) -> int:
    """``gc mail send`` through the stores' own writers: what ``send_mail`` and the
    ``mail.sent`` event do, without the plugins."""
    from datetime import UTC, datetime

    from ..builtin import maildb
    from ..builtin.eventlines import DEFAULT_FSYNC, EventAppender
    from ..errors import MailNotFound
    from ..event_names import MAIL_SENT
    from ..mailrow import mail_payload, message_fields
    from ..wire import message_json

    state = os.path.join(file.city_dir_str, ".gc")
    path = os.path.join(state, "mail.db")
    try:
        busy = float(mail_settings.get("busy_timeout", maildb.DEFAULT_BUSY_TIMEOUT))
        conn = maildb.connect(path, busy, migrate=True)
        try:
            with maildb.write(conn, path):  # anything raising here rolls the insert back
                new_id = maildb.insert(conn, sender, recipient, subject, body, None, None)
                row = maildb.row(conn, new_id)
                if row is None:
                    raise MailNotFound(f"no message {new_id}")
                msg = message_json(**message_fields(row, maildb.from_us))
        finally:
            with contextlib.suppress(Exception):  # as the plugin's shutdown: sent is sent
                conn.close()
    except Exception:
        raise _Fallback from None  # nothing sent; click reports the failure
    appender = EventAppender(state, event_settings.get("fsync", DEFAULT_FSYNC),
                             warn=_warn_torn)
    try:
        appender.append(MAIL_SENT, datetime.now(UTC), sender, msg["id"], recipient,
                        mail_payload(msg))
    except Exception:
        _emit_failed(MAIL_SENT)
    finally:
        appender.close()
    _out(json.dumps(msg, indent=2, default=str) if as_json
         else f"sent {msg['id']} to {msg['to']}")
    return 0


def _drain_ack(city_option: str | None, p: dict[str, Any]) -> int:
    from .identity import notify_controller, own_session

    name = own_session(p.get("name") or p.get("name_option"))
    if not name:
        raise _Fallback
    from ..metakeys import META_DRAIN_ACK

    file = _city_file(city_option)
    plugins = _Plugins(file)
    if plugins.lean("session") is not None:
        from ..builtin.sessionmeta import update_meta

        try:
            update_meta(os.path.join(file.city_dir_str, ".gc", "sessions"), name,
                        META_DRAIN_ACK, "1")
        except Exception:
            raise _Fallback from None  # e.g. no such session: click says so
        notify_controller(file.city_dir_str)
        _out(f"{name}: drain acknowledged")
        return 0
    _logging()
    try:
        session = plugins.build("session")
        try:
            session.set_meta(name=name, key=META_DRAIN_ACK, value="1")
        except Exception:
            raise _Fallback from None  # e.g. no such session: click says so
        notify_controller(file.city_dir)
    finally:
        plugins.close()
    _out(f"{name}: drain acknowledged")
    return 0


_HANDLERS: dict[tuple[str, str], Callable[[str | None, dict[str, Any]], int]] = {
    ("event", "emit"): _event_emit,
    ("mail", "send"): _mail_send,
    ("runtime", "drain-ack"): _drain_ack,
}
