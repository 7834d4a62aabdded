"""Cities composed from include fragments and local packs, as Gas City composes them.
The packs here are written for these tests, in the layout of the reference's packs
(pack.toml, agents/<name>/agent.toml + prompt.template.md + overlay/,
template-fragments/)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gascity.cli.main import cli
from gascity.config import load_city
from gascity.controller import Controller
from gascity.errors import ConfigError
from gascity.testing import FakeProvider, MemoryEvents, open_test_city, wait_for
from gascity.testing import write_tree as write

CITY = {
    "city.toml": """
include = ["more.toml"]

[workspace]
name = "harbor"
includes = ["packs/extra"]
global_fragments = ["glossary"]

[imports.main]
source = "packs/main"

[[agent]]
name = "pilot"
start_command = "pilot --city"

[[patches.agent]]
name = "keeper"
idle_timeout = "2h"
""",
    "more.toml": '[[agent]]\nname = "clerk"\nstart_command = "clerk"\n',
    "packs/main/pack.toml": """
[pack]
name = "main"
schema = 2

[imports.base]
source = "../base"

[global]
session_live = ["{{.ConfigDir}}/theme.sh"]

[[named_session]]
template = "keeper"
name = "night-keeper"
mode = "always"

[[named_session]]
template = "keeper"
mode = "on_demand"

[[patches.agent]]
name = "keeper"
nudge = "Keep watch."
pre_start_append = ["echo appended"]
""",
    "packs/main/agents/keeper/agent.toml": (
        'scope = "city"\nstart_command = "keep"\npre_start = ["echo first"]\n'
    ),
    "packs/main/agents/keeper/prompt.template.md": (
        '# {{ .AgentName }}\n{{ template "duties" . }}'
    ),
    "packs/main/agents/keeper/overlay/.keep": "",
    "packs/main/agents/crane/agent.toml": 'scope = "rig"\nstart_command = "crane"\n',
    "packs/main/agents/pilot/agent.toml": 'scope = "city"\nstart_command = "pack-pilot"\n',
    "packs/base/pack.toml": '[pack]\nname = "base"\nschema = 2\n',
    "packs/base/agents/keeper/agent.toml": (
        'scope = "city"\nfallback = true\nstart_command = "base-keeper"\n'
    ),
    "packs/base/agents/dock/agent.toml": (
        'scope = "city"\nfallback = true\nstart_command = "dock"\nmax_active_sessions = 2\n'
    ),
    "packs/base/template-fragments/f.template.md": (
        '{{ define "duties" }}Duties of {{ basename .AgentName }}.{{ end }}\n'
        '{{ define "glossary" }}GLOSSARY{{ end }}'
    ),
    "packs/extra/pack.toml": (
        '[pack]\nname = "extra"\nschema = 1\n'
        '[[agent]]\nname = "scribe"\nscope = "city"\nstart_command = "scribe"\n'
    ),
}


def test_city_composed_from_fragments_and_packs(tmp_path: Path) -> None:
    loaded = load_city(write(tmp_path, CITY))
    config, comp = loaded.config, loaded.composition
    names = [a.name for a in config.agent]
    assert names == ["pilot", "clerk", "scribe", "dock", "keeper", "night-keeper"]
    by = {a.name: a for a in config.agent}
    # The city's own agent wins over the pack's, with a warning.
    assert by["pilot"].start_command == "pilot --city"
    assert any("agent 'pilot'" in w and "shadows" in w for w in loaded.warnings)
    # The pack agent beats the fallback of the imported pack; the lone fallback stays.
    assert by["keeper"].start_command == "keep"
    assert by["dock"].start_command == "dock"
    # Patches: the pack's, then the city's; _append appends.
    assert by["keeper"].nudge == "Keep watch."
    assert by["keeper"].pre_start == ["echo first", "echo appended"]
    assert by["keeper"].idle_timeout == 7200.0
    # Pack paths and {{.ConfigDir}} are the pack's directory.
    main = tmp_path / "packs" / "main"
    assert by["keeper"].prompt_template == str(main / "agents/keeper/prompt.template.md")
    assert by["keeper"].overlay_dir == str(main / "agents/keeper/overlay")
    assert by["keeper"].session_live == [f"{main.resolve()}/theme.sh"]
    # The always named session with its own name is a copy of its template.
    assert by["night-keeper"].start_command == "keep"
    # A rig-scoped pack agent is reported, not started.
    assert "crane" not in by
    assert any("agent 'crane'" in w and "rig-scoped" in w for w in loaded.warnings)
    assert comp.sources["clerk"] == str(tmp_path / "more.toml")
    assert comp.sources["dock"] == str(tmp_path / "packs/base/agents/dock/agent.toml")
    assert comp.patched["keeper"] == [
        f"nudge ({main.resolve() / 'pack.toml'})",
        f"pre_start_append ({main.resolve() / 'pack.toml'})",
        f"idle_timeout ({tmp_path / 'city.toml'})",
    ]


def test_composed_city_runs_its_named_session_and_pack_agents(tmp_path: Path) -> None:
    write(tmp_path, CITY)
    fake = FakeProvider()
    opened = open_test_city(tmp_path, session=fake, events=MemoryEvents())
    try:
        report = Controller(opened).tick()
    finally:
        opened.close()
    # keeper itself is an on_demand named session: it waits for gc session wake.
    assert sorted(report.started) == [
        "clerk", "dock-1", "dock-2", "night-keeper", "pilot", "scribe"
    ], report.failed
    keeper = fake.sessions["night-keeper"]
    # The prompt rendered with a fragment of the imported pack; prompt_mode none for
    # a start_command, so it is not on the command line but gc prime prints it.
    assert keeper.command == "keep"
    out = CliRunner().invoke(cli, ["--city", str(tmp_path), "prime", "keeper"])
    assert out.output == "# keeper\nDuties of keeper.\n\nGLOSSARY", out.output


def test_config_show_and_explain_the_composed_city(tmp_path: Path) -> None:
    write(tmp_path, CITY)
    runner = CliRunner()
    shown = json.loads(runner.invoke(cli, ["--city", str(tmp_path), "config", "show",
                                           "--json"]).output)
    assert [a["name"] for a in shown["agent"]][-1] == "night-keeper"
    # The TOML form reads back to the same composed city (named sessions included).
    text = runner.invoke(cli, ["--city", str(tmp_path), "config", "show"]).output

    def drop_none(x: object) -> object:
        if isinstance(x, dict):
            return {k: drop_none(v) for k, v in x.items() if v is not None}
        if isinstance(x, list):
            return [drop_none(v) for v in x]
        return x

    assert tomllib.loads(text) == drop_none(shown)
    assert [n["template"] for n in tomllib.loads(text)["named_session"]] == ["keeper", "keeper"]
    explained = runner.invoke(cli, ["--city", str(tmp_path), "config", "explain"]).output
    assert f"agent dock: {tmp_path / 'packs/base/agents/dock/agent.toml'}" in explained
    assert f"  patched idle_timeout ({tmp_path / 'city.toml'})" in explained
    assert f"pack: {(tmp_path / 'packs/base').resolve()}" in explained


@pytest.mark.parametrize(
    ("files", "fragment"),
    [
        ({"city.toml": '[imports.x]\nsource = "github.com/acme/pack"\n'},
         "is remote; fetching packs is not implemented here: clone or copy the pack"),
        ({"city.toml": '[workspace]\nincludes = ["https://example.com/p.git//x#v1"]\n'},
         "is remote"),
        ({"city.toml": '[imports.x]\nsource = "nowhere"\n'}, "does not exist"),
        ({"city.toml": '[imports.x]\nsource = "p"\n', "p/readme": ""},
         "pack.toml (every pack directory needs one) not found"),
        ({"city.toml": '[imports.x]\nsource = "a"\n',
          "a/pack.toml": '[pack]\nname = "a"\nschema = 2\n[imports.b]\nsource = "../b"\n',
          "b/pack.toml": '[pack]\nname = "b"\nschema = 2\n[imports.a]\nsource = "../a"\n'},
         "pack import cycle"),
        ({"city.toml": '[imports.x]\nsource = "p"\n',
          "p/pack.toml": '[pack]\nname = "p"\nschema = 2\n[agents]\nx = 1\n'},
         "agents: unknown key in a pack.toml (did you mean 'agent'?)"),
        ({"city.toml": '[[patches.agent]]\nname = "ghost"\nnudge = "x"\n'
                       'include = []\n[imports.x]\nsource = "p"\n',
          "p/pack.toml": '[pack]\nname = "p"\nschema = 2\n'},
         "patches.agent (name 'ghost'): no composed agent has this name"),
        ({"city.toml": '[imports.x]\nsource = "p"\n',
          "p/pack.toml": '[pack]\nname = "p"\nschema = 2\n',
          "p/agents/dog/agent.toml": 'scope = "city"\nmax_active_sessions = "3"\n'},
         "(agent 'dog' from "),
        ({"city.toml": 'include = ["f.toml"]\n', "f.toml": 'include = ["g.toml"]\n'},
         "fragments cannot include other files"),
    ],
)
def test_composition_errors_name_the_file_and_what_to_do(
    tmp_path: Path, files: dict[str, str], fragment: str
) -> None:
    write(tmp_path, files)
    with pytest.raises(ConfigError) as info:
        load_city(tmp_path)
    assert fragment in str(info.value)


RIG_CITY = {
    "city.toml": """
[workspace]
name = "harbor"
default_rig_includes = ["packs/town", "packs/rigpack"]

[imports.town]
source = "packs/town"

[[rigs]]
name = "frontend"
path = "projects/frontend"
includes = ["packs/town"]

[[rigs.patches]]
agent = "polecat"
max_active_sessions = 3

[[rigs]]
name = "backend"
path = "projects/backend"
includes = ["packs/town", "packs/rigpack"]
""",
    "packs/town/pack.toml": '[pack]\nname = "town"\nschema = 2\n',
    "packs/town/agents/mayor/agent.toml": 'scope = "city"\nstart_command = "mayor"\n',
    "packs/town/agents/polecat/agent.toml": (
        'scope = "rig"\nstart_command = "polecat"\n'
        'min_active_sessions = 2\nmax_active_sessions = 5\n'
        'depends_on = ["witness"]\n'
    ),
    "packs/town/agents/polecat/prompt.template.md": (
        "{{ basename .AgentName }} of {{ .RigName }} at {{ .RigRoot }} as {{ .AgentName }}"
    ),
    "packs/town/agents/witness/agent.toml": 'scope = "rig"\nstart_command = "witness"\n',
    "packs/rigpack/pack.toml": (
        '[pack]\nname = "rigpack"\nschema = 2\n'
        '[[agent]]\nname = "reviewer"\nstart_command = "review"\n'
        'work_dir = ".gc/worktrees/{{.Rig}}/{{.AgentBase}}"\n'
    ),
    "projects/frontend/README": "",
    "projects/backend/README": "",
}


def test_rig_scoped_pool_runs_in_the_rig_under_qualified_names(tmp_path: Path) -> None:
    write(tmp_path, RIG_CITY)
    loaded = load_city(tmp_path)
    names = [a.name for a in loaded.config.agent]
    assert names == ["mayor", "frontend--polecat", "frontend--witness", "backend--polecat",
                     "backend--witness", "backend--reviewer"]
    fake = FakeProvider()
    opened = open_test_city(tmp_path, session=fake, events=MemoryEvents())
    try:
        controller = Controller(opened)
        report = controller.tick()
        assert not report.failed, report.failed
        # Rig agents depend on their own rig's witness: a later wave.
        report = controller.tick()
    finally:
        opened.close()
    # Without a scale_check a pool runs its max: 5, and 3 where the rig patched it.
    assert sorted(fake.sessions) == sorted([
        *(f"backend--polecat-{i}" for i in range(1, 6)), "backend--reviewer",
        "backend--witness", *(f"frontend--polecat-{i}" for i in range(1, 4)),
        "frontend--witness", "mayor",
    ])
    front = fake.sessions["frontend--polecat-2"]
    frontend = str((tmp_path / "projects/frontend").resolve())
    assert front.work_dir == frontend
    assert front.env["GC_RIG"] == "frontend"
    assert front.env["GC_RIG_ROOT"] == frontend
    assert front.env["GC_ALIAS"] == "frontend/polecat"
    assert front.env["GC_SESSION_NAME"] == "frontend--polecat-2"
    assert fake.sessions["mayor"].env["GC_RIG"] == ""
    # The start_command agent gets no prompt argument, but gc prime renders the rig's.
    out = CliRunner().invoke(cli, ["--city", str(tmp_path), "prime", "frontend/polecat"])
    assert out.output == f"polecat of frontend at {frontend} as frontend/polecat"
    # Templated work_dir, created under the city.
    reviewer = fake.sessions["backend--reviewer"]
    assert reviewer.work_dir == str((tmp_path / ".gc/worktrees/backend/reviewer").resolve())
    assert Path(reviewer.work_dir).is_dir()
    # The rig patch changed only that rig's pool bounds.
    by = {a.name: a for a in loaded.config.agent}
    assert by["frontend--polecat"].max_active_sessions == 3
    assert by["backend--polecat"].max_active_sessions == 5


def test_gc_rig_add_list_suspend_resume(tmp_path: Path) -> None:
    write(tmp_path, RIG_CITY)
    (tmp_path / "projects/docs").mkdir()
    runner = CliRunner()

    def gc(*args: str) -> str:
        result = runner.invoke(cli, ["--city", str(tmp_path), *args])
        assert result.exit_code == 0, result.output
        return result.output

    added = gc("rig", "add", str(tmp_path / "projects/docs"))
    assert "rig docs added" in added and "docs--reviewer" in added
    text = (tmp_path / "city.toml").read_text()
    assert ('[[rigs]]\nname = "docs"\npath = "projects/docs"\n'
            'includes = ["packs/town", "packs/rigpack"]') in text
    rows = json.loads(gc("rig", "list", "--json"))
    assert [r["name"] for r in rows] == ["frontend", "backend", "docs"]
    assert rows[2]["agents"] == ["docs--polecat", "docs--witness", "docs--reviewer"]
    assert "rig frontend suspended (2 agents)" in gc("rig", "suspend", "frontend")
    rows = json.loads(gc("rig", "list", "--json"))
    assert [r["suspended"] for r in rows] == [True, False, False]
    gc("rig", "resume", "frontend")
    assert not json.loads(gc("rig", "list", "--json"))[0]["suspended"]
    dup = runner.invoke(cli, ["--city", str(tmp_path), "rig", "add",
                              str(tmp_path / "projects/docs")])
    assert dup.exit_code != 0 and "a rig named 'docs' exists" in dup.output


def test_overlay_is_copied_into_the_work_dir_without_overwriting(tmp_path: Path) -> None:
    write(tmp_path, {
        "city.toml": '[imports.p]\nsource = "p"\n',
        "p/pack.toml": '[pack]\nname = "p"\nschema = 2\n',
        "p/agents/keeper/agent.toml": (
            'scope = "city"\nstart_command = "keep"\nwork_dir = ".gc/agents/{{.AgentBase}}"\n'
        ),
        "p/agents/keeper/overlay/.claude/settings.json": '{"from": "overlay"}',
        "p/agents/keeper/overlay/notes.md": "overlay notes",
        ".gc/agents/keeper/notes.md": "mine",
    })
    fake = FakeProvider()
    opened = open_test_city(tmp_path, session=fake, events=MemoryEvents())
    try:
        assert Controller(opened).tick().started == ["keeper"]
    finally:
        opened.close()
    work = tmp_path / ".gc" / "agents" / "keeper"
    assert fake.sessions["keeper"].work_dir == str(work.resolve())
    assert (work / ".claude" / "settings.json").read_text() == '{"from": "overlay"}'
    assert (work / "notes.md").read_text() == "mine"


def test_on_demand_named_session_starts_when_woken_and_stays(tmp_path: Path) -> None:
    write(tmp_path, {
        "city.toml": (
            '[imports.p]\nsource = "p"\n'
            '[[named_session]]\ntemplate = "keeper"\nname = "spare"\nmode = "on_demand"\n'
        ),
        "p/pack.toml": (
            '[pack]\nname = "p"\nschema = 2\n'
            '[[named_session]]\ntemplate = "keeper"\nmode = "always"\n'
            '[[named_session]]\ntemplate = "clerk"\nmode = "on_demand"\n'
        ),
        "p/agents/keeper/agent.toml": 'scope = "city"\nstart_command = "keep"\n',
        "p/agents/clerk/agent.toml": 'scope = "city"\nstart_command = "clerk"\n',
    })
    assert load_city(tmp_path).composition.on_demand == {"spare", "clerk"}
    fake = FakeProvider()
    opened = open_test_city(tmp_path, session=fake, events=MemoryEvents())
    runner = CliRunner()
    try:
        controller = Controller(opened)
        controller.tick()
        assert sorted(fake.sessions) == ["keeper"]  # always runs; on_demand waits
        woke = runner.invoke(cli, ["--city", str(tmp_path), "session", "wake", "spare"])
        assert woke.exit_code == 0 and "session spare woken" in woke.output, woke.output
        controller.tick()
        controller.tick()
        assert sorted(fake.sessions) == ["keeper", "spare"]
        assert fake.sessions["spare"].command == "keep"
    finally:
        opened.close()
    # An always-on session has nothing to wake but a hold (gc session suspend).
    held = runner.invoke(cli, ["--city", str(tmp_path), "session", "wake", "keeper"])
    assert held.exit_code == 0 and "keeper: woken" in held.output, held.output
    bad = runner.invoke(cli, ["--city", str(tmp_path), "session", "wake", "nobody"])
    assert bad.exit_code != 0 and "no session of this city" in bad.output


def test_on_boot_runs_at_controller_start_and_on_death_after_a_crash(tmp_path: Path) -> None:
    write(tmp_path, {
        "city.toml": (
            '[workspace]\nname = "harbor"\n'
            '[[agent]]\nname = "keeper"\nstart_command = "keep"\n'
            'on_boot = "echo \\"boot $GC_AGENT $GC_CITY_NAME\\" >> hooks.log"\n'
            'on_death = "echo \\"death $GC_SESSION_NAME\\" >> hooks.log"\n'
            '[[agent]]\nname = "broken"\nstart_command = "x"\non_boot = "exit 4"\n'
        ),
    })
    fake = FakeProvider()
    opened = open_test_city(tmp_path, session=fake, events=MemoryEvents())
    log = tmp_path / "hooks.log"
    try:
        controller = Controller(opened)
        failures = controller.run_boot_hooks()
        assert failures == ["agent broken: on_boot command failed (exit status 4)"]
        assert log.read_text() == "boot keeper harbor\n"
        controller.tick()
        fake.kill("keeper", output="boom")
        controller.tick()
        wait_for(lambda: "death" in log.read_text(), timeout=10, what="on_death")
    finally:
        opened.close()
    assert log.read_text() == "boot keeper harbor\ndeath keeper\n"


def test_session_live_is_reapplied_on_change_without_a_restart(tmp_path: Path) -> None:
    base = ('[workspace]\nname = "live"\n[daemon]\nshutdown_timeout = "100ms"\n'
            '[[agent]]\nname = "keeper"\nstart_command = "keep"\n'
            'session_setup = ["echo setup {{.Session}}"]\n')
    write(tmp_path, {"city.toml": base + 'session_live = ["echo v1 {{.Session}} >> live.log"]\n'})
    fake = FakeProvider()
    opened = open_test_city(tmp_path, session=fake, events=MemoryEvents())
    try:
        controller = Controller(opened)
        assert controller.tick().started == ["keeper"]
        starts = fake.calls_to("start")
        first_fp = fake.sessions["keeper"].meta["gc.fingerprint"]
        (tmp_path / "city.toml").write_text(
            base + 'session_live = ["echo v2 {{.Session}} >> live.log"]\n')
        controller.maybe_reload(force=True)
        report = controller.tick()
    finally:
        opened.close()
    assert report.started == [] and fake.calls_to("start") == starts  # no restart
    assert fake.sessions["keeper"].meta["gc.fingerprint"] == first_fp
    assert (tmp_path / "live.log").read_text() == "v2 keeper\n"


def test_setup_commands_expand_the_reference_placeholders(tmp_path: Path) -> None:
    from gascity.reconcile.desired import start_config

    config = load_city(write(tmp_path, {"city.toml": (
        '[workspace]\nname = "harbor"\n'
        '[[agent]]\nname = "keeper"\nstart_command = "keep"\n'
        'pre_start = ["mkdir -p {{.CityRoot}}/x/{{.AgentBase}}"]\n'
        'session_setup = ["tmux set -t {{.Session}} status on", "plain $HOME"]\n'
        'session_live = ["theme {{.Agent}} {{.CityName}}"]\n'
    )})).config
    agent = config.agent[0]
    made = start_config(agent, "keeper", city_name="harbor", city_dir=tmp_path,
                        startup_timeout=5, fp="f", instance=None)
    assert made.pre_start == (f"mkdir -p {tmp_path}/x/keeper",)
    assert made.session_setup == ("tmux set -t keeper status on", "plain $HOME")
    # Apart from session_setup, as the reference's start config carries it.
    assert made.session_live == ("theme keeper harbor",)
    assert made.meta["gc.live"]


def test_rig_and_provider_patches_are_applied(tmp_path: Path) -> None:
    from gascity.config.presets import resolve_launch

    write(tmp_path, {"city.toml": (
        '[workspace]\nname = "p"\n'
        '[providers.fast]\ncommand = "codex"\nenv = { KEEP = "1", DROP = "2" }\n'
        '[[rigs]]\nname = "r"\npath = "."\n'
        '[[patches.rigs]]\nname = "r"\nsuspended = true\n'
        '[[patches.providers]]\nname = "claude"\nargs = ["--model", "opus"]\n'
        '[[patches.providers]]\nname = "fast"\nenv = { NEW = "3" }\nenv_remove = ["DROP"]\n'
        '[[agent]]\nname = "a"\nprovider = "claude"\n'
        '[[agent]]\nname = "b"\nprovider = "fast"\n'
    )})
    config = load_city(tmp_path).config
    assert config.rigs[0].suspended is True
    launches = [resolve_launch(a, config.workspace, config.providers) for a in config.agent]
    assert launches[0].command == "claude --model opus"
    assert launches[0].ready_delay_ms == 10000  # the rest of the built-in stays
    assert launches[1].env == {"KEEP": "1", "NEW": "3"}
    (tmp_path / "city.toml").write_text(
        '[[patches.rigs]]\nname = "nope"\nsuspended = true\n')
    with pytest.raises(ConfigError, match=r"patches.rigs\[0\] \(name 'nope'\): no rig"):
        load_city(tmp_path)


TOOLS_PACK = {
    "city.toml": (
        '[workspace]\nname = "forge"\n'
        '[imports.tools]\nsource = "packs/tools"\n'
        '[providers.shared]\ncommand = "city-shared"\n'
        '[[agent]]\nname = "boss"\nprovider = "hammer"\n'
    ),
    "packs/tools/pack.toml": (
        '[pack]\nname = "tools"\nschema = 2\n'
        '[imports.parts]\nsource = "../parts"\n'
        '[agent_defaults]\nappend_fragments = ["footer"]\nwake_mode = "fresh"\n'
        '[providers.hammer]\ncommand = "hammer-cli"\nargs = ["--loud"]\n'
        '[providers.shared]\ncommand = "pack-shared"\n'
        '[[service]]\nname = "api"\n'
        '[formulas]\ndir = "formulas"\n'
        '[[doctor]]\nname = "check"\n'
        '[[commands]]\nname = "sync"\n'
    ),
    "packs/tools/agents/smith/agent.toml": (
        'scope = "city"\nprovider = "shared"\ninject_fragments = ["header"]\n'
    ),
    "packs/parts/pack.toml": (
        '[pack]\nname = "parts"\nschema = 2\n'
        '[providers.hammer]\ncommand = "parts-hammer"\n'
        '[providers.anvil]\ncommand = "anvil"\n'
    ),
    "packs/parts/agents/welder/agent.toml": 'scope = "city"\nprovider = "anvil"\n',
}


def test_pack_providers_and_agent_defaults_reach_the_packs_agents(tmp_path: Path) -> None:
    from gascity.config.presets import resolve_launch

    loaded = load_city(write(tmp_path, TOOLS_PACK))
    config = loaded.config
    by = {a.name: a for a in config.agent}
    launch = {name: resolve_launch(a, config.workspace, config.providers)
              for name, a in by.items()}
    # A pack's provider serves any agent; the city's definition of a name wins, and
    # the including pack's wins over its import's.
    assert launch["boss"].command == "hammer-cli --loud"
    assert launch["smith"].command == "city-shared"
    assert launch["welder"].command == "anvil"
    # [agent_defaults] append_fragments: the pack's own agents, after their own.
    assert by["smith"].inject_fragments == ["header", "footer"]
    assert by["welder"].inject_fragments == [] and by["boss"].inject_fragments == []
    pack_file = (tmp_path / "packs/tools/pack.toml").resolve()
    for key in ("service", "formulas", "doctor", "commands", "agent_defaults.wake_mode"):
        hits = [w for w in loaded.warnings if f"{pack_file}: {key}: recognised" in w]
        assert len(hits) == 1, (key, loaded.warnings)


def test_pack_agent_defaults_typo_is_an_error_naming_the_pack(tmp_path: Path) -> None:
    files = dict(TOOLS_PACK)
    files["packs/tools/pack.toml"] = (
        '[pack]\nname = "tools"\nschema = 2\n[agent_defaults]\nappend_fragmets = ["x"]\n')
    with pytest.raises(ConfigError) as err:
        load_city(write(tmp_path, files))
    assert err.value.path.endswith("packs/tools/pack.toml")
    assert "agent_defaults.append_fragmets: unknown key" in str(err.value)
    assert "did you mean 'append_fragments'" in str(err.value)


def test_config_explain_filters_by_agent_and_rig(tmp_path: Path) -> None:
    write(tmp_path, RIG_CITY)
    runner = CliRunner()

    def explain(*args: str) -> list[str]:
        out = runner.invoke(cli, ["--city", str(tmp_path), "config", "explain", "--json",
                                  *args])
        assert out.exit_code == 0, out.output
        return [row["agent"] for row in json.loads(out.output)["agents"]]

    assert explain("--rig", "frontend") == ["frontend--polecat", "frontend--witness"]
    assert explain("--agent", "backend/reviewer") == ["backend--reviewer"]
    assert explain("--agent", "mayor") == ["mayor"]
    assert explain("--rig", "backend", "--agent", "backend--witness") == ["backend--witness"]
    nosuch = runner.invoke(cli, ["--city", str(tmp_path), "config", "explain", "--rig", "x"])
    assert nosuch.exit_code == 1 and "unknown rig 'x'; rigs: backend, frontend" in nosuch.output
    other = runner.invoke(cli, ["--city", str(tmp_path), "config", "explain", "--rig",
                                "frontend", "--agent", "mayor"])
    assert other.exit_code == 1
    assert "unknown agent 'mayor' in rig 'frontend'; agents: frontend--polecat" in other.output


def test_config_show_validate_and_provenance(tmp_path: Path) -> None:
    write(tmp_path, RIG_CITY)
    runner = CliRunner()
    city = ["--city", str(tmp_path), "config", "show"]
    valid = runner.invoke(cli, [*city, "--validate"], env={"GC_SESSION": "fake"})
    assert valid.exit_code == 0 and ": ok (6 agents;" in valid.output, valid.output
    provenance = runner.invoke(cli, [*city, "--provenance"]).output
    assert provenance == runner.invoke(cli, ["--city", str(tmp_path), "config",
                                             "explain"]).output
    assert "agent frontend--polecat:" in provenance
    (tmp_path / "city.toml").write_text("[workspace\n")
    broken = runner.invoke(cli, [*city, "--validate"], env={"GC_SESSION": "fake"})
    assert broken.exit_code == 2 and "city.toml" in broken.output
    both = runner.invoke(cli, [*city, "--validate", "--provenance"])
    assert both.exit_code == 2 and "exclude each other" in both.output


ROOT_PACK_CITY = {
    "city.toml": (
        '[workspace]\nname = "ship"\nprovider = "claude"\n'
        '[[rigs]]\nname = "hold"\npath = "hold"\n'
        '[[agent]]\nname = "pilot"\nstart_command = "city-pilot"\n'
    ),
    "pack.toml": (
        '[pack]\nname = "ship"\nschema = 2\n'
        '[imports.tools]\nsource = "packs/tools"\n'
        '[providers.oar]\ncommand = "row"\n'
        '[[named_session]]\ntemplate = "captain"\nname = "night-captain"\nmode = "always"\n'
    ),
    "agents/captain/prompt.md": "Steer {{ .AgentName }}.\n",
    "agents/pilot/agent.toml": 'start_command = "root-pilot"\n',
    "agents/deckhand/agent.toml": 'scope = "rig"\nprovider = "oar"\n',
    "agents/_notes/README": "not an agent\n",
    "packs/tools/pack.toml": '[pack]\nname = "tools"\nschema = 2\n',
    "packs/tools/agents/smith/agent.toml": 'scope = "city"\nstart_command = "smith"\n',
    "hold/.keep": "",
}


def test_a_pack_toml_beside_city_toml_is_the_citys_root_pack(tmp_path: Path) -> None:
    from gascity.config.presets import resolve_launch

    loaded = load_city(write(tmp_path, ROOT_PACK_CITY))
    config = loaded.config
    by = {a.name: a for a in config.agent}
    # A root pack agent is a city agent whatever its scope, as in Gas City's code: only
    # packs a rig names are stamped into it.
    assert sorted(by) == ["captain", "deckhand", "night-captain", "pilot", "smith"]
    # An agent directory needs no agent.toml; its prompt.md is its prompt.
    assert by["captain"].prompt_template == str(tmp_path / "agents/captain/prompt.md")
    assert resolve_launch(by["captain"], config.workspace, config.providers).provider == (
        "claude")
    # city.toml wins a name over the root pack, silently (they are one city).
    assert by["pilot"].start_command == "city-pilot"
    assert not any("pilot" in w for w in loaded.warnings), loaded.warnings
    # The root pack's imports, providers and agents are the city's.
    assert by["smith"].start_command == "smith"
    assert resolve_launch(by["deckhand"], config.workspace,
                          config.providers).command == "row"
    assert not loaded.composition.rig_agents
    assert by["night-captain"].prompt_template == by["captain"].prompt_template
    assert loaded.composition.sources["captain"] == str(tmp_path / "agents/captain")


def test_rig_status_and_restart(tmp_path: Path) -> None:
    write(tmp_path, RIG_CITY)
    runner = CliRunner()

    def gc(*args: str, **env: str) -> Result:
        return runner.invoke(cli, ["--city", str(tmp_path), *args],
                             env={"GC_SESSION": "fake", "GC_RIG": "", **env})

    for _ in range(2):  # the rigs' polecats wait for their witness: a second wave
        assert gc("start", "--once").exit_code == 0
    front = json.loads(gc("rig", "status", "frontend", "--json").output)
    assert [r["name"] for r in front] == ["frontend"]
    agents = {a["name"]: [s["name"] for s in a["sessions"]] for a in front[0]["agents"]}
    assert agents == {"frontend--polecat": [f"frontend--polecat-{i}" for i in (1, 2, 3)],
                      "frontend--witness": ["frontend--witness"]}
    both = json.loads(gc("rig", "status", "--json").output)
    assert [r["name"] for r in both] == ["frontend", "backend"]
    text = gc("rig", "status", "backend").output
    assert "rig backend (projects/backend)" in text
    assert "backend--reviewer: backend--reviewer alive" in text
    # Inside a rig's session, $GC_RIG names it.
    mine = json.loads(gc("rig", "status", "--json", GC_RIG="backend").output)
    assert [r["name"] for r in mine] == ["backend"]

    restarted = gc("rig", "restart", "frontend")
    assert restarted.exit_code == 0, restarted.output
    assert "rig frontend: stopped 4 session(s)" in restarted.output
    listed = {s["name"] for s in json.loads(gc("session", "list", "--json").output)}
    assert not any(n.startswith("frontend--") for n in listed)
    assert "backend--witness" in listed and "mayor" in listed
    gc("start", "--once")
    gc("start", "--once")
    listed = {s["name"] for s in json.loads(gc("session", "list", "--json").output)}
    assert {"frontend--witness", "frontend--polecat-3"} <= listed
    which = gc("rig", "restart")
    assert which.exit_code == 2 and "which rig? pass NAME (rigs: frontend, backend)" in (
        which.output)
    nosuch = gc("rig", "status", "nope")
    assert nosuch.exit_code == 1 and "unknown rig 'nope'; rigs: frontend, backend" in (
        nosuch.output)


def test_named_sessions_of_one_session_templates_run(tmp_path: Path) -> None:
    """Gas City's mayor: a template capped at one session (``max_active_sessions = 1``,
    no scale_check) whose ``always`` named session keeps it running; the same for a
    rig's, and a larger pool keeps one member for its ``always`` session."""
    write(tmp_path, {
        "city.toml": ('[workspace]\nname = "port"\n[imports.crew]\nsource = "packs/crew"\n'
                      '[[rigs]]\nname = "yard"\npath = "yard"\nincludes = ["packs/crew"]\n'),
        "packs/crew/pack.toml": (
            '[pack]\nname = "crew"\nschema = 2\n'
            '[[named_session]]\ntemplate = "chief"\nscope = "city"\nmode = "always"\n'
            '[[named_session]]\ntemplate = "clerk"\nscope = "city"\nmode = "on_demand"\n'
            '[[named_session]]\ntemplate = "gang"\nscope = "city"\nmode = "always"\n'
            '[[named_session]]\ntemplate = "watch"\nscope = "rig"\nmode = "always"\n'),
        "packs/crew/agents/chief/agent.toml": (
            'scope = "city"\nstart_command = "chief"\nmax_active_sessions = 1\n'),
        "packs/crew/agents/clerk/agent.toml": (
            'scope = "city"\nstart_command = "clerk"\nmax_active_sessions = 1\n'),
        "packs/crew/agents/gang/agent.toml": (
            'scope = "city"\nstart_command = "gang"\nmax_active_sessions = 4\n'
            'scale_check = "echo 0"\n'),
        "packs/crew/agents/watch/agent.toml": (
            'scope = "rig"\nstart_command = "watch"\nmax_active_sessions = 1\n'),
        "yard/.keep": "",
    })
    from gascity.cli.city_cmds import _status

    city = open_test_city(tmp_path, session=FakeProvider(), events=MemoryEvents())
    try:
        # What gc status and gc start --dry-run say before any controller ran.
        wanted = {row["name"]: row["desired"] for row in _status(city)["agents"]}
        assert wanted == {"chief": 1, "clerk": 0, "gang": 1, "yard--watch": 1}
        report = Controller(city).tick()
        assert city.loaded.composition.on_demand == {"clerk"}
    finally:
        city.close()
    assert sorted(report.started) == ["chief", "gang-1", "yard--watch"], report.failed


def test_rig_remove_takes_its_table_out_of_city_toml(tmp_path: Path) -> None:
    write(tmp_path, RIG_CITY)
    runner = CliRunner()

    def gc(*args: str) -> Result:
        return runner.invoke(cli, ["--city", str(tmp_path), *args], env={"GC_SESSION": "fake"})

    for _ in range(2):
        gc("start", "--once")
    assert gc("rig", "suspend", "frontend").exit_code == 0
    removed = gc("rig", "remove", "frontend")
    assert removed.exit_code == 0, removed.output
    assert f"rig frontend removed from {tmp_path / 'city.toml'}" in removed.output
    text = (tmp_path / "city.toml").read_text()
    assert "frontend" not in text and "max_active_sessions = 3" not in text, text
    assert '[[rigs]]\nname = "backend"' in text and "[imports.town]" in text
    loaded = load_city(tmp_path)
    assert [r.name for r in loaded.config.rigs] == ["backend"]
    assert not any(a.name.startswith("frontend--") for a in loaded.config.agent)
    overrides = json.loads((tmp_path / ".gc" / "overrides.json").read_text())
    assert not any(a.startswith("frontend--") for a in overrides["suspended_agents"])
    gc("start", "--once")
    listed = {s["name"] for s in json.loads(gc("session", "list", "--json").output)}
    assert not any(n.startswith("frontend--") for n in listed)
    assert "backend--witness" in listed
    nosuch = gc("rig", "remove", "frontend")
    assert nosuch.exit_code == 1 and "unknown rig 'frontend'; rigs: backend" in nosuch.output
