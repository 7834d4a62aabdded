"""``gc``: the Gas City command line. Plugins add commands through ``gascity.cli``.

This module is what the ``gc`` script imports, so it imports nothing itself:
``gc --version`` answers before click is loaded, the agents' hottest calls go to
:mod:`gascity.cli.fast` when it can run them, everything else to :mod:`gascity.cli.app`.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself is not imported: see gascity/__init__.py
if TYPE_CHECKING:
    from typing import Any

    from .app import cli

__all__ = ["cli", "main"]


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        from .. import __version__

        print(f"gc, version {__version__}")
        return
    if len(sys.argv) > 2:
        from .fast import run

        code = run(sys.argv[1:])
        if code is not None:
            sys.exit(code)
    _default_sigint()
    from .app import cli

    cli(prog_name="gc")


def _default_sigint() -> None:
    """A shell starting ``gc ... &`` from a script has SIGINT ignored, and an ignored
    signal stays ignored across exec: every agent a controller, a supervisor or
    ``gc start --once`` spawned from there could never be interrupted (``gc session
    interrupt``, the shutdown's first step). Python's own handler is reset by exec,
    so installing it gives the children the default disposition back."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def __getattr__(name: str) -> Any:
    if name == "cli":
        from .app import cli

        return cli
    if name == "_load_cli_plugins":
        from .app import load_cli_plugins

        return load_cli_plugins
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

