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
    from .app import cli

    cli(prog_name="gc")


def __getattr__(name: str) -> Any:
    if name == "cli":
        from .app import cli

        return cli
    if name == "_load_cli_plugins":
        from .app import load_cli_plugins

        return load_cli_plugins
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

