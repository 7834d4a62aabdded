"""``gc mail migrate``: the ``gascity.cli`` extension of this distribution."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from gascity import hookimpl
from gascity.errors import ConfigError, GasCityError
from gascity.plugins import PluginContext

__all__ = ["PgMailCli", "migrate_command"]


def _city_dir(ctx: click.Context) -> Path:
    from gascity.config import find_city_dir

    # The root ``gc`` group owns --city / GC_CITY_DIR; reuse its answer.
    given = ctx.find_root().params.get("city")
    if given is not None:
        return Path(given).resolve()
    found = find_city_dir(Path.cwd())
    if found is None:
        raise click.ClickException(
            f"no city.toml in {Path.cwd()} or any parent directory; pass --city DIR"
        )
    return found


@click.command("migrate")
@click.option(
    "--from", "source_kind", type=click.Choice(["sqlite"]), required=True,
    help="Store to copy from.",
)  # fmt: skip
@click.option(
    "--to", "target_kind", type=click.Choice(["postgres"]), required=True,
    help="Store to copy into (configured by [mail.postgres]).",
)  # fmt: skip
@click.option(
    "--source", "source_path", type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file (default: <city>/.gc/mail.db).",
)  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Check and count, then roll back.")
@click.pass_context
def migrate_command(
    ctx: click.Context,
    source_kind: str,
    target_kind: str,
    source_path: Path | None,
    dry_run: bool,
) -> None:
    """Copy the city's mail from SQLite into PostgreSQL, keeping ids and state.

    Safe to run again: messages already copied are skipped.
    """
    from gascity.config import load_city

    from .migrate import migrate_sqlite
    from .store import PostgresMail

    try:
        city_dir = _city_dir(ctx)
        loaded = load_city(city_dir)
        plugin_ctx = PluginContext(
            role="mail",
            name="postgres",
            settings=loaded.config.section("mail").plugin_settings("postgres"),
            city_name=loaded.city_name,
            city_dir=city_dir,
            config_path=loaded.path,
            env=dict(os.environ),
        )
        store = PostgresMail(plugin_ctx)
        try:
            source = source_path or plugin_ctx.state_dir / "mail.db"
            report = migrate_sqlite(source, store, dry_run=dry_run)
        finally:
            store.close()
    except ConfigError as exc:
        click.echo(f"gc: {exc}", err=True)
        sys.exit(2)
    except GasCityError as exc:
        raise click.ClickException(str(exc)) from None
    verb = "would copy" if dry_run else "copied"
    click.echo(
        f"{verb} {report.copied} of {report.source_rows} messages from {source} into "
        f"postgres schema {store.names.schema_name} ({report.already_present} already "
        f"there); next id {report.next_id}"
    )


class PgMailCli:
    """Adds ``migrate`` to ``gc mail`` (creating the group if the core has none)."""

    def __init__(self, ctx: PluginContext) -> None:
        self.ctx = ctx

    @hookimpl
    def cli_commands(self, group: click.Group) -> None:
        mail = group.commands.get("mail")
        if not isinstance(mail, click.Group):
            mail = click.Group("mail", help="Agent mail.")
            group.add_command(mail)
        mail.add_command(migrate_command)
