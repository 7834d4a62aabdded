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


class _PluginGroup(click.Group):
    """Loads ``gascity.cli`` plugins only when a command may come from one.

    Plugins add top-level commands (``gc k8s``) or subcommands of ``gc events`` and
    ``gc mail``; every other core command starts without importing them, which keeps
    ``gc event emit`` in an agent's hot loop fast.
    """

    _plugins_loaded = False

    def _ensure_plugins(self) -> None:
        if not self._plugins_loaded:
            self._plugins_loaded = True
            _load_cli_plugins(self)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands or cmd_name in ("events", "mail"):
            self._ensure_plugins()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._ensure_plugins()
        return super().list_commands(ctx)


@click.group(cls=_PluginGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    cli(prog_name="gc")
