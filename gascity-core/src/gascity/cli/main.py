"""``gc``: the Gas City command line. Plugins add commands through ``gascity.cli``."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click

from .. import __version__
from ..plugins import PluginContext, PluginManager
from . import city_cmds, events_cmds, mail_cmds, session_cmds
from .common import CliState

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--city",
    "city",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="GC_CITY_DIR",
    help="City directory (default: the nearest parent holding city.toml).",
)
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.version_option(__version__, prog_name="gc")
@click.pass_context
def cli(ctx: click.Context, city: Path | None, verbose: int) -> None:
    """Gas City: run fleets of AI coding agents, reconciled."""
    level = logging.WARNING - 10 * verbose
    logging.basicConfig(level=max(level, logging.DEBUG), format="gc: %(message)s")
    ctx.obj = CliState(city_option=city)


for module in (city_cmds, session_cmds, events_cmds, mail_cmds):
    module.register(cli)


def _load_cli_plugins(group: click.Group) -> None:
    pm = PluginManager()

    def make_context(role: str, name: str, argument: str | None) -> PluginContext:
        return PluginContext(role=role, name=name, argument=argument, env=dict(os.environ))

    pm.load_always_on(make_context, ["cli"])
    pm.hooks.cli_commands(group)


def main() -> None:
    _load_cli_plugins(cli)
    cli(prog_name="gc")
