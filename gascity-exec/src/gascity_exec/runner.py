"""Run one protocol script invocation with a hard deadline.

The script gets its own process group. At the deadline the group gets SIGTERM (so a
script can roll back what it created), then SIGKILL after ``kill_grace``. Pipes are
closed ``wait_delay`` after the script has exited or been killed, so a grandchild
that left the group but still holds stdout cannot keep the controller waiting (the
same guarantee as Go's ``cmd.WaitDelay`` in the reference).
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

__all__ = ["ScriptResult", "run_script"]

_CHUNK = 65536
_EXIT_POLL = 0.05
"""How often to look for the script's exit while a pipe is still held open."""


@dataclass(frozen=True)
class ScriptResult:
    argv: tuple[str, ...]
    returncode: int
    """The exit code; negative for a signal (as :mod:`subprocess` reports it)."""
    stdout: str
    """Decoded stdout with trailing newlines trimmed (the reference's TrimRight)."""
    stderr: str
    timed_out: bool
    elapsed: float
    timeout: float
    """The limit the call ran under."""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def run_script(
    argv: Sequence[str],
    *,
    stdin: bytes | None,
    timeout: float,
    env: Mapping[str, str],
    kill_grace: float = 2.0,
    wait_delay: float = 2.0,
) -> ScriptResult:
    """Run ``argv`` (no shell), feed ``stdin`` (``None`` means ``/dev/null``), collect
    stdout and stderr, and never take much longer than ``timeout + kill_grace +
    wait_delay`` whatever the script and its children do."""
    started = time.monotonic()
    proc = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env),
        close_fds=True,
        process_group=0,
    )
    pgid = proc.pid
    out: list[bytes] = []
    err: list[bytes] = []
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
    try:
        while True:
            now = time.monotonic()
            if proc.returncode is None and proc.poll() is not None:
                exited_at = now
            if not timed_out and proc.returncode is None and now >= deadline:
                timed_out = True
                _signal_group(pgid, signal.SIGTERM)
                kill_at = now + kill_grace
            if kill_at is not None and now >= kill_at:
                _signal_group(pgid, signal.SIGKILL)
                kill_at = None
                if exited_at is None:
                    proc.wait()
                    exited_at = time.monotonic()
            if not sel.get_map():
                if proc.returncode is not None:
                    break
                # Pipes are closed but the script runs on: wait for exit or deadline.
                limit = (kill_at if timed_out else deadline) or now
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=max(0.0, limit - now))
                    exited_at = time.monotonic()
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
                        written = len(pending)  # the script stopped reading: fine
                    pending = pending[written:]
                    if not pending:
                        sel.unregister(fileobj)
                        assert proc.stdin is not None
                        with contextlib.suppress(OSError):
                            proc.stdin.close()
                    continue
                chunk = os.read(key.fd, _CHUNK)
                if chunk:
                    key.data.append(chunk)
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

    return ScriptResult(
        argv=tuple(argv),
        returncode=proc.returncode,
        stdout=b"".join(out).decode("utf-8", "replace").rstrip("\n"),
        stderr=b"".join(err).decode("utf-8", "replace"),
        timed_out=timed_out,
        elapsed=time.monotonic() - started,
        timeout=timeout,
    )
