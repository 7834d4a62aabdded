"""The nohup provider against Gas City's session conformance kit, plus what is its own."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.errors import ConfigError, SessionExists, SessionNotFound, Unsupported
from gascity.plugins import Hooks, PluginContext
from gascity.testing import hooks_for, wait_for
from gascity.testing.kits import ListingOutageKit, SessionProviderKit
from gascity.types import Liveness, StartConfig
from gascity_example_provider import NohupProvider
from gascity_example_provider.pstable import read_table


def make(city: Path, settings: dict[str, object] | None = None, **env: str) -> NohupProvider:
    return NohupProvider(
        PluginContext(
            role="session",
            name="nohup",
            city_dir=city,
            settings=settings or {},
            config_path=city / "city.toml",
            env={**os.environ, **env},
        )
    )


class TestNohupConformance(SessionProviderKit):
    supports_nudge = False  # no terminal: the kit checks that nudge raises Unsupported

    @pytest.fixture
    def session_hooks(self, tmp_path: Path) -> Iterator[Hooks]:
        provider = make(tmp_path / "city")
        yield hooks_for(provider)
        provider.shutdown()


class TestNohupListingOutage(ListingOutageKit):
    @pytest.fixture
    def outage_provider(self, outage_city: Path) -> Iterator[NohupProvider]:
        provider = make(outage_city)
        yield provider
        for record in provider.list_running(""):
            provider.stop(record.name)
        provider.shutdown()


@pytest.fixture
def city(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "city"
    path.mkdir()
    yield path
    cleanup = make(path)
    for record in cleanup.list_running(""):
        cleanup.stop(record.name)


def config(command: str, work_dir: Path, **kw: object) -> StartConfig:
    return StartConfig(command=command, work_dir=str(work_dir), startup_timeout=20, **kw)  # type: ignore[arg-type]


def test_sessions_survive_the_provider_and_are_adopted(city: Path) -> None:
    first = make(city)
    first.start("mayor", config("echo up; sleep 300", city, meta={"gc.fingerprint": "f1"}))
    first.shutdown()
    del first
    second = make(city)  # a restarted controller
    [record] = second.list_running("")
    assert (record.name, record.liveness) == ("mayor", Liveness.ALIVE)
    assert record.meta == {"gc.fingerprint": "f1"}
    assert record.processes is not None and "sleep" in record.processes
    with pytest.raises(SessionExists):
        second.start("mayor", config("sleep 1", city))
    assert second.stop("mayor") is True
    assert second.list_running("") == []


def test_crashed_session_is_dead_with_its_exit_status_and_can_restart(city: Path) -> None:
    provider = make(city)
    provider.start("polecat-1", config("echo dying; exit 7", city))
    record = wait_for(
        lambda: next((r for r in provider.list_running("") if r.liveness is Liveness.DEAD), None),
        10,
        what="polecat-1 dead",
    )
    assert record.detail == "exited with status 7"
    assert "dying" in provider.peek("polecat-1", 5)
    # Starting over a crashed session replaces it (no SessionExists).
    provider.start("polecat-1", config("sleep 300", city))
    assert provider.list_running("")[0].liveness is Liveness.ALIVE


def test_stop_kills_children_that_left_the_process_group(city: Path, tmp_path: Path) -> None:
    pidfile = tmp_path / "escapee.pid"
    provider = make(city)
    provider.start(
        "mayor",
        config(
            f"setsid sh -c 'echo $$ > \"$0\"; exec sleep 300' {shlex.quote(str(pidfile))} & "
            "sleep 300",
            city,
        ),
    )

    def written() -> str | None:
        text = pidfile.read_text().strip() if pidfile.exists() else ""
        return text or None

    escapee = int(wait_for(written, 10, what="escaped child's pid"))
    assert provider.stop("mayor") is True
    wait_for(lambda: escapee not in read_table().by_pid, 10, what="escaped child killed")


def test_stop_escalates_to_sigkill_after_the_grace(city: Path) -> None:
    provider = make(city, {"stop_grace": "200ms"})
    provider.start(
        "stubborn", config("trap '' TERM; echo ready; while :; do sleep 0.1; done", city)
    )
    wait_for(lambda: "ready" in provider.peek("stubborn", 5), 10)
    began = time.monotonic()
    assert provider.stop("stubborn") is True
    assert time.monotonic() - began < 5
    assert provider.list_running("") == []


def test_reused_pid_is_not_mistaken_for_the_session(city: Path) -> None:
    provider = make(city)
    provider.start("mayor", config("sleep 300", city))
    ident = city / ".gc" / "nohup" / "mayor" / "ident.json"
    text = ident.read_text()
    # Same pid, different start time: as if the pid now belonged to another process.
    ident.write_text(text.replace('"started": "', '"started": "Mon Jan  1 00:00:00 1990 '))
    [record] = provider.list_running("")
    assert record.liveness is Liveness.DEAD
    pid = int(text.split('"pid": ')[1].split(",")[0])
    os.kill(pid, signal.SIGKILL)


def test_nudge_text_reaches_the_agent_as_environment(city: Path) -> None:
    provider = make(city)
    provider.start("mayor", config('echo "N=$GC_NUDGE"; sleep 300', city, nudge="read mail"))
    wait_for(lambda: "N=read mail" in provider.peek("mayor", 5), 10)
    with pytest.raises(Unsupported, match="no terminal"):
        provider.nudge("mayor", "more")
    with pytest.raises(Unsupported):
        provider.attach("mayor")
    with pytest.raises(SessionNotFound):
        provider.nudge("ghost", "x")


def test_session_setup_failures_do_not_fail_the_start(city: Path, tmp_path: Path) -> None:
    script = tmp_path / "setup.sh"
    script.write_text('echo "setup ran in $(pwd)" > setup.out\n')
    provider = make(city)
    provider.start(
        "mayor",
        config("sleep 300", city, session_setup=("exit 4",), session_setup_script=str(script)),
    )
    assert (city / "setup.out").read_text().strip() == f"setup ran in {city}"
    assert provider.list_running("")[0].liveness is Liveness.ALIVE


def test_settings_are_validated_with_env_overrides(tmp_path: Path) -> None:
    provider = make(tmp_path, {"stop_grace": "2s"}, GC_NOHUP_SHELL="/bin/bash")
    assert (provider.settings.stop_grace, provider.settings.shell) == (2.0, "/bin/bash")
    with pytest.raises(ConfigError) as info:
        make(tmp_path, {"stop_grace": "soon", "shel": "/bin/sh"})
    assert info.value.problems == [
        "session.nohup.stop_grace: expected a duration such as 500ms, 30s, 5m, 1h30m "
        "(or a number of seconds), got 'soon' (a string)",
        "session.nohup.shel: unknown key in [session.nohup]; expected one of: ps, shell, "
        "stop_grace (did you mean 'shell'?)",
    ]


def test_importing_the_package_is_cheap() -> None:
    import subprocess

    code = (
        "import sys, gascity_example_provider;"
        "heavy = {'libtmux', 'kubernetes', 'psycopg', 'pymysql'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
