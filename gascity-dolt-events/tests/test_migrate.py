"""``gc events migrate --from file --to dolt`` through the real ``gc`` command group."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from click.testing import CliRunner

from gascity.builtin.file_events import FileEvents
from gascity.cli.main import cli
from gascity.types import EventDraft, EventFilter
from gascity_dolt_events.cli import DoltEventsCli
from gascity_dolt_events.testing import MariaDBServer

from .conftest import StoreFactory, make_context
from .workers import PASSWORD_ENV


def write_city(city_dir: Path, server: MariaDBServer, database: str) -> None:
    (city_dir / "city.toml").write_text(
        f"""
[workspace]
name = "migrated"

[events]
provider = "file"

[events.dolt]
host = "{server.host}"
port = {server.port}
user = "{server.user}"
password_env = "{PASSWORD_ENV}"
database = "{database}"
""",
        encoding="utf-8",
    )


def test_migrate_copies_the_file_log_keeping_seqs(
    mariadb: MariaDBServer, database: str, city_dir: Path, make_store: StoreFactory
) -> None:
    write_city(city_dir, mariadb, database)
    source = FileEvents(make_context(city_dir, {}))
    old = datetime(2020, 5, 6, 7, 8, 9, 10, tzinfo=UTC)
    for _ in range(2):  # pruned before the migration: the copy starts at seq 3
        source.emit_event(EventDraft(type="old", ts=old))
    for i in range(30):
        source.emit_event(
            EventDraft(type=f"t{i % 3}", actor="a", subject=f"s{i}", message=f"m{i}",
                       payload={"i": i, "ü": [1, None]})
        )
    assert source.prune_events(datetime(2021, 1, 1, tzinfo=UTC)) == 2
    file_events = source.list_events(EventFilter())
    file_latest = source.latest_event_seq()
    assert file_latest == 32
    source.shutdown()

    DoltEventsCli(make_context(city_dir, {})).cli_commands(cli)
    runner = CliRunner()
    env = {PASSWORD_ENV: mariadb.password}
    args = ["--city", str(city_dir), "events", "migrate", "--from", "file", "--to", "dolt"]
    result = runner.invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    assert "copied 30 events from file to dolt (0 already present); latest seq 32" in result.output
    assert mariadb.password not in result.output

    store = make_store()
    assert [e.seq for e in file_events] == list(range(3, 33))
    assert store.list_events(EventFilter()) == file_events  # same seqs, fields, ts, payload
    assert store.latest_event_seq() == file_latest
    recorded = store.emit_event(EventDraft(type="after"))
    assert recorded is not None and recorded.seq == file_latest + 1

    again = runner.invoke(cli, args, env=env)
    assert again.exit_code == 0, again.output
    assert "copied 0 events from file to dolt (30 already present)" in again.output
    assert len(store.list_events(EventFilter())) == 31


def test_migrate_reports_a_missing_city(tmp_path: Path) -> None:
    DoltEventsCli(make_context(tmp_path, {})).cli_commands(cli)
    result = CliRunner().invoke(cli, ["--city", str(tmp_path), "events", "migrate"])
    assert result.exit_code != 0
    assert "city.toml" in result.output


def test_cli_plugin_creates_the_events_group_when_missing(tmp_path: Path) -> None:
    root = click.Group("gc")
    DoltEventsCli(make_context(tmp_path, {})).cli_commands(root)
    events = root.commands["events"]
    assert isinstance(events, click.Group)
    assert "migrate" in events.commands
    # and joins an existing group instead of replacing it
    other = click.Group("gc")
    existing = click.Group("events")
    existing.add_command(click.Command("prune"))
    other.add_command(existing)
    DoltEventsCli(make_context(tmp_path, {})).cli_commands(other)
    assert other.commands["events"] is existing
    assert set(existing.commands) == {"prune", "migrate"}
