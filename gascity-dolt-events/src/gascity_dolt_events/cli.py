"""``gc events migrate``: added to the core's ``gc events`` group by a CLI plugin."""

from __future__ import annotations

from pathlib import Path

import click

import gascity
from gascity.plugins import PluginContext

__all__ = ["DoltEventsCli", "migrate_command"]


def _city_dir(ctx: click.Context) -> Path:
    # The core's root group keeps its state (with --city) in ctx.obj; read it through
    # its public method when present, else find the city from the working directory.
    state = ctx.find_root().obj
    finder = getattr(state, "city_dir", None)
    if callable(finder):
        found = finder()
        if isinstance(found, Path):
            return found
    from gascity.config import find_city_dir

    here = find_city_dir(Path.cwd())
    if here is None:
        raise click.ClickException(
            f"no city.toml in {Path.cwd()} or any parent directory; pass --city DIR"
        )
    return here


def _progress(done: int) -> None:
    click.echo(f"\rcopying events: {done}", nl=False, err=True)


@click.command("migrate")
@click.option("--from", "source", default="file", show_default=True,
              help="The events backend to copy from.")
@click.option("--to", "target", default="dolt", show_default=True,
              type=click.Choice(["dolt"]), help="The events backend to copy into.")
@click.option("--batch", default=1000, show_default=True, type=click.IntRange(1, 50_000),
              help="Events per INSERT.")
@click.pass_context
def migrate_command(ctx: click.Context, source: str, target: str, batch: int) -> None:
    """Copy the city's existing event log into the Dolt table, keeping every seq.

    Safe to run again: events already copied are skipped. Run it, then set
    [events] provider = "dolt" in city.toml.
    """
    from gascity.errors import ConfigError, GasCityError

    from .migrate import migrate_city

    if source == target:
        raise click.BadParameter("--from and --to name the same backend", param_hint="--from")
    city_dir = _city_dir(ctx)
    try:
        result = migrate_city(city_dir, source, batch=batch, progress=_progress)
    except ConfigError as exc:
        click.echo(f"gc: {exc}", err=True)
        ctx.exit(2)
    except GasCityError as exc:
        raise click.ClickException(str(exc)) from None
    if result.copied + result.skipped:
        click.echo("", err=True)
    click.echo(
        f"copied {result.copied} events from {source} to {target} "
        f"({result.skipped} already present); latest seq {result.latest_seq}"
    )


class DoltEventsCli:
    """Entry point ``dolt-events`` in ``gascity.cli``."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @gascity.hookimpl
    def cli_commands(self, group: click.Group) -> None:
        events = group.commands.get("events")
        if not isinstance(events, click.Group):
            # The core normally provides `gc events`; stay usable without it.
            events = click.Group("events", help="The city's event log.")
            group.add_command(events)
        events.add_command(migrate_command)
