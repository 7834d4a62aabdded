"""The supervisor's parts without a running supervisor: registry, settings, backoff,
the user service files."""

from __future__ import annotations

import os
import plistlib
import shutil
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from gascity.cli.app import cli
from gascity.controller.controller import TickReport
from gascity.errors import ConfigError
from gascity.supervisor import service
from gascity.supervisor.home import SupervisorHome
from gascity.supervisor.registry import CityEntry, Registry, RegistryError
from gascity.supervisor.runtime import sessions_after
from gascity.supervisor.settings import SupervisorSettings
from gascity.supervisor.supervisor import CityRuntime, Supervisor


def test_registry_keys_cities_by_real_path(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "home" / "cities.toml")
    city = tmp_path / "city"
    city.mkdir()
    link = tmp_path / "link"
    link.symlink_to(city)
    assert reg.register(city, "c") is True
    assert reg.register(link, "c") is False, "a symlink is the same city"
    assert reg.register(tmp_path / "." / "city", "c") is False
    assert reg.entries() == [CityEntry(city.resolve(), "c")]
    assert reg.find(link) == CityEntry(city.resolve(), "c")
    mode = stat.S_IMODE(reg.path.stat().st_mode)
    assert mode == 0o600
    assert reg.unregister(link) is True
    assert reg.entries() == []
    assert reg.unregister(city) is False


def test_registry_keeps_the_reference_rig_index(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "cities.toml")
    (tmp_path / "c").mkdir()
    reg.path.write_text('[[cities]]\npath = "/old"\nname = "old"\n\n'
                        '[[rigs]]\npath = "/r"\nname = "r1"\ndefault_city = "/old"\n')
    reg.register(tmp_path / "c", "c")
    reg.unregister(Path("/old"))
    assert [e.name for e in reg.entries()] == ["c"]
    import tomllib

    assert tomllib.loads(reg.path.read_text())["rigs"] == [
        {"path": "/r", "name": "r1", "default_city": "/old"}]


def test_registry_refuses_a_taken_or_unusable_name(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "cities.toml")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    reg.register(tmp_path / "a", "same")
    with pytest.raises(RegistryError, match=r"already registered for .*a"):
        reg.register(tmp_path / "b", "same")
    with pytest.raises(RegistryError, match="letters, digits"):
        reg.register(tmp_path / "b", "../evil name")
    reg.register(tmp_path / "a", "renamed")  # same city, new name: replaced
    assert [e.name for e in reg.entries()] == ["renamed"]


def test_registry_reads_hostile_paths_back_and_reports_a_broken_file(tmp_path: Path) -> None:
    reg = Registry(tmp_path / "cities.toml")
    odd = tmp_path / 'we"ird\\ name $(rm -rf x)'
    odd.mkdir()
    reg.register(odd, "odd")
    assert reg.entries() == [CityEntry(odd.resolve(), "odd")]
    reg.path.write_text("[[cities]]\npath = 3\n")
    with pytest.raises(RegistryError, match=r"cities\.toml: cities\[0\]\.path: expected a"):
        reg.entries()
    reg.path.write_text("[[cities\n")
    with pytest.raises(RegistryError, match="not valid TOML"):
        reg.entries()


def test_settings_defaults_and_errors_name_the_key(tmp_path: Path) -> None:
    path = tmp_path / "supervisor.toml"
    assert SupervisorSettings.load(path) == SupervisorSettings()
    path.write_text('[supervisor]\npatrol_interval = "2s"\nport = 9000\nallow_mutations = true\n')
    loaded = SupervisorSettings.load(path)
    assert (loaded.patrol_interval, loaded.port, loaded.allow_mutations) == (2.0, 9000, True)
    assert loaded.api == {"bind": "127.0.0.1", "port": 9000, "allow_mutations": True}
    path.write_text('[supervisor]\npatrol_interval = "soon"\nport = 0\nbogus = 1\n')
    with pytest.raises(ConfigError) as info:
        SupervisorSettings.load(path)
    text = str(info.value)
    assert str(path) in text
    for key in ("supervisor.patrol_interval", "supervisor.port", "supervisor.bogus"):
        assert key in text


def test_a_failing_runtime_backs_off_10s_doubling_to_5min(tmp_path: Path) -> None:
    city = tmp_path / "c"
    city.mkdir()
    (city / "city.toml").write_text("[workspace]\nname = 'c'\n")
    sup = Supervisor(SupervisorHome(tmp_path / "h"), SupervisorSettings())
    rt = CityRuntime(CityEntry(city, "c"))
    delays = []
    for _ in range(7):
        before = time.time()
        sup._failed(rt, "boom")
        delays.append(round(rt.retry_at - before))
    assert delays == [10, 20, 40, 80, 160, 300, 300]
    assert rt.state == "backoff" and rt.error == "boom"
    assert rt.as_json(time.time())["retry_in"] == pytest.approx(300, abs=2)


def test_a_second_supervisor_for_the_same_home_is_refused(tmp_path: Path) -> None:
    home = SupervisorHome(tmp_path / "h")
    env = {**os.environ, "GC_HOME": str(home.root)}
    first = subprocess.Popen([sys.executable, "-m", "gascity.cli", "supervisor", "run"],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        from gascity.supervisor.client import supervisor_pid
        from gascity.testing import wait_for

        wait_for(lambda: supervisor_pid(home), timeout=30, what="first supervisor")
        assert stat.S_IMODE(home.socket.stat().st_mode) == 0o600
        assert stat.S_IMODE(home.root.stat().st_mode) == 0o700
        second = subprocess.run([sys.executable, "-m", "gascity.cli", "supervisor", "run"],
                                env=env, capture_output=True, text=True, timeout=60,
                                check=False)
        assert second.returncode != 0
        assert f"already running for {home.root} (pid {first.pid})" in second.stderr
    finally:
        first.terminate()
        assert first.wait(timeout=30) == 0


def test_systemd_unit_renders_and_verifies(tmp_path: Path) -> None:
    home = SupervisorHome(tmp_path / "gc home 100% $HOME")
    home.ensure()
    plan = service.plan(home, platform="linux", user_home=tmp_path)
    assert plan.kind == "systemd" and plan.path.name == "gascity-supervisor.service"
    text = plan.text
    escaped = str(home.root).replace("%", "%%")  # systemd's specifier escape
    assert f'Environment="GC_HOME={escaped}"' in text
    assert "supervisor" in text and "run" in text and "WantedBy=default.target" in text
    assert "KillMode=process" in text and "Restart=on-failure" in text
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.fail("systemd-analyze is needed to check the unit (Debian: apt-get install "
                    "systemd)")
    unit = tmp_path / "gascity-supervisor.service"
    unit.write_text(text)
    done = subprocess.run([verify, "verify", "--user", str(unit)], capture_output=True,
                          text=True, timeout=60, check=False,
                          env={**os.environ, "XDG_RUNTIME_DIR": str(tmp_path)})
    problems = [line for line in (done.stderr + done.stdout).splitlines()
                if "gascity-supervisor" in line]
    assert done.returncode == 0 and not problems, done.stderr + done.stdout


def test_launchd_plist_renders(tmp_path: Path) -> None:
    home = SupervisorHome(tmp_path / "a&b<c")
    plan = service.plan(home, platform="darwin", user_home=tmp_path)
    assert plan.path == tmp_path / "Library/LaunchAgents/com.gascity.supervisor.plist"
    data = plistlib.loads(plan.text.encode())
    assert data["Label"] == "com.gascity.supervisor"
    assert data["ProgramArguments"][-2:] == ["supervisor", "run"]
    assert data["EnvironmentVariables"]["GC_HOME"] == str(home.root)
    assert data["StandardOutPath"] == str(home.log)
    assert data["RunAtLoad"] is True


def test_install_no_enable_writes_the_unit_and_uninstall_removes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if sys.platform == "darwin":
        pytest.skip("the launchd file goes to ~/Library; the systemd path is what runs here")
    monkeypatch.setenv("GC_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    runner = CliRunner()
    result = runner.invoke(cli, ["supervisor", "install", "--no-enable"])
    assert result.exit_code == 0, result.output
    unit = tmp_path / "cfg" / "systemd" / "user" / "gascity-supervisor.service"
    assert f"wrote systemd service: {unit} (not enabled)" in result.output
    assert f"GC_HOME={tmp_path / 'h'}" in unit.read_text()
    result = runner.invoke(cli, ["supervisor", "uninstall"])
    assert result.exit_code == 0, result.output
    assert not unit.exists()


def _fake_systemctl(bin_dir: Path, log: Path, status: int) -> None:
    # systemctl --user needs a user bus, which a test box does not have: a stand-in that
    # records its argv and answers like systemctl does without one.
    bin_dir.mkdir()
    script = bin_dir / "systemctl"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\n'
                      + ('echo "Failed to connect to bus: No medium found" >&2\n'
                         if status else "") + f"exit {status}\n")
    script.chmod(0o755)


@pytest.mark.skipif(sys.platform == "darwin", reason="systemd is the Linux service manager")
def test_install_enables_and_starts_the_unit_and_uninstall_disables_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "systemctl.log"
    _fake_systemctl(tmp_path / "bin", log, 0)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("GC_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    runner = CliRunner()
    result = runner.invoke(cli, ["supervisor", "install"])
    assert result.exit_code == 0, result.output
    assert "(enabled and started)" in result.output
    assert log.read_text().splitlines() == [
        "--user daemon-reload",
        "--user enable gascity-supervisor.service",
        "--user start gascity-supervisor.service",
    ]
    log.unlink()
    assert runner.invoke(cli, ["supervisor", "uninstall"]).exit_code == 0
    assert log.read_text().splitlines() == [
        "--user disable --now gascity-supervisor.service",
        "--user daemon-reload",
    ]


@pytest.mark.skipif(sys.platform == "darwin", reason="systemd is the Linux service manager")
def test_install_without_a_user_bus_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_systemctl(tmp_path / "bin", tmp_path / "log", 1)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    monkeypatch.setenv("GC_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    result = CliRunner().invoke(cli, ["supervisor", "install"])
    assert result.exit_code == 1
    assert "systemctl --user daemon-reload failed (status 1)" in result.output
    assert "Failed to connect to bus" in result.output
    assert "is written; until the service manager runs it, use: gc supervisor start" in (
        result.output)


def test_an_edited_supervisor_toml_applies_and_a_broken_one_keeps_the_old(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = SupervisorHome(tmp_path / "h")
    home.ensure()
    home.config.write_text('[supervisor]\npatrol_interval = "1s"\n')
    sup = Supervisor(home)
    assert sup.settings.patrol_interval == 1.0

    def edit(text: str, when: int) -> None:
        home.config.write_text(text)
        os.utime(home.config, ns=(when, when))  # a distinct mtime even on coarse clocks

    edit('[supervisor]\npatrol_interval = "2s"\n', 10**18)
    sup._reload_settings()
    assert sup.settings.patrol_interval == 2.0
    edit('[supervisor]\npatrol_interval = "never"\n', 2 * 10**18)
    sup._reload_settings()
    assert sup.settings.patrol_interval == 2.0
    assert "supervisor.patrol_interval" in caplog.text


def test_a_tick_reports_the_sessions_it_left() -> None:
    # gc cities' SESSIONS: the listing held 4, one of them dead; the tick restarted it.
    crash = TickReport(running=4, crashed=["mayor"], started=["mayor"])
    assert sessions_after(crash) == 4
    drift = TickReport(running=3, stopped=["a"], started=["a", "b"])
    assert sessions_after(drift) == 4
    gone = TickReport(running=2, crashed=["a"], stopped=["a", "b"])
    assert sessions_after(gone) == 0
    assert sessions_after(TickReport(running=5)) == 5


def test_logs_shows_the_tail_and_follows_what_is_appended(tmp_path: Path) -> None:
    home = SupervisorHome(tmp_path / "h")
    home.ensure()
    home.log.write_text("".join(f"old line {i}\n" for i in range(10)))
    env = {**os.environ, "GC_HOME": str(home.root)}
    gc = [sys.executable, "-m", "gascity.cli", "supervisor", "logs"]
    tail = subprocess.run([*gc, "-n", "2"], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    assert tail.stdout.splitlines() == ["old line 8", "old line 9"]
    follow = subprocess.Popen([*gc, "-n", "1", "-f"], env=env, stdout=subprocess.PIPE,
                              text=True)
    # A readline that never returns would hang the run: kill it well past any wait.
    guard = threading.Timer(60, follow.kill)
    guard.start()
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "old line 9\n"
        with open(home.log, "a") as fh:
            fh.write("new line\n")
        assert follow.stdout.readline() == "new line\n"  # blocks until it is printed
    finally:
        guard.cancel()
        follow.terminate()
        follow.wait(timeout=30)
    missing = subprocess.run([*gc], env={**env, "GC_HOME": str(tmp_path / "none")},
                             capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 1 and "no supervisor log at" in missing.stderr
