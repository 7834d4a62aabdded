"""`gc status` tells the truth: the live listing against the current city.toml, with a
reason in NOTES for every agent that is not simply healthy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gascity.cli.app import cli

CITY = """
[workspace]
name = "truth"
[[agent]]
name = "db"
command = "db"
[[agent]]
name = "api"
command = "api"
depends_on = ["db"]
[[agent]]
name = "w"
command = "w"
min_active_sessions = 1
max_active_sessions = 3
scale_check = "echo 3"
"""


def gc(city: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--city", str(city), *args],
                              env={"GC_SESSION": "fake"}, catch_exceptions=False)


def status(city: Path) -> dict[str, dict[str, Any]]:
    result = gc(city, "status", "--json")
    assert result.exit_code == 0, result.output
    return {a["name"]: a for a in json.loads(result.output)["agents"]}


@pytest.fixture
def city(tmp_path: Path) -> Path:
    (tmp_path / "city.toml").write_text(CITY)
    assert gc(tmp_path, "start", "--once").exit_code == 0
    return tmp_path


def test_healthy_agents_have_no_notes(city: Path) -> None:
    rows = status(city)
    assert {n: (r["desired"], r["running"], r["notes"]) for n, r in rows.items()} == {
        "db": (1, 1, []), "api": (1, 1, []), "w": (3, 3, [])}


def test_a_dead_session_is_not_counted_running(city: Path) -> None:
    store = city / ".gc" / "fake-sessions.json"
    sessions = json.loads(store.read_text())
    sessions["db"]["alive"] = False
    store.write_text(json.dumps(sessions))
    row = status(city)["db"]
    assert row["running"] == 0
    assert any(n.startswith("dead db") for n in row["notes"])
    assert "dead db" in gc(city, "status").output


def test_desired_follows_the_current_config(city: Path) -> None:
    city.joinpath("city.toml").write_text(CITY.replace("max_active_sessions = 3",
                                                       "max_active_sessions = 2"))
    row = status(city)["w"]
    assert row["desired"] == 2  # the file says 2 now; the last tick said 3
    assert any("above desired" in n for n in row["notes"])


def test_blocked_and_failed_starts_have_a_reason(city: Path) -> None:
    gc(city, "stop")
    city.joinpath("city.toml").write_text(CITY.replace('command = "db"',
                                                       'command = "db"\nsuspended = true'))
    gc(city, "start", "--once")
    rows = status(city)
    assert "suspended" in rows["db"]["notes"]
    assert any(n == "blocked on db" for n in rows["api"]["notes"]), rows["api"]
    city.joinpath("city.toml").write_text(CITY + '[[agent]]\nname = "ghost"\n')
    gc(city, "agent", "resume", "db")
    gc(city, "start", "--once")
    ghost = status(city)["ghost"]
    assert ghost["running"] == 0
    assert any(n.startswith("start failed: ") for n in ghost["notes"]), ghost


def test_not_yet_started_says_so(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text(CITY)
    rows = status(tmp_path)
    assert all(any("not running yet" in n for n in r["notes"]) for r in rows.values())


def test_a_dependency_suspended_by_gc_agent_suspend_blocks_its_dependents(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text(CITY)
    gc(tmp_path, "agent", "suspend", "db")
    gc(tmp_path, "start", "--once")
    rows = status(tmp_path)
    assert rows["api"]["running"] == 0
    assert "blocked on db" in rows["api"]["notes"]


def test_a_dependency_that_cannot_launch_blocks_its_dependents(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text(CITY.replace('command = "db"\n', ""))
    gc(tmp_path, "start", "--once")
    rows = status(tmp_path)
    assert any(n.startswith("start failed: ") for n in rows["db"]["notes"]), rows["db"]
    assert rows["api"]["running"] == 0
    assert "blocked on db" in rows["api"]["notes"]


def test_a_pool_without_a_check_wants_what_the_controller_runs(tmp_path: Path) -> None:
    # Before any controller ran: a pool with no scale_check runs its max, as the
    # controller will start it, not its min.
    (tmp_path / "city.toml").write_text(
        '[workspace]\nname = "static"\n[[agent]]\nname = "p"\ncommand = "p"\n'
        'min_active_sessions = 1\nmax_active_sessions = 4\n')
    assert status(tmp_path)["p"]["desired"] == 4
    assert gc(tmp_path, "start", "--once").exit_code == 0
    assert (status(tmp_path)["p"]["desired"], status(tmp_path)["p"]["running"]) == (4, 4)
