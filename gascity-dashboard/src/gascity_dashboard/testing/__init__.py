"""Test support for the dashboard: a real foreground controller (``gc start
--foreground``) with ``[api] port`` set, and a small WebDriver client
(:mod:`gascity_dashboard.testing.webdriver`).

Sessions are real processes (the core's subprocess provider) so a crash is a process
really dying; events are the file store, mail SQLite, all inside the test's city.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gascity.controller import CityPaths, send_command
from gascity.testing import wait_for
from gascity.testing.support import free_port

GC = [sys.executable, "-c", "from gascity.cli.main import main; main()"]

CITY = """
[workspace]
name = "dash"
[daemon]
patrol_interval = "1h"
shutdown_timeout = "300ms"
[api]
port = {port}
{api_extra}
[[agent]]
name = "mayor"
command = "echo hello-from-mayor; exec sleep 3600"
[[agent]]
name = "polecat"
command = "sleep 3600"
max_active_sessions = 5
scale_check = "{scale_check}"
"""


def gc_env() -> dict[str, str]:
    return {**os.environ, "GC_SESSION": "subprocess", "GC_EVENTS": "file", "GC_MAIL": "sqlite"}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RunningCity:
    dir: Path
    port: int
    proc: subprocess.Popen[str]
    host: str = "127.0.0.1"
    """The address the tests connect to (``[api] bind`` when that is not the default)."""
    env: dict[str, str] | None = None
    """The environment of the controller and of :meth:`gc` (default: :func:`gc_env`)."""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def request(self, method: str, path: str, body: Any = None,
                headers: dict[str, str] | None = None, timeout: float = 30) -> Response:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return Response(resp.status, dict(resp.headers), resp.read())
        except urllib.error.HTTPError as err:
            return Response(err.code, dict(err.headers), err.read())

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None, token: str | None = None) -> Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return self.request("POST", path, body if body is not None else {}, headers)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics as {(name, sorted labels): value}."""
        from prometheus_client.parser import text_string_to_metric_families

        resp = self.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        samples = {}
        for family in text_string_to_metric_families(resp.body.decode()):
            for sample in family.samples:
                samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
        return samples

    def metric(self, name: str, **labels: str) -> float | None:
        return self.metrics().get((name, tuple(sorted(labels.items()))))

    def token(self) -> str:
        return (self.dir / ".gc" / "api-token").read_text().strip()

    def poke(self) -> str:
        return send_command(CityPaths(self.dir).socket, "poke", timeout=30)

    def gc(self, *args: str) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([*GC, "--city", str(self.dir), *args], env=self.env or gc_env(),
                              capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr + proc.stdout
        return proc

    def session_pid(self, name: str) -> int:
        return int((self.dir / ".gc" / "sessions" / name / "pid").read_text().split()[0])


def start_city(root: Path, *, want: int = 2, api_extra: str = "",
               scale_check: str = "cat want", wait_ready: bool = True,
               host: str = "127.0.0.1", env: dict[str, str] | None = None) -> RunningCity:
    port = free_port()
    (root / "city.toml").write_text(
        CITY.format(port=port, api_extra=api_extra, scale_check=scale_check))
    (root / "want").write_text(str(want))
    proc = subprocess.Popen([*GC, "--city", str(root), "start", "--foreground"],
                            env=env or gc_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    city = RunningCity(root, port, proc, host, env)

    def serving() -> bool:
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else "controller exited"
        try:
            return city.get("/healthz").status == 200
        except OSError:
            return False

    wait_for(serving, 30, what="the API server")
    if wait_ready:
        wait_for(lambda: city.get("/readyz").status == 200, 30, what="readiness")
    return city


def stop_city(city: RunningCity) -> None:
    if city.proc.poll() is None:
        city.proc.send_signal(signal.SIGTERM)
        try:
            city.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            city.proc.kill()
            city.proc.wait()
    if city.proc.stdout:
        city.proc.stdout.close()
