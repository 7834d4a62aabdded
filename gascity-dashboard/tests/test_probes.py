"""/healthz and /readyz of a real foreground controller."""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from gascity import hookimpl
from gascity.city import City
from gascity.controller import CityPaths
from gascity.controller.controller import Controller
from gascity.testing import wait_for
from gascity.testing.support import free_port
from gascity_dashboard.testing import CITY, GC, RunningCity, gc_env, start_city, stop_city


def test_alive_at_once_ready_after_the_first_tick(tmp_path: Path) -> None:
    # A slow scale_check holds the first tick back: the server answers (alive) while
    # the controller is not ready yet.
    (tmp_path / "slow").write_text("sleep 2; echo 1\n")
    city = start_city(tmp_path, scale_check="sh slow", wait_ready=False)
    try:
        health = city.get("/healthz")
        assert health.status == 200
        body = health.json()
        assert body["status"] == "ok" and body["city"] == "dash"
        assert city.get("/health").status == 200  # the reference's path
        early = city.get("/readyz")
        assert early.status == 503
        assert early.json() == {"status": "not ready",
                                "reasons": ["the first reconcile tick has not finished"]}
        t0 = time.monotonic()
        wait_for(lambda: city.get("/readyz").status == 200, 30, what="ready")
        assert time.monotonic() - t0 > 0.5
        assert city.get("/readyz").json() == {"status": "ready", "reasons": []}
        assert city.get("/v0/status").json()["tick"]["number"] >= 1
    finally:
        stop_city(city)


def test_token_file_is_private(city: RunningCity) -> None:
    path = city.dir / ".gc" / "api-token"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(city.token()) >= 32


def test_server_stops_with_the_controller(tmp_path: Path) -> None:
    city = start_city(tmp_path)
    stop_city(city)
    assert city.proc.returncode == 0
    try:
        city.get("/healthz")
    except OSError:
        return
    raise AssertionError("the API still answers after the controller exited")


class Standby:
    """A plugin feeding readiness, as a leader-election plugin does."""

    def __init__(self) -> None:
        self.leader = False

    @hookimpl
    def readiness(self, controller: object) -> str | None:
        return None if self.leader else "standby: another replica holds the lease"


def test_a_plugin_can_hold_readiness_back(tmp_path: Path) -> None:
    port = free_port()
    (tmp_path / "city.toml").write_text(
        CITY.format(port=port, api_extra="", scale_check="cat want"))
    (tmp_path / "want").write_text("0")
    standby = Standby()
    with City.open(tmp_path, env=gc_env()) as city:
        city.pm.register("observers", standby)
        controller = Controller(city)
        thread = threading.Thread(target=controller.run, daemon=True)
        thread.start()
        running = RunningCity(tmp_path, port, None)  # type: ignore[arg-type]
        try:
            wait_for(lambda: controller.ticks >= 1, 30, what="the first tick")
            resp = running.get("/readyz")
            assert resp.status == 503
            assert resp.json()["reasons"] == ["standby: another replica holds the lease"]
            assert running.get("/healthz").status == 200
            standby.leader = True
            assert running.get("/readyz").status == 200
        finally:
            controller.stop_requested()
            thread.join(30)


def test_a_taken_port_leaves_the_controller_running(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        (tmp_path / "city.toml").write_text(
            CITY.format(port=port, api_extra="", scale_check="cat want"))
        (tmp_path / "want").write_text("1")
        proc = subprocess.Popen([*GC, "--city", str(tmp_path), "start", "--foreground"],
                                env=gc_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        city = RunningCity(tmp_path, port, proc)
        sock = CityPaths(tmp_path).socket
        try:
            wait_for(sock.exists, 30, what="the control socket")
            assert city.poke().startswith("ok tick")
            assert (tmp_path / ".gc" / "sessions" / "mayor" / "pid").exists()
        finally:
            proc.send_signal(signal.SIGTERM)
            output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert f"[api] port = {port}, bind = '127.0.0.1': cannot listen" in output
    assert "runs without its HTTP API" in output
