"""The ``exec`` session provider: every operation is one call of a protocol script.

Selected as ``exec:<script>``. The protocol (argv, stdin, stdout, exit codes) is the
reference's, so its scripts run unchanged; :mod:`gascity_exec.protocol` holds the op
table and ``docs/exec-protocol.md`` is generated from it.

A protocol script cannot return metadata, liveness or process lists from
``list-running``, so every :class:`~gascity.types.RunningSession` it yields carries
``meta=None``, ``processes=None`` and ``Liveness.UNKNOWN``: the controller keeps
fingerprints and drain flags in its own state, and a steady tick is exactly one
script invocation.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gascity import hookimpl
from gascity.errors import (
    ConfigError,
    SessionError,
    SessionExists,
    SessionNotFound,
    Unsupported,
)
from gascity.plugins import PluginContext, load_settings
from gascity.types import RunningSession, StartConfig

from .protocol import EXIT_UNKNOWN_OP, argv_for
from .runner import ScriptResult, run_script
from .settings import ENV_PREFIX, ExecSettings
from .wire import encode_start_config

__all__ = ["ExecProvider", "resolve_script"]

log = logging.getLogger("gascity.exec")

_COLLISION = ("already exists", "already running")
_MISSING = ("no such session", "can't find session", "session not found")
_KNOWN_FILE = "exec-known-sessions"


def resolve_script(ctx: PluginContext) -> str:
    """The absolute path of the script named by ``exec:<script>``.

    A bare name is looked up on the city's ``PATH``; a relative path with a slash is
    taken relative to the city directory.
    """
    selector = f"{ctx.name}:{ctx.argument}" if ctx.argument else ctx.name
    where = str(ctx.config_path or "city.toml")
    noun = {"events": "events backend", "mail": "mail backend"}.get(ctx.role, "session provider")
    if not ctx.argument:
        raise ConfigError(
            where,
            [
                f"{noun} {selector!r}: the exec provider needs a script, "
                f"e.g. GC_{ctx.role.upper()}=exec:/path/to/script"
            ],
        )
    arg = ctx.argument
    if os.sep in arg:
        path = Path(arg).expanduser()
        if not path.is_absolute():
            path = ctx.city_dir / path
        if not path.is_file():
            raise ConfigError(where, [f"{noun} {selector!r}: no such file {path}"])
        if not os.access(path, os.X_OK):
            raise ConfigError(
                where, [f"{noun} {selector!r}: {path} is not executable (chmod +x)"]
            )
        return str(path)
    search = ctx.env.get("PATH") or os.environ.get("PATH", os.defpath)
    found = shutil.which(arg, path=search)
    if found is None:
        raise ConfigError(
            where,
            [
                f"{noun} {selector!r}: script {arg!r} not found on PATH "
                "(give an absolute path, or install it; gc-session-tmux comes with "
                "gascity-exec)"
            ],
        )
    return str(Path(found).absolute())


class ExecProvider:
    """Entry point ``exec`` in ``gascity.session``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx
        self.settings = load_settings(ctx, ExecSettings, env_prefix=ENV_PREFIX)
        self.script = resolve_script(ctx)
        # The script serves this city, whatever an enclosing session's environment
        # says (gc may itself run inside another city's agent).
        env = {**os.environ, **ctx.env}
        env["GC_CITY"] = str(ctx.city_dir)
        env["GC_CITY_NAME"] = ctx.city_name
        # GC_EXEC_STATE_DIR reaches the script only when the user set it, as in the
        # reference (scripts then pick their own default under $TMPDIR).
        env.update(self.settings.env)
        self.env: dict[str, str] = env
        self._lock = threading.Lock()
        self._nudge_locks: dict[str, threading.Lock] = {}
        # Names this provider started: what list_running falls back to when the
        # script does not implement list-running (exit 2).
        self._known: set[str] = set()
        self._list_unsupported = False
        self.calls = 0
        """Script invocations so far (all ops): for tests and benchmarks."""

    # ------------------------------------------------------------- plumbing

    def _run(self, op: str, *values: str, stdin: bytes | None = None,
             timeout: float | None = None) -> ScriptResult:
        argv = argv_for(self.script, op, *values)
        if timeout is None:
            timeout = self.settings.start_timeout if op == "start" else self.settings.timeout
        with self._lock:
            self.calls += 1
        try:
            result = run_script(
                argv,
                stdin=stdin,
                timeout=timeout,
                env=self.env,
                kill_grace=self.settings.kill_grace,
                wait_delay=self.settings.wait_delay,
            )
        except OSError as exc:
            raise SessionError(f"exec provider {self.script} {op}: cannot run: {exc}") from exc
        log.debug("exec %s -> %s in %.3fs", argv[1:], result.returncode, result.elapsed)
        return result

    def _describe(self, result: ScriptResult) -> str:
        args = " ".join(result.argv[1:])
        if result.timed_out:
            why = f"timed out after {result.timeout:g}s; its process group was killed"
            detail = result.stderr.strip()
            return f"exec provider {self.script} {args}: {why}" + (f": {detail}" if detail else "")
        message = result.stderr.strip()
        if not message:
            code = result.returncode
            message = f"signal: {-code}" if code is not None and code < 0 else f"exit status {code}"
        return f"exec provider {self.script} {args}: {message}"

    def _error(self, result: ScriptResult) -> SessionError:
        text = self._describe(result)
        lowered = result.stderr.lower()
        if not result.timed_out and any(m in lowered for m in _MISSING):
            return SessionNotFound(text)
        return SessionError(text)

    def _check(self, op: str, *values: str, stdin: bytes | None = None) -> ScriptResult | None:
        """Run ``op``: its result on success, ``None`` for exit 2; raise on failure."""
        result = self._run(op, *values, stdin=stdin)
        if result.timed_out:
            raise self._error(result)
        if result.returncode == EXIT_UNKNOWN_OP:
            return None
        if result.returncode != 0:
            raise self._error(result)
        return result

    # ----------------------------------------------------------- known names

    def _known_path(self) -> Path:
        return self.ctx.state_dir / _KNOWN_FILE

    def _remember(self, name: str, running: bool) -> None:
        with self._lock:
            before = name in self._known
            if running:
                self._known.add(name)
            else:
                self._known.discard(name)
            changed = before != running
            persist = self._list_unsupported and changed
            names = sorted(self._known) if persist else []
        if persist:
            self._save_known(names)

    def _save_known(self, names: list[str]) -> None:
        path = self._known_path()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            tmp.write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
            tmp.replace(path)
        except OSError as exc:
            log.warning("exec: cannot save the started-session list %s: %s", path, exc)

    def _load_known(self) -> None:
        try:
            text = self._known_path().read_text(encoding="utf-8")
        except OSError:
            return
        with self._lock:
            self._known.update(n for n in text.split("\n") if n)

    def _listing_fallback(self, prefix: str) -> list[RunningSession]:
        # Without list-running, what this provider started is all it knows: each one
        # is asked is-running; a session the script cannot judge stays listed, as
        # unknown, so it is never taken for dead and started twice.
        if not self._list_unsupported:
            self._list_unsupported = True
            self._load_known()
            with self._lock:
                names = sorted(self._known)
            self._save_known(names)
        with self._lock:
            candidates = sorted(n for n in self._known if n.startswith(prefix))
        listed: list[RunningSession] = []
        for name in candidates:
            result = self._run("is-running", name)
            if result.ok and result.stdout.strip() == "false":
                self._remember(name, False)
                continue
            listed.append(RunningSession(name=name))
        return listed

    # --------------------------------------------------------------- session

    @hookimpl
    def list_running(self, prefix: str) -> list[RunningSession]:
        result = self._run("list-running", prefix)
        if result.returncode == EXIT_UNKNOWN_OP and not result.timed_out:
            return self._listing_fallback(prefix)
        if not result.ok:
            raise self._error(result)
        seen: set[str] = set()
        sessions: list[RunningSession] = []
        for line in result.stdout.split("\n"):
            # Filtered here too: a minimal script may ignore the prefix.
            if line and line.startswith(prefix) and line not in seen:
                seen.add(line)
                sessions.append(RunningSession(name=line))
        return sessions

    @hookimpl
    def is_running(self, name: str) -> bool | None:
        """``is-running``, or an exact match in ``list-running <name>`` when the script
        does not implement it; ``None`` when neither can tell."""
        result = self._run("is-running", name)
        if result.ok:
            return result.stdout.strip() == "true"
        listing = self._run("list-running", name)
        if listing.ok:
            return name in listing.stdout.split("\n")
        return None

    @hookimpl
    def start(self, name: str, config: StartConfig) -> bool:
        payload = encode_start_config(config)
        timeout = self.settings.start_timeout
        if config.startup_timeout > 0:
            timeout = min(timeout, config.startup_timeout)
        result = self._run("start", name, stdin=payload, timeout=timeout)
        if result.timed_out or result.returncode not in (0, EXIT_UNKNOWN_OP):
            error = self._error(result)
            lowered = result.stderr.lower()
            if not result.timed_out and any(m in lowered for m in _COLLISION):
                raise SessionExists(str(error))
            # The script may have created part of the session before failing; tear it
            # down so a failed start leaves nothing (but never on a name collision,
            # which would kill the live session that owns the name).
            cleanup = self._run("stop", name)
            if not cleanup.ok and cleanup.returncode != EXIT_UNKNOWN_OP:
                raise SessionError(f"{error}; cleanup failed too: {self._describe(cleanup)}")
            raise error
        self._remember(name, True)
        if result.stderr.strip():
            # pre_start / session_setup failures are the script's warnings, not errors.
            log.warning("exec start %s: %s", name, result.stderr.strip())
        for key, value in config.meta.items():
            meta = self._run("set-meta", name, key, stdin=value.encode("utf-8"))
            if meta.returncode == EXIT_UNKNOWN_OP and not meta.timed_out:
                break  # the script keeps no metadata; the controller holds it
            if not meta.ok:
                # The session is up; losing initial meta only costs the controller a
                # fallback to its own state, so it is reported rather than fatal.
                log.warning("exec: initial meta for %s: %s", name, self._describe(meta))
        return True

    @hookimpl
    def stop(self, name: str) -> bool:
        was_running = self.is_running(name)
        self._check("stop", name)
        self._remember(name, False)
        return True if was_running is None else was_running

    @hookimpl
    def interrupt(self, name: str) -> bool:
        self._check("interrupt", name)
        return True

    def _nudge_lock(self, name: str) -> threading.Lock:
        with self._lock:
            return self._nudge_locks.setdefault(name, threading.Lock())

    @hookimpl
    def nudge(self, name: str, text: str) -> bool:
        if not text:
            return True  # the reference never calls the script for an empty message
        with self._nudge_lock(name):
            self._check("nudge", name, stdin=text.encode("utf-8"))
        return True

    @hookimpl
    def peek(self, name: str, lines: int) -> str:
        result = self._check("peek", name, str(lines))
        return "" if result is None else result.stdout

    @hookimpl
    def get_meta(self, name: str, key: str) -> str | None:
        result = self._check("get-meta", name, key)
        if result is None:
            raise Unsupported(
                f"exec script {self.script} does not implement get-meta; "
                "the controller keeps metadata in its own state"
            )
        return result.stdout or None

    @hookimpl
    def set_meta(self, name: str, key: str, value: str) -> bool:
        if self._check("set-meta", name, key, stdin=value.encode("utf-8")) is None:
            raise Unsupported(
                f"exec script {self.script} does not implement set-meta; "
                "the controller keeps metadata in its own state"
            )
        return True

    @hookimpl
    def remove_meta(self, name: str, key: str) -> bool:
        self._check("remove-meta", name, key)
        return True

    @hookimpl
    def process_alive(self, name: str, process_names: Sequence[str]) -> bool | None:
        if not process_names:
            return True  # the reference's contract: nothing to look for is alive
        stdin = "\n".join(process_names).encode("utf-8")
        result = self._check("process-alive", name, stdin=stdin)
        if result is None:
            return None  # unsupported means unknown, never dead
        return result.stdout.strip() == "true"

    @hookimpl
    def attach(self, name: str) -> int:
        argv = argv_for(self.script, "attach", name)
        with self._lock:
            self.calls += 1
        # The terminal is handed over: no pipes and no timeout.
        return subprocess.call(argv, env=self.env)

    @hookimpl
    def last_activity(self, name: str) -> datetime | None:
        result = self._check("get-last-activity", name)
        if result is None or not result.stdout.strip():
            return None
        try:
            when = datetime.fromisoformat(result.stdout.strip())
        except ValueError:
            return None  # malformed reads as unknown, as in the reference
        if when.tzinfo is None:
            return None
        return when.astimezone(UTC)

    # ------------------------------------------------- optional session hooks

    @hookimpl
    def send_keys(self, name: str, keys: Sequence[str]) -> bool:
        """Send tmux-style key names (``Enter``, ``Down``) to the session."""
        self._check("send-keys", name, *keys)
        return True

    @hookimpl
    def clear_scrollback(self, name: str) -> bool:
        self._check("clear-scrollback", name)
        return True

    @hookimpl
    def copy_to(self, name: str, src: str, rel_dst: str) -> bool:
        """Copy ``src`` into the session's working directory at ``rel_dst``."""
        self._check("copy-to", name, src, rel_dst)
        return True

    # --------------------------------------------------------- every plugin

    @hookimpl
    def status_info(self) -> Mapping[str, Any]:
        return {"session.exec.script": self.script, "session.exec.calls": self.calls}

    @hookimpl
    def shutdown(self) -> None:
        # Nothing is pooled: every op is its own process, finished when it returns.
        with self._lock:
            self._nudge_locks.clear()

    close = shutdown


if TYPE_CHECKING:
    from gascity.hookspecs import SessionProvider

    # mypy checks the class against the role's hook contract.
    _contract: type[SessionProvider] = ExecProvider
