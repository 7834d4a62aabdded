"""One city's tmux server, reached through :mod:`libtmux`, argv lists only.

Every call is exactly one ``tmux`` process; several tmux commands that must happen
together go into one invocation separated by :data:`SEP`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from gascity.errors import SessionError, SessionNotFound

if TYPE_CHECKING:
    import libtmux

__all__ = ["SEP", "Result", "TmuxRunner", "escape_arg", "exact"]


class _Separator:
    def __repr__(self) -> str:
        return "SEP"


SEP: Final = _Separator()
"""Separates tmux commands inside one invocation (tmux's ``\\;``)."""

_NOT_FOUND = (
    "can't find session",
    "no such session",
    "can't find window",
    "no such window",
    "can't find pane",
    "no such pane",
    "session not found",
)
_NO_SERVER = ("no server running", "error connecting to", "server exited unexpectedly")


def escape_arg(arg: str) -> str:
    """tmux ends a command at any argument that *ends* with ``;`` (and turns a final
    ``\\;`` back into ``;``). Escaping that last ``;`` keeps user text one argument."""
    if arg.endswith(";"):
        return arg[:-1] + "\\;"
    return arg


def exact(name: str, pane: bool = False) -> str:
    """A target that matches ``name`` exactly (a bare name is a prefix match);
    ``pane=True`` gives the form pane and option commands accept."""
    return f"={name}:" if pane else f"={name}"


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
        return any(text in self.stderr for text in _NOT_FOUND) or self.no_server

    @property
    def no_server(self) -> bool:
        return any(text in self.stderr for text in _NO_SERVER)


class TmuxRunner:
    def __init__(self, socket: str, tmux_bin: str, config_file: str | None = None) -> None:
        import libtmux

        self.socket = socket
        self.tmux_bin = tmux_bin
        self.config_file = config_file
        self.server: libtmux.Server = libtmux.Server(
            socket_name=socket, config_file=config_file, tmux_bin=tmux_bin
        )

    def base_argv(self) -> list[str]:
        argv = [self.tmux_bin]
        if self.config_file:
            argv.append(f"-f{self.config_file}")
        argv.append(f"-L{self.socket}")
        return argv

    def run(self, *args: str | _Separator) -> Result:
        argv = [";" if a is SEP else escape_arg(a) for a in args]  # type: ignore[arg-type]
        proc = self.server.cmd(argv[0], *argv[1:])
        return Result(int(proc.returncode or 0), list(proc.stdout), "\n".join(proc.stderr))

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
