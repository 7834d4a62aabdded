"""The city API of a city the machine-wide supervisor runs (`gc start`, not --foreground)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from gascity.supervisor.client import supervisor_pid
from gascity.supervisor.home import SupervisorHome
from gascity.testing import wait_for
from gascity.testing.supervisor import stop_supervisor
from gascity.testing.support import free_port

CITY = """
[workspace]
name = "supervised"
[session]
provider = "subprocess"
[daemon]
patrol_interval = "1h"
shutdown_timeout = "300ms"
[api]
port = {port}
[[agent]]
name = "mayor"
command = "sleep 3600"
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SupervisorHome]:
    h = SupervisorHome(tmp_path / "gchome")
    monkeypatch.setenv("GC_HOME", str(h.root))
    yield h
    stop_supervisor(h)


def get(port: int, path: str) -> dict[str, object]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        data = json.loads(resp.read())
    assert isinstance(data, dict)
    return data


def test_status_carries_the_supervisors_health(home: SupervisorHome, tmp_path: Path) -> None:
    city = tmp_path / "city"
    city.mkdir()
    port = free_port()
    (city / "city.toml").write_text(CITY.format(port=port))
    env = {k: v for k, v in os.environ.items() if k not in ("GC_SESSION", "GC_EVENTS")}
    done = subprocess.run([sys.executable, "-m", "gascity.cli", "start", str(city)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr + done.stdout
    pid = supervisor_pid(home)
    assert pid is not None

    status = wait_for(lambda: (s := get(port, "/v0/status")) and s.get("supervisor") and s,
                      timeout=30, what="the city API of the supervised city")
    supervisor = status["supervisor"]
    assert isinstance(supervisor, dict)
    assert supervisor["pid"] == pid and supervisor["running"] is True
    assert supervisor["home"] == str(home.root)
    assert supervisor["cities"] == 1 and supervisor["cities_running"] == 1
    assert supervisor["failing"] == []


def test_metrics_carry_the_supervisors_health(home: SupervisorHome, tmp_path: Path) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from gascity.supervisor.registry import Registry

    city = tmp_path / "city"
    city.mkdir()
    port = free_port()
    (city / "city.toml").write_text(CITY.format(port=port))
    # A second registered city that cannot start: one running, one failing.
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "city.toml").write_text("[workspace]\nname = 'broken'\n[daemon]\n"
                                      "patrol_interval = 'soon'\n")
    Registry(home.registry).register(broken, "broken")
    env = {k: v for k, v in os.environ.items() if k not in ("GC_SESSION", "GC_EVENTS")}
    done = subprocess.run([sys.executable, "-m", "gascity.cli", "start", str(city)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr + done.stdout

    def scrape() -> dict[str, float]:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as resp:
            text = resp.read().decode()
        return {s.name: s.value for f in text_string_to_metric_families(text)
                for s in f.samples if s.name.startswith("gascity_supervisor_")}

    m = wait_for(lambda: (m := scrape()) and m.get("gascity_supervisor_cities_failing")
                 and m, timeout=30, what="the broken city failing in /metrics")
    assert m["gascity_supervisor_up"] == 1
    assert m["gascity_supervisor_cities"] == 2
    assert m["gascity_supervisor_cities_running"] == 1
    assert m["gascity_supervisor_cities_failing"] == 1
    assert 0 < m["gascity_supervisor_uptime_seconds"] < 600
