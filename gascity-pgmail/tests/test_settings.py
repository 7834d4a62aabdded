"""Settings, DSN secrecy, schema versioning, city isolation and plugin discovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from gascity.city import City
from gascity.errors import ConfigError
from gascity.plugins import PluginContext
from gascity.testing import HookCallCounter, hooks_for
from gascity.types import MailDraft
from gascity_pgmail import schema as schema_mod
from gascity_pgmail.settings import mask_dsn, resolve, scrub
from gascity_pgmail.store import PostgresMail
from gascity_pgmail.testing import PostgresServer

from .conftest import StoreFactory, new_schema


def ctx(settings: dict[str, object], env: dict[str, str] | None = None) -> PluginContext:
    return PluginContext(role="mail", name="postgres", settings=settings, env=env or {})


def test_dsn_sources_and_precedence() -> None:
    assert resolve(ctx({"dsn": "host=a"}))[1] == "host=a"
    assert resolve(ctx({"dsn_env": "MY_DSN"}, {"MY_DSN": "host=b"}))[1] == "host=b"
    both = ctx({"dsn": "host=a", "dsn_env": "MY_DSN"}, {"GC_MAIL_PG_DSN": "host=c"})
    assert resolve(both)[1] == "host=c"
    settings, _ = resolve(ctx({"dsn": "x", "pool_max": 5}, {"GC_MAIL_PG_POOL_MAX": "7"}))
    assert settings.pool_max == 7


def test_dsn_problems_are_config_errors_without_the_secret() -> None:
    with pytest.raises(ConfigError, match="no DSN"):
        resolve(ctx({}))
    with pytest.raises(ConfigError, match="MISSING_VAR"):
        resolve(ctx({"dsn_env": "MISSING_VAR"}))
    with pytest.raises(ConfigError, match=r"mail\.postgres\.schema"):
        resolve(ctx({"dsn": "x", "schema": "bad name; drop"}))
    with pytest.raises(ConfigError, match="pool_min"):
        resolve(ctx({"dsn": "x", "pool_min": 9, "pool_max": 2}))
    with pytest.raises(ConfigError) as info:
        resolve(ctx({"dsn": "password=hunter2", "bogus": 1}))
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    ("dsn", "secret"),
    [
        ("host=db user=gc password=hunter2 dbname=mail", "hunter2"),
        ("host=db password='two words' dbname=mail", "two words"),
        ("postgresql://gc:hunter2@db:5432/mail", "hunter2"),
        ("postgres://gc:p%40ss@db/mail?sslmode=require", "p%40ss"),
        ("postgresql://db/mail?user=gc&password=hunter2", "hunter2"),
    ],
)
def test_mask_and_scrub(dsn: str, secret: str) -> None:
    masked = mask_dsn(dsn)
    assert secret not in masked
    assert "***" in masked
    assert "db" in masked
    message = f"connection to {dsn} failed; password {secret} rejected"
    assert secret not in scrub(message, dsn)


def test_schema_version_recorded_and_migration_idempotent(make_store: StoreFactory) -> None:
    a = make_store()
    b = make_store()  # same schema: the second open must not re-apply anything
    a.mail_count("x")
    b.mail_count("x")
    rows = a.run(
        lambda c: c.execute(f"SELECT version FROM {a.names.versions}").fetchall(),
        idempotent=True,
    )
    assert [r[0] for r in rows] == list(range(1, schema_mod.SCHEMA_VERSION + 1))
    indexes = a.run(
        lambda c: c.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s",
            (a.names.schema_name,),
        ).fetchall(),
        idempotent=True,
    )
    defs = {name: d for name, d in indexes}
    assert "WHERE ((read_at IS NULL) AND (archived_at IS NULL))" in defs["messages_unread_idx"]
    assert "WHERE (archived_at IS NULL)" in defs["messages_open_idx"]
    assert "(thread_id, created_at, id)" in defs["messages_thread_idx"]


def test_newer_schema_is_refused(make_store: StoreFactory) -> None:
    store = make_store()
    store.mail_count("x")
    store.run(
        lambda c: c.execute(f"INSERT INTO {store.names.versions} (version) VALUES (999)"),
        idempotent=False,
    )
    with pytest.raises(Exception, match="newer than this gascity-pgmail"):
        make_store().mail_count("x")


def test_inbox_queries_use_the_partial_indexes(make_store: StoreFactory) -> None:
    store = make_store()
    m = store.names.messages
    # A realistic mailbox: mostly read and archived, a few open, fewer unread.
    store.run(
        lambda c: c.execute(
            f"INSERT INTO {m} (thread_id, sender, recipient, subject, body, city, read_at, "
            f"archived_at) SELECT g, 'm', 'w' || (g % 20), 's', 'b', 'city', "
            f"CASE WHEN g % 10 = 0 THEN NULL ELSE now() END, "
            f"CASE WHEN g % 5 = 0 THEN NULL ELSE now() END "
            f"FROM generate_series(1, 20000) AS g"
        ),
        idempotent=False,
    )
    store.run(lambda c: c.execute(f"ANALYZE {m}"), idempotent=True)

    def plan(query: str) -> str:
        def go(conn: psycopg.Connection[tuple[Any, ...]]) -> str:
            rows = conn.execute(  # type: ignore[call-overload]
                "EXPLAIN " + query, {"city": "city", "recipient": "w10", "limit": None}
            ).fetchall()
            return "\n".join(str(r[0]) for r in rows)

        return store.run(go, idempotent=True)

    assert "messages_unread_idx" in plan(store.sql.inbox_unread)
    assert "messages_open_idx" in plan(store.sql.inbox_open)
    assert "messages_open_idx" in plan(store.sql.count)


def test_cities_sharing_a_schema_do_not_see_each_other(make_store: StoreFactory) -> None:
    north, south = make_store(city="north"), make_store(city="south")
    msg = north.send_mail(MailDraft("mayor", "worker", "n", "only north"))
    assert south.mail_inbox("worker", True, True, None) == []
    assert south.get_mail(msg.id) is None
    assert north.mail_count("worker").open == 1
    assert south.mail_count("worker").open == 0


def test_many_counts_are_one_call_and_stay_in_their_city(make_store: StoreFactory) -> None:
    north, south = make_store(city="north"), make_store(city="south")
    for store, recipient in ((north, "worker"), (north, "worker"), (south, "worker"),
                             (south, "mayor")):
        store.send_mail(MailDraft("boss", recipient, "s", "b"))
    counter = HookCallCounter()
    hooks = hooks_for(north, counter, role="mail")
    names = ["worker", "mayor", *(f"idle-{i}" for i in range(2000))]
    counts = hooks.mail_counts(names)
    assert counter.snapshot() == {"mail_counts": 1}  # one statement, not 2002
    assert (counts["worker"].open, counts["mayor"].open, counts["idle-5"].open) == (2, 0, 0)
    assert counts == {name: north.mail_count(name) for name in names}
    assert hooks_for(south, role="mail").mail_counts(["worker", "mayor"]) == {
        "worker": south.mail_count("worker"), "mayor": south.mail_count("mayor")}


def test_selected_through_city_toml_and_entry_point(
    pg_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    schema = new_schema()
    (tmp_path / "city.toml").write_text(
        '[workspace]\nname = "tomlcity"\n\n[mail]\nprovider = "postgres"\n\n'
        f'[mail.postgres]\ndsn_env = "TEST_PG_DSN"\nschema = "{schema}"\npool_max = 4\n'
    )
    env = {"TEST_PG_DSN": pg_server.dsn, "PATH": "/usr/bin:/bin"}
    with City.open(tmp_path, roles=("mail",), env=env, observers=False) as city:
        plugin = city.pm.instances["mail"]
        assert isinstance(plugin, PostgresMail)
        assert plugin.settings.pool_max == 4
        sent = city.hooks.send_mail(MailDraft("a", "b", "", "first\nsecond"))
        assert sent.subject == "first"
        assert city.hooks.mail_count("b").unread == 1
        status = city.hooks.status_info()
        assert status["mail.postgres.schema"] == schema
        assert not any(pg_server.dsn in str(v) for v in status.values())
        stored = plugin.run(
            lambda c: c.execute(f"SELECT city FROM {plugin.names.messages}").fetchone(),
            idempotent=True,
        )
        assert stored == ("tomlcity",)


def test_nul_in_mail_text_is_a_clear_error(make_store: StoreFactory) -> None:
    """Issue 12, defect 8: a NUL used to end in psycopg's raw DataError traceback."""
    from gascity.errors import GasCityError

    store = make_store()
    with pytest.raises(GasCityError, match="NUL character"):
        store.send_mail(MailDraft(sender="a", recipient="b", subject="s", body="x\x00y"))
    sent = store.send_mail(MailDraft(sender="a", recipient="b", subject="s", body="fine"))
    with pytest.raises(GasCityError, match="body holds a NUL"):
        store.reply_mail(sent.id, "b", "bad\x00", None)
