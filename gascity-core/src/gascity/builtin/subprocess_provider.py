"""The ``subprocess`` session provider: detached processes, state in files, stdlib only.

Each session is ``sh -c <command>`` in its own session and process group, with its
state under ``.gc/sessions/<name>/``:

* ``pid``: ``<pid> <start ticks> <epoch>``, the leader's identity. The start time from
  ``/proc/<pid>/stat`` makes a reused pid harmless.
* ``meta.json``: the session's metadata (fingerprint, drain flags).
* ``output.log``: stdout and stderr, for ``peek``.
* ``stdin``: a FIFO the session reads, so ``nudge`` can type into the agent. The
  session holds it open read-write, so it never sees end-of-file between nudges.
* ``exit``: the exit status, when this process reaped the leader.

Everything is read back from those files and ``/proc``, so a restarted controller
finds its sessions again, and a crashed session keeps its log until ``stop``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

# subprocess, uuid, shutil and the start/stop helpers load where a start or stop
# needs them: `gc runtime drain-ack` only rewrites meta.json (gascity.cli.fast).
if TYPE_CHECKING:
    import subprocess

from .. import hookimpl
from ..errors import SessionError, SessionExists, SessionNotFound
from ..fsutil import atomic_write, locked
from ..osutil import proctree as proc
from ..osutil.flock import Busy, open_lock
from ..plugins.context import PluginContext, load_settings
from ..types import META_AGENT, Liveness, RunningSession, StartConfig
from . import sessionmeta
from .sessionmeta import NAME_RE as _NAME_RE

__all__ = ["SubprocessProvider", "SubprocessSettings"]

log = logging.getLogger("gascity.session.subprocess")

_COMM_MAX = 15  # the kernel truncates comm to 15 bytes
SPAWN_VAR = "GC_SUBPROCESS_SPAWN"
"""In each session's environment: the id recorded in ``spawn`` before the process starts."""


@dataclass(frozen=True)
class SubprocessSettings:
    """``[session.subprocess]`` in city.toml, or ``GC_SUBPROCESS_<KEY>``."""

    stop_grace: float = field(default=5.0, metadata={"gt": 0})
    """Seconds between SIGTERM and SIGKILL when stopping a session."""
    kill_wait: float = field(default=5.0, metadata={"gt": 0})
    """Seconds to wait for processes to vanish after SIGKILL."""
    nudge_timeout: float = field(default=10.0, metadata={"gt": 0})
    """Seconds a nudge may wait for an agent that does not read its input."""


class _Ident:
    """The recorded identity of a session's leader process."""

    __slots__ = ("pid", "start_ticks", "started_at")

    def __init__(self, pid: int, start_ticks: int, started_at: float) -> None:
        self.pid = pid
        self.start_ticks = start_ticks
        self.started_at = started_at

    @classmethod
    def read(cls, session_dir: Path | str) -> _Ident | None:
        raw = proc.read_small(f"{session_dir}/pid")
        if raw is None:
            return None
        try:
            pid, ticks, epoch = raw.split()
            return cls(int(pid), int(ticks), float(epoch))
        except ValueError:
            return None

    def write(self, session_dir: Path) -> None:
        atomic_write(session_dir / "pid", f"{self.pid} {self.start_ticks} {self.started_at}\n")

    def alive(self, stat: proc.ProcStat | None) -> bool:
        return stat is not None and stat.start_time == self.start_ticks and stat.live


@dataclass(frozen=True, slots=True)
class _Seen:
    """One session directory as the previous full listing read it."""

    key: tuple[int, int, int]
    """The directory's inode, mtime and ctime: any rename into it changes them."""
    ident: _Ident
    meta: dict[str, str]
    started_at: datetime


class _TreeNames(AbstractSet[str]):
    """The command names in a live session's process tree, read on first use: only
    an agent with ``process_names`` asks, so a listing reads no tree for the others."""

    __slots__ = ("_ident", "_names", "_snapshot")

    def __init__(self, ident: _Ident, snapshot: list[proc.Snapshot]) -> None:
        self._ident = ident
        # The listing's process table, shared: read at most once for all its sessions.
        self._snapshot = snapshot
        self._names: frozenset[str] | None = None

    def _get(self) -> frozenset[str]:
        if self._names is None:
            ident = self._ident
            members = proc.tree(ident.pid, ident.start_ticks)
            if members is None:  # no children files (psutil), or the leader just exited
                if not self._snapshot:
                    self._snapshot.append(proc.Snapshot())
                members = self._snapshot[0].members(ident.pid, ident.start_ticks)
            self._names = _process_names(members)
        return self._names

    def __contains__(self, item: object) -> bool:
        return item in self._get()

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


def _when(epoch: float | None) -> datetime | None:
    return None if epoch is None else datetime.fromtimestamp(epoch, UTC)


def _process_names(members: Sequence[proc.ProcStat]) -> frozenset[str]:
    names: set[str] = set()
    for stat in members:
        names.add(stat.comm)
        if len(stat.comm) >= _COMM_MAX:
            full = proc.argv0(stat.pid)
            if full:
                names.add(full)
    return frozenset(names)


def _tail(path: Path, lines: int) -> str:
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        if lines <= 0:
            f.seek(0)
            data = f.read()
        else:
            pos, chunks, newlines = end, [], 0
            # Read backwards only as far as the lines asked for: logs grow without bound.
            while pos > 0 and newlines <= lines:
                step = min(65536, pos)
                pos -= step
                f.seek(pos)
                chunk = f.read(step)
                chunks.append(chunk)
                newlines += chunk.count(b"\n")
            data = b"".join(reversed(chunks))
    text = data.decode("utf-8", "replace")
    if lines <= 0:
        return text
    return "".join(text.splitlines(keepends=True)[-lines:])


class SubprocessProvider:
    """Sessions as detached local processes. Built as ``SubprocessProvider(ctx)``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.settings = load_settings(ctx, SubprocessSettings, env_prefix="GC_SUBPROCESS_")
        self.root = ctx.state_dir / "sessions"
        # Sessions this process started, with their directories: reaped by pid.
        self._children: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
        self._lock = threading.Lock()
        self._seen: dict[str, _Seen] = {}

    # ----------------------------------------------------------------- helpers

    def _dir(self, name: str) -> Path:
        return Path(sessionmeta.session_dir(str(self.root), name))

    def _ident(self, name: str) -> tuple[Path, _Ident]:
        path = self._dir(name)
        ident = _Ident.read(path)
        if ident is None:
            raise SessionError(f"session '{name}' is still starting")
        return path, ident

    @staticmethod
    def _starting(session_dir: Path) -> bool:
        """Is a ``start`` still holding this session's start lock?"""
        try:
            fd = open_lock(session_dir / "start.lock", shared=True, blocking=False, create=False)
        except Busy:
            return True
        except OSError:
            return False
        os.close(fd)
        return False

    def _reap(self, pids: Iterable[int] | None = None) -> None:
        """Collect exit statuses of sessions this process started, so they do not
        linger as zombies, and leave each status where ``list_running`` shows it.

        Only ``pids`` (leaders seen dead) are polled when given: polling every child
        on every start made a cold start of N sessions cost N^2/2 ``waitpid`` calls.
        """
        with self._lock:
            wanted = self._children if pids is None else {
                pid: self._children[pid] for pid in pids if pid in self._children}
            done = [
                (pid, child, session_dir)
                for pid, (child, session_dir) in wanted.items()
                if child.poll() is not None
            ]
            for pid, _, _ in done:
                del self._children[pid]
        for pid, child, session_dir in done:
            ident = _Ident.read(session_dir)
            if ident is not None and ident.pid == pid:
                with contextlib.suppress(OSError):
                    (session_dir / "exit").write_text(f"{child.returncode}\n")

    @staticmethod
    def _exit_detail(session_dir: Path) -> str:
        try:
            code = int((session_dir / "exit").read_text().strip())
        except (OSError, ValueError):
            return "exited"
        if code < 0:
            return f"killed by signal {-code}"
        return f"exited with status {code}"

    @staticmethod
    def _read_meta(directory: Path | str) -> dict[str, str]:
        return sessionmeta.read_meta(directory)

    def _status(self, session_dir: Path) -> str:
        ident = _Ident.read(session_dir)
        if ident is None:
            return "starting" if self._starting(session_dir) else "stale"
        return "alive" if ident.alive(proc.read_stat(ident.pid)) else "dead"

    # ----------------------------------------------------------------- listing

    @hookimpl
    def list_running(self, prefix: str) -> list[RunningSession]:
        try:
            entries = os.listdir(self.root)
        except FileNotFoundError:
            return []
        snapshot: list[proc.Snapshot] = []  # the whole process table, read at most once
        records: list[RunningSession] = []
        known = self._seen
        seen: dict[str, _Seen] = {}
        root = str(self.root)
        for name in entries:
            if name.startswith(".gone-"):
                # A stop renamed it and was killed before removing it: finish the job.
                import shutil
                shutil.rmtree(f"{root}/{name}", ignore_errors=True)
                continue
            if not name.startswith(prefix) or not _NAME_RE.match(name):
                continue
            record, entry = self._list_one(name, f"{root}/{name}", known.get(name), snapshot)
            if record is not None:
                records.append(record)
            if entry is not None:
                seen[name] = entry
        if not prefix:
            self._seen = seen  # a full listing: sessions gone since drop out
        return records

    def _list_one(self, name: str, session_dir: str, known: _Seen | None,
                  snapshot: list[proc.Snapshot]) -> tuple[RunningSession | None, _Seen | None]:
        """One session's record, and what to remember of it for the next listing."""
        try:
            st = os.stat(session_dir)
        except OSError:
            return None, None  # stopped between the listing and now
        # pid and meta.json are only ever replaced by a rename into the directory (and
        # a new session is a new directory), so an unchanged directory means both are.
        key = (st.st_ino, st.st_mtime_ns, st.st_ctime_ns)
        fresh = known is None or known.key != key
        if known is None or fresh:
            meta = self._read_meta(session_dir)
            ident = _Ident.read(session_dir)
            if ident is None:
                if not os.path.isdir(session_dir):
                    return None, None
                starting = self._starting(Path(session_dir))
                return RunningSession(
                    name=name,
                    liveness=Liveness.STARTING if starting else Liveness.DEAD,
                    meta=meta,
                    detail="" if starting else "start did not complete",
                ), None
            known = _Seen(key, ident, meta, datetime.fromtimestamp(ident.started_at, UTC))
        ident = known.ident
        if ident.alive(proc.read_stat(ident.pid)):
            return RunningSession(
                name=name,
                liveness=Liveness.ALIVE,
                meta=known.meta,
                processes=_TreeNames(ident, snapshot),
                started_at=known.started_at,
                last_activity=_when(self._activity_time(session_dir)),
            ), known
        if not fresh:
            # Read what the files say now rather than trust the remembered leader.
            return self._list_one(name, session_dir, None, snapshot)
        # The leader is gone: whoever still carries its session id is found in the
        # whole process table (read once per listing).
        if not snapshot:
            snapshot.append(proc.Snapshot())
        members = snapshot[0].members(ident.pid, ident.start_ticks)
        if ident.pid in self._children:
            self._reap([ident.pid])  # record its exit status now
        return RunningSession(
            name=name,
            liveness=Liveness.DEAD,
            meta=known.meta,
            processes=_process_names(members),
            started_at=known.started_at,
            detail=self._exit_detail(Path(session_dir)),
            last_activity=_when(self._activity_time(session_dir)),
        ), known

    # --------------------------------------------------------------- lifecycle

    def _claim(self, name: str) -> tuple[Path, int]:
        """Create ``sessions/<name>/`` atomically, holding its start lock."""
        self.root.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            # Build the directory aside with its lock already held, then rename it
            # into place: it appears complete or not at all.
            import uuid
            temp = self.root / f".new-{name}-{uuid.uuid4().hex[:8]}"
            temp.mkdir(mode=0o700)
            fd = open_lock(temp / "start.lock")
            target = self.root / name
            try:
                os.rename(temp, target)
                return target, fd
            except OSError as exc:
                os.close(fd)
                import shutil
                shutil.rmtree(temp, ignore_errors=True)
                if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                    raise SessionError(f"cannot create session '{name}': {exc}") from exc
            status = self._status(target)
            if status in ("alive", "starting"):
                raise SessionExists(f"session '{name}' already exists")
            # A crashed session or a start that died half-way: clear it like stop.
            self.stop(name)
        raise SessionError(f"cannot claim session '{name}': it keeps reappearing")

    @hookimpl
    def is_running(self, name: str) -> bool | None:
        # The listing of one name is one directory read: cheap enough to reuse.
        for record in self.list_running(name):
            if record.name == name:
                if record.liveness is Liveness.UNKNOWN:
                    return None
                return record.liveness is not Liveness.DEAD
        return False

    @hookimpl
    def start(self, name: str, config: StartConfig) -> bool:
        if not _NAME_RE.match(name):
            raise SessionError(f"invalid session name {name!r}")
        deadline = time.monotonic() + config.startup_timeout

        def remaining(step: str) -> float:
            left = deadline - time.monotonic()
            if left <= 0:
                raise SessionError(
                    f"session '{name}' did not start within {config.startup_timeout}s ({step})"
                )
            return left

        session_dir, lock_fd = self._claim(name)
        from ..osutil.runner import merged_env, run, run_shell
        env = merged_env(config.env)
        try:
            for command in config.pre_start:
                result = run_shell(
                    command, cwd=config.work_dir, env=env, timeout=remaining("pre_start")
                )
                if result.timed_out:
                    raise SessionError(
                        f"session '{name}' did not start within {config.startup_timeout}s "
                        "(a pre_start command was still running)"
                    )
                # As Gas City specifies, a failing pre_start is reported and the start
                # goes on (a missing work_dir then fails the spawn itself).
                if result.error:
                    log.warning("session %s: cannot run pre_start: %s", name, result.error)
                elif not result.ok:
                    log.warning("session %s: pre_start command failed (%s)", name,
                                result.describe())
            meta = dict(config.meta)
            if config.agent:
                meta.setdefault(META_AGENT, config.agent)
            atomic_write(session_dir / "meta.json", json.dumps(meta))
            remaining("spawn")
            self._spawn(name, session_dir, config, env)
            # The script by its argv, as tmux runs it (`sh <script>`): its path is
            # absolute under the city, whose directory name is the user's, not shell text.
            script = [["sh", config.session_setup_script]] if config.session_setup_script else []
            steps = [["sh", "-c", c] for c in config.session_setup] + script
            steps += [["sh", "-c", c] for c in config.session_live]
            for argv in steps:
                try:
                    result = run(argv, cwd=config.work_dir, env=env,
                                 timeout=remaining("session_setup"))
                except SessionError as exc:
                    log.warning("session %s: session_setup failed: %s", name, exc)
                    continue
                if not result.ok:
                    log.warning(
                        "session %s: session_setup failed (%s)", name, result.describe()
                    )
            if config.nudge:
                try:
                    from ..readiness import wait_until_ready
                    wait_until_ready(config, deadline, lambda: self.peek(name, 50))
                    self._type(name, session_dir, config.nudge, remaining("nudge"))
                except SessionError as exc:
                    # The agent may have exited on its own; the listing reports that.
                    log.warning("session %s: initial nudge not delivered: %s", name, exc)
        except BaseException:
            self._discard(name, session_dir)
            raise
        finally:
            os.close(lock_fd)
        return True

    def _spawn(
        self, name: str, session_dir: Path, config: StartConfig, env: dict[str, str]
    ) -> None:
        fifo = session_dir / "stdin"
        os.mkfifo(fifo, 0o600)
        log_fd = os.open(
            session_dir / "output.log",
            os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
            0o600,
        )
        # Read-write, so the FIFO always has a writer and the agent never reads EOF.
        in_fd = os.open(fifo, os.O_RDWR | os.O_CLOEXEC)
        # Recorded before the spawn: a controller killed between the spawn and the pid
        # file leaves a process that a later stop still finds by this marker.
        import uuid
        spawn_id = uuid.uuid4().hex
        atomic_write(session_dir / "spawn", spawn_id)
        try:
            import subprocess
            child = subprocess.Popen(
                ["sh", "-c", config.command],
                cwd=config.work_dir,
                env={**env, SPAWN_VAR: spawn_id},
                stdin=in_fd,
                stdout=log_fd,
                stderr=log_fd,
                start_new_session=True,
            )
        except OSError as exc:
            raise SessionError(f"session '{name}': cannot run the command: {exc}") from exc
        finally:
            os.close(in_fd)
            os.close(log_fd)
        # Not reaped yet, so /proc/<pid>/stat exists even if it already exited.
        stat = proc.read_stat(child.pid)
        if stat is None:
            child.kill()
            child.wait()
            raise SessionError(f"session '{name}': its process vanished at start")
        _Ident(child.pid, stat.start_time, time.time()).write(session_dir)
        with self._lock:
            self._children[child.pid] = (child, session_dir)

    def _discard(self, name: str, session_dir: Path) -> None:
        ident = _Ident.read(session_dir)
        if ident is not None:
            self._kill(ident)
        else:
            self._kill_unrecorded(session_dir)
        self._remove(name, session_dir)

    def _kill(self, ident: _Ident) -> None:
        from ..osutil.killtree import terminate
        terminate(
            lambda: proc.Snapshot().members(ident.pid, ident.start_ticks),
            grace=self.settings.stop_grace,
            kill_wait=self.settings.kill_wait,
        )
        self._reap([ident.pid])

    def _remove(self, name: str, session_dir: Path) -> bool:
        # Rename first so the session disappears at once, whatever rmtree takes.
        import uuid
        trash = self.root / f".gone-{name}-{uuid.uuid4().hex[:8]}"
        try:
            os.rename(session_dir, trash)
        except FileNotFoundError:
            return False
        import shutil
        shutil.rmtree(trash, ignore_errors=True)
        return True

    @hookimpl
    def stop(self, name: str) -> bool:
        if not _NAME_RE.match(name):
            return False
        session_dir = self.root / name
        if not session_dir.is_dir():
            return False
        ident = _Ident.read(session_dir)
        if ident is not None:
            self._kill(ident)
        else:
            self._kill_unrecorded(session_dir)
        return self._remove(name, session_dir)

    def _kill_unrecorded(self, session_dir: Path) -> None:
        """End what a start spawned but never recorded (its starter was killed)."""
        raw = proc.read_small(f"{session_dir}/spawn")
        if not raw:
            return
        marker = f"{SPAWN_VAR}={raw.decode('ascii', 'replace').strip()}"

        def scan() -> list[proc.ProcStat]:
            table = proc.live_table()
            return [table[p] for p in proc.with_marker(marker, table)]

        if scan():
            from ..osutil.killtree import terminate
            terminate(scan, self.settings.stop_grace)

    # ------------------------------------------------------------- interaction

    @hookimpl
    def interrupt(self, name: str) -> bool:
        _, ident = self._ident(name)
        head = proc.read_stat(ident.pid)
        if head is not None and head.start_time != ident.start_ticks:
            raise SessionNotFound(f"session '{name}' is not running")
        try:
            os.killpg(ident.pid, signal.SIGINT)
        except ProcessLookupError:
            raise SessionNotFound(f"session '{name}' is not running") from None
        return True

    def _type(self, name: str, session_dir: Path, text: str, timeout: float) -> None:
        try:
            fd = os.open(session_dir / "stdin", os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            raise SessionNotFound(f"no session '{name}'") from None
        except OSError as exc:
            if exc.errno == errno.ENXIO:
                raise SessionError(f"session '{name}' is not running (no reader)") from None
            raise SessionError(f"session '{name}': cannot open its input: {exc}") from exc
        deadline = time.monotonic() + timeout
        data = memoryview((text + "\n").encode("utf-8"))
        try:
            while data:
                try:
                    written = os.write(fd, data)
                except BlockingIOError:
                    left = deadline - time.monotonic()
                    poller = select.poll()
                    poller.register(fd, select.POLLOUT)
                    if left <= 0 or not poller.poll(int(left * 1000) + 1):
                        raise SessionError(
                            f"session '{name}' did not read its input within {timeout}s"
                        ) from None
                    continue
                except BrokenPipeError:
                    raise SessionError(f"session '{name}' stopped reading its input") from None
                data = data[written:]
        finally:
            os.close(fd)

    @hookimpl
    def nudge(self, name: str, text: str) -> bool:
        session_dir = self._dir(name)
        with locked(session_dir / "nudge.lock"):
            self._type(name, session_dir, text, self.settings.nudge_timeout)
        return True

    @hookimpl
    def peek(self, name: str, lines: int) -> str:
        session_dir = self._dir(name)
        try:
            return _tail(session_dir / "output.log", lines)
        except FileNotFoundError:
            raise SessionNotFound(f"no session '{name}'") from None

    @hookimpl
    def attach(self, name: str) -> int:
        """Follow the session's output on stdout and type each line read from stdin
        into it. There is no terminal to hand over, so this is line-based: it ends
        (status 0) on end of input or Ctrl-C, or (status 1) when the session ends."""
        session_dir, ident = self._ident(name)
        out = sys.stdout.buffer
        in_fd = sys.stdin.fileno()
        poller = select.poll()
        poller.register(in_fd, select.POLLIN)
        pending = b""
        try:
            with open(session_dir / "output.log", "rb") as log_file:
                out.write(_tail(session_dir / "output.log", 50).encode("utf-8", "replace"))
                log_file.seek(0, os.SEEK_END)
                while True:
                    chunk = log_file.read()
                    if chunk:
                        out.write(chunk)
                    out.flush()
                    if not ident.alive(proc.read_stat(ident.pid)):
                        out.write(log_file.read())
                        out.flush()
                        return 1
                    # Output has no wake-up to wait on; a short poll keeps it live.
                    if not poller.poll(100):
                        continue
                    data = os.read(in_fd, 65536)
                    if not data:
                        return 0
                    pending += data
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        self.nudge(name, line.decode("utf-8", "replace"))
        except KeyboardInterrupt:
            return 0

    @hookimpl
    def last_activity(self, name: str) -> datetime | None:
        return _when(self._activity_time(str(self._dir(name))))

    @staticmethod
    def _activity_time(session_dir: str) -> float | None:
        """The newest of the output log's and the input FIFO's modification times."""
        newest: float | None = None
        for part in ("output.log", "stdin"):
            try:  # not contextlib.suppress: this runs twice per session per tick
                when = os.stat(f"{session_dir}/{part}").st_mtime
            except OSError:
                continue
            if newest is None or when > newest:
                newest = when
        return newest

    @hookimpl
    def process_alive(self, name: str, process_names: Sequence[str]) -> bool | None:
        _, ident = self._ident(name)
        snapshot = proc.Snapshot()
        if not process_names:
            return ident.alive(snapshot.by_pid.get(ident.pid))
        members = snapshot.members(ident.pid, ident.start_ticks)
        return bool(_process_names(members) & set(process_names))

    # ---------------------------------------------------------------- metadata

    @hookimpl
    def get_meta(self, name: str, key: str) -> str | None:
        return self._read_meta(self._dir(name)).get(key)

    def _update_meta(self, name: str, key: str, value: str | None) -> bool:
        sessionmeta.update_meta(str(self.root), name, key, value)
        return True

    @hookimpl
    def set_meta(self, name: str, key: str, value: str) -> bool:
        return self._update_meta(name, key, value)

    @hookimpl
    def remove_meta(self, name: str, key: str) -> bool:
        return self._update_meta(name, key, None)

    @hookimpl
    def status_info(self) -> dict[str, object]:
        return {"session.subprocess.state_dir": str(self.root)}

    @hookimpl
    def shutdown(self) -> None:
        # Sessions outlive the controller on purpose; only collect finished children.
        self._reap()


if TYPE_CHECKING:
    from ..hookspecs import SessionProvider

    # mypy checks the class against the role's hook contract.
    _contract: type[SessionProvider] = SubprocessProvider
