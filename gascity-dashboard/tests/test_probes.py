"""/healthz and /readyz of a real foreground controller."""

from __future__ import annotations

import time
from pathlib import Path

from gascity.testing import wait_for

from .conftest import RunningCity, start_city, stop_city


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
