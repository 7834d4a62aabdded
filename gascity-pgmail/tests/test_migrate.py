"""``gc mail migrate --from sqlite --to postgres``: ids, threads and state survive."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gascity.types import MailDraft
from gascity_pgmail.cli import PgMailCli
from gascity_pgmail.migrate import MigrationError, migrate_sqlite
from gascity_pgmail.store import PostgresMail
from gascity_pgmail.testing import PostgresServer

from .conftest import StoreFactory, new_schema


def legacy_db(path: Path) -> None:
    """A store spelled differently from ours: from/to columns, 0/1 flags, epoch times."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path)
    db.execute(
        'CREATE TABLE mail (id INTEGER PRIMARY KEY, "from" TEXT, "to" TEXT, subject TEXT, '
        "body TEXT, created REAL, read INTEGER, archived INTEGER, thread_id INTEGER, "
        "reply_to INTEGER)"
    )
    rows = [
        (3, "mayor", "worker", "Plan", "do it", 1700000000.5, 1, 0, 3, None),
        (4, "worker", "mayor", "Re: Plan", "ok", 1700000001.0, 0, 0, 3, 3),
        (9, "mayor", "worker", "", "old news\nmore", 1700000002.0, 1, 1, None, None),
    ]
    db.executemany("INSERT INTO mail VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    db.close()


def test_migrate_keeps_ids_threads_and_state(make_store: StoreFactory, tmp_path: Path) -> None:
    source = tmp_path / ".gc" / "mail.db"
    legacy_db(source)
    store = make_store()
    report = migrate_sqlite(source, store)
    assert (report.source_rows, report.copied, report.already_present) == (3, 3, 0)
    plan = store.get_mail("3")
    assert plan is not None and plan.read and not plan.archived
    assert plan.created_at.timestamp() == pytest.approx(1700000000.5)
    thread = store.mail_thread("3")
    assert [(m.id, m.reply_to) for m in thread] == [("3", None), ("4", "3")]
    old = store.get_mail("9")
    assert old is not None and old.archived and old.subject == "old news"
    assert (store.mail_count("worker").open, store.mail_count("mayor").unread) == (1, 1)
    # New mail continues after the highest copied id, and replies link across.
    assert int(store.send_mail(MailDraft("a", "b", "s", "b")).id) > 9
    assert store.reply_mail("4", "mayor", "thanks", None).thread_id == "3"

    again = migrate_sqlite(source, store)  # idempotent
    assert (again.copied, again.already_present) == (0, 3)
    assert store.mail_count("worker").open == 2  # message 3 and the reply above


def test_dry_run_changes_nothing(make_store: StoreFactory, tmp_path: Path) -> None:
    source = tmp_path / "mail.db"
    legacy_db(source)
    store = make_store()
    assert migrate_sqlite(source, store, dry_run=True).copied == 3
    assert store.get_mail("3") is None


def test_colliding_ids_abort_the_whole_copy(make_store: StoreFactory, tmp_path: Path) -> None:
    source = tmp_path / "mail.db"
    legacy_db(source)
    store = make_store()
    for _ in range(4):  # ids 1..4 taken by other mail
        store.send_mail(MailDraft("x", "y", "z", "w"))
    with pytest.raises(MigrationError, match="different messages"):
        migrate_sqlite(source, store)
    assert store.get_mail("9") is None  # all or nothing


def test_missing_or_foreign_source(make_store: StoreFactory, tmp_path: Path) -> None:
    store = make_store()
    with pytest.raises(MigrationError, match="no such file"):
        migrate_sqlite(tmp_path / "absent.db", store)
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE notes (id INTEGER, text TEXT)")
    db.close()
    with pytest.raises(MigrationError, match="no mail table"):
        migrate_sqlite(other, store)


def _city(tmp_path: Path, schema: str) -> Path:
    (tmp_path / "city.toml").write_text(
        '[workspace]\nname = "migcity"\n\n[mail]\nprovider = "postgres"\n\n'
        f'[mail.postgres]\ndsn_env = "MIG_PG_DSN"\nschema = "{schema}"\n'
    )
    legacy_db(tmp_path / ".gc" / "mail.db")
    return tmp_path


def test_gc_mail_migrate_command(pg_server: PostgresServer, tmp_path: Path) -> None:
    from gascity.cli.main import cli

    # What `gc mail migrate` does: the root group materializes the core groups plugins
    # extend, then loads the gascity.cli plugins into them.
    cli.ensure_plugins()
    mail = cli.commands["mail"]
    assert isinstance(mail, click.Group)
    assert "migrate" in mail.commands and "send" in mail.commands
    schema = new_schema()
    city = _city(tmp_path, schema)
    env = {"MIG_PG_DSN": pg_server.dsn}
    argv = ["--city", str(city), "mail", "migrate", "--from", "sqlite", "--to", "postgres"]
    result = CliRunner().invoke(cli, argv, env=env)
    assert result.exit_code == 0, result.output
    assert "copied 3 of 3 messages" in result.output
    result = CliRunner().invoke(cli, argv, env=env)
    assert result.exit_code == 0, result.output
    assert "copied 0 of 3 messages" in result.output and "3 already there" in result.output

    # The copied mail is what `gc mail` now serves, under the city's name.
    result = CliRunner().invoke(
        cli, ["--city", str(city), "mail", "thread", "3"], env={**env, "GC_MAIL": ""}
    )
    assert result.exit_code == 0, result.output
    assert "Re: Plan" in result.output


def test_migrate_reports_config_errors(tmp_path: Path) -> None:
    group = click.Group("gc", params=[click.Option(["--city"], default=None)])
    PgMailCli(ctx=None).cli_commands(group)  # type: ignore[arg-type]
    (tmp_path / "city.toml").write_text('[workspace]\nname = "x"\n')
    result = CliRunner().invoke(
        group,
        ["--city", str(tmp_path), "mail", "migrate", "--from", "sqlite", "--to", "postgres"],
        env={"GC_MAIL_PG_DSN": ""},
    )
    assert result.exit_code == 2
    assert "no DSN" in result.output


def test_migrate_hides_the_password_when_the_server_is_down(tmp_path: Path) -> None:
    # A migrate against an unreachable server fails cleanly and hides the password.
    from gascity_pgmail.testing import free_port

    group = click.Group("gc", params=[click.Option(["--city"], default=None)])
    PgMailCli(ctx=None).cli_commands(group)  # type: ignore[arg-type]
    city = _city(tmp_path, "s1")
    dsn = f"host=127.0.0.1 port={free_port()} user=u password=topsecret connect_timeout=2"
    result = CliRunner().invoke(
        group,
        ["--city", str(city), "mail", "migrate", "--from", "sqlite", "--to", "postgres"],
        env={"MIG_PG_DSN": dsn},
    )
    assert result.exit_code == 1
    assert "topsecret" not in result.output
    assert "unavailable" in result.output


def test_plugin_creates_a_mail_group_when_missing() -> None:
    group = click.Group("gc")
    PgMailCli(ctx=None).cli_commands(group)  # type: ignore[arg-type]
    mail = group.commands["mail"]
    assert isinstance(mail, click.Group)
    assert list(mail.commands) == ["migrate"]


def test_store_type_is_the_entry_point_target() -> None:
    from importlib.metadata import entry_points

    (ep,) = [e for e in entry_points(group="gascity.mail") if e.name == "postgres"]
    assert ep.load() is PostgresMail
    (cli_ep,) = [e for e in entry_points(group="gascity.cli") if e.value.startswith("gascity_pg")]
    assert cli_ep.load() is PgMailCli


def test_migrate_from_the_builtin_sqlite_store(make_store: StoreFactory, tmp_path: Path) -> None:
    """The real ``sqlite`` backend writes the file; both stores must then agree."""
    from gascity.builtin.sqlite_mail import SqliteMail
    from gascity.plugins import PluginContext

    sqlite = SqliteMail(PluginContext(role="mail", name="sqlite", city_dir=tmp_path))
    try:
        root = sqlite.send_mail(MailDraft("mayor", "worker", "Plan", "step 1\nstep 2"))
        reply = sqlite.reply_mail(root.id, "worker", "on it", None)
        follow = sqlite.send_mail(MailDraft("mayor", "worker", "", "\nfirst real line"))
        sqlite.read_mail(root.id)
        sqlite.archive_mail(follow.id)
        expected = {m.id: m for m in (sqlite.get_mail(i) for i in ("1", "2", "3")) if m}
    finally:
        sqlite.shutdown()
    assert set(expected) == {root.id, reply.id, follow.id}

    store = make_store()
    report = migrate_sqlite(tmp_path / ".gc" / "mail.db", store)
    assert report.copied == 3
    for mid, original in expected.items():
        copied = store.get_mail(mid)
        assert copied == original, mid  # every field, timestamps to the microsecond
    assert [m.id for m in store.mail_thread(root.id)] == [root.id, reply.id]
    assert store.mail_count("worker") == sqlite_count(expected, "worker")


def sqlite_count(messages: dict[int, object], recipient: str) -> object:
    from gascity.types import MailCount, Message

    mine = [m for m in messages.values() if isinstance(m, Message) and m.recipient == recipient]
    open_ = [m for m in mine if not m.archived]
    return MailCount(open=len(open_), unread=len([m for m in open_ if not m.read]))


def test_send_with_only_reply_to_joins_that_thread(make_store: StoreFactory) -> None:
    store = make_store()
    root = store.send_mail(MailDraft("mayor", "worker", "Plan", "b"))
    child = store.send_mail(MailDraft("worker", "mayor", "s", "b", reply_to=root.id))
    assert (child.thread_id, child.reply_to) == (root.id, root.id)
    explicit = store.send_mail(MailDraft("a", "b", "s", "b", thread_id=root.id))
    assert explicit.thread_id == root.id and explicit.reply_to is None
