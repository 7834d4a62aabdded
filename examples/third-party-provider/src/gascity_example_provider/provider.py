"""The ``nohup`` session provider: each session is a detached process group.

A session is ``<shell> -c <command>`` started in a new session and process group, so it
outlives the controller that started it and never receives the terminal's SIGHUP (what
``nohup`` is for). Its state lives in ``<city>/.gc/nohup/<name>/``:

* ``ident.json``: the leader's pid and ``ps`` start time (a reused pid is not mistaken
  for the session) and when it started;
* ``meta.json``: the session's metadata; ``output.log``: stdout and stderr for ``peek``;
* ``exit``: the leader's exit status, when this process reaped it;
* ``claim``: the pid of a ``start`` still in progress.

``list_running`` is one directory scan plus one ``ps`` call. What it deliberately does
not do: ``nudge`` and ``attach`` (there is no terminal; the text of ``nudge`` reaches the
agent as ``$GC_NUDGE`` at start instead), both raising :class:`~gascity.errors.Unsupported`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from gascity import hookimpl
from gascity.errors import SessionError, SessionExists, SessionNotFound, Unsupported
from gascity.osutil.flock import locked
from gascity.osutil.runner import run
from gascity.plugins import PluginContext, load_settings
from gascity.types import Liveness, RunningSession, StartConfig

from .pstable import ProcessTable, read_table
from .settings import NohupSettings

__all__ = ["NohupProvider"]

log = logging.getLogger("gascity_example_provider")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_POLL = 0.05


@dataclass(frozen=True, slots=True)
class _Ident:
    pid: int
    started: str
    at: float

    @classmethod
    def read(cls, session_dir: Path) -> _Ident | None:
        try:
            data = json.loads((session_dir / "ident.json").read_text(encoding="utf-8"))
            return cls(pid=int(data["pid"]), started=str(data["started"]), at=float(data["at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write(self, session_dir: Path) -> None:
        data = {"pid": self.pid, "started": self.started, "at": self.at}
        _atomic_write(session_dir / "ident.json", json.dumps(data))

    def alive(self, table: ProcessTable) -> bool:
        leader = table.leader(self.pid, self.started)
        return leader is not None and not leader.zombie

    def owns_group(self, table: ProcessTable) -> bool:
        # A pid is never reused while its process group has members, so survivors of
        # a dead leader are ours unless the pid now leads someone else's group.
        return self.pid not in table.by_pid or table.leader(self.pid, self.started) is not None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _tail(path: Path, lines: int) -> str:
    if lines <= 0:
        return ""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            chunk = max(65536, lines * 512)
            handle.seek(max(0, size - chunk))
            data = handle.read()
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return "".join(text.splitlines(keepends=True)[-lines:])


def _session_env(config: StartConfig) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in config.env.items():
        if value == "":
            env.pop(key, None)
        else:
            env[key] = value
    if config.nudge:
        env["GC_NUDGE"] = config.nudge
    return env


class NohupProvider:
    """Entry point ``gascity.session`` -> ``nohup``; built as ``NohupProvider(ctx)``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.settings = load_settings(ctx, NohupSettings, env_prefix="GC_NOHUP_")
        self.root = ctx.state_dir / "nohup"
        self.root.mkdir(parents=True, exist_ok=True)
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ helpers

    def _dir(self, name: str) -> Path:
        if not _NAME_RE.match(name):
            raise SessionNotFound(f"invalid session name {name!r}")
        return self.root / name

    def _existing(self, name: str) -> tuple[Path, _Ident | None]:
        session_dir = self._dir(name)
        if not session_dir.is_dir():
            raise SessionNotFound(f"no nohup session named {name!r}")
        return session_dir, _Ident.read(session_dir)

    def _table(self) -> ProcessTable:
        self._reap()
        return read_table(self.settings.ps)

    def _reap(self) -> None:
        """Collect our own exited children so they do not linger as zombies."""
        with self._lock:
            done = [(n, p) for n, p in self._children.items() if p.poll() is not None]
            for name, proc in done:
                del self._children[name]
                with contextlib.suppress(OSError):
                    (self.root / name / "exit").write_text(str(proc.returncode))

    @staticmethod
    def _claimed(session_dir: Path) -> bool:
        """A start of this name is in progress in a live process."""
        try:
            pid = int((session_dir / "claim").read_text())
        except (OSError, ValueError):
            return False
        return _pid_alive(pid)

    def _claim(self, name: str) -> Path:
        session_dir = self._dir(name)
        with locked(self.root / ".lock"):
            if session_dir.exists():
                ident = _Ident.read(session_dir)
                if self._claimed(session_dir) or (ident and ident.alive(self._table())):
                    raise SessionExists(f"nohup session {name!r} is already running")
                # A crashed session (or an abandoned start) is replaced.
                self._kill(ident)
                shutil.rmtree(session_dir, ignore_errors=True)
            session_dir.mkdir()
            (session_dir / "claim").write_text(str(os.getpid()))
        return session_dir

    def _run_steps(
        self,
        steps: Sequence[list[str]],
        config: StartConfig,
        env: Mapping[str, str],
        deadline: float,
    ) -> list[str]:
        """Run argv steps in order; return one failure line per failed step."""
        failures: list[str] = []
        for argv in steps:
            step = argv[-1]
            result = run(argv, cwd=config.work_dir, env=env,
                         timeout=max(0.1, deadline - time.monotonic()))
            if result.error:
                failures.append(f"{step!r} could not run: {result.error}")
                continue
            if result.timed_out:
                failures.append(f"{step!r} timed out")
                continue
            if result.returncode != 0:
                err = result.stderr.strip().splitlines()[-1:] or [""]
                failures.append(f"{step!r} exited {result.returncode}: {err[0]}".rstrip(": "))
        return failures

    def _kill(self, ident: _Ident | None) -> None:
        """SIGTERM the session's process tree, then SIGKILL what is left after the grace."""
        if ident is None:
            return
        table = self._table()
        if not ident.owns_group(table):
            return
        deadline = time.monotonic() + self.settings.stop_grace
        sig = signal.SIGTERM
        while True:
            members = [p for p in table.tree(ident.pid) if not p.zombie]
            if not members:
                return
            for proc in members:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(proc.pid, sig)
            if sig is signal.SIGKILL and time.monotonic() > deadline + 5:
                raise SessionError(f"processes {[p.pid for p in members]} survive SIGKILL")
            if time.monotonic() >= deadline:
                sig = signal.SIGKILL
            time.sleep(_POLL)
            table = self._table()

    # ------------------------------------------------------------------ session

    @hookimpl
    def list_running(self, prefix: str) -> list[RunningSession]:
        dirs = [
            d
            for d in self.root.iterdir()
            if d.is_dir() and d.name.startswith(prefix) and _NAME_RE.match(d.name)
        ]
        if not dirs:
            return []
        table = self._table()
        out: list[RunningSession] = []
        for session_dir in dirs:
            ident = _Ident.read(session_dir)
            if ident is None:
                if self._claimed(session_dir):
                    out.append(RunningSession(name=session_dir.name, liveness=Liveness.STARTING))
                continue
            alive = ident.alive(table)
            out.append(
                RunningSession(
                    name=session_dir.name,
                    liveness=Liveness.ALIVE if alive else Liveness.DEAD,
                    meta=self._read_meta(session_dir),
                    processes=table.names(ident.pid) if alive else frozenset(),
                    started_at=datetime.fromtimestamp(ident.at, UTC),
                    detail="" if alive else self._exit_detail(session_dir),
                )
            )
        return out

    @staticmethod
    def _exit_detail(session_dir: Path) -> str:
        try:
            return f"exited with status {(session_dir / 'exit').read_text().strip()}"
        except OSError:
            return "exited"

    @hookimpl
    def start(self, name: str, config: StartConfig) -> bool:
        deadline = time.monotonic() + config.startup_timeout
        if not _NAME_RE.match(name):
            raise SessionError(f"invalid session name {name!r}")
        session_dir = self._claim(name)
        env = _session_env(config)
        proc: subprocess.Popen[bytes] | None = None
        try:
            pre = [[self.settings.shell, "-c", cmd] for cmd in config.pre_start]
            # Gas City's spec: a failing pre_start is reported, the start goes on.
            for failure in self._run_steps(pre, config, env, deadline):
                log.warning("pre_start of %s: %s", name, failure)
            _atomic_write(session_dir / "meta.json", json.dumps(dict(config.meta)))
            with (session_dir / "output.log").open("ab") as output:
                proc = subprocess.Popen(
                    [self.settings.shell, "-c", config.command],
                    cwd=config.work_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            # Our unreaped child stays in the table even if it already exited.
            leader = read_table(self.settings.ps, [proc.pid]).by_pid.get(proc.pid)
            if leader is None:
                raise SessionError(f"{name}: ps does not show the new process {proc.pid}")
            _Ident(pid=proc.pid, started=leader.started, at=time.time()).write(session_dir)
            with self._lock:
                self._children[name] = proc
        except BaseException as exc:
            if proc is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            shutil.rmtree(session_dir, ignore_errors=True)
            if isinstance(exc, OSError):
                raise SessionError(f"cannot start {name}: {exc}") from exc
            raise
        (session_dir / "claim").unlink(missing_ok=True)
        steps = [[self.settings.shell, "-c", cmd] for cmd in config.session_setup]
        if config.session_setup_script:
            steps.append([self.settings.shell, config.session_setup_script])
        steps += [[self.settings.shell, "-c", cmd] for cmd in config.session_live]
        for failure in self._run_steps(steps, config, env, deadline):
            log.warning("session_setup of %s: %s", name, failure)
        return True

    @hookimpl
    def stop(self, name: str) -> bool:
        session_dir = self._dir(name)
        if not session_dir.is_dir():
            return False
        self._kill(_Ident.read(session_dir))
        self._reap()
        shutil.rmtree(session_dir, ignore_errors=True)
        return True

    @hookimpl
    def interrupt(self, name: str) -> bool:
        _, ident = self._existing(name)
        if ident is not None and ident.alive(self._table()):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(ident.pid, signal.SIGINT)
        return True

    @hookimpl
    def nudge(self, name: str, text: str) -> bool:
        self._existing(name)
        raise Unsupported(
            "the nohup provider has no terminal to type into; the agent gets its first "
            "nudge as $GC_NUDGE at start (use mail to talk to a running agent)"
        )

    @hookimpl
    def attach(self, name: str) -> int:
        self._existing(name)
        raise Unsupported(
            f"nohup sessions have no terminal to attach to; use 'gc session peek {name}'"
        )

    @hookimpl
    def peek(self, name: str, lines: int) -> str:
        session_dir, _ = self._existing(name)
        return _tail(session_dir / "output.log", lines)

    @hookimpl
    def last_activity(self, name: str) -> datetime | None:
        session_dir, _ = self._existing(name)
        try:
            mtime = (session_dir / "output.log").stat().st_mtime
        except FileNotFoundError:
            return None
        return datetime.fromtimestamp(mtime, UTC)

    @hookimpl
    def process_alive(self, name: str, process_names: Sequence[str]) -> bool | None:
        _, ident = self._existing(name)
        if ident is None:
            return None
        table = self._table()
        if not ident.alive(table):
            return False
        return bool(table.names(ident.pid) & set(process_names))

    # ------------------------------------------------------------------ metadata

    @staticmethod
    def _read_meta(session_dir: Path) -> dict[str, str]:
        try:
            data = json.loads((session_dir / "meta.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _update_meta(self, name: str, key: str, value: str | None) -> bool:
        session_dir, _ = self._existing(name)
        with locked(session_dir / ".meta.lock"):
            meta = self._read_meta(session_dir)
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
            _atomic_write(session_dir / "meta.json", json.dumps(meta))
        return True

    @hookimpl
    def get_meta(self, name: str, key: str) -> str | None:
        session_dir, _ = self._existing(name)
        return self._read_meta(session_dir).get(key)

    @hookimpl
    def set_meta(self, name: str, key: str, value: str) -> bool:
        return self._update_meta(name, key, value)

    @hookimpl
    def remove_meta(self, name: str, key: str) -> bool:
        return self._update_meta(name, key, None)

    # ------------------------------------------------------------------ lifecycle

    @hookimpl
    def status_info(self) -> dict[str, object]:
        return {"session.nohup.dir": str(self.root)}

    @hookimpl
    def shutdown(self) -> None:
        # Sessions outlive the controller by design; only collect exited children.
        self._reap()


if TYPE_CHECKING:
    from gascity.hookspecs import SessionProvider

    # mypy checks the class against the role's hook contract.
    _contract: type[SessionProvider] = NohupProvider
