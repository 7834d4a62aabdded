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
  never blocks.
"""

from __future__ import annotations

import contextlib
import errno
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["RunResult", "merged_env", "run", "run_shell"]

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

    def text(self) -> str:
        return b"".join(self.chunks).decode("utf-8", "replace")


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
    pgid = proc.pid
    out, err = _Sink(max_output), _Sink(max_output)
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    sel.register(proc.stdout, selectors.EVENT_READ, out)
    sel.register(proc.stderr, selectors.EVENT_READ, err)
    pending = memoryview(stdin or b"")
    if proc.stdin is not None:
        os.set_blocking(proc.stdin.fileno(), False)
        if pending:
            sel.register(proc.stdin, selectors.EVENT_WRITE, None)
        else:
            proc.stdin.close()

    deadline = started + timeout
    timed_out = False
    kill_at: float | None = None
    exited_at: float | None = None

    def exited(now: float) -> None:
        nonlocal exited_at
        exited_at = now
        if reap_group:
            _signal_group(pgid, signal.SIGKILL)

    try:
        while True:
            now = time.monotonic()
            if exited_at is None and proc.poll() is not None:
                exited(now)
            if not timed_out and exited_at is None and now >= deadline:
                timed_out = True
                _signal_group(pgid, signal.SIGTERM)
                _signal_group(pgid, signal.SIGCONT)  # a stopped one would sit on its TERM
                kill_at = now + kill_grace
            if kill_at is not None and now >= kill_at:
                _signal_group(pgid, signal.SIGKILL)
                kill_at = None
                if exited_at is None:
                    proc.wait()
                    exited(time.monotonic())
            if not sel.get_map():
                if exited_at is not None:
                    break
                # Pipes are closed but the command runs on: wait for exit or deadline.
                limit = kill_at if timed_out and kill_at is not None else deadline
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.0, limit - now))
                    exited(time.monotonic())
                continue
            if exited_at is not None and now >= exited_at + wait_delay:
                break  # a grandchild holds the pipes: stop waiting for it
            waits = [_EXIT_POLL]
            if not timed_out:
                waits.append(deadline - now)
            if kill_at is not None:
                waits.append(kill_at - now)
            if exited_at is not None:
                waits.append(exited_at + wait_delay - now)
            for key, _ in sel.select(max(0.0, min(waits))):
                fileobj = key.fileobj
                if key.data is None:  # stdin
                    try:
                        written = os.write(key.fd, pending[:_CHUNK])
                    except BlockingIOError:
                        continue
                    except OSError as exc:
                        if exc.errno not in (errno.EPIPE, errno.EINVAL):
                            raise
                        written = len(pending)  # the command stopped reading: fine
                    pending = pending[written:]
                    if not pending:
                        sel.unregister(fileobj)
                        assert proc.stdin is not None
                        with contextlib.suppress(OSError):
                            proc.stdin.close()
                    continue
                chunk = os.read(key.fd, _CHUNK)
                if chunk:
                    key.data.add(chunk)
                else:
                    sel.unregister(fileobj)
    finally:
        for key in list(sel.get_map().values()):
            sel.unregister(key.fileobj)
        sel.close()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if timed_out or proc.returncode is None:
            # A timed-out call leaves nothing of its group behind (children that
            # ignored SIGTERM included); the second case is only an exception above.
            _signal_group(pgid, signal.SIGKILL)
            if proc.returncode is None:
                proc.wait()

    return RunResult(
        argv=tuple(argv),
        returncode=proc.returncode,
        stdout=out.text(),
        stderr=err.text(),
        timed_out=timed_out,
        elapsed=time.monotonic() - started,
        timeout=timeout,
        truncated=out.dropped or err.dropped,
    )


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
    )
