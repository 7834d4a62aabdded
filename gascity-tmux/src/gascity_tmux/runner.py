"""One city's tmux server, reached by running the ``tmux`` binary with argv lists only.

Every call is exactly one ``tmux`` process; several tmux commands that must happen
together go into one invocation separated by :data:`SEP`. Each call has a deadline, so
a hung tmux server fails one call instead of blocking the controller's tick (libtmux,
which this used to go through, has no timeout and needs no more than this).
"""

from __future__ import annotations

import math
import os
import select
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gascity.errors import SessionError, SessionNotFound
from gascity.osutil.runner import wait_exit
from gascity.tmuxconv import NO_SERVER, NOT_FOUND, escape_arg, target

__all__ = ["SEP", "Result", "TmuxRunner", "escape_arg", "exact"]


class _Separator:
    def __repr__(self) -> str:
        return "SEP"


SEP: Final = _Separator()
"""Separates tmux commands inside one invocation (tmux's ``\\;``)."""

COMMAND_TIMEOUT: Final = 30.0
"""Seconds one tmux invocation may take (the exec protocol's per-op default)."""

def exact(name: str, pane: bool = False) -> str:
    """A target that matches ``name`` exactly (see :func:`gascity.tmuxconv.target`)."""
    return target(name, pane=pane)


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: list[str]
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def not_found(self) -> bool:
        return any(text in self.stderr for text in NOT_FOUND) or self.no_server

    @property
    def no_server(self) -> bool:
        return any(text in self.stderr for text in NO_SERVER)


class TmuxRunner:
    def __init__(
        self,
        socket: str,
        tmux_bin: str,
        config_file: str | None = None,
        timeout: float = COMMAND_TIMEOUT,
    ) -> None:
        self.socket = socket
        self.tmux_bin = tmux_bin
        self.config_file = config_file
        self.timeout = timeout

    def base_argv(self) -> list[str]:
        argv = [self.tmux_bin]
        if self.config_file:
            argv.append(f"-f{self.config_file}")
        argv.append(f"-L{self.socket}")
        return argv

    def run(self, *args: str | _Separator, input: bytes | None = None) -> Result:
        """One tmux invocation; ``input`` is its stdin (``load-buffer -`` reads it)."""
        code, out, err = self.run_bytes(*args, input=input)
        return Result(code, out.decode("utf-8", "replace").splitlines(), err)

    def run_bytes(
        self, *args: str | _Separator, input: bytes | None = None
    ) -> tuple[int, bytes, str]:
        """:meth:`run` with stdout left as bytes: the listing decodes only what changed."""
        argv = self.base_argv() + [
            ";" if isinstance(a, _Separator) else escape_arg(a) for a in args
        ]
        try:
            if input is None:
                return self._capture(argv)
            proc = subprocess.run(
                argv,
                input=input,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            command = args[0] if args and isinstance(args[0], str) else "tmux"
            raise SessionError(
                f"tmux {command} on socket {self.socket} did not answer within "
                f"{self.timeout:g}s (is the tmux server hung?)"
            ) from None
        except OSError as exc:
            raise SessionError(f"cannot run {self.tmux_bin}: {exc}") from None
        return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace").strip()

    def _capture(self, argv: list[str]) -> tuple[int, bytes, str]:
        """``subprocess.run(argv, capture_output=True, timeout=...)`` without its exit
        wait, which sleeps in steps of 1-50 ms: the pipes are read to their end, then
        the client's exit is waited for on a pidfd (:func:`wait_exit`)."""
        deadline = time.monotonic() + self.timeout
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert proc.stdout is not None and proc.stderr is not None
        out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
        chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
        try:
            poller = select.poll()
            for fd in chunks:
                poller.register(fd, select.POLLIN)
            open_fds = len(chunks)
            while open_fds:
                left = deadline - time.monotonic()
                ready = poller.poll(math.ceil(left * 1000)) if left > 0 else []
                if not ready:
                    raise subprocess.TimeoutExpired(argv, self.timeout)
                for fd, _ in ready:
                    data = os.read(fd, 1 << 16)
                    if data:
                        chunks[fd].append(data)
                    else:
                        poller.unregister(fd)
                        open_fds -= 1
            if not wait_exit(proc, max(0.0, deadline - time.monotonic())):
                raise subprocess.TimeoutExpired(argv, self.timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            proc.stdout.close()
            proc.stderr.close()
        err = b"".join(chunks[err_fd]).decode("utf-8", "replace").strip()
        return proc.returncode, b"".join(chunks[out_fd]), err

    def check(self, *args: str | _Separator, session: str | None = None) -> list[str]:
        """Run and return stdout; a missing session raises SessionNotFound."""
        result = self.run(*args)
        if result.ok:
            return result.stdout
        raise self.error(result, args, session)

    def error(
        self, result: Result, args: Sequence[str | _Separator], session: str | None
    ) -> SessionError:
        if session is not None and result.not_found:
            return SessionNotFound(f"no tmux session {session!r} on socket {self.socket}")
        command = args[0] if args and isinstance(args[0], str) else "tmux"
        return SessionError(f"tmux {command} failed: {result.stderr or result.returncode}")
