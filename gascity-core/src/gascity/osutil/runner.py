"""The one way gascity runs a command it does not control: scale checks, ``pre_start``,
``session_setup``, hooks and exec protocol scripts.

Whatever the command does, :func:`run` returns within ``timeout + kill_grace +
wait_delay``:

* the command gets its own process group; at the deadline the group gets SIGTERM, then
  SIGKILL after ``kill_grace``;
* the answer is taken when the command itself exits: a background child that still
  holds stdout (``sleep 100 & echo 3``) or one that escaped the group with ``setsid``
  gets ``wait_delay`` to close its end, then the pipes are closed on it (Go's
  ``cmd.WaitDelay`` in the reference);
* output is decoded as UTF-8 with replacement (one stray byte never raises) and kept
  up to ``max_output`` bytes per stream; the rest is read and dropped so the writer
  never blocks;
* a ``cancel`` event brings the deadline forward: a stopping controller does not wait
  out a probe's timeout.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import select
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import threading

__all__ = ["RunResult", "kill_probes", "merged_env", "run", "run_shell", "wait_exit"]

_CHUNK = 65536
_EXIT_POLL = 0.05
"""How often to look for the command's exit while a pipe is still held open."""
EXCERPT = 400
"""Characters of output an error message quotes."""


@dataclass(frozen=True, slots=True)
class RunResult:
    argv: tuple[str, ...]
    returncode: int | None
    """The exit code, negative for a signal; ``None`` if the command never started."""
    stdout: str
    stderr: str
    timed_out: bool
    elapsed: float
    timeout: float
    """The limit the call ran under."""
    error: str = ""
    """Why the command could not be started ("" when it was)."""
    truncated: bool = False
    """Output went past ``max_output`` and the excess was dropped."""
    cancelled: bool = False
    """Ended early because the caller's ``cancel`` event was set."""
    stdout_bytes: bytes = b""
    """``stdout`` as the command wrote it, for callers that parse bytes."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    def excerpt(self, limit: int = EXCERPT) -> str:
        """The end of stderr (or of stdout when stderr is empty), at most ``limit`` chars."""
        text = (self.stderr.strip() or self.stdout.strip())
        return text if len(text) <= limit else "..." + text[-limit:]

    def status(self) -> str:
        if self.error:
            return f"could not run: {self.error}"
        if self.cancelled:
            return "cancelled"
        if self.timed_out:
            return f"timed out after {self.timeout:g}s"
        assert self.returncode is not None
        if self.returncode < 0:
            return f"killed by signal {-self.returncode}"
        return f"exit status {self.returncode}"

    def describe(self, limit: int = EXCERPT) -> str:
        """``exit status 3: <excerpt>``, for logs and events."""
        tail = self.excerpt(limit)
        return f"{self.status()}: {tail}" if tail else self.status()


def wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for ``proc`` to exit and reap it; whether it did.

    ``Popen.wait(timeout)`` polls with sleeps doubling from 1 to 50 ms, so a command
    that closed its output a moment before exiting (as every ``tmux`` client does) cost
    milliseconds more than it ran; a pidfd wakes the moment it exits.
    """
    pidfd_open = getattr(os, "pidfd_open", None)
    fd = -1
    if pidfd_open is not None:
        with contextlib.suppress(OSError):
            fd = pidfd_open(proc.pid)
    if fd < 0:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        return True
    try:
        # Asked after the pidfd is open: until it is reaped the pid cannot be reused, so
        # a child still running here is the process the fd refers to.
        if proc.poll() is not None:
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if not poller.poll(max(0, math.ceil(timeout * 1000))):
            return proc.poll() is not None
    finally:
        os.close(fd)
    proc.wait()  # it has exited: this reaps it at once
    return True


def merged_env(
    overrides: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The process environment with ``overrides`` applied; an empty value unsets."""
    env = dict(os.environ if base is None else base)
    for key, value in overrides.items():
        if value == "":
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


_PROBE_GROUPS: set[int] = set()
"""Process groups of the ``reap_group`` commands (probes) running now."""


def kill_probes() -> int:
    """SIGKILL the process group of every probe still running; how many there were.

    For a process about to ``os._exit`` (a city runtime whose supervisor died): its
    sessions are left to be adopted, but a hung scale check is nobody's once its caller
    is gone, and the next runtime runs its own.
    """
    groups = tuple(_PROBE_GROUPS)  # one C-level copy: safe beside threads adding
    for pgid in groups:
        _signal_group(pgid, signal.SIGKILL)
    return len(groups)


class _Sink:
    __slots__ = ("chunks", "dropped", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.chunks: list[bytes] = []
        self.size = 0
        self.limit = limit
        self.dropped = False

    def add(self, chunk: bytes) -> None:
        room = self.limit - self.size
        if room <= 0:
            self.dropped = True
            return
        if len(chunk) > room:
            chunk = chunk[:room]
            self.dropped = True
        self.chunks.append(chunk)
        self.size += len(chunk)

    def data(self) -> bytes:
        return b"".join(self.chunks)

    def text(self) -> str:
        return self.data().decode("utf-8", "replace")


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    kill_grace: float = 2.0,
    wait_delay: float = 2.0,
    max_output: int = 16 << 20,
    reap_group: bool = False,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Run ``argv`` (no shell), feed ``stdin`` (``None`` means ``/dev/null``) and
    collect stdout and stderr.

    ``reap_group`` kills what is left of the command's process group as soon as the
    command exits: for probes, whose leftovers would otherwise pile up every tick.
    """
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=None if env is None else dict(env),
            close_fds=True,
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:
        return RunResult(tuple(argv), None, "", "", False, time.monotonic() - started,
                         timeout, error=str(exc) or type(exc).__name__)
    running = _Running(proc, stdin, deadline=started + timeout, kill_grace=kill_grace,
                       wait_delay=wait_delay, max_output=max_output, reap_group=reap_group,
                       cancel=cancel)
    if reap_group:
        _PROBE_GROUPS.add(proc.pid)
    try:
        while running.step():
            pass
    finally:
        running.close()
        _PROBE_GROUPS.discard(proc.pid)
    out = running.out.data()
    return RunResult(
        argv=tuple(argv),
        returncode=proc.returncode,
        stdout=out.decode("utf-8", "replace"),
        stderr=running.err.text(),
        timed_out=running.timed_out,
        elapsed=time.monotonic() - started,
        timeout=timeout,
        truncated=running.out.dropped or running.err.dropped,
        cancelled=running.cancelled,
        stdout_bytes=out,
    )


class _Running:
    """One command under :func:`run`'s deadlines: its pipes, its group's signals."""

    def __init__(self, proc: subprocess.Popen[bytes], stdin: bytes | None, *,
                 deadline: float, kill_grace: float, wait_delay: float, max_output: int,
                 reap_group: bool, cancel: threading.Event | None = None) -> None:
        self.proc, self.pgid = proc, proc.pid
        self.deadline, self.kill_grace, self.wait_delay = deadline, kill_grace, wait_delay
        self.reap_group = reap_group
        self.out, self.err = _Sink(max_output), _Sink(max_output)
        self.sel = selectors.DefaultSelector()
        assert proc.stdout is not None and proc.stderr is not None
        self.sel.register(proc.stdout, selectors.EVENT_READ, self.out)
        self.sel.register(proc.stderr, selectors.EVENT_READ, self.err)
        self.pending = memoryview(stdin or b"")
        if proc.stdin is not None:
            os.set_blocking(proc.stdin.fileno(), False)
            if self.pending:
                self.sel.register(proc.stdin, selectors.EVENT_WRITE, None)
            else:
                proc.stdin.close()
        self.timed_out = False
        self.cancel, self.cancelled = cancel, False
        self.kill_at: float | None = None
        self.exited_at: float | None = None

    def exited(self, now: float) -> None:
        self.exited_at = now
        if self.reap_group:
            _signal_group(self.pgid, signal.SIGKILL)

    def enforce(self, now: float) -> None:
        """Notice the exit; past the deadline TERM the group, past the grace KILL it."""
        if self.exited_at is None and self.proc.poll() is not None:
            self.exited(now)
        if (not self.timed_out and self.exited_at is None and self.cancel is not None
                and self.cancel.is_set()):
            self.cancelled = True
            self.deadline = now
        if not self.timed_out and self.exited_at is None and now >= self.deadline:
            self.timed_out = True
            _signal_group(self.pgid, signal.SIGTERM)
            _signal_group(self.pgid, signal.SIGCONT)  # a stopped one would sit on its TERM
            self.kill_at = now + self.kill_grace
        if self.kill_at is not None and now >= self.kill_at:
            _signal_group(self.pgid, signal.SIGKILL)
            self.kill_at = None
            if self.exited_at is None:
                self.proc.wait()
                self.exited(time.monotonic())

    def step(self) -> bool:
        """One turn: signals due, then I/O until the next event; ``False`` once the
        answer is taken."""
        now = time.monotonic()
        self.enforce(now)
        if not self.sel.get_map():
            if self.exited_at is not None:
                return False
            # Pipes are closed but the command runs on: wait for exit or deadline.
            limit = self.kill_at if self.timed_out and self.kill_at is not None else self.deadline
            if self.cancel is not None:
                limit = min(limit, now + _EXIT_POLL)  # look at the cancel event again soon
            if wait_exit(self.proc, max(0.0, limit - now)):
                self.exited(time.monotonic())
            return True
        if self.exited_at is not None and now >= self.exited_at + self.wait_delay:
            return False  # a grandchild holds the pipes: stop waiting for it
        for key, _ in self.sel.select(self.next_wait(now)):
            if key.data is None:
                self.feed(key)
            else:
                self.drain(key)
        return True

    def next_wait(self, now: float) -> float:
        waits = [_EXIT_POLL]
        if not self.timed_out:
            waits.append(self.deadline - now)
        if self.kill_at is not None:
            waits.append(self.kill_at - now)
        if self.exited_at is not None:
            waits.append(self.exited_at + self.wait_delay - now)
        return max(0.0, min(waits))

    def feed(self, key: selectors.SelectorKey) -> None:
        """Write what the command's stdin can take now."""
        try:
            written = os.write(key.fd, self.pending[:_CHUNK])
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno not in (errno.EPIPE, errno.EINVAL):
                raise
            written = len(self.pending)  # the command stopped reading: fine
        self.pending = self.pending[written:]
        if not self.pending:
            self.sel.unregister(key.fileobj)
            assert self.proc.stdin is not None
            with contextlib.suppress(OSError):
                self.proc.stdin.close()

    def drain(self, key: selectors.SelectorKey) -> None:
        chunk = os.read(key.fd, _CHUNK)
        if chunk:
            key.data.add(chunk)
        else:
            self.sel.unregister(key.fileobj)

    def close(self) -> None:
        for key in list(self.sel.get_map().values()):
            self.sel.unregister(key.fileobj)
        self.sel.close()
        proc = self.proc
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if self.timed_out or proc.returncode is None:
            # A timed-out call leaves nothing of its group behind (children that
            # ignored SIGTERM included); the second case is only an exception above.
            _signal_group(self.pgid, signal.SIGKILL)
            if proc.returncode is None:
                proc.wait()


def run_shell(
    command: str,
    *,
    timeout: float,
    cwd: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    kill_grace: float = 2.0,
    wait_delay: float = 2.0,
    max_output: int = 16 << 20,
    reap_group: bool = False,
    cancel: threading.Event | None = None,
) -> RunResult:
    """:func:`run` of ``sh -c command`` (the city author's shell text, never ours)."""
    return run(
        ["sh", "-c", command],
        timeout=timeout,
        cwd=cwd,
        env=env,
        kill_grace=kill_grace,
        wait_delay=wait_delay,
        max_output=max_output,
        reap_group=reap_group,
        cancel=cancel,
    )
