"""Settings validation, environment overrides, and keeping the password secret."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from gascity.errors import ConfigError, GasCityError, StoreUnavailable
from gascity.types import EventDraft, EventFilter
from gascity_dolt_events.settings import load_dolt_settings
from gascity_dolt_events.store import DoltEvents
from gascity_dolt_events.testing import MariaDBServer, free_port

from .conftest import make_context

SECRET = "s3cr3t-do-not-print"


def test_defaults_and_durations(tmp_path: Path) -> None:
    s = load_dolt_settings(make_context(tmp_path, {"retention": "2h", "poll_interval": "250ms"}))
    assert (s.host, s.port, s.database, s.table) == ("127.0.0.1", 3307, "gc_events", "events")
    assert s.retention == 7200.0
    assert s.poll_interval == 0.25


def test_environment_overrides(tmp_path: Path) -> None:
    ctx = make_context(
        tmp_path,
        {"port": 1234, "database": "a"},
        env={"GC_EVENTS_DOLT_PORT": "4321", "GC_EVENTS_DOLT_DATABASE": "b"},
    )
    s = load_dolt_settings(ctx)
    assert (s.port, s.database) == (4321, "b")


def test_bad_values_name_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_dolt_settings(make_context(tmp_path, {"table": "events; DROP TABLE x", "port": 0}))
    text = str(info.value)
    assert "events.dolt.table" in text
    assert "events.dolt.port" in text
    with pytest.raises(ConfigError) as env_info:
        load_dolt_settings(make_context(tmp_path, {}, env={"GC_EVENTS_DOLT_PORT": "x"}))
    assert "GC_EVENTS_DOLT_PORT" in str(env_info.value)


def test_password_never_appears_in_reprs_or_errors(tmp_path: Path) -> None:
    ctx = make_context(tmp_path, {"password": SECRET})
    settings = load_dolt_settings(ctx)
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)
    assert settings.resolve_password({}) == SECRET
    store = DoltEvents(ctx)
    assert SECRET not in repr(store)
    assert SECRET not in str(store.status_info())
    # A non-string password fails validation without quoting it.
    with pytest.raises(ConfigError) as info:
        load_dolt_settings(make_context(tmp_path, {"password": 123456789}))
    assert "123456789" not in str(info.value)
    assert "events.dolt.password" in str(info.value)


def test_password_env_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_dolt_settings(make_context(tmp_path, {"password_env": "GC_NOPE"}))
    assert "GC_NOPE" in str(info.value)
    s = load_dolt_settings(
        make_context(tmp_path, {"password_env": "GC_PW"}, env={"GC_PW": SECRET})
    )
    assert s.resolve_password({"GC_PW": SECRET}) == SECRET


def test_wrong_password_is_an_error_not_an_outage(
    mariadb: MariaDBServer, database: str, city_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12, defect 8: a login failure used to be spooled like an outage."""
    settings = mariadb.settings(database=database, password_env="GC_PW")
    del settings["password"]
    store = DoltEvents(make_context(city_dir, settings, env={"GC_PW": SECRET}))
    caplog.set_level(logging.DEBUG)
    try:
        with pytest.raises(GasCityError) as info:
            store.emit_event(EventDraft(type="x", message="not kept"))
        assert not isinstance(info.value, StoreUnavailable)
        assert "refused the login" in str(info.value) and SECRET not in str(info.value)
        assert store.status_info()["events.spool_depth"] == 0
    finally:
        store.shutdown()
    assert SECRET not in caplog.text

    # Through the CLI: an error (exit 1) naming the cause, never "spooled".
    import os
    import subprocess
    import sys

    (city_dir / "city.toml").write_text(
        '[workspace]\nname = "auth"\n\n[events]\nprovider = "dolt"\n\n[events.dolt]\n'
        f'host = "127.0.0.1"\nport = {settings["port"]}\nuser = "{settings["user"]}"\n'
        f'database = "{database}"\npassword_env = "GC_PW"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gc"), "--city", str(city_dir), "event", "emit",
         "auth.test"], capture_output=True, text=True, env={**env, "GC_PW": SECRET},
        timeout=60, check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "refused the login" in result.stderr and "spooled" not in result.stderr
    assert SECRET not in result.stderr


def test_message_over_64k_is_a_clear_error(make_store: Any) -> None:
    store = make_store()
    with pytest.raises(GasCityError, match="at most 65535"):
        store.emit_event(EventDraft(type="big", message="x" * 70_000))
    assert store.emit_event(EventDraft(type="ok", message="x" * 60_000)) is not None


def test_replay_summary_does_not_count_refused_lines(
    mariadb: MariaDBServer, database: str, city_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = DoltEvents(make_context(city_dir, mariadb.settings(database=database)))
    caplog.set_level(logging.WARNING)
    try:
        good = {"type": "ok", "ts": "2026-01-01T00:00:00", "message": "1", "key": "r1"}
        store.spool.append(good)
        store.spool.append({"type": "bad", "ts": "not a time", "key": "r2"})
        assert store.emit_event(EventDraft(type="ok", message="2")) is not None
        assert "replayed 1 spooled events" in caplog.text
        assert "1 refused by the server" in caplog.text
    finally:
        store.shutdown()


def test_spooled_emit_exits_0_and_says_spooled(
    mariadb: MariaDBServer, database: str, city_dir: Path
) -> None:
    """Issue 12, defect 8: a spooled event used to exit 1 ("did not record"), so a
    retrying script recorded it twice."""
    import os
    import subprocess
    import sys

    (city_dir / "city.toml").write_text(
        '[workspace]\nname = "spool"\n\n[events]\nprovider = "dolt"\n\n[events.dolt]\n'
        f'host = "127.0.0.1"\nport = {free_port()}\nuser = "root"\ndatabase = "{database}"\n'
        'connect_timeout = "1s"\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "gc"), "--city", str(city_dir), "event", "emit",
         "spool.test", "--message", "once"],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "spooled" in result.stderr
    spool = city_dir / ".gc" / "events-dolt.spool.jsonl"
    assert spool.read_text().count('"once"') == 1
    assert (spool.stat().st_mode & 0o777) == 0o600


def test_unreachable_server_spools_then_replays(
    mariadb: MariaDBServer, database: str, city_dir: Path
) -> None:
    dead = make_context(
        city_dir,
        mariadb.settings(database=database, port=free_port(), retry_backoff=0),
    )
    down = DoltEvents(dead)
    try:
        for i in range(5):
            assert down.emit_event(EventDraft(type="spooled", message=str(i))) is None
        assert down.status_info()["events.spool_depth"] == 5
        with pytest.raises(StoreUnavailable):
            down.latest_event_seq()
    finally:
        down.shutdown()  # a failed final replay keeps the spool
    up = DoltEvents(make_context(city_dir, mariadb.settings(database=database)))
    try:
        event = up.emit_event(EventDraft(type="direct", message="5"))
        assert event is not None
        listed = up.list_events(EventFilter())
        assert [e.message for e in listed] == ["0", "1", "2", "3", "4", "5"]
        assert [e.type for e in listed] == ["spooled"] * 5 + ["direct"]
        assert up.status_info()["events.spool_depth"] == 0
    finally:
        up.shutdown()


def test_a_refused_spool_line_is_set_aside_not_blocking(
    mariadb: MariaDBServer, database: str, city_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = DoltEvents(make_context(city_dir, mariadb.settings(database=database)))
    try:
        good = {"type": "ok", "ts": "2026-01-01T00:00:00", "message": "1", "key": "k1"}
        bad = {"type": "bad", "ts": "not a time", "key": "k2"}
        for record in (good, bad, {**good, "message": "2", "key": "k3"}):
            store.spool.append(record)
        event = store.emit_event(EventDraft(type="ok", message="3"))
        assert event is not None
        assert [e.message for e in store.list_events(EventFilter())] == ["1", "2", "3"]
        assert store.status_info()["events.spool_depth"] == 0
        rejected = city_dir / ".gc" / "events-dolt.spool.rejected.jsonl"
        assert '"bad"' in rejected.read_text()
        assert "refused a spooled 'bad' event" in caplog.text
    finally:
        store.shutdown()
