"""How the session scripts shipped here (``gc-session-tmux``, ``gc-session-screen``)
end a run: the exec protocol's exit statuses and messages."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Sequence

__all__ = ["EXIT_UNKNOWN_OP", "Failure", "run_main"]

EXIT_UNKNOWN_OP = 2
"""The protocol's answer to an operation the script does not implement."""


class Failure(Exception):
    """Ends the run with exit 1 and this message on stderr."""


def run_main(dispatch: Callable[[Sequence[str]], int], argv: Sequence[str] | None) -> int:
    """``dispatch(argv)`` (default: the command line); a failure is exit 1 with one
    line on stderr, never a traceback."""
    try:
        return dispatch(sys.argv[1:] if argv is None else argv)
    except Failure as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
