"""Cities written for Gas City (the reference) load and launch here: the whole schema
parses, recognised-only keys warn, provider presets resolve as there, and the agent's
environment is the reference's."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gascity.builtin.subprocess_provider import SubprocessProvider
from gascity.config import config_warnings, load_city, parse_city
from gascity.config.presets import BUILTIN_PRESETS, Launch, ProviderError, resolve_launch
from gascity.controller import Controller
from gascity.errors import ConfigError
from gascity.plugins import PluginContext
from gascity.reconcile import build_desired
from gascity.testing import MemoryEvents, open_test_city, wait_for

# A city as a Gas City user writes one: reference keys, some implemented here, some
# only recognised. Written for this test (not taken from the reference).
REFERENCE_STYLE = """
include = []

[workspace]
name = "harbor"
provider = "claude"
prefix = "hb"
install_agent_hooks = ["claude"]

[providers.fast]
command = "codex"
args = ["--model", "o4-mini"]
ready_delay_ms = 100

[providers.shell]
command = "bash"
prompt_mode = "none"
process_names = ["bash"]

[[agent]]
name = "mayor"
description = "Coordinates the harbor"
nudge = "Check your mail."
work_query = "bd ready --json"
wake_mode = "fresh"
option_defaults = { model = "sonnet" }

[[agent]]
name = "dock"
provider = "fast"
idle_timeout = "2h"
attach = false

[[agent]]
name = "crane"
start_command = "crane --serve"

[[agent]]
name = "legacy"
command = "old-style"

[[agent]]
name = "tug"
provider = "shell"
[agent.pool]
min = 1
max = 3
check = "echo 2"

[beads]
provider = "bd"

[dolt]
port = 3307

[daemon]
patrol_interval = "30s"
max_restarts = 0
formula_v2 = true

[session]
setup_timeout = "20s"

[orders]
skip = ["nightly"]

[[service]]
name = "docs"
kind = "proxy_process"
"""


def test_reference_style_city_parses_and_warns_once_per_recognised_key() -> None:
    config = parse_city(REFERENCE_STYLE)
    assert [a.name for a in config.agents] == ["mayor", "dock", "crane", "legacy", "tug"]
    warnings = config_warnings(config)
    keys = [w.split(":")[0] for w in warnings]
    assert keys == [
        "workspace.prefix",
        "workspace.install_agent_hooks",
        "agent[0].option_defaults (agent 'mayor')",
        "agent[0].work_query (agent 'mayor')",
        "agent[0].wake_mode (agent 'mayor')",
        "agent[1].attach (agent 'dock')",
        "agent[4].pool (agent 'tug')",
        "session.setup_timeout",
        "daemon.formula_v2",
        "beads",
        "dolt",
        "orders",
        "service",
    ], warnings
    by_key = dict(zip(keys, warnings, strict=True))
    assert "recognised, not implemented here (in Gas City: the bead store" in by_key["beads"]
    assert "deprecated; use min_active_sessions" in by_key["agent[4].pool (agent 'tug')"]
    # The legacy pool table is mapped onto the agent's keys.
    tug = config.agent_named("tug")
    assert tug is not None
    assert (tug.min_active_sessions, tug.max_active_sessions, tug.scale_check) == (1, 3, "echo 2")
    assert config.daemon.max_restarts == 0


def test_loaded_config_carries_the_warnings_with_the_file(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text(REFERENCE_STYLE)
    loaded = load_city(tmp_path)
    assert loaded.warnings
    assert all(w.startswith(f"{tmp_path / 'city.toml'}: ") for w in loaded.warnings)


def test_command_is_an_alias_of_start_command_but_not_both() -> None:
    config = parse_city('[[agent]]\nname = "a"\ncommand = "x"\n')
    assert config.agent[0].start_command == "x"
    with pytest.raises(ConfigError) as info:
        parse_city('[[agent]]\nname = "a"\ncommand = "x"\nstart_command = "y"\n')
    assert "agent[0] (agent 'a'): both command and start_command are set" in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[[agent]]\nname = "a"\nprovidr = "claude"\n', "(did you mean 'provider'?)"),
        ('[workspace]\nstart_comand = "x"\n', "(did you mean 'start_command'?)"),
        ('[[rigs]]\nname = "r"\npath = "."\nprefx = "x"\n', "(did you mean 'prefix'?)"),
        ('[beads]\nprovder = "bd"\n', "(did you mean 'provider'?)"),
        ('[[agent]]\nname = "a"\nprompt_mode = "stdin"\n', "agent[0].prompt_mode"),
        ('[[named_session]]\nname = "x"\n', "named_session[0].template"),
        ('[workspace]\nprovider = "claud"\n', "unknown provider 'claud'"),
        ('[[agent]]\nname = "a"\nwork_query = 3\n', "expected a string, got 3"),
    ],
)
def test_typos_and_bad_values_in_reference_keys_are_still_errors(
    text: str, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        parse_city(text)
    assert fragment in str(info.value)


# ------------------------------------------------------------------ presets


def _agent_launch(
    text: str, which: Callable[[str], str | None] = lambda cmd: f"/usr/bin/{cmd}"
) -> Launch:
    config = parse_city(text)
    return resolve_launch(config.agent[0], config.workspace, config.providers, which=which)


def test_every_builtin_preset_resolves_to_its_command_and_args() -> None:
    assert list(BUILTIN_PRESETS) == [
        "claude", "codex", "gemini", "cursor", "copilot", "amp", "opencode", "auggie", "pi",
        "omp",
    ]
    claude = _agent_launch('[[agent]]\nname = "a"\nprovider = "claude"\n')
    assert claude.command == "claude --dangerously-skip-permissions --effort max"
    assert claude.prompt_mode == "arg"
    assert claude.ready_delay_ms == 10000
    assert claude.ready_prompt_prefix == "\u276f "
    assert claude.process_names == ("node", "claude")
    opencode = _agent_launch('[[agent]]\nname = "a"\nprovider = "opencode"\n')
    assert opencode.command == "opencode"
    assert opencode.prompt_mode == "none"
    assert opencode.env == {"OPENCODE_PERMISSION": '{"*":"allow"}'}
    cursor = _agent_launch('[[agent]]\nname = "a"\nprovider = "cursor"\n')
    assert cursor.command == "cursor-agent -f"


def test_resolution_order_matches_the_reference() -> None:
    base = REFERENCE_STYLE
    config = parse_city(base)
    ws, providers = config.workspace, config.providers

    def launch(name: str) -> Launch:
        agent = config.agent_named(name)
        assert agent is not None
        return resolve_launch(agent, ws, providers, which=lambda _: None)

    # No provider on the agent: the workspace's preset.
    mayor = launch("mayor")
    assert mayor.provider == "claude"
    assert mayor.command.startswith("claude ")
    # A city provider whose command is a built-in inherits that built-in's settings.
    dock = launch("dock")
    assert dock.command == "codex --model o4-mini"
    assert dock.ready_delay_ms == 100
    assert dock.process_names == ("codex",)
    # start_command is the escape hatch: run as is, no prompt argument.
    crane = launch("crane")
    assert (crane.command, crane.prompt_mode, crane.provider) == ("crane --serve", "none", "")
    tug = launch("tug")
    assert (tug.command, tug.prompt_mode, tug.process_names) == ("bash", "none", ("bash",))


def test_agent_keys_override_the_preset_and_workspace_start_command_replaces_it() -> None:
    text = (
        '[[agent]]\nname = "a"\nprovider = "gemini"\nargs = ["--sandbox", "it\'s"]\n'
        'process_names = ["g"]\nprompt_mode = "flag"\nprompt_flag = "-i"\n'
    )
    a = _agent_launch(text)
    assert a.command == "gemini --sandbox 'it'\"'\"'s'"
    assert a.process_names == ("g",)
    assert a.with_prompt("do it") == "gemini --sandbox 'it'\"'\"'s' -i 'do it'"
    w = _agent_launch('[workspace]\nstart_command = "wrap claude"\n[[agent]]\nname = "a"\n'
                      'provider = "claude"\n')
    assert w.command == "wrap claude"
    assert w.ready_delay_ms == 10000
    bare = _agent_launch('[workspace]\nstart_command = "just-this"\n[[agent]]\nname = "a"\n')
    assert (bare.command, bare.prompt_mode) == ("just-this", "none")


def test_auto_detection_takes_the_first_builtin_on_path() -> None:
    on_path = {"gemini", "amp"}
    found = _agent_launch('[[agent]]\nname = "a"\n',
                          which=lambda cmd: f"/bin/{cmd}" if cmd in on_path else None)
    assert found.provider == "gemini"
    with pytest.raises(ProviderError, match="none of the built-in providers"):
        _agent_launch('[[agent]]\nname = "a"\n', which=lambda cmd: None)


def test_city_provider_without_command_that_is_no_builtin_is_an_error() -> None:
    with pytest.raises(ProviderError, match=r"\[providers.mine\] has no command"):
        _agent_launch('[providers.mine]\nargs = ["-x"]\n[[agent]]\nname = "a"\n'
                      'provider = "mine"\n')


def test_unresolvable_agent_is_left_out_with_a_reason_and_the_rest_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no built-in provider anywhere
    config = parse_city('[[agent]]\nname = "lost"\n[[agent]]\nname = "ok"\ncommand = "x"\n')
    problems: dict[str, str] = {}
    desired = build_desired(config, {}, city_name="c", city_dir=tmp_path, problems=problems)
    assert list(desired) == ["ok"]
    assert "none of the built-in providers" in problems["lost"]


def test_max_active_sessions_zero_runs_no_sessions(tmp_path: Path) -> None:
    config = parse_city('[[agent]]\nname = "tmpl"\ncommand = "x"\nmax_active_sessions = 0\n')
    assert build_desired(config, {"tmpl": 0}, city_name="c", city_dir=tmp_path) == {}


# ------------------------------------------------------------------ a real launch

FAKE_CLAUDE = """#!/bin/sh
# Records how it was launched, then behaves like a long-running agent.
python3 - "$@" <<'EOF'
import json, os, sys
out = os.path.join(os.environ["RECORD_DIR"], os.environ["GC_SESSION_NAME"] + ".json")
with open(out, "w") as f:
    json.dump({"argv": sys.argv[1:], "env": dict(os.environ), "cwd": os.getcwd()}, f)
EOF
exec sleep 300
"""


@pytest.fixture
def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "claude"
    script.write_text(FAKE_CLAUDE)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    records = tmp_path / "records"
    records.mkdir()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("RECORD_DIR", str(records))
    yield records


def test_provider_claude_launches_the_preset_with_the_reference_environment(
    tmp_path: Path, fake_claude: Path
) -> None:
    city = tmp_path / "my city"
    city.mkdir()
    (city / "city.toml").write_text(
        '[workspace]\nname = "harbor"\n[daemon]\nshutdown_timeout = "100ms"\n'
        '[[agent]]\nname = "mayor"\nprovider = "claude"\nenv = { EXTRA = "1" }\n'
    )
    provider = SubprocessProvider(
        PluginContext(role="session", name="subprocess", city_dir=city,
                      settings={"stop_grace": 1})
    )
    opened = open_test_city(city, session=provider, events=MemoryEvents())
    try:
        report = Controller(opened).tick()
        assert report.started == ["mayor"], report.failed
        record = fake_claude / "mayor.json"
        wait_for(record.exists, timeout=20, what="the fake claude to record its launch")
        seen = json.loads(record.read_text())
    finally:
        for running in provider.list_running(""):
            provider.stop(running.name)
        opened.close()
    assert seen["argv"] == ["--dangerously-skip-permissions", "--effort", "max"]
    env = seen["env"]
    resolved = str(city.resolve())
    assert env["GC_CITY"] == resolved  # the path, not the name: `cd "$GC_CITY"` works
    assert env["GC_CITY_PATH"] == resolved
    assert env["GC_CITY_NAME"] == "harbor"
    assert env["GC_CITY_RUNTIME_DIR"] == os.path.join(resolved, ".gc", "runtime")
    assert stat.S_IMODE(os.stat(env["GC_CITY_RUNTIME_DIR"]).st_mode) == 0o700
    assert env["GC_AGENT"] == env["GC_SESSION_NAME"] == "mayor"
    assert env["GC_ALIAS"] == env["GC_TEMPLATE"] == "mayor"
    assert env["GC_PROVIDER"] == "claude"
    assert env["GC_DIR"] == seen["cwd"] == resolved
    assert env["EXTRA"] == "1"
    assert "GC_RIG" not in env and "GC_RIG_ROOT" not in env


# ------------------------------------------------------------------ gc init


def test_gc_init_writes_reference_style_cities(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gascity.cli.main import cli

    runner = CliRunner()
    demo = runner.invoke(cli, ["init", str(tmp_path / "demo")])
    assert demo.exit_code == 0, demo.output
    text = (tmp_path / "demo" / "city.toml").read_text()
    assert text.count("start_command = ") == 3 and "\ncommand = " not in text
    made = runner.invoke(cli, ["init", str(tmp_path / "town"), "--provider", "claude"])
    assert made.exit_code == 0, made.output
    loaded = load_city(tmp_path / "town")
    assert loaded.config.workspace.provider == "claude"
    assert [(n.template, n.mode) for n in loaded.config.named_session] == [("mayor", "always")]
    mayor = loaded.config.agent_named("mayor")
    assert mayor is not None and mayor.prompt_template == "agents/mayor/prompt.template.md"
    prime = runner.invoke(cli, ["--city", str(tmp_path / "town"), "prime", "mayor"])
    assert prime.output.startswith("# Mayor of town\n"), prime.output
    assert stat.S_IMODE((tmp_path / "town" / ".gc").stat().st_mode) == 0o700


def test_gc_init_from_copies_a_city_without_its_state(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from gascity.cli.main import cli

    source = tmp_path / "template"
    (source / ".gc").mkdir(parents=True)
    (source / ".gc" / "old-state.json").write_text("{}")
    (source / "prompts").mkdir()
    (source / "prompts" / "mayor.md").write_text("be the mayor")
    (source / "example_test.go").write_text("package x")
    (source / "city.toml").write_text(
        '# keep me\n[workspace]\nname = "template"\nprovider = "claude"\n\n'
        '[[agent]]\nname = "mayor"\nprompt_template = "prompts/mayor.md"\n'
    )
    runner = CliRunner()
    out = runner.invoke(cli, ["init", "--from", str(source), str(tmp_path / "my-city")])
    assert out.exit_code == 0, out.output
    city = tmp_path / "my-city"
    assert (city / "prompts" / "mayor.md").read_text() == "be the mayor"
    assert not (city / "example_test.go").exists()
    assert not (city / ".gc" / "old-state.json").exists() and (city / ".gc").is_dir()
    text = (city / "city.toml").read_text()
    assert text.startswith("# keep me\n") and 'name = "my-city"' in text
    assert load_city(city).city_name == "my-city"
    named = runner.invoke(cli, ["init", "--from", str(source), "--name", "custom-name",
                                str(tmp_path / "named")])
    assert named.exit_code == 0 and load_city(tmp_path / "named").city_name == "custom-name"
    again = runner.invoke(cli, ["init", "--from", str(source), str(city)])
    assert again.exit_code != 0 and "already initialized" in again.output
    (tmp_path / "empty").mkdir()
    bad = runner.invoke(cli, ["init", "--from", str(tmp_path / "empty"), str(tmp_path / "n")])
    assert bad.exit_code != 0 and "has no city.toml" in bad.output


def test_workspace_and_rig_caps_clamp_the_totals(tmp_path: Path) -> None:
    from gascity.config.compose import RigAgent

    config = parse_city(
        '[workspace]\nmax_active_sessions = 4\n'
        '[[rigs]]\nname = "r"\npath = "."\nmax_active_sessions = 1\n'
        '[[agent]]\nname = "solo"\ncommand = "x"\n'
        '[[agent]]\nname = "r--pool"\ncommand = "x"\nmax_active_sessions = 3\n'
        '[[agent]]\nname = "wide"\ncommand = "x"\nmin_active_sessions = 2\n'
        'max_active_sessions = 9\n'
        '[[agent]]\nname = "late"\ncommand = "x"\n'
    )
    rigs = {"r--pool": RigAgent("r", str(tmp_path), "r/pool", "pool")}
    desired = build_desired(config, {"r--pool": 3, "wide": 9}, city_name="c",
                            city_dir=tmp_path, rig_agents=rigs)
    # solo 1; the rig allows 1 of its pool's 3; wide gets the 2 left; late none.
    assert sorted(desired) == ["r--pool-1", "solo", "wide-1", "wide-2"]


def test_pack_city_with_fake_claude_runs_named_session_and_rig_pool(
    tmp_path: Path, fake_claude: Path
) -> None:
    """The done-when of issue 13 on real processes: a pack's always named session and
    a rig-scoped pool, all launched by the claude preset."""
    city = tmp_path / "town"
    rig_root = tmp_path / "projects" / "frontend"
    rig_root.mkdir(parents=True)
    files = {
        "city.toml": (
            '[workspace]\nname = "town"\nprovider = "claude"\n'
            '[daemon]\nshutdown_timeout = "100ms"\n'
            '[imports.crew]\nsource = "packs/crew"\n'
            f'[[rigs]]\nname = "frontend"\npath = "{rig_root}"\nincludes = ["packs/crew"]\n'
        ),
        "packs/crew/pack.toml": (
            '[pack]\nname = "crew"\nschema = 2\n'
            '[[named_session]]\ntemplate = "mayor"\nname = "night-mayor"\nmode = "always"\n'
        ),
        "packs/crew/agents/mayor/agent.toml": 'scope = "city"\nmax_active_sessions = 1\n',
        "packs/crew/agents/mayor/prompt.template.md": "You are {{ .AgentName }}.",
        "packs/crew/agents/polecat/agent.toml": 'scope = "rig"\nmax_active_sessions = 2\n',
        "packs/crew/agents/polecat/prompt.template.md": (
            "{{ basename .AgentName }} in {{ .RigName }}"
        ),
    }
    for rel, text in files.items():
        (city / rel).parent.mkdir(parents=True, exist_ok=True)
        (city / rel).write_text(text)
    provider = SubprocessProvider(
        PluginContext(role="session", name="subprocess", city_dir=city,
                      settings={"stop_grace": 1})
    )
    opened = open_test_city(city, session=provider, events=MemoryEvents())
    names = ["mayor", "night-mayor", "frontend--polecat-1", "frontend--polecat-2"]
    try:
        report = Controller(opened).tick()
        assert sorted(report.started) == sorted(names), report.failed
        for name in names:
            wait_for((fake_claude / f"{name}.json").exists, timeout=20, what=name)
        seen = {n: json.loads((fake_claude / f"{n}.json").read_text()) for n in names}
    finally:
        for running in provider.list_running(""):
            provider.stop(running.name)
        opened.close()
    preset = ["--dangerously-skip-permissions", "--effort", "max"]
    assert seen["night-mayor"]["argv"] == [*preset, "You are night-mayor."]
    polecat = seen["frontend--polecat-2"]
    assert polecat["argv"] == [*preset, "polecat in frontend"]
    assert polecat["cwd"] == str(rig_root.resolve())
    assert polecat["env"]["GC_RIG"] == "frontend"
    assert polecat["env"]["GC_ALIAS"] == "frontend/polecat"
    assert polecat["env"]["GC_CITY"] == str(city.resolve())


def test_emits_permission_warning_comes_from_claude_and_agent_overrides_it() -> None:
    # Gas City sets it on the claude preset only.
    assert [n for n, p in BUILTIN_PRESETS.items() if p.emits_permission_warning] == ["claude"]
    claude = _agent_launch('[[agent]]\nname = "a"\nprovider = "claude"\n')
    assert claude.emits_permission_warning is True
    off = _agent_launch('[[agent]]\nname = "a"\nprovider = "claude"\n'
                        "emits_permission_warning = false\n")
    assert off.emits_permission_warning is False
    codex = _agent_launch('[[agent]]\nname = "a"\nprovider = "codex"\n')
    assert codex.emits_permission_warning is False
    on = _agent_launch('[[agent]]\nname = "a"\nprovider = "codex"\n'
                       "emits_permission_warning = true\n")
    assert on.emits_permission_warning is True
    # A city provider turns it on; over a built-in it cannot turn it off (as Gas City).
    custom = _agent_launch('[providers.wrap]\ncommand = "wrapped"\nemits_permission_warning = true'
                           '\n[[agent]]\nname = "a"\nprovider = "wrap"\n')
    assert custom.emits_permission_warning is True
    kept = _agent_launch('[providers.claude]\nemits_permission_warning = false\n'
                         '[[agent]]\nname = "a"\nprovider = "claude"\n')
    assert kept.emits_permission_warning is True
    plain = _agent_launch('[[agent]]\nname = "a"\nstart_command = "x"\n'
                          "emits_permission_warning = true\n")
    assert plain.emits_permission_warning is True
    assert _agent_launch('[[agent]]\nname = "a"\nstart_command = "x"\n') \
        .emits_permission_warning is False
