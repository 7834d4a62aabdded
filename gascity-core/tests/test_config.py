"""city.toml: every bad file gets a message naming the file, the key and what was expected."""

from __future__ import annotations

import re
from pathlib import Path

import pydantic
import pytest

from gascity.config import (
    AgentConfig,
    CityConfig,
    Duration,
    find_city_dir,
    format_duration,
    load_city,
    parse_city,
    parse_duration,
)
from gascity.config.models import (
    AgentPatch,
    ApiSection,
    BackendSection,
    DaemonSection,
    ImportSection,
    NamedSessionConfig,
    PatchesSection,
    PluginsSection,
    PoolSection,
    ProviderPatch,
    ProviderSpec,
    RigConfig,
    RigPatch,
    SessionSection,
    WorkspaceSection,
)
from gascity.config.recognised import (
    AgentDefaultsSection,
    BeadsSection,
    ChatSessionsSection,
    ConvergenceSection,
    DoltSection,
    FormulasSection,
    OrdersSection,
    PackSourceSection,
    ServiceSection,
    SessionSleepSection,
)
from gascity.errors import ConfigError
from gascity.plugins import PluginContext, load_settings

BAD = Path(__file__).parent / "bad_configs"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "config.md"

# file -> fragments its message must contain: the key path first, then what was expected.
BAD_CONFIGS: dict[str, list[str]] = {
    "toml_syntax.toml": [
        "line 6, column 11: not valid TOML (Invalid value): command = claude",
        'strings need quotes, e.g. command = "claude"',
    ],
    "unknown_key.toml": [
        "agent[0].comand (agent 'mayor'): unknown key in [[agent]]",
        "see docs/config.md for the",
        "(did you mean 'command'?)",
    ],
    "unknown_section.toml": [
        "deamon: unknown key in the top level",
        "(did you mean 'daemon'?)",
    ],
    "unknown_provider.toml": [
        "agent[1].provider (agent 'deacon'): unknown provider 'claud'",
        "expected one of: amp, auggie, claude, codex,",
        "(did you mean 'claude'?)",
    ],
    "bad_agent_name.toml": [
        "agent[0].name (agent 'the mayor'):",
        "expected an agent name of letters, digits, '_' or '-'",
        "got 'the mayor' (a string)",
    ],
    "duplicate_names.toml": [
        "agent[2].name: duplicate agent name 'mayor' (first defined at agent[0])",
        "expected each name once",
    ],
    "depends_on_unknown.toml": [
        "agent[1].depends_on[1] (agent 'refinery'): unknown agent 'deacon'",
        "expected one of: mayor, refinery",
    ],
    "self_dependency.toml": [
        "agent[0].depends_on[0] (agent 'mayor'): an agent cannot depend on itself",
        "expected another agent's name",
    ],
    "dependency_cycle.toml": [
        "agent[0].depends_on (agent 'mayor'): dependency cycle",
        "mayor -> witness -> refinery -> mayor",
        "expected agents to depend on each other without a loop",
    ],
    "min_above_max.toml": [
        "agent[3].max_active_sessions (agent 'polecat'):",
        "expected a value >= min_active_sessions (5), got 2 (an integer)",
    ],
    "bad_duration.toml": [
        "agent[0].drain_timeout (agent 'polecat'):",
        "expected a duration such as 500ms, 30s, 5m, 1h30m",
        "got '5 minutes' (a string)",
    ],
    "negative_count.toml": [
        "agent[0].min_active_sessions (agent 'polecat'):",
        "expected a number >= 0, got -1 (an integer)",
    ],
    "provider_setting_not_in_table.toml": [
        "session.namespace: unknown key in [session]",
        "expected one of: ",
        "provider, ",
        "or a table of plugin settings",
        "[session.<provider>] namespace = ...",
        "got 'agents' (a string)",
    ],
    "wrong_type.toml": [
        "agent[0].max_active_sessions (agent 'polecat'):",
        "expected an integer, got '4' (a string)",
    ],
    "agent_as_table.toml": [
        "agent: expected an array of tables: write each agent as [[agent]], not [agent]",
        "got a table",
    ],
    "env_not_strings.toml": [
        "agent[0].env.DEBUG (agent 'mayor'):",
        "expected a string, got 1 (an integer)",
    ],
    "daemon_zero_concurrency.toml": [
        "daemon.patrol_interval: expected a duration > 0s, got 0s",
        "daemon.probe_concurrency: expected a number >= 1, got 0 (an integer)",
    ],
    "suspended_not_bool.toml": [
        "workspace.suspended:",
        "expected true or false, got 'yes' (a string)",
    ],
    "pool_instance_collision.toml": [
        "agent[1].name: 'polecat-2' is also the session name of instance 2 of pool 'polecat'",
        "expected a name no pool instance takes",
    ],
    "provider_not_string.toml": [
        "mail.provider:",
        "expected a string, got an array",
    ],
}


def test_every_bad_config_file_has_an_expectation() -> None:
    on_disk = {p.name for p in BAD.glob("*.toml")}
    assert on_disk == set(BAD_CONFIGS)
    assert len(on_disk) >= 10


@pytest.mark.parametrize("name", sorted(BAD_CONFIGS))
def test_bad_config_message(name: str) -> None:
    path = BAD / name
    with pytest.raises(ConfigError) as info:
        load_city(path)
    message = str(info.value)
    assert info.value.path == str(path)
    assert message.startswith(f"{path}: invalid configuration\n")
    for fragment in BAD_CONFIGS[name]:
        assert fragment in message, f"{fragment!r} not in:\n{message}"
    # One line per problem, each indented under the file name.
    assert all(line.startswith("  ") for line in message.splitlines()[1:])


def test_every_problem_is_reported_at_once() -> None:
    text = (BAD / "unknown_key.toml").read_text() + "\n[daemon]\nmax_restarts = -1\n"
    with pytest.raises(ConfigError) as info:
        parse_city(text, "multi.toml")
    assert [p.split(":")[0] for p in info.value.problems] == [
        "agent[0].comand (agent 'mayor')",
        "daemon.max_restarts",
    ]


def test_cross_checks_report_every_problem() -> None:
    text = """
[[agent]]
name = "a"
command = "x"
depends_on = ["ghost"]
[[agent]]
name = "a"
command = "y"
"""
    with pytest.raises(ConfigError) as info:
        parse_city(text)
    first, second = info.value.problems
    assert first.startswith("agent[1].name: duplicate agent name 'a'")
    assert second.startswith("agent[0].depends_on[0] (agent 'a'): unknown agent 'ghost'")


# ------------------------------------------------------------------ durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("5m", 300.0),
        ("1h", 3600.0),
        ("1h30m", 5400.0),
        ("250ms", 0.25),
        ("1m30s", 90.0),
        ("1.5h", 5400.0),
        ("2d", 172800.0),
        (" 5m ", 300.0),
        ("90", 90.0),
        ("0", 0.0),
        (45, 45.0),
        (1.5, 1.5),
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "bad", ["", "5 minutes", "-5s", "-1", "5x", "s", "inf", "nan", "1h-30m", True, None, [1]]
)
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError, match="expected a duration such as"):
        parse_duration(bad)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.0, "0s"), (0.25, "250ms"), (30.0, "30s"), (300.0, "5m"), (5400.0, "1h30m"), (1.5, "1.5s")],
)
def test_format_duration_round_trips(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_durations_in_city_toml_and_json_dump() -> None:
    config = parse_city(
        """
[session]
startup_timeout = "2m"
[daemon]
patrol_interval = "250ms"
shutdown_timeout = 10
restart_window = "1h30m"
[[agent]]
name = "polecat"
command = "claude"
idle_timeout = "45m"
drain_timeout = 90
"""
    )
    assert config.session.startup_timeout == 120.0
    assert config.daemon.patrol_interval == 0.25
    assert config.daemon.shutdown_timeout == 10.0
    assert config.daemon.restart_window == 5400.0
    assert config.agent[0].idle_timeout == 2700.0
    assert config.agent[0].drain_timeout == 90.0
    dumped = config.model_dump(mode="json")
    assert dumped["daemon"]["restart_window"] == "1h30m"
    assert dumped["agent"][0]["idle_timeout"] == "45m"
    assert dumped["agent"][0]["drain_timeout"] == "1m30s"


def test_duration_annotation_works_in_plugin_models() -> None:
    class Settings(pydantic.BaseModel):
        poll: Duration = 5.0

    assert Settings.model_validate({"poll": "2m"}).poll == 120.0
    with pytest.raises(pydantic.ValidationError):
        Settings.model_validate({"poll": "soon"})


# ------------------------------------------------------------------- defaults


def test_empty_city_has_the_documented_defaults() -> None:
    config = parse_city("")
    assert config.workspace.name == ""
    assert config.workspace.suspended is False
    assert config.agent == []
    assert config.session.provider is None
    assert config.session.startup_timeout == 60.0
    assert config.events.provider is None
    assert config.mail.provider is None
    assert config.plugins.disabled == []
    daemon = config.daemon
    assert (daemon.patrol_interval, daemon.shutdown_timeout) == (30.0, 5.0)
    assert (daemon.probe_concurrency, daemon.probe_timeout) == (8, 30.0)
    assert (daemon.start_concurrency, daemon.max_restarts, daemon.restart_window) == (
        8,
        5,
        600.0,
    )


def test_agent_defaults_and_pool_detection() -> None:
    config = parse_city(
        """
[[agent]]
name = "mayor"
command = "claude"
[[agent]]
name = "polecat"
command = "claude"
max_active_sessions = 10
scale_check = "echo 3"
[[agent]]
name = "Refinery_2"
command = "codex"
min_active_sessions = 1
"""
    )
    mayor, polecat, refinery = config.agents
    assert not mayor.is_pool
    assert (mayor.dir, mayor.work_dir, mayor.env, mayor.depends_on) == ("", "", {}, [])
    assert mayor.drain_timeout == 300.0
    assert mayor.idle_timeout is None
    assert (mayor.min_active_sessions, mayor.max_active_sessions, mayor.min_sessions) == (
        None,
        None,
        0,
    )
    assert polecat.is_pool
    assert (polecat.min_sessions, polecat.max_active_sessions) == (0, 10)
    assert refinery.is_pool
    assert refinery.max_active_sessions is None  # unset means unlimited
    assert config.agent_named("polecat") is polecat
    assert config.agent_named("nobody") is None


def test_a_valid_pool_may_share_a_prefix_with_other_agents() -> None:
    config = parse_city(
        """
[[agent]]
name = "polecat"
command = "claude"
max_active_sessions = 2
[[agent]]
name = "polecat-3"
command = "claude"
[[agent]]
name = "solo"
command = "claude"
max_active_sessions = 1
[[agent]]
name = "solo-1"
command = "claude"
"""
    )
    assert [a.name for a in config.agents] == ["polecat", "polecat-3", "solo", "solo-1"]


def test_models_built_in_code_still_coerce() -> None:
    # Strictness is for TOML input; code (tests, gc init) may pass tuples and strings.
    agent = AgentConfig(name="a", command="x", depends_on=("b",), drain_timeout="1m")  # type: ignore[arg-type]
    assert agent.depends_on == ["b"]
    assert agent.drain_timeout == 60.0


# ----------------------------------------------------------- plugin settings


def test_plugin_settings_tables() -> None:
    config = parse_city(
        """
[session]
provider = "k8s"
[session.k8s]
namespace = "agents"
prebaked = true
resources = { cpu = "500m" }
[events]
provider = "dolt"
[events.dolt]
host = "127.0.0.1"
port = 3307
[mail.postgres]
dsn = "postgresql:///mail"
"""
    )
    assert config.section("session").provider == "k8s"
    assert config.session.plugin_settings("k8s") == {
        "namespace": "agents",
        "prebaked": True,
        "resources": {"cpu": "500m"},
    }
    assert config.events.plugin_settings("dolt") == {"host": "127.0.0.1", "port": 3307}
    assert config.mail.plugin_settings("postgres") == {"dsn": "postgresql:///mail"}
    assert config.mail.provider is None
    assert config.session.plugin_settings("tmux") == {}
    with pytest.raises(KeyError):
        config.section("observers")


class K8sSettings(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    namespace: str = "default"
    replicas: int = 1
    prebaked: bool = False
    poll: Duration = 5.0


def _ctx(tmp_path: Path, settings: dict[str, object], env: dict[str, str]) -> PluginContext:
    return PluginContext(
        role="session",
        name="k8s",
        settings=settings,
        city_dir=tmp_path,
        config_path=tmp_path / "city.toml",
        env=env,
    )


def test_load_settings_with_environment_overrides(tmp_path: Path) -> None:
    ctx = _ctx(
        tmp_path,
        {"namespace": "agents", "replicas": 2},
        {"GC_K8S_NAMESPACE": "prod", "GC_K8S_PREBAKED": "true", "GC_K8S_POLL": "1m"},
    )
    settings = load_settings(ctx, K8sSettings, env_prefix="GC_K8S_")
    assert settings == K8sSettings(namespace="prod", replicas=2, prebaked=True, poll=60.0)
    # Without a prefix the environment is ignored.
    assert load_settings(ctx, K8sSettings).namespace == "agents"


def test_load_settings_error_names_the_environment_variable(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"replicas": 2}, {"GC_K8S_REPLICAS": "lots"})
    with pytest.raises(ConfigError) as info:
        load_settings(ctx, K8sSettings, env_prefix="GC_K8S_")
    assert info.value.path == str(tmp_path / "city.toml")
    assert info.value.problems == [
        "session.k8s.replicas (from environment GC_K8S_REPLICAS): expected an integer, "
        "got 'lots' (a string)"
    ]


def test_load_settings_error_names_the_key_in_the_file(tmp_path: Path) -> None:
    ctx = _ctx(tmp_path, {"namespce": "agents", "poll": "often"}, {})
    with pytest.raises(ConfigError) as info:
        load_settings(ctx, K8sSettings, env_prefix="GC_K8S_")
    assert info.value.problems == [
        "session.k8s.poll: expected a duration such as 500ms, 30s, 5m, 1h30m "
        "(or a number of seconds), got 'often' (a string)",
        "session.k8s.namespce: unknown key in [session.k8s]; expected one of: namespace, "
        "poll, prebaked, replicas (did you mean 'namespace'?)",
    ]


# ------------------------------------------------------------- finding a city


def test_find_city_dir_walks_up(tmp_path: Path) -> None:
    city = tmp_path / "town"
    deep = city / "rigs" / "one" / "src"
    deep.mkdir(parents=True)
    (city / "city.toml").write_text('[workspace]\nname = "town"\n')
    assert find_city_dir(deep) == city.resolve()
    assert find_city_dir(city) == city.resolve()
    (city / "rigs" / "city.toml").mkdir()  # a directory by that name is not a city
    assert find_city_dir(deep) == city.resolve()
    lonely = tmp_path / "elsewhere"
    lonely.mkdir()
    assert find_city_dir(lonely) is None


def test_load_city_from_directory_or_file(tmp_path: Path) -> None:
    city = tmp_path / "My Town!"
    city.mkdir()
    (city / "city.toml").write_text('[[agent]]\nname = "mayor"\ncommand = "claude"\n')
    by_dir = load_city(city)
    by_file = load_city(city / "city.toml")
    assert by_dir.path == by_file.path == city / "city.toml"
    assert by_dir.city_dir == city
    assert by_dir.city_name == "My-Town"  # sanitized directory name
    assert by_dir.mtime_ns == (city / "city.toml").stat().st_mtime_ns
    (city / "city.toml").write_text('[workspace]\nname = "gastown"\n')
    assert load_city(city).city_name == "gastown"


def test_missing_city_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_city(tmp_path)
    assert str(info.value) == (
        f"{tmp_path / 'city.toml'}: invalid configuration\n"
        "  file not found (run 'gc init DIR' to create a city)"
    )


def test_city_toml_that_is_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_bytes(b'[workspace]\nname = "\xff"\n')
    with pytest.raises(ConfigError, match="cannot read"):
        load_city(tmp_path)


# ------------------------------------------------------------------ the docs


DOC_SECTIONS: dict[type[pydantic.BaseModel], str] = {
    CityConfig: "## Top level",
    WorkspaceSection: "## [workspace]",
    AgentConfig: "## [[agent]]",
    PoolSection: "## [agent.pool] (deprecated)",
    ProviderSpec: "## [providers.<name>]",
    ImportSection: "## [imports.<binding>]",
    NamedSessionConfig: "## [[named_session]]",
    RigConfig: "## [[rigs]]",
    PatchesSection: "## [patches]",
    AgentPatch: "## [[patches.agent]]",
    RigPatch: "## [[patches.rigs]]",
    ProviderPatch: "## [[patches.providers]]",
    AgentDefaultsSection: "## [agent_defaults]",
    SessionSection: "## [session]",
    BackendSection: "## [events] and [mail]",
    DaemonSection: "## [daemon]",
    ApiSection: "## [api]",
    PluginsSection: "## [plugins]",
    PackSourceSection: "## [packs.<name>]",
    BeadsSection: "## [beads]",
    DoltSection: "## [dolt]",
    FormulasSection: "## [formulas]",
    OrdersSection: "## [orders]",
    ChatSessionsSection: "## [chat_sessions]",
    SessionSleepSection: "## [session_sleep]",
    ConvergenceSection: "## [convergence]",
    ServiceSection: "## [[service]]",
}


def _models_in(annotation: object) -> list[type[pydantic.BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return [annotation]
    out: list[type[pydantic.BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()):
        out.extend(_models_in(arg))
    return out


def _doc_section(text: str, heading: str) -> str:
    start = text.index(heading + "\n")
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


@pytest.mark.parametrize("model", list(DOC_SECTIONS), ids=lambda m: m.__name__)
def test_docs_config_md_documents_every_key(model: type[pydantic.BaseModel]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = _doc_section(text, DOC_SECTIONS[model])
    rows = set(re.findall(r"^\| `([a-z_0-9]+)` \|", section, flags=re.MULTILINE))
    missing = set(model.model_fields) - rows
    assert not missing, f"docs/config.md {DOC_SECTIONS[model]} lacks rows for {sorted(missing)}"
    stale = rows - set(model.model_fields)
    assert not stale, f"docs/config.md {DOC_SECTIONS[model]} documents unknown keys {stale}"


def test_every_model_is_covered_by_the_docs_test() -> None:
    reachable: set[type[pydantic.BaseModel]] = set()
    todo: list[type[pydantic.BaseModel]] = [CityConfig]
    while todo:
        model = todo.pop()
        if model in reachable:
            continue
        reachable.add(model)
        for field in model.model_fields.values():
            todo.extend(_models_in(field.annotation))
    assert reachable == set(DOC_SECTIONS)


def test_instance_name_collisions_are_found_in_one_pass() -> None:
    toml = (
        '[[agent]]\nname = "w"\ncommand = "x"\nmax_active_sessions = 3\n'
        '[[agent]]\nname = "a-b"\ncommand = "x"\nmin_active_sessions = 0\n'
        '[[agent]]\nname = "w-4"\ncommand = "x"\n'     # above w's max: no instance
        '[[agent]]\nname = "w-02"\ncommand = "x"\n'    # instances have no leading zero
        '[[agent]]\nname = "a-b-7"\ncommand = "x"\n'   # a-b is unbounded: collides
        '[[agent]]\nname = "w-3"\ncommand = "x"\n'
        '[[agent]]\nname = "solo"\ncommand = "x"\nmax_active_sessions = 1\n'
        '[[agent]]\nname = "solo-1"\ncommand = "x"\n'  # a max=1 pool is named bare
    )
    with pytest.raises(ConfigError) as info:
        parse_city(toml)
    assert [p.split(":")[0] for p in info.value.problems] == ["agent[5].name", "agent[4].name"]
    assert "instance 3 of pool 'w' (agent[0])" in info.value.problems[0]
    assert "instance 7 of pool 'a-b' (agent[1])" in info.value.problems[1]
