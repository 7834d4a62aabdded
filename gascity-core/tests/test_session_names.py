"""``[workspace] session_template``: sessions run under the names Gas City gives them,
and every part of gc maps those names back to their agents."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from gascity.city import City
from gascity.cli.city_cmds import _status
from gascity.config import load_city
from gascity.controller import Controller
from gascity.errors import ConfigError
from gascity.reconcile.desired import session_owner
from gascity.reconcile.naming import session_names
from gascity.testing import FakeProvider, MemoryEvents, open_test_city

TEMPLATE = "gc-{{.City}}-{{if .Dir}}{{.Dir}}-{{end}}{{.Name}}"


def _city(root: Path, dogs: int) -> Path:
    (root / "packs/crew/agents/hand").mkdir(parents=True, exist_ok=True)
    (root / "packs/crew/pack.toml").write_text('[pack]\nname = "crew"\nschema = 2\n')
    (root / "packs/crew/agents/hand/agent.toml").write_text('start_command = "hand"\n')
    (root / "yard").mkdir(exist_ok=True)
    (root / "city.toml").write_text(
        f'[workspace]\nname = "port"\nsession_template = "{TEMPLATE}"\n'
        '[[rigs]]\nname = "yard"\npath = "yard"\nincludes = ["packs/crew"]\n'
        '[[agent]]\nname = "mayor"\nstart_command = "mayor"\n'
        f'[[agent]]\nname = "dog"\nstart_command = "dog"\nmax_active_sessions = {dogs}\n'
    )
    return root


@contextmanager
def _ticking(root: Path) -> Iterator[tuple[FakeProvider, City, Controller]]:
    """The city on a fake provider after one good tick."""
    fake = FakeProvider()
    city = open_test_city(root, session=fake, events=MemoryEvents())
    with closing(city):
        controller = Controller(city)
        first = controller.tick()
        assert not first.failed, first.failed
        yield fake, city, controller


def test_sessions_run_under_the_template_and_map_back(tmp_path: Path) -> None:
    with _ticking(_city(tmp_path, dogs=3)) as (fake, opened, controller):
        assert sorted(fake.sessions) == [
            "gc-port-dog-1", "gc-port-dog-2", "gc-port-dog-3", "gc-port-mayor",
            "gc-port-yard-hand"]
        assert fake.sessions["gc-port-dog-2"].env["GC_SESSION_NAME"] == "gc-port-dog-2"
        assert fake.sessions["gc-port-dog-2"].env["GC_INSTANCE"] == "2"
        # $GC_AGENT (the mailbox, gc hook's identity) stays the agent's own name.
        assert fake.sessions["gc-port-dog-2"].env["GC_AGENT"] == "dog-2"
        assert fake.sessions["gc-port-yard-hand"].env["GC_AGENT"] == "yard--hand"
        # The next tick sees its own sessions, not orphans to stop and agents to start.
        again = controller.tick()
        assert not again.started and not again.stopped
        status = _status(opened)
        rows = {r["name"]: sorted(s["name"] for s in r["sessions"]) for r in status["agents"]}
        assert rows == {"mayor": ["gc-port-mayor"],
                        "dog": ["gc-port-dog-1", "gc-port-dog-2", "gc-port-dog-3"],
                        "yard--hand": ["gc-port-yard-hand"]}
        assert status["orphans"] == []
    # A smaller pool: the third dog is the pool's to wind down, not an unknown session.
    smaller = open_test_city(_city(tmp_path, dogs=2), session=fake, events=MemoryEvents())
    try:
        config = smaller.loaded.config
        agents = {a.name: a for a in config.agent}
        names = session_names(config, smaller.loaded.city_name)
        assert session_owner("gc-port-dog-3", agents, names) == ("dog", 3)
        assert session_owner("gc-port-yard-hand", agents, names) == ("yard--hand", None)
        assert session_owner("dog-3", agents, names) is None
        report = Controller(smaller).tick()
        assert report.drained == ["gc-port-dog-3"] and not report.stopped, report
    finally:
        smaller.close()


def test_a_template_that_merges_names_or_cannot_run_is_an_error(tmp_path: Path) -> None:
    _city(tmp_path, dogs=3)
    text = (tmp_path / "city.toml").read_text()
    (tmp_path / "city.toml").write_text(text.replace(TEMPLATE, "gc-{{.City}}"))
    with pytest.raises(ConfigError, match=r"workspace.session_template: agents 'mayor' and "
                       r"'yard--hand' would both run as 'gc-port'"):
        load_city(tmp_path)
    (tmp_path / "city.toml").write_text(text.replace(TEMPLATE, "gc-{{ range .Agent }}"))
    with pytest.raises(ConfigError, match=r"workspace.session_template:1: unsupported"):
        load_city(tmp_path)


def test_without_a_template_names_are_the_agents(tmp_path: Path) -> None:
    _city(tmp_path, dogs=2)
    text = (tmp_path / "city.toml").read_text()
    (tmp_path / "city.toml").write_text(
        text.replace(f'session_template = "{TEMPLATE}"\n', ""))
    config = load_city(tmp_path).config
    names = session_names(config, "port")
    assert [names.instances(a, 2) for a in config.agent] == [
        [("mayor", None)], [("dog-1", 1), ("dog-2", 2)], [("yard--hand", None)]]


def test_a_namepool_names_the_first_pool_members(tmp_path: Path) -> None:
    _city(tmp_path, dogs=3)
    (tmp_path / "names.txt").write_text("# kennel\nrex\n\n  fido \nrex\n")
    # A pack agent's agents/<name>/namepool.txt is its namepool, as in Gas City.
    (tmp_path / "packs/crew/agents/hand/agent.toml").write_text(
        'start_command = "hand"\nmax_active_sessions = 2\n')
    (tmp_path / "packs/crew/agents/hand/namepool.txt").write_text("ada\n")
    text = (tmp_path / "city.toml").read_text()
    text = text.replace(f'session_template = "{TEMPLATE}"\n', "")
    (tmp_path / "city.toml").write_text(text.replace(
        'max_active_sessions = 3\n', 'max_active_sessions = 3\nnamepool = "names.txt"\n'))
    with _ticking(tmp_path) as (fake, opened, controller):
        assert sorted(fake.sessions) == ["dog-3", "fido", "mayor", "rex", "yard--ada",
                                         "yard--hand-2"]
        assert fake.sessions["fido"].env["GC_INSTANCE"] == "2"
        assert not controller.tick().started
        status = _status(opened)
        rows = {r["name"]: sorted(s["name"] for s in r["sessions"]) for r in status["agents"]}
        assert rows["dog"] == ["dog-3", "fido", "rex"]
        assert rows["yard--hand"] == ["yard--ada", "yard--hand-2"]
        assert status["orphans"] == []
    # An unreadable file: numbered names, and a warning naming it.
    (tmp_path / "names.txt").unlink()
    loaded = load_city(tmp_path)
    assert any("agent[1].namepool (agent 'dog'): cannot read" in w for w in loaded.warnings)
    assert "dog" not in loaded.composition.namepools
