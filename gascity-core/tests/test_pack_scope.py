"""Where a pack's agents land, as Gas City's code places them (``filterAgentsByScope``
and its callers): a city-level pack (``[imports]``, ``workspace.includes``) gives the
city its ``scope = "city"`` and unscoped agents and no rig its ``"rig"`` ones; a rig's
own pack (its ``includes`` / ``imports``) gives that rig its ``"rig"`` and unscoped
agents and the city none of its ``"city"`` ones. The cities here are written for these
tests."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gascity.cli.main import cli
from gascity.config import load_city
from gascity.testing import write_tree as write


def agent(scope: str | None) -> str:
    return (f'scope = "{scope}"\n' if scope else "") + 'start_command = "sleep 600"\n'


SCOPED_CITY = {
    "city.toml": """
[workspace]
name = "quay"
includes = ["packs/tools"]

[imports.crew]
source = "packs/crew"

[[rigs]]
name = "frontend"
path = "projects/frontend"
includes = ["packs/kit"]

[[rigs]]
name = "backend"
path = "projects/backend"
[rigs.imports.kit]
source = "packs/kit"

[[rigs]]
name = "docs"
path = "projects/docs"
includes = ["packs/crew"]
""",
    # A city import: a city agent, an unscoped one, a rig one.
    "packs/crew/pack.toml": '[pack]\nname = "crew"\nschema = 2\n',
    "packs/crew/agents/mayor/agent.toml": agent("city"),
    "packs/crew/agents/assist/agent.toml": agent(None),
    "packs/crew/agents/polecat/agent.toml": agent("rig"),
    # A workspace include, its agents in pack.toml.
    "packs/tools/pack.toml": (
        '[pack]\nname = "tools"\nschema = 1\n'
        '[[agent]]\nname = "clerk"\nstart_command = "clerk"\n'
        '[[agent]]\nname = "boss"\nscope = "city"\nstart_command = "boss"\n'
        '[[agent]]\nname = "sweeper"\nscope = "rig"\nstart_command = "sweep"\n'
    ),
    # A rig's pack: included by one rig, imported by another.
    "packs/kit/pack.toml": '[pack]\nname = "kit"\nschema = 2\n',
    "packs/kit/agents/witness/agent.toml": agent("rig"),
    "packs/kit/agents/helper/agent.toml": agent(None),
    "packs/kit/agents/overseer/agent.toml": agent("city"),
    "projects/frontend/.keep": "",
    "projects/backend/.keep": "",
    "projects/docs/.keep": "",
}


def test_each_scope_lands_where_gas_city_puts_it(tmp_path: Path) -> None:
    loaded = load_city(write(tmp_path, SCOPED_CITY))
    names = sorted(a.name for a in loaded.config.agent)
    assert names == sorted([
        # The city packs' city and unscoped agents, once, at city level.
        "assist", "boss", "clerk", "mayor",
        # A rig's pack: its rig and unscoped agents, in that rig only.
        "frontend--helper", "frontend--witness",
        "backend--helper", "backend--witness",
        # A city pack a rig includes too: its rig and unscoped agents in that rig.
        "docs--assist", "docs--polecat",
    ])
    rigs = loaded.composition.rig_agents
    assert {n: (r.rig, r.qualified) for n, r in rigs.items() if r.rig == "docs"} == {
        "docs--assist": ("docs", "docs/assist"), "docs--polecat": ("docs", "docs/polecat")}
    by = {a.name: a for a in loaded.config.agent}
    assert by["assist"].work_dir in (None, "")  # the city's copy works in the city
    assert by["docs--assist"].work_dir == str((tmp_path / "projects/docs").resolve())
    # A city pack's rig agent no rig names the pack of is reported, not stamped.
    sweeper = [w for w in loaded.warnings if "agent 'sweeper'" in w]
    assert len(sweeper) == 1 and "rig-scoped" in sweeper[0], loaded.warnings
    assert not any("agent 'polecat'" in w for w in loaded.warnings), loaded.warnings


def test_config_show_and_explain_name_the_placed_agents(tmp_path: Path) -> None:
    write(tmp_path, SCOPED_CITY)
    runner = CliRunner()
    shown = runner.invoke(cli, ["--city", str(tmp_path), "config", "show", "--json"])
    assert shown.exit_code == 0, shown.output
    agents = {a["name"] for a in json.loads(shown.output)["agent"]}
    assert "assist" in agents and "frontend--assist" not in agents
    assert "overseer" not in agents and not any(a.endswith("--overseer") for a in agents)

    def explain(*args: str) -> list[str]:
        out = runner.invoke(cli, ["--city", str(tmp_path), "config", "explain", "--json",
                                  *args])
        assert out.exit_code == 0, out.output
        return sorted(row["agent"] for row in json.loads(out.output)["agents"])

    assert explain("--rig", "docs") == ["docs--assist", "docs--polecat"]
    assert explain("--rig", "backend") == ["backend--helper", "backend--witness"]
    assert explain("--agent", "assist") == ["assist"]
    assert explain("--agent", "docs/assist") == ["docs--assist"]


def test_unscoped_city_pack_agents_run_without_rigs(tmp_path: Path) -> None:
    loaded = load_city(write(tmp_path, {
        "city.toml": '[workspace]\nname = "lone"\n[imports.crew]\nsource = "packs/crew"\n',
        "packs/crew/pack.toml": '[pack]\nname = "crew"\nschema = 2\n',
        "packs/crew/agents/assist/agent.toml": agent(None),
        "packs/crew/agents/polecat/agent.toml": agent("rig"),
    }))
    assert [a.name for a in loaded.config.agent] == ["assist"]
    assert any("agent 'polecat'" in w and "rig-scoped" in w for w in loaded.warnings)


def test_root_pack_agents_are_city_agents_whatever_their_scope(tmp_path: Path) -> None:
    loaded = load_city(write(tmp_path, {
        "city.toml": ('[workspace]\nname = "root"\n'
                      '[[rigs]]\nname = "app"\npath = "app"\n'),
        "pack.toml": '[pack]\nname = "root"\nschema = 2\n',
        "agents/deck/agent.toml": agent("rig"),
        "agents/mate/agent.toml": agent(None),
        "app/.keep": "",
    }))
    assert sorted(a.name for a in loaded.config.agent) == ["deck", "mate"]
    assert not loaded.composition.rig_agents


def test_named_sessions_follow_their_pack_into_the_rigs_that_name_it(tmp_path: Path) -> None:
    """A rig's pack brings its rig and unscoped named sessions to that rig; a city
    import's ``scope = "rig"`` session reaches no rig that does not name its pack."""
    loaded = load_city(write(tmp_path, {
        "city.toml": ('[workspace]\nname = "sessions"\n'
                      '[imports.crew]\nsource = "packs/crew"\n'
                      '[[rigs]]\nname = "yard"\npath = "yard"\nincludes = ["packs/kit"]\n'),
        "packs/crew/pack.toml": (
            '[pack]\nname = "crew"\nschema = 2\n'
            '[[named_session]]\ntemplate = "watch"\nscope = "rig"\nmode = "on_demand"\n'),
        "packs/crew/agents/watch/agent.toml": agent("rig"),
        "packs/kit/pack.toml": (
            '[pack]\nname = "kit"\nschema = 2\n'
            '[[named_session]]\ntemplate = "guard"\nmode = "on_demand"\n'),
        "packs/kit/agents/watch/agent.toml": agent("rig"),
        "packs/kit/agents/guard/agent.toml": agent(None),
        "yard/.keep": "",
    }))
    assert sorted(a.name for a in loaded.config.agent) == ["yard--guard", "yard--watch"]
    assert loaded.composition.on_demand == {"yard--guard"}
