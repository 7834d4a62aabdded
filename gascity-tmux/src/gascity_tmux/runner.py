"""One city's tmux server, reached by running the ``tmux`` binary with argv lists only.

Every call is exactly one ``tmux`` process; several tmux commands that must happen
together go into one invocation separated by :data:`SEP`. Each call has a deadline, so
a hung tmux server fails one call instead of blocking the controller's tick (libtmux,
which this used to go through, has no timeout and needs no more than this).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from gascity.errors import SessionError, SessionNotFound
from gascity.osutil.runner import run
from gascity.tmuxconv import NO_SERVER, NOT_FOUND, escape_arg, target

__all__ = ["SEP", "Result", "TmuxRunner", "escape_arg", "exact"]


class _Separator:
    def __repr__(self) -> str:
        return "SEP"


SEP: Final = _Separator()
"""Separates tmux commands inside one invocation (tmux's ``\\;``)."""

COMMAND_TIMEOUT: Final = 30.0
"""Seconds one tmux invocation may take (the exec protocol's per-op default)."""
MAX_OUTPUT: Final = 1 << 30
"""Bytes of output one invocation may print: a listing of any real city fits."""

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
        # gascity's one command runner: the deadline, the pipes read to their end and the
        # exit awaited on a pidfd; a tmux client that hangs is killed at once.
        res = run(argv, timeout=self.timeout, stdin=input, kill_grace=0.0,
                  max_output=MAX_OUTPUT)
        if res.error:
            raise SessionError(f"cannot run {self.tmux_bin}: {res.error}")
        if res.timed_out or res.returncode is None:
            command = args[0] if args and isinstance(args[0], str) else "tmux"
            raise SessionError(
                f"tmux {command} on socket {self.socket} did not answer within "
                f"{self.timeout:g}s (is the tmux server hung?)"
            )
        if res.truncated:
            raise SessionError(f"tmux {args[0]!s} printed more than {MAX_OUTPUT} bytes")
        return res.returncode, res.stdout_bytes, res.stderr.strip()

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
