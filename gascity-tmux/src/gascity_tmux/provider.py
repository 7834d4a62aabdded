"""The ``tmux`` session provider: every session of a city on one tmux server.

The server's socket is named from the city (``tmux -L gc-<city>``), so cities never
see each other's sessions. A steady reconcile tick costs exactly one tmux process:
``list-panes -a`` with a format that carries every session's liveness, current
command and gascity metadata (see :mod:`gascity_tmux.listing`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gascity import hookimpl
from gascity.errors import (
    GasCityError,
    PluginError,
    SessionError,
    SessionExists,
)
from gascity.fsutil import copy_into
from gascity.osutil import proctree
from gascity.osutil.killtree import terminate
from gascity.osutil.proctree import ProcStat, argv0
from gascity.plugins import PluginContext, load_settings
from gascity.readiness import wait_until_ready
from gascity.startup_dialogs import DialogError, accept_startup_dialogs, wants_dismissal
from gascity.tmuxconv import (
    AGENT_PANE_OPTION,
    MARKER_VAR,
    REMAIN_ON_EXIT,
    REMOVED,
    SOCKET_VAR,
    START_OPTION,
    WORKDIR_OPTION,
    city_socket,
    encode_bundle,
    encode_name,
    options_format,
    read_options,
)
from gascity.types import RunningSession, StartConfig

from .listing import ListingCache, list_format
from .names import check_env_name, check_session_name, encode_value, option_for
from .runner import SEP, Result, TmuxRunner, exact
from .settings import TmuxSettings
from .steps import log, run_pre_start, run_setup

__all__ = ["MARKER_VAR", "TmuxProvider"]

# MARKER_VAR's start id (also kept in START_OPTION) keeps a stop from touching a newer
# incarnation of the same name started by another process.


def _session_socket(ctx: PluginContext) -> str:
    """``[session] socket`` of city.toml, as the reference spells the override."""
    if ctx.config_path is None or not ctx.config_path.is_file():
        return ""
    from gascity.config.light import read_city_file

    try:
        table = read_city_file(ctx.config_path).data.get("session", {})
    except (GasCityError, OSError):
        return ""  # the city's own validation reports a broken file
    value = table.get("socket") if isinstance(table, dict) else None
    return value if isinstance(value, str) else ""


class TmuxProvider:
    """Built by the plugin manager as ``TmuxProvider(ctx)``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.settings = load_settings(ctx, TmuxSettings, env_prefix="GC_TMUX_")
        # [session.tmux] socket (or GC_TMUX_SOCKET), then the reference's [session]
        # socket, then the city's own server (named from its name and real path).
        self.socket = (self.settings.socket or _session_socket(ctx)
                       or city_socket(ctx.city_name, ctx.city_dir))
        # Resolved once, here: every later call runs this exact binary.
        path = ctx.env.get("PATH") or os.environ.get("PATH")
        tmux_bin = self.settings.tmux or shutil.which("tmux", path=path)
        if not tmux_bin:
            raise PluginError(
                "tmux was not found on PATH: install it (e.g. `apt install tmux`, "
                "`brew install tmux`) or set [session.tmux] tmux = '/path/to/tmux'"
            )
        self.tmux = TmuxRunner(self.socket, tmux_bin, self.settings.config_file)
        self._guard = threading.Lock()
        self._name_locks: dict[str, threading.Lock] = {}
        self._nudge_locks: dict[str, threading.Lock] = {}
        self._listing = ListingCache()

    # ------------------------------------------------------------------ helpers

    def _lock(self, table: dict[str, threading.Lock], name: str) -> threading.Lock:
        with self._guard:
            return table.setdefault(name, threading.Lock())

    @contextmanager
    def _serialized(self, name: str) -> Iterator[None]:
        """Start and stop of one name never overlap within this process."""
        with self._lock(self._name_locks, name):
            yield

    def marker(self, name: str, start_id: str = "") -> str:
        """The marker entry of one incarnation (all of them when ``start_id`` is "")."""
        return f"{MARKER_VAR}={self.socket}:{name}:{start_id}"

    def _split_env(self, env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
        wanted: dict[str, str] = {}
        unset: list[str] = []
        for key, value in env.items():
            check_env_name(key)
            if value == "":
                unset.append(key)
            else:
                wanted[key] = value
        return wanted, unset

    def _step_env(
        self, name: str, wanted: Mapping[str, str], unset: Sequence[str]
    ) -> dict[str, str]:
        env = {k: v for k, v in self.ctx.env.items() if k not in unset}
        env.update(wanted)
        env[SOCKET_VAR] = self.socket
        env.setdefault("GC_SESSION_NAME", name)
        return env

    def _start_argv(
        self,
        name: str,
        config: StartConfig,
        wanted: Mapping[str, str],
        unset: Sequence[str],
        start_id: str,
    ) -> list[Any]:
        s = self.settings
        new = [
            "new-session", "-d", "-s", encode_name(name),
            # -c is format-expanded by tmux; '##' is a literal '#'.
            "-c", config.work_dir.replace("#", "##"),
            "-x", str(s.width), "-y", str(s.height),
        ]  # fmt: skip
        for key, value in wanted.items():
            new += ["-e", f"{key}={value}"]
        new += ["-e", self.marker(name, start_id), "-e", f"{SOCKET_VAR}={self.socket}"]
        if config.command:
            prefix: list[str] = ["env"] if unset else []
            for key in unset:
                prefix += ["-u", key]
            new += ["--", *prefix, "sh", "-c", config.command]
        # One set-option for the whole start: tmux walks all its sessions and windows
        # after every set-option, which made five of them per start cost more server
        # time at 1000 sessions than the new-session itself. Sent after new-session in
        # the same sequence, both target the new session (no search by name).
        bundle = {START_OPTION: start_id, WORKDIR_OPTION: encode_value(config.work_dir)}
        bundle.update((option_for(k), encode_value(v)) for k, v in config.meta.items())
        argv: list[Any] = [*new, SEP, *REMAIN_ON_EXIT]
        argv += [SEP, "set-option", "-p", AGENT_PANE_OPTION, encode_bundle(bundle)]
        return argv

    def _discard(self, name: str) -> None:
        self.tmux.run("kill-session", "-t", exact(name))

    # ------------------------------------------------------------------ session

    @hookimpl
    def list_running(self, prefix: str) -> list[RunningSession]:
        code, out, err = self.tmux.run_bytes("list-panes", "-a", "-F", list_format())
        if code != 0:
            if Result(code, [], err).no_server:
                return []
            raise SessionError(f"tmux list-panes on socket {self.socket} failed: {err}")
        return self._listing.parse(out, prefix)

    @hookimpl
    def start(self, name: str, config: StartConfig) -> bool:
        check_session_name(name)
        deadline = time.monotonic() + config.startup_timeout
        if not Path(config.work_dir).is_dir():
            raise SessionError(f"work_dir {config.work_dir!r} of {name!r} is not a directory")
        wanted, unset = self._split_env(config.env)
        step_env = self._step_env(name, wanted, unset)
        with self._serialized(name):
            if config.pre_start:
                # Side effects of pre_start must not happen for a duplicate start.
                if self.tmux.run("has-session", "-t", exact(name)).ok:
                    raise SessionExists(f"session {name!r} already exists")
                run_pre_start(
                    config.pre_start, config.work_dir, step_env, deadline=deadline, name=name
                )
            if time.monotonic() >= deadline:
                raise SessionError(f"start of {name!r} ran out of time before tmux started")
            argv = self._start_argv(name, config, wanted, unset, uuid.uuid4().hex[:12])
            result = self.tmux.run(*argv)
            if not result.ok:
                if "duplicate session" in result.stderr:
                    raise SessionExists(f"session {name!r} already exists")
                self._discard(name)
                raise SessionError(f"tmux could not start {name!r}: {result.stderr}")
            run_setup(
                config.session_setup,
                config.session_setup_script,
                config.work_dir,
                step_env,
                deadline=deadline,
                name=name,
                live=config.session_live,
            )
            if config.nudge:
                if wants_dismissal(config):
                    self._answer_dialogs(name, deadline)
                try:
                    wait_until_ready(config, deadline, lambda: self.peek(name, 50))
                    self.nudge(name, config.nudge)
                except SessionError as exc:
                    log.warning("initial nudge of %s failed: %s", name, exc)
        return True

    def _answer_dialogs(self, name: str, deadline: float) -> None:
        """Gas City answers the startup dialogs before it waits for the prompt and
        nudges: typed into a trust dialog the nudge is lost (its Enter answers the
        dialog), and a menu's "\u276f 1. Yes" line passes for the ready prompt. Without
        a nudge the controller does this after the start, off the tick. Within the
        start's deadline, as Gas City's start context bounds it: four phases without a
        prompt take 32 s, past a shorter startup_timeout."""
        try:
            accept_startup_dialogs(lambda lines: self.peek(name, lines),
                                   lambda keys: self.send_keys(name, keys), deadline=deadline)
        except DialogError as exc:
            log.warning("startup dialogs of %s not answered: %s", name, exc)

    @hookimpl
    def stop(self, name: str) -> bool:
        check_session_name(name)
        with self._serialized(name):
            panes = self.tmux.run(
                # `-s -t =name` alone prefix-matches in tmux 3.3 (`=a1` finds `a10`).
                "list-panes", "-s", "-t", exact(name, pane=True),
                "-F", "#{pane_pid}\t" + options_format([START_OPTION]),
            )
            if not panes.ok:
                if panes.not_found:
                    return False
                raise self.tmux.error(panes, ["list-panes"], name)
            rows = [line.split("\t", 1) for line in panes.stdout]
            roots = [int(r[0]) for r in rows if r[0].isdigit()]
            start_id = read_options((r[1] for r in rows if len(r) == 2), [START_OPTION])[0] or ""
            marker = self.marker(name, start_id) if start_id else ""
            # Taken before kill-session: once the panes are gone, their children are
            # reparented and only the marker still ties them to this session.
            tree = self._session_processes(roots, marker)

            def scan() -> list[ProcStat]:
                # Rescanned by terminate(): anything forked meanwhile carries the marker.
                # The first scan's stats keep their start times, so terminate() skips
                # a pid that exited and was reused by a stranger.
                found = {s.pid: s for s in tree}
                if marker:
                    table = proctree.live_table()
                    for pid in proctree.with_marker(marker, table):
                        found.setdefault(pid, table[pid])
                return list(found.values())

            # tmux sends SIGHUP to each pane's process group; the rest follows.
            self.tmux.run("kill-session", "-t", exact(name))
            if proctree.available():
                terminate(scan, self.settings.stop_grace)
            return True

    def _session_processes(self, roots: Sequence[int], marker: str) -> list[ProcStat]:
        table = proctree.live_table()
        pids = proctree.descendants(roots, table)
        if marker:
            pids |= proctree.with_marker(marker, table)
        return [table[p] for p in pids]

    @hookimpl
    def interrupt(self, name: str) -> bool:
        check_session_name(name)
        self.tmux.check("send-keys", "-t", exact(name, pane=True), "C-c", session=name)
        return True

    @hookimpl
    def nudge(self, name: str, text: str) -> bool:
        check_session_name(name)
        target = exact(name, pane=True)
        buffer = f"gc-nudge-{name}"
        with self._lock(self._nudge_locks, name):
            if text:
                # A paste, not typed keys: nothing in the text is read as a key name,
                # and an agent that enabled bracketed paste gets it as one paste.
                # The text goes in on stdin (`load-buffer -`): as an argument, tmux
                # refuses anything over about 16 KiB ("command too long").
                args = ("load-buffer", "-b", buffer, "-", SEP,
                        "paste-buffer", "-d", "-p", "-b", buffer, "-t", target)
                result = self.tmux.run(*args, input=text.encode("utf-8", "surrogateescape"))
                if not result.ok:
                    raise self.tmux.error(result, args, name)
                # The agent's UI needs a moment to take the paste before Enter.
                time.sleep(self.settings.nudge_delay)
            self.tmux.check("send-keys", "-t", target, "Enter", session=name)
        return True

    @hookimpl
    def peek(self, name: str, lines: int) -> str:
        check_session_name(name)
        out = self.tmux.check(
            "capture-pane", "-p", "-J", "-t", exact(name, pane=True), "-S", f"-{max(lines, 0)}",
            session=name,
        )  # fmt: skip
        # The visible screen is padded with empty rows (and a dead pane's notice sits
        # at the bottom); runs of blank rows are squeezed so N lines are N lines of text.
        squeezed: list[str] = []
        for line in out:
            if line.strip() or (squeezed and squeezed[-1].strip()):
                squeezed.append(line)
        while squeezed and not squeezed[-1].strip():
            squeezed.pop()
        if lines <= 0 or not squeezed:
            return ""
        return "\n".join(squeezed[-lines:]) + "\n"

    def _options(self, name: str, options: Sequence[str]) -> list[str | None]:
        """The session's options, its own over its start bundle (one tmux call)."""
        lines = self.tmux.check(
            "list-panes", "-s", "-t", exact(name, pane=True), "-F", options_format(options),
            session=name,
        )  # fmt: skip
        return read_options(lines, options)

    @hookimpl
    def get_meta(self, name: str, key: str) -> str | None:
        check_session_name(name)
        return self._options(name, [option_for(key)])[0]

    @hookimpl
    def set_meta(self, name: str, key: str, value: str) -> bool:
        check_session_name(name)
        self.tmux.check(
            "set-option", "-t", exact(name, pane=True), option_for(key), encode_value(value),
            session=name,
        )  # fmt: skip
        return True

    @hookimpl
    def remove_meta(self, name: str, key: str) -> bool:
        check_session_name(name)
        # Not unset: the start bundle's value would show through again.
        self.tmux.check(
            "set-option", "-t", exact(name, pane=True), option_for(key), REMOVED, session=name
        )
        return True

    @hookimpl
    def process_alive(self, name: str, process_names: Sequence[str]) -> bool | None:
        check_session_name(name)
        lines = self.tmux.check(
            "list-panes", "-s", "-t", exact(name, pane=True), "-F",
            "#{pane_dead}\t#{pane_pid}\t#{pane_current_command}",
            session=name,
        )  # fmt: skip
        wanted = set(process_names)
        roots: list[int] = []
        for line in lines:
            dead, pane_pid, command = [*line.split("\t", 2), "", ""][:3]
            if dead == "1":
                continue
            if command in wanted:
                return True
            if pane_pid.isdigit():
                roots.append(int(pane_pid))
        table = proctree.live_table()
        if not table:
            return None
        for pid in proctree.descendants(roots, table):
            if table[pid].comm in wanted or argv0(pid) in wanted:
                return True
        return False

    @hookimpl
    def attach(self, name: str) -> int:
        check_session_name(name)
        self.tmux.check("has-session", "-t", exact(name), session=name)
        # Attaching from inside another tmux needs TMUX unset (a nested client).
        env = {k: v for k, v in os.environ.items() if k != "TMUX"}
        argv = [*self.tmux.base_argv(), "attach-session", "-t", exact(name)]
        return subprocess.call(argv, env=env)

    @hookimpl
    def last_activity(self, name: str) -> datetime | None:
        check_session_name(name)
        lines = self.tmux.check(
            "list-panes", "-s", "-t", exact(name, pane=True), "-F", "#{window_activity}",
            session=name,
        )
        stamps = [int(x) for x in lines if x.isdigit()]
        return datetime.fromtimestamp(max(stamps), UTC) if stamps else None

    # ------------------------------------------------- optional session hooks

    @hookimpl
    def is_running(self, name: str) -> bool | None:
        check_session_name(name)
        result = self.tmux.run("list-panes", "-t", exact(name), "-F", "#{pane_dead}")
        if result.ok:
            return any(line.strip() == "0" for line in result.stdout)
        if result.not_found:
            return False
        raise self.tmux.error(result, ["list-panes"], name)

    @hookimpl
    def send_keys(self, name: str, keys: Sequence[str]) -> bool:
        check_session_name(name)
        if keys:
            self.tmux.check("send-keys", "-t", exact(name, pane=True), *keys, session=name)
        return True

    @hookimpl
    def clear_scrollback(self, name: str) -> bool:
        check_session_name(name)
        self.tmux.check("clear-history", "-t", exact(name, pane=True), session=name)
        return True

    @hookimpl
    def copy_to(self, name: str, src: str, rel_dst: str) -> bool:
        check_session_name(name)
        work_dir = self._options(name, [WORKDIR_OPTION])[0]
        if not work_dir:
            raise SessionError(f"copy_to: session {name!r} has no recorded work dir")
        try:
            copied = copy_into(src, Path(work_dir), rel_dst)
        except (ValueError, OSError) as exc:
            raise SessionError(str(exc)) from exc
        if not copied:
            log.warning("copy_to %s: no such file or directory: %s", name, src)
        return True

    @hookimpl
    def status_info(self) -> Mapping[str, Any]:
        return {"session.tmux.socket": self.socket, "session.tmux.binary": self.tmux.tmux_bin}

    @hookimpl
    def shutdown(self) -> None:
        # Deliberately leaves the tmux server running: sessions outlive the
        # controller, and a restarted controller adopts them. Nothing else is held.
        return None


if TYPE_CHECKING:
    from gascity.hookspecs import SessionProvider

    # mypy checks the class against the role's hook contract.
    _contract: type[SessionProvider] = TmuxProvider
