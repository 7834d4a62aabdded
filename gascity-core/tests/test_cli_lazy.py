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
