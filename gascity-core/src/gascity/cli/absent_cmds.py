"""The reference's work-tracking commands, which this implementation leaves out.

A Gas City user typing ``gc sling ...`` or ``gc bd ...`` gets one line saying so (and
exit 1), not "No such command" or a traceback. Only click is imported here: the
module is loaded with the root group.
"""

from __future__ import annotations

import sys

import click

__all__ = ["ABSENT", "absent_command"]

ABSENT: dict[str, str] = {
    "bd": "beads",
    "beads": "beads",
    "convoy": "convoys",
    "converge": "convergence loops",
    "formula": "formulas",
    "graph": "bead graphs",
    "order": "orders",
    "sling": "work routing (sling)",
}
"""Command name -> the reference feature it belongs to."""


def absent_command(name: str, feature: str) -> click.Command:
    def answer(args: tuple[str, ...]) -> None:
        click.echo(f"gc: '{name}' is not part of Gas City for Python: it leaves out "
                   f"{feature} and runs the fleet, its sessions, events and mail", err=True)
        sys.exit(1)

    return click.Command(
        name,
        callback=answer,
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True,
                          "help_option_names": []},
        help=f"Not part of Gas City for Python ({feature}).",
        hidden=True,
        add_help_option=False,
    )
