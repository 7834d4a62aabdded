"""A controller reloads when any file its city was composed from changes (issue 13):
a pack's pack.toml or agent.toml, an include fragment, a prompt template, a new agent
directory; a bad one keeps the old config with one ``config.rejected`` naming it.
Real controllers over the subprocess provider (real processes). Every test here but
the touch and steady-tick ones failed on the code that watched city.toml only."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.builtin.subprocess_provider import SubprocessProvider
from gascity.city import City
from gascity.controller import Controller
from gascity.controller import controller as controller_module
from gascity.plugins import PluginContext
from gascity.testing import MemoryEvents, open_test_city
from gascity.testing import write_tree as write
from gascity.types import META_DRAIN

CITY = """
include = ["more.toml"]

[workspace]
name = "dock"

[daemon]
shutdown_timeout = "200ms"

[imports.main]
source = "packs/main"
"""

FILES = {
    "city.toml": CITY,
    "more.toml": '[[agent]]\nname = "clerk"\nstart_command = "exec sleep 300"\n',
    "packs/main/pack.toml": '[pack]\nname = "main"\nschema = 2\n',
    "packs/main/agents/keeper/agent.toml": (
        'scope = "city"\nstart_command = "exec sleep 300"\ndrain_timeout = "1h"\n'
    ),
    "packs/main/agents/keeper/prompt.template.md": "Keep {{ .AgentName }}.\n",
}


class Rig:
    def __init__(self, city_dir: Path) -> None:
        self.dir = city_dir
        self.events = MemoryEvents()
        self.provider = SubprocessProvider(
            PluginContext(role="session", name="subprocess", city_dir=city_dir))
        self.city: City = open_test_city(city_dir, session=self.provider, events=self.events)
        self.controller = Controller(self.city)

    def of_type(self, type_: str) -> list[dict[str, object]]:
        return [dict(e.payload, message=e.message) for e in self.events.of_type(type_)]

    def running(self) -> list[str]:
        return sorted(s.name for s in self.provider.list_running(""))


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    write(tmp_path, FILES)
    made = Rig(tmp_path)
    assert sorted(made.controller.tick().started) == ["clerk", "keeper"]
    yield made
    made.controller.shutdown_sessions()
    made.city.close()


def test_an_agent_toml_edit_reloads_and_drains_that_agent(rig: Rig) -> None:
    agent = rig.dir / "packs/main/agents/keeper/agent.toml"
    agent.write_text(agent.read_text().replace("sleep 300", "sleep 301"))
    report = rig.controller.tick()
    assert report.config_error is None
    assert len(rig.of_type("config.reloaded")) == 1
    assert report.drained == ["keeper"], report.summary()
    assert rig.provider.get_meta("keeper", META_DRAIN) == "drift"


def test_a_new_agent_directory_in_a_pack_is_started(rig: Rig) -> None:
    write(rig.dir, {"packs/main/agents/porter/agent.toml":
                    'scope = "city"\nstart_command = "exec sleep 300"\n'})
    report = rig.controller.tick()
    assert report.started == ["porter"], report.summary()
    assert rig.running() == ["clerk", "keeper", "porter"]


def test_an_include_fragment_edit_reloads(rig: Rig) -> None:
    (rig.dir / "more.toml").write_text(
        FILES["more.toml"] + '[[agent]]\nname = "scribe"\nstart_command = "exec sleep 300"\n')
    assert rig.controller.tick().started == ["scribe"]


def test_a_bad_pack_file_keeps_the_old_config_with_one_rejection_naming_it(rig: Rig) -> None:
    pack = rig.dir / "packs/main/pack.toml"
    pack.write_text('[pack]\nname = "main"\nschema = 2\nbogus = [\n')
    report = rig.controller.tick()
    assert report.config_error is not None and str(pack) in report.config_error
    [rejected] = rig.of_type("config.rejected")
    assert str(pack) in str(rejected["message"]) and rejected["file"] == str(pack.resolve())
    assert report.stopped == [] and report.drained == []
    assert rig.controller.tick().config_error is None  # reported once, not every tick
    assert len(rig.of_type("config.rejected")) == 1
    assert rig.running() == ["clerk", "keeper"]
    write(rig.dir, {"packs/main/pack.toml": FILES["packs/main/pack.toml"],
                    "packs/main/agents/porter/agent.toml":
                    'scope = "city"\nstart_command = "exec sleep 300"\n'})
    report = rig.controller.tick()
    assert report.config_error is None and report.started == ["porter"], report.summary()
    assert len(rig.of_type("config.reloaded")) == 1


def test_fixing_a_newly_imported_pack_is_noticed(rig: Rig) -> None:
    # city.toml imports a pack whose pack.toml is broken: the fix is in a file the
    # running config never read.
    write(rig.dir, {
        "packs/extra/pack.toml": "[pack\n",
        "packs/extra/agents/bosun/agent.toml": 'scope = "city"\nstart_command = "exec sleep 300"\n',
        "city.toml": CITY + '\n[imports.extra]\nsource = "packs/extra"\n',
    })
    assert rig.controller.tick().config_error is not None
    write(rig.dir, {"packs/extra/pack.toml": '[pack]\nname = "extra"\nschema = 2\n'})
    report = rig.controller.tick()
    assert report.config_error is None and report.started == ["bosun"], report.summary()


def test_a_prompt_template_edit_is_picked_up_without_a_restart(rig: Rig) -> None:
    # As in Gas City the rendered prompt is not part of an agent's identity: the edit
    # reloads (and reaches the next session started), the running keeper stays.
    (rig.dir / "packs/main/agents/keeper/prompt.template.md").write_text("Keep watch.\n")
    report = rig.controller.tick()
    assert len(rig.of_type("config.reloaded")) == 1
    assert report.drained == [] and report.started == [], report.summary()


def test_only_identity_env_changes_restart(rig: Rig) -> None:
    # Gas City's allow-list: an env key outside it reloads without draining anybody.
    agent = rig.dir / "packs/main/agents/keeper/agent.toml"
    agent.write_text(FILES["packs/main/agents/keeper/agent.toml"] + 'env = { LOG = "debug" }\n')
    report = rig.controller.tick()
    assert len(rig.of_type("config.reloaded")) == 1
    assert report.drained == [], report.summary()
    agent.write_text(FILES["packs/main/agents/keeper/agent.toml"]
                     + 'env = { LOG = "debug", GC_SKILLS_DIR = "/opt/skills" }\n')
    assert rig.controller.tick().drained == ["keeper"]


def test_a_touch_without_a_change_reloads_nothing(rig: Rig) -> None:
    for rel in ("city.toml", "more.toml", "packs/main/pack.toml",
                "packs/main/agents/keeper/agent.toml"):
        os.utime(rig.dir / rel)
    (rig.dir / "packs/main/agents/keeper/.agent.toml.swp").write_text("vim")
    report = rig.controller.tick()
    assert rig.of_type("config.reloaded") == [] and not report.changed, report.summary()


def test_a_steady_tick_reads_no_config_file(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The watch stats its files; loading or digesting them is for a change only.
    from gascity.controller.configwatch import ConfigWatch

    calls: list[str] = []

    def counted(name: str, real: object) -> object:
        def wrapper(*args: object, **kw: object) -> object:
            calls.append(name)
            return real(*args, **kw)  # type: ignore[operator]
        return wrapper

    monkeypatch.setattr(controller_module, "load_city",
                        counted("load_city", controller_module.load_city))
    monkeypatch.setattr(ConfigWatch, "snapshot",
                        counted("snapshot", ConfigWatch.snapshot))
    for _ in range(3):
        assert not rig.controller.tick().changed
    assert calls == []
    watched = rig.controller._watch.paths
    assert str(rig.dir / "packs/main/agents/keeper/prompt.template.md") in watched
    assert len(watched) < 15, watched


RIG_CITY = {
    "city.toml": (
        '[workspace]\nname = "yard"\n[daemon]\nshutdown_timeout = "200ms"\n'
        '[[rigs]]\nname = "east"\npath = "projects/east"\nincludes = ["packs/crew"]\n'
    ),
    "projects/east/.keep": "",
    "projects/west/.keep": "",
    "packs/crew/pack.toml": '[pack]\nname = "crew"\nschema = 2\n',
    "packs/crew/agents/hand/agent.toml": 'start_command = "exec sleep 300"\ndrain_timeout = "1h"\n',
}


def test_a_rig_pack_edit_and_a_moved_rig_restart_its_agents(tmp_path: Path) -> None:
    write(tmp_path, RIG_CITY)
    made = Rig(tmp_path)
    try:
        assert made.controller.tick().started == ["east--hand"]
        agent = tmp_path / "packs/crew/agents/hand/agent.toml"
        agent.write_text(RIG_CITY["packs/crew/agents/hand/agent.toml"] + 'env = { X = "1" }\n')
        report = made.controller.tick()
        assert len(made.of_type("config.reloaded")) == 1 and report.drained == []
        # GC_RIG_ROOT is identity: the rig's agents restart in its new place.
        city = tmp_path / "city.toml"
        city.write_text(RIG_CITY["city.toml"].replace("projects/east", "projects/west"))
        assert made.controller.tick().drained == ["east--hand"]
    finally:
        made.controller.shutdown_sessions()
        made.city.close()


def test_a_change_between_opening_the_city_and_the_controller_is_loaded(
    tmp_path: Path,
) -> None:
    from gascity.testing import FakeProvider

    write(tmp_path, FILES)
    city = open_test_city(tmp_path, session=FakeProvider(), events=MemoryEvents())
    try:
        # Written after the city was read, before the controller took its snapshot.
        write(tmp_path, {
            "more.toml": FILES["more.toml"] + '[[agent]]\nname = "late"\nstart_command = "x"\n',
            "city.toml": CITY + "# edited\n",
        })
        stat = (tmp_path / "city.toml").stat()
        os.utime(tmp_path / "city.toml", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
        report = Controller(city).tick()
        assert "late" in report.started, report.summary()
    finally:
        city.close()
