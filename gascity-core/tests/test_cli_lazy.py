"""The lean ``gc``: command modules load only when their command runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from gascity.cli.app import COMMANDS, cli

# Prints which modules a `gc` invocation imported, whatever way it exits.
_PROBE = """
import atexit, json, sys
atexit.register(lambda: sys.__stderr__.write("MODULES=" + json.dumps(sorted(sys.modules)) + "\\n"))
sys.argv = ["gc", *sys.argv[1:]]
from gascity.cli.main import main
main()
"""


def imported(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None
             ) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    proc = subprocess.run([sys.executable, "-c", _PROBE, *args], check=False,
                          capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=60)
    line = [ln for ln in proc.stderr.splitlines() if ln.startswith("MODULES=")][-1]
    return proc, set(json.loads(line.removeprefix("MODULES=")))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_the_table_help_is_the_commands_own(name: str) -> None:
    command = COMMANDS[name].load()
    assert isinstance(command, click.Command)
    first_line = (command.help or "").strip().splitlines()[0]
    assert COMMANDS[name].help == first_line


def test_version_imports_neither_click_nor_plugins() -> None:
    proc, modules = imported("--version")
    assert proc.returncode == 0 and proc.stdout.strip().startswith("gc, version ")
    assert "click" not in modules
    assert "pluggy" not in modules


def test_help_lists_every_command_without_importing_them() -> None:
    proc, modules = imported("--help")
    assert proc.returncode == 0, proc.stderr
    for name in COMMANDS:
        assert f"  {name} " in proc.stdout
    core_modules = {f"gascity.cli.{m}" for m in
                    ("city_cmds", "session_cmds", "events_cmds", "mail_cmds")}
    # events and mail are the groups plugins extend, so those two load for the listing.
    assert not (core_modules - {"gascity.cli.events_cmds", "gascity.cli.mail_cmds"}) & modules
    assert "pydantic" not in modules


def test_a_core_command_loads_no_plugin() -> None:
    proc, modules = imported("runtime", "--help")
    assert proc.returncode == 0, proc.stderr
    assert "drain-ack" in proc.stdout
    assert not {m for m in modules if m.startswith("gascity_")}


def test_plugin_subcommands_of_a_core_group_still_resolve() -> None:
    result = CliRunner().invoke(cli, ["mail", "--help"])
    assert result.exit_code == 0, result.output
    assert "send" in result.output
    pytest.importorskip("gascity_pgmail")
    assert "migrate" in result.output


def test_an_unknown_command_names_the_choices() -> None:
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command" in result.output


# What the commands agents run in their loops must never import: the config models
# (pydantic), the reconciler, the controller, and any plugin they did not select.
_NEVER = ("pydantic", "gascity.config.models", "gascity.config.load", "gascity.reconcile.plan",
          "gascity.reconcile.desired", "gascity.controller.controller", "libtmux", "kubernetes")

AGENT_COMMANDS = [
    ("event", "emit", "agent.note", "--message", "hi"),
    ("mail", "send", "--from", "a", "--to", "b", "--body", "hello"),
    ("mail", "inbox", "b"),
    ("mail", "count", "b"),
    ("mail", "read", "1"),
    ("mail", "check", "b"),
    ("runtime", "drain-ack", "--session", "worker"),
    ("runtime", "drain-check", "--session", "worker"),
    ("runtime", "request-restart", "worker", "--no-block"),
    ("session", "list"),
]


@pytest.fixture(scope="module")
def agent_city(tmp_path_factory: pytest.TempPathFactory) -> Path:
    city = tmp_path_factory.mktemp("agents")
    (city / "city.toml").write_text(
        '[workspace]\nname = "lean"\n[session]\nprovider = "subprocess"\n'
        '[events.file]\nfsync = false\n[[agent]]\nname = "worker"\ncommand = "sleep 60"\n')
    return city


@pytest.mark.parametrize("args", AGENT_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_agent_commands_import_only_what_they_use(agent_city: Path,
                                                  args: tuple[str, ...]) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    proc, modules = imported("--city", str(agent_city), *args, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    leaked = sorted(m for m in modules if m.split(".")[0] in {"gascity_tmux", "gascity_k8s",
                    "gascity_exec", "gascity_pgmail", "gascity_dolt_events"}
                    or any(m == n or m.startswith(n + ".") for n in _NEVER))
    assert leaked == []


def test_agent_commands_work_on_the_light_config(agent_city: Path) -> None:
    from gascity.config.light import read_city_file

    assert read_city_file(agent_city).city_name == "lean"
    result = CliRunner().invoke(cli, ["--city", str(agent_city), "mail", "count", "b",
                                      "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["open"] >= 0


def test_a_broken_city_toml_still_names_the_file_and_key(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text('[session]\nprovider = 3\n')
    result = CliRunner().invoke(cli, ["--city", str(tmp_path), "event", "emit", "x"])
    assert result.exit_code == 2
    assert f"{tmp_path / 'city.toml'}" in result.output
    assert "session.provider: expected a string, got 3 (an integer)" in result.output
    (tmp_path / "city.toml").write_text('[session\n')
    result = CliRunner().invoke(cli, ["--city", str(tmp_path), "mail", "count", "b"])
    assert result.exit_code == 2 and "line 1" in result.output


def test_plugins_disabled_in_city_add_no_commands(tmp_path: Path) -> None:
    """``[plugins] disabled`` applies to CLI plugins as to every other role."""

    def k8s_help(city: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(Path(sys.executable).parent / "gc"), "--city", str(city), "k8s", "--help"],
            capture_output=True, text=True, check=False,
        )

    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "city.toml").write_text('[workspace]\nname = "plain"\n')
    assert k8s_help(plain).returncode == 0

    off = tmp_path / "off"
    off.mkdir()
    (off / "city.toml").write_text(
        '[workspace]\nname = "off"\n\n[plugins]\ndisabled = ["gascity-k8s"]\n'
    )
    result = k8s_help(off)
    assert result.returncode != 0
    assert "No such command 'k8s'" in result.stderr


@pytest.mark.parametrize("args", [("session", "list"),
                                  ("runtime", "drain-check", "--session", "worker")],
                         ids=["session list", "runtime drain-check"])
def test_agent_commands_on_tmux_import_no_pydantic(tmp_path: Path, args: tuple[str, ...]) -> None:
    import os
    import shutil
    import uuid

    if shutil.which("tmux") is None:
        pytest.fail("tmux is a test dependency (see .ci/run)")
    (tmp_path / "city.toml").write_text(
        f'[session]\nprovider = "tmux"\n[session.tmux]\nsocket = "gctest-{uuid.uuid4().hex[:8]}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("GC_")}
    proc, modules = imported("--city", str(tmp_path), *args, env=env)
    assert proc.returncode in (0, 1), proc.stderr
    assert "Traceback" not in proc.stderr
    assert "gascity_tmux.provider" in modules
    assert not [m for m in modules if m.split(".")[0] == "pydantic"]
