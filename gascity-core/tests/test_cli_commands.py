"""The reference's city commands (restart, reload, doctor, PATH arguments), one error
style with documented exit codes, complete help, and the commands left out."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from gascity.cli.app import COMMANDS, cli
from gascity.cli.lazy import LazyGroup, full_short_help
from gascity.controller import CityPaths, send_command
from gascity.plugins.manager import TEST_PROVIDERS_ENV
from gascity.testing import wait_for

GC = [sys.executable, "-c", "from gascity.cli.main import main; main()"]

CITY = """
[workspace]
name = "cmds"
[daemon]
patrol_interval = "1h"
shutdown_timeout = "200ms"
[[agent]]
name = "db"
command = "db"
[[agent]]
name = "api"
command = "api"
depends_on = ["db"]
"""


def gc(city: Path | None, *args: str, env: dict[str, str] | None = None) -> Result:
    head = ["--city", str(city)] if city is not None else []
    return CliRunner().invoke(cli, [*head, *args], env={"GC_SESSION": "fake", **(env or {})},
                              catch_exceptions=False)


@pytest.fixture
def city(tmp_path: Path) -> Path:
    (tmp_path / "city.toml").write_text(CITY)
    return tmp_path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*GC, *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "GC_SESSION": "fake"}, check=False)


@pytest.fixture
def controller(city: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen([*GC, "start", str(city), "--foreground"],
                            env={**os.environ, "GC_SESSION": "fake"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sock = CityPaths(city).socket

    def ready() -> bool:
        try:
            return send_command(sock, "ping", timeout=2) == "pong"
        except OSError:
            return False

    wait_for(ready, 30, what="controller socket")
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------ city PATH


def test_status_suspend_resume_take_the_city_as_a_path(city: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    assert gc(None, "start", str(city), "--once").exit_code == 0
    status = gc(None, "status", str(city), "--json")
    assert status.exit_code == 0, status.output
    assert json.loads(status.output)["city"] == "cmds"
    assert gc(None, "suspend", str(city)).exit_code == 0
    assert json.loads(gc(None, "status", str(city), "--json").output)["suspended"] is True
    assert gc(None, "resume", str(city)).exit_code == 0
    assert json.loads(gc(None, "status", str(city), "--json").output)["suspended"] is False
    types = [json.loads(line)["type"] for line in
             (city / ".gc" / "events.jsonl").read_text().splitlines()]
    assert "city.suspended" in types and "city.resumed" in types


# -------------------------------------------------- reload, foreground lines


def test_reload_over_the_control_socket(city: Path, controller: subprocess.Popen[str]) -> None:
    city.joinpath("city.toml").write_text(CITY + '[[agent]]\nname = "web"\ncommand = "web"\n')
    result = gc(None, "reload", str(city))
    assert result.exit_code == 0, result.output
    assert "reloaded" in result.output
    listing = json.loads(gc(city, "session", "list", "--json").output)
    assert "web" in {s["name"] for s in listing}
    city.joinpath("city.toml").write_text(CITY + "[[agent]]\nname = 3\n")
    bad = gc(None, "reload", str(city))
    assert bad.exit_code == 2
    assert "rejected" in bad.output and "name" in bad.output
    city.joinpath("city.toml").write_text(CITY)
    assert gc(city, "stop").exit_code == 0
    out, _ = controller.communicate(timeout=30)
    lines = out.splitlines()
    ticks = [ln for ln in lines if ln.startswith("tick ")]
    # One line for the first tick and for the reload that started web; none numbered 0.
    assert ticks and all(not t.startswith("tick 0") for t in ticks), out
    assert any("started web" in t for t in ticks), out
    assert lines[-1] == "controller stopped", out


def test_reload_without_a_controller_is_an_operation_failure(city: Path) -> None:
    result = run("reload", str(city))
    assert result.returncode == 1
    assert result.stderr.startswith("gc: no controller runs")


def test_quiet_foreground_prints_no_tick_lines(city: Path) -> None:
    proc = subprocess.Popen([*GC, "start", str(city), "--foreground", "-q"],
                            env={**os.environ, "GC_SESSION": "fake"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for((city / ".gc" / "fake-sessions.json").exists, 30, what="tick")
        assert send_command(CityPaths(city).socket, "stop", timeout=5).startswith("ok")
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not [ln for ln in out.splitlines() if ln.startswith("tick ")], out
    assert out.splitlines()[-1] == "controller stopped"


# ---------------------------------------------------------------- doctor


def test_doctor_reports_each_check(city: Path) -> None:
    gc(city, "start", "--once")
    result = gc(None, "doctor", str(city), "--json")
    checks = json.loads(result.output)
    areas = {c["area"] for c in checks}
    assert {"config", "plugins", "binaries", "controller", "permissions", "stores"} <= areas
    levels = {(c["area"], c["level"]) for c in checks}
    assert ("config", "ok") in levels and ("stores", "ok") in levels
    # The agents' commands (db, api) are not programs on PATH.
    missing = [c for c in checks if c["area"] == "binaries" and c["level"] == "fail"]
    assert {c["text"].split(":")[0] for c in missing} >= {"db", "api"}
    assert all(c["hint"] for c in checks if c["level"] != "ok")
    assert result.exit_code == 1


def test_doctor_finds_loose_permissions_and_a_broken_config(city: Path) -> None:
    gc(city, "start", "--once")
    state = city / ".gc"
    state.chmod(0o755)
    text = gc(None, "doctor", str(city)).output
    assert "fail  permissions" in text and "chmod -R go=" in text
    city.joinpath("city.toml").write_text("[workspace\n")
    broken = gc(None, "doctor", str(city))
    assert broken.exit_code == 1
    assert "fail  config" in broken.output
    assert "permissions" in broken.output  # the other checks still ran


def test_doctor_fix_repairs_what_is_safe_and_says_what_it_changed(city: Path) -> None:
    gc(city, "start", "--once")
    state = city / ".gc"
    state.chmod(0o755)
    loose = state / "notes.json"
    loose.write_text("{}")
    loose.chmod(0o644)
    gone = state / "sessions" / ".gone-api-1234abcd"
    (gone / "deep").mkdir(parents=True)
    (gone / "deep" / "output.log").write_text("old")
    sock_path = CityPaths(city).socket
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(sock_path))
    stale.close()  # the file stays, nobody listens: what a killed controller leaves
    lock = CityPaths(city).lock
    assert lock.exists()
    before = gc(None, "doctor", str(city)).output
    assert "session dir(s) left by interrupted stops: .gone-api-1234abcd" in before
    assert "gc doctor --fix" in before

    result = gc(None, "doctor", str(city), "--fix")
    fixed = [ln for ln in result.output.splitlines() if ln.startswith("fixed")]
    assert any(f"{state}: mode 0755 -> 0700" in ln for ln in fixed), result.output
    assert any(f"{loose}: mode 0644 -> 0600" in ln for ln in fixed)
    assert any(f"{sock_path}: removed" in ln for ln in fixed)
    assert any(f"{gone}: removed" in ln for ln in fixed)
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600
    assert not sock_path.exists() and not gone.exists()
    assert lock.exists()  # an flock file is never stale
    assert "fail  permissions" not in result.output and ".gone-" not in result.output.split(
        "removed (left by an interrupted stop)")[-1]
    again = gc(None, "doctor", str(city), "--fix", "--json")
    assert json.loads(again.output)["fixed"] == []
    assert "nothing to fix" in gc(None, "doctor", str(city), "--fix").output

    # A socket something still answers on is not stale, lock or no lock.
    live = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        live.bind(str(sock_path))
        live.listen(1)
        assert "nothing to fix" in gc(None, "doctor", str(city), "--fix").output
        assert sock_path.exists()
    finally:
        live.close()
        sock_path.unlink()


def test_doctor_verbose_lists_every_path(city: Path) -> None:
    gc(city, "start", "--once")
    loose = [city / ".gc" / f"loose-{i}.json" for i in range(7)]
    for path in loose:
        path.write_text("{}")
        path.chmod(0o644)
    short = next(ln for ln in gc(None, "doctor", str(city)).output.splitlines()
                 if "readable by others" in ln)
    assert short.count("loose-") == 5 and " ..." in short
    full = next(ln for ln in gc(None, "doctor", str(city), "--verbose").output.splitlines()
                if "readable by others" in ln)
    assert all(str(p) in full for p in loose) and " ..." not in full


def test_doctor_never_prints_a_database_password(city: Path) -> None:
    pytest.importorskip("gascity_dolt_events")
    city.joinpath("city.toml").write_text(CITY + """
[events]
provider = "dolt"
[events.dolt]
host = "127.0.0.1"
port = 1
password = "hunter2-very-secret"
""")
    result = gc(None, "doctor", str(city))
    assert "hunter2-very-secret" not in result.output
    assert "stores" in result.output


# --------------------------------------------------- errors and exit codes


def test_one_error_style_and_exit_codes(city: Path) -> None:
    usage = run("--city", str(city), "start", "--no-such-flag")
    assert usage.returncode == 2
    assert "gc: No such option" in usage.stderr and "Error:" not in usage.stderr
    failed = run("--city", str(city), "session", "peek", "nosuch")
    assert failed.returncode == 1
    assert failed.stderr.startswith("gc: ") and "Error:" not in failed.stderr
    city.joinpath("city.toml").write_text("[workspace\n")
    config = run("--city", str(city), "status")
    assert config.returncode == 2 and config.stderr.startswith("gc: ")


@pytest.mark.parametrize("name", ["beads", "bd", "formula", "order", "sling", "convoy"])
def test_left_out_commands_say_so_in_one_line(name: str) -> None:
    result = run(name, "list", "--some-flag")
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "not part of Gas City for Python" in lines[0]


# ------------------------------------------------------------------ help


def _walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            if not sub.hidden:
                yield from _walk(sub, f"{path} {name}")


def _all_commands() -> Iterator[tuple[str, click.Command]]:
    """The core's commands and every installed plugin's (gc k8s, gc mail migrate...)."""
    assert isinstance(cli, LazyGroup)
    cli.ensure_plugins()
    for name in sorted(set(COMMANDS) | set(cli.commands)):
        command = cli.materialize(name)
        if command is not None and not command.hidden:
            yield from _walk(command, f"gc {name}")


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, command in [("gc", cli), *_all_commands()]:
        if not (command.help or "").strip():
            missing.append(path)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden and not param.help:
                missing.append(f"{path} {param.opts[0]}")
    assert missing == []


def test_no_help_listing_is_cut_short() -> None:
    cut = []
    for path, command in [("gc", cli), *_all_commands()]:
        if not isinstance(command, click.Group):
            continue
        args = path.split()[1:]
        result = CliRunner().invoke(cli, [*args, "--help"], terminal_width=80)
        assert result.exit_code == 0, (path, result.output)
        if "..." in result.output.split("Commands:")[-1]:
            cut.append(path)
    assert cut == []


SUMMARY_LIMIT = 100


def test_every_listed_summary_is_one_short_line() -> None:
    """A command's first paragraph is its line in its group's listing, shown whole
    (never cut with "..."): a paragraph of detail there reads as a wall of text."""
    long = [f"{path}: {len(full_short_help(command))}"
            for path, command in _all_commands()
            if len(full_short_help(command)) > SUMMARY_LIMIT]
    assert long == []


# ------------------------------------------------------------ rough edges


def test_init_refuses_an_unknown_provider_and_reports_an_uncreatable_path(
        tmp_path: Path) -> None:
    bad = run("init", str(tmp_path / "c"), "--provider", "nosuch")
    assert bad.returncode == 2
    assert "'nosuch': expected a built-in agent provider" in bad.stderr
    assert not (tmp_path / "c").exists()
    assert run("init", str(tmp_path / "d"), "--session", "nosuch").returncode == 2
    blocked = tmp_path / "file"
    blocked.write_text("")
    nowhere = run("init", str(blocked / "city"))
    assert nowhere.returncode == 1
    assert nowhere.stderr.startswith("gc: cannot create the city in")
    assert "Traceback" not in nowhere.stderr
    assert run("init", str(tmp_path / "e"), "--provider", "subprocess").returncode == 0
    # The reference's scripts pass --skip-provider-readiness; init checks no login anyway.
    assert run("init", str(tmp_path / "f"), "--provider", "claude",
               "--skip-provider-readiness").returncode == 0
    assert (tmp_path / "f" / "city.toml").is_file()


def test_the_fake_provider_is_not_offered_to_users(tmp_path: Path) -> None:
    assert run("init", str(tmp_path / "c"), "--provider", "subprocess").returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "GC_SESSION"}
    listing = subprocess.run([*GC, "--city", str(tmp_path / "c"), "plugins", "--json"],
                             capture_output=True, text=True, env=env, timeout=60, check=False)
    names = {(p["role"], p["name"]) for p in json.loads(listing.stdout)}
    assert ("session", "subprocess") in names and ("session", "fake") not in names


def test_a_user_install_refuses_the_fake_provider(tmp_path: Path) -> None:
    """Outside a test run (no GC_ALLOW_TEST_PROVIDERS) ``fake`` cannot run a city: every
    command that would select it, gc init and gc doctor say which providers to choose."""
    user = {k: v for k, v in os.environ.items() if k not in ("GC_SESSION", TEST_PROVIDERS_ENV)}

    def as_user(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*GC, *args], capture_output=True, text=True, timeout=60,
                              env={**user, **extra}, check=False)

    city = tmp_path / "c"
    init = as_user("init", str(city), "--session", "fake")
    assert init.returncode == 2 and "'fake': expected an installed session provider" in (
        init.stderr), init.stderr
    assert "fake" not in init.stderr.partition("provider (")[2]
    assert as_user("init", str(city), "--provider", "subprocess").returncode == 0
    for how in ({"GC_SESSION": "fake"}, {"GC_SESSION": "fake", TEST_PROVIDERS_ENV: "0"}):
        listing = as_user("--city", str(city), "session", "list", **how)
        assert listing.returncode == 1, listing.stdout
        assert listing.stderr.startswith(
            "gc: session provider 'fake' (environment GC_SESSION) is a test double"), (
            listing.stderr)
        choices = listing.stderr.partition("choose one of: ")[2].partition(" (")[0]
        assert "subprocess" in choices.split(", ") and "fake" not in choices
        assert "Traceback" not in listing.stderr
    (city / "city.toml").write_text(CITY + '[session]\nprovider = "fake"\n')
    start = as_user("start", str(city), "--once")
    assert start.returncode == 1 and "city.toml [session] provider) is a test double" in (
        start.stderr), start.stderr
    doctor = as_user("--city", str(city), "doctor")
    assert doctor.returncode == 1
    assert "session:fake gascity-core" in doctor.stdout
    assert f"refused without {TEST_PROVIDERS_ENV}=1" in doctor.stdout
    # The switch a test run sets lets the same city run.
    assert as_user("start", str(city), "--once", **{TEST_PROVIDERS_ENV: "1"}).returncode == 0


def test_a_missing_kubeconfig_is_not_a_config_error(tmp_path: Path) -> None:
    pytest.importorskip("gascity_k8s")
    (tmp_path / "city.toml").write_text('[workspace]\nname = "k"\n[session]\nprovider = "k8s"\n')
    env = {k: v for k, v in os.environ.items()
           if k not in ("GC_SESSION", "KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")}
    env.update(KUBECONFIG=str(tmp_path / "missing"), HOME=str(tmp_path))
    proc = subprocess.run([*GC, "--city", str(tmp_path), "session", "list"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1, proc.stderr
    assert "invalid configuration" not in proc.stderr
    assert "KUBECONFIG" in proc.stderr


def test_verbose_log_numbers_changed_ticks(tmp_path: Path,
                                           caplog: pytest.LogCaptureFixture) -> None:
    from gascity.controller import Controller
    from gascity.testing import FakeProvider, MemoryEvents, open_test_city

    (tmp_path / "city.toml").write_text(CITY)
    city = open_test_city(tmp_path, session=FakeProvider(), events=MemoryEvents())
    try:
        controller = Controller(city)
        with caplog.at_level("INFO", logger="gascity.controller"):
            controller.tick()
            controller.tick()  # steady: nothing to log
    finally:
        city.close()
    ticks = [r.getMessage() for r in caplog.records if r.getMessage().startswith("tick ")]
    assert len(ticks) == 1 and ticks[0].startswith("tick 1: "), ticks


def test_a_bare_group_prints_its_help() -> None:
    for args in ((), ("session",), ("mail",)):
        result = run(*args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("Usage: gc") and result.stderr == ""


def test_listed_help_lines_have_no_stray_spacing() -> None:
    result = CliRunner().invoke(cli, ["config", "--help"], terminal_width=200)
    listing = result.output.split("Commands:")[-1]
    assert all("  " not in line.strip().split(None, 1)[-1] for line in listing.splitlines()
               if line.strip()), listing
