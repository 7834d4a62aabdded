"""Talking to the supervisor from ``gc``: ping, commands, starting it, who holds a city."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..controller.lock import holder_pid
from ..controller.paths import CityPaths
from ..controller.socket import send_command
from ..errors import GasCityError
from .home import SupervisorHome

__all__ = [
    "Holder",
    "SupervisorLink",
    "city_holder",
    "ensure_running",
    "request",
    "supervisor_pid",
    "wait_released",
]


class SupervisorUnavailable(GasCityError):
    pass


def supervisor_pid(home: SupervisorHome) -> int | None:
    """The pid of the supervisor answering on this home's socket, else ``None``."""
    try:
        reply = send_command(home.socket, "ping", timeout=5.0)
    except OSError:
        return None
    return int(reply) if reply.isdigit() else None


def request(home: SupervisorHome, command: str, timeout: float = 60.0) -> str:
    """:raises SupervisorUnavailable: nothing answers on the socket."""
    try:
        return send_command(home.socket, command, timeout=timeout)
    except OSError as exc:
        raise SupervisorUnavailable(
            f"the supervisor for {home.root} is not running (gc supervisor start): {exc}"
        ) from None


def cities(home: SupervisorHome) -> list[dict[str, Any]] | None:
    """The running supervisor's view of its cities; ``None`` when it is not running."""
    try:
        data = json.loads(request(home, "cities", timeout=10.0))
    except (SupervisorUnavailable, ValueError):
        return None
    return data if isinstance(data, list) else None


def ensure_running(home: SupervisorHome, wait: float = 20.0) -> tuple[int, bool]:
    """Start ``gc supervisor run`` in the background unless one answers.

    Returns ``(pid, started)``. Its output goes to the supervisor log.
    """
    pid = supervisor_pid(home)
    if pid is not None:
        return pid, False
    home.ensure()
    fd = os.open(home.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gascity.cli", "supervisor", "run"],
            stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, start_new_session=True,
            cwd=home.root,
        )
    finally:
        os.close(fd)
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        pid = supervisor_pid(home)
        if pid is not None:
            return pid, pid == proc.pid
        if proc.poll() is not None:
            pid = supervisor_pid(home)  # lost a race with another `gc start`: fine
            if pid is not None:
                return pid, False
            raise SupervisorUnavailable(
                f"the supervisor exited at start (status {proc.returncode}):\n"
                + tail(home.log, 10) + f"\n(full log: {home.log})")
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        proc.kill()
    raise SupervisorUnavailable(f"the supervisor did not answer within {wait:g}s; "
                                f"see {home.log}")


def tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:]) if lines > 0 else ""


@dataclass(frozen=True)
class Holder:
    kind: str
    """``supervisor``, ``controller`` (standalone ``gc start --foreground``) or ``nobody``."""
    pid: int | None = None
    """The process holding the city's lock (the supervisor's city runtime, or the
    standalone controller)."""
    supervisor_pid: int | None = None
    city: dict[str, Any] | None = None
    """The supervisor's record of the city, when it is registered with a running one."""

    def describe(self) -> str:
        if self.kind == "supervisor":
            assert self.city is not None
            text = f"supervisor (pid {self.supervisor_pid}"
            if self.pid:
                text += f"; city runtime pid {self.pid}"
            text += f"), {self.city['state']}"
            if self.city.get("state") == "backoff" and self.city.get("error"):
                text += f": {str(self.city['error']).splitlines()[0]}"
            return text
        if self.kind == "controller":
            return (f"standalone controller (pid {self.pid})" if self.pid and self.pid > 0
                    else "standalone controller")
        return "nobody (gc start runs it under the supervisor)"


def city_holder(city_dir: Path, home: SupervisorHome | None = None) -> Holder:
    home = home or SupervisorHome.default()
    real = city_dir.resolve()
    pid = holder_pid(CityPaths(real).lock)
    sup_pid = supervisor_pid(home)
    if sup_pid is not None:
        for city in cities(home) or []:
            if city.get("path") == str(real) and (pid is None or city.get("pid") == pid):
                return Holder("supervisor", pid, sup_pid, city)
    if pid is not None:
        return Holder("controller", pid if pid > 0 else None, sup_pid)
    return Holder("nobody", None, sup_pid)


def wait_released(city_dir: Path, wait: float, home: SupervisorHome | None = None) -> None:
    """Block until the supervisor no longer runs the city and nothing holds its lock.

    :raises GasCityError: still held after ``wait`` seconds.
    """
    home = home or SupervisorHome.default()
    real = str(city_dir.resolve())
    lock = CityPaths(city_dir).lock
    deadline = time.monotonic() + wait
    while True:
        managed = any(c.get("path") == real for c in cities(home) or [])
        pid = holder_pid(lock)
        if not managed and pid is None:
            return
        if time.monotonic() > deadline:
            who = "its supervisor runtime" if managed else f"pid {pid}"
            raise GasCityError(f"the controller of {city_dir} still runs after {wait:g}s "
                               f"({who})")
        time.sleep(0.05)


@dataclass(frozen=True)
class SupervisorLink:
    """What a city runtime knows of the supervisor that runs it."""

    pid: int
    home: SupervisorHome

    def health(self) -> dict[str, Any]:
        """The supervisor's own health (``gc supervisor status --json``); when it does not
        answer, ``{"pid": ..., "running": False, "error": ...}``."""
        try:
            data = json.loads(request(self.home, "status", timeout=5.0))
        except (SupervisorUnavailable, ValueError) as exc:
            return {"pid": self.pid, "home": str(self.home.root), "running": False,
                    "error": str(exc)}
        if not isinstance(data, dict):
            return {"pid": self.pid, "running": False, "error": "unexpected reply"}
        return {**data, "running": True}
