"""Finding the provider and its script; the settings table and its overrides."""

from __future__ import annotations

import os
import shutil
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from gascity.errors import ConfigError, PluginError
from gascity.plugins import PluginManager
from gascity.plugins.manager import context_factory

from .conftest import VENV_BIN, MakeProvider, WriteScript


def test_entry_point_and_console_script_are_installed() -> None:
    [ep] = [e for e in entry_points(group="gascity.session") if e.name == "exec"]
    assert ep.value == "gascity_exec.provider:ExecProvider"
    assert shutil.which("gc-session-tmux", path=VENV_BIN) is not None


def test_importing_the_package_is_cheap() -> None:
    # gc-session-tmux runs once per op: it may use the core's standard-library-only
    # modules (the version, the tmux convention) but must not drag in the rest.
    import subprocess

    code = "import sys, gascity_exec.tmux_script; print(sorted(m for m in sys.modules " \
           "if m.startswith(('gascity', 'pydantic', 'pluggy', 'click', 'json', 'shutil'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == (
        "['gascity', 'gascity._version', 'gascity.tmuxconv', 'gascity_exec', "
        "'gascity_exec.scriptcli', 'gascity_exec.tmux_script']"
    )


def test_missing_argument_names_the_selector(make_provider: MakeProvider) -> None:
    with pytest.raises(ConfigError, match=r"'exec'.*needs a script"):
        make_provider("")


def test_script_not_on_path_names_the_selector(make_provider: MakeProvider) -> None:
    with pytest.raises(ConfigError, match=r"'exec:gc-no-such-script'.*not found on PATH"):
        make_provider("gc-no-such-script")


def test_missing_and_unexecutable_paths(
    make_provider: MakeProvider, write_script: WriteScript, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        make_provider(tmp_path / "nope")
    script = write_script("#!/bin/sh\nexit 2\n")
    script.chmod(0o644)
    with pytest.raises(ConfigError, match="not executable"):
        make_provider(script)


def test_relative_path_is_taken_from_the_city(
    make_provider: MakeProvider, tmp_path: Path
) -> None:
    (tmp_path / "bin").mkdir()
    script = tmp_path / "bin" / "my-script"
    script.write_text("#!/bin/sh\nexit 2\n")
    script.chmod(0o755)
    assert make_provider("bin/my-script", city_dir=tmp_path).script == str(script)


def test_bare_name_found_on_the_city_path(
    make_provider: MakeProvider, write_script: WriteScript
) -> None:
    script = write_script("#!/bin/sh\nexit 2\n")
    path = f"{script.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    assert make_provider(script.name, env={"PATH": path}).script == str(script)


def test_settings_and_env_overrides(
    make_provider: MakeProvider, write_script: WriteScript
) -> None:
    script = write_script("#!/bin/sh\nexit 2\n")
    provider = make_provider(
        script,
        settings={"timeout": "5s", "start_timeout": "2m", "env": {"GC_TMUX_SOCKET": "s1"}},
        env={"GC_EXEC_KILL_GRACE": "250ms"},
    )
    assert provider.settings.timeout == 5
    assert provider.settings.start_timeout == 120
    assert provider.settings.kill_grace == 0.25
    assert provider.env["GC_TMUX_SOCKET"] == "s1"
    assert provider.env["GC_CITY_NAME"] == "test-city"
    with pytest.raises(ConfigError, match=r"session\.exec\.timeout"):
        make_provider(script, env={"GC_EXEC_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match=r"session\.exec\.bogus"):
        make_provider(script, settings={"bogus": 1})


def test_selected_through_the_plugin_manager(
    write_script: WriteScript, tmp_path: Path
) -> None:
    script = write_script("#!/bin/sh\n[ \"$1\" = list-running ] && echo w-1\nexit 0\n")
    pm = PluginManager(env={"GC_SESSION": f"exec:{script}"})
    make = context_factory(city_name="c", city_dir=tmp_path, config_path=None,
                           settings=lambda role, name: {}, env=pm.env)
    try:
        pm.activate("session", pm.resolve("session"), make)
        assert [s.name for s in pm.hooks.list_running("")] == ["w-1"]
    finally:
        pm.close()
    bad = PluginManager(env={"GC_SESSION": "exec:gc-no-such-script"})
    try:
        with pytest.raises((ConfigError, PluginError), match="exec:gc-no-such-script"):
            bad.activate("session", bad.resolve("session"), make)
    finally:
        bad.close()
