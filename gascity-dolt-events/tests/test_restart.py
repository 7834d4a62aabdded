"""The server goes away under running writers and comes back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.testing import hooks_for, wait_for
from gascity.types import EventFilter
from gascity_dolt_events.store import SPOOL_FILE
from gascity_dolt_events.testing import MariaDBServer

from .conftest import StoreFactory
from .workers import collect, spawn

PROCESSES = 8
BEFORE, DURING, AFTER = 60, 40, 30


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[MariaDBServer]:
    """A server this test may stop: not the session's shared one."""
    with MariaDBServer(tmp_path / "own-mariadb") as server:
        yield server


def test_restart_mid_run_spools_and_replays_in_order(
    own_server: MariaDBServer, database: str, city_dir: Path, make_store: StoreFactory
) -> None:
    flags = city_dir / "flags"
    flags.mkdir()
    down, up = flags / "down", flags / "up"
    ready = [flags / f"ready-{n}" for n in range(PROCESSES)]
    spooled = [flags / f"spooled-{n}" for n in range(PROCESSES)]
    reader = make_store(own_server)
    hooks = hooks_for(reader, role="events")
    assert hooks.latest_event_seq() == 0

    procs = [
        spawn(
            own_server,
            database,
            city_dir,
            f"p{n}",
            # emit, wait for the server to stop; emit (spooled), wait for it to return;
            # emit again: the spool goes in first, then the new events.
            [
                (BEFORE, str(ready[n]), str(down)),
                (DURING, str(spooled[n]), str(up)),
                (AFTER, None, None),
            ],
            retry_backoff="50ms",
        )
        for n in range(PROCESSES)
    ]
    wait_for(lambda: all(p.exists() for p in ready), timeout=60, what="first phase")
    own_server.stop()
    down.touch()
    wait_for(lambda: all(p.exists() for p in spooled), timeout=60, what="spooling phase")

    spool_depth = reader.status_info()["events.spool_depth"]
    assert spool_depth == PROCESSES * DURING, "every event emitted while down is spooled"
    assert (city_dir / ".gc" / SPOOL_FILE).exists()

    own_server.start()
    up.touch()
    returned = collect(procs)

    for actor, seqs in returned.items():
        assert None not in seqs[:BEFORE], actor
        assert seqs[BEFORE : BEFORE + DURING] == [None] * DURING, f"{actor}: spooled -> None"
        assert None not in seqs[BEFORE + DURING :], actor

    stored = hooks.list_events(EventFilter(types=("burst",)))
    assert len(stored) == PROCESSES * (BEFORE + DURING + AFTER), "none lost"
    assert len({e.seq for e in stored}) == len(stored)
    for n in range(PROCESSES):
        mine = [int(e.message) for e in stored if e.actor == f"p{n}"]
        assert mine == list(range(BEFORE + DURING + AFTER)), f"p{n}: order kept"
    assert reader.status_info()["events.spool_depth"] == 0
