"""gascity_events_spooled and gascity_events_unstored_total for real: a foreground
controller (gascity-dashboard's [api]) recording into gascity-dolt-events' store on a
MariaDB server that this test stops and starts again."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.testing import wait_for
from gascity_dashboard.testing import RunningCity, gc_env, start_city, stop_city
from gascity_dolt_events.testing import MariaDBServer


@pytest.fixture
def mariadb(tmp_path: Path) -> Iterator[MariaDBServer]:
    # Its own server: the test stops it. No skip: a missing mariadbd fails and says why.
    with MariaDBServer(tmp_path / "mariadb") as server:
        yield server


def dolt_city(tmp_path: Path, server: MariaDBServer) -> RunningCity:
    settings = server.settings(database="gc_spool", retry_backoff="100ms")
    table = "".join(f"{k} = {v!r}\n" if isinstance(v, str) else f"{k} = {v}\n"
                    for k, v in settings.items()).replace("'", '"')
    events = f'[events]\nprovider = "dolt"\n[events.dolt]\n{table}'
    city_dir = tmp_path / "city"
    city_dir.mkdir()
    return start_city(city_dir, api_extra=events, env={**gc_env(), "GC_EVENTS": "dolt"})


def recorded_by_controller(city: RunningCity) -> float:
    return sum(v for (name, _), v in city.metrics().items() if name == "gascity_events_total")


def test_events_spooled_while_the_store_is_down(tmp_path: Path,
                                                mariadb: MariaDBServer) -> None:
    city = dolt_city(tmp_path, mariadb)
    try:
        assert city.metric("gascity_events_spooled") == 0
        assert city.metric("gascity_events_unstored_total") == 0
        assert city.metric("gascity_events_total", type="session.woke") == 3  # the first tick
        mariadb.stop()
        # Agents' events from their own processes go to the city's spool ...
        for i in range(3):
            city.gc("event", "emit", "test.down", "--actor", "agent", "--message", str(i))
        wait_for(lambda: city.metric("gascity_events_spooled") == 3, 30,
                 what="three spooled events in the gauge")
        # ... and so do the controller's: a third polecat starts (session.woke, ...).
        recorded = recorded_by_controller(city)
        (city.dir / "want").write_text("3")
        city.poke()
        assert city.metric("gascity_events_total", type="session.woke") == 4
        during = recorded_by_controller(city) - recorded
        assert during >= 1
        assert city.metric("gascity_events_unstored_total") == during
        assert city.metric("gascity_events_spooled") == 3 + during
        mariadb.start()
        # The next event that reaches the server replays the spool first.
        city.gc("event", "emit", "test.up", "--actor", "agent")
        wait_for(lambda: city.metric("gascity_events_spooled") == 0, 30,
                 what="the spool replayed")
        assert city.metric("gascity_events_unstored_total") == during  # a counter: it stays
        stored = city.get("/v0/events?type=test.down,test.up,session.woke").json()["items"]
        assert [e["type"] for e in stored].count("test.down") == 3
        assert "polecat-3" in {e["subject"] for e in stored if e["type"] == "session.woke"}
    finally:
        stop_city(city)
