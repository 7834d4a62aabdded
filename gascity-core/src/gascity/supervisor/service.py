"""``gc supervisor install``: the supervisor as a user service (systemd, or launchd on macOS).

Names as in the reference (``gascity-supervisor.service``, ``com.gascity.supervisor``) so
a user moving between the tools finds one service, not two.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from ..errors import GasCityError
from .home import SupervisorHome

__all__ = ["ServiceError", "ServicePlan", "install", "plan", "uninstall"]

SYSTEMD_UNIT = "gascity-supervisor.service"
LAUNCHD_LABEL = "com.gascity.supervisor"


class ServiceError(GasCityError):
    pass


@dataclass(frozen=True)
class ServicePlan:
    kind: str
    """``systemd`` or ``launchd``."""
    path: Path
    text: str
    enable: list[list[str]]
    start: list[list[str]]
    disable: list[list[str]]


def _argv() -> list[str]:
    return [sys.executable, "-m", "gascity.cli", "supervisor", "run"]


def _systemd_quote(word: str, *, exec_line: bool = False) -> str:
    # systemd splits ExecStart like a shell but with its own escapes: quote every word.
    # It expands $VAR in ExecStart (not in Environment) and %x specifiers everywhere.
    text = word.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return '"' + (text.replace("$", "$$") if exec_line else text) + '"'


def _systemd_path(path: Path) -> str:
    # Path settings take the rest of the line as is; only specifiers need escaping.
    return str(path).replace("%", "%%")


def render_systemd(home: SupervisorHome) -> str:
    if any("\n" in str(p) for p in (home.root, *_argv())):
        raise ServiceError(f"{home.root!r}: a path with a line break cannot go into a unit")
    env = {"GC_HOME": str(home.root), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    lines = [
        "[Unit]",
        "Description=Gas City machine supervisor (gc supervisor run)",
        "",
        "[Service]",
        "Type=simple",
        "ExecStart=" + " ".join(_systemd_quote(w, exec_line=True) for w in _argv()),
        f"WorkingDirectory={_systemd_path(home.root)}",
        # A clean exit is `gc supervisor stop`: stay stopped. A crash or kill -9 restarts.
        "Restart=on-failure",
        "RestartSec=5s",
        # Only the supervisor is signalled: a graceful stop stops each city's sessions
        # through its runtime, and after a crash the sessions live on to be adopted.
        "KillMode=process",
        "TimeoutStopSec=90s",
        f"StandardOutput=append:{_systemd_path(home.log)}",
        f"StandardError=append:{_systemd_path(home.log)}",
        *(f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in env.items()),
        "",
        "[Install]",
        "WantedBy=default.target",
        "",
    ]
    return "\n".join(lines)


def render_launchd(home: SupervisorHome) -> str:
    args = "\n".join(f"        <string>{escape(a)}</string>" for a in _argv())
    path = escape(os.environ.get("PATH", "/usr/bin:/bin"))
    log = escape(str(home.log))
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>Label</key>
    <string>{LAUNCHD_LABEL}</string>
    <key>ProgramArguments</key>
    <array>
{args}
    </array>
    <key>RunAtLoad</key>
    <true/>
    <key>KeepAlive</key>
    <dict>
        <key>SuccessfulExit</key>
        <false/>
    </dict>
    <key>WorkingDirectory</key>
    <string>{escape(str(home.root))}</string>
    <key>StandardOutPath</key>
    <string>{log}</string>
    <key>StandardErrorPath</key>
    <string>{log}</string>
    <key>EnvironmentVariables</key>
    <dict>
        <key>GC_HOME</key>
        <string>{escape(str(home.root))}</string>
        <key>PATH</key>
        <string>{path}</string>
    </dict>
</dict>
</plist>
"""


def plan(home: SupervisorHome, platform: str = sys.platform,
         user_home: Path | None = None) -> ServicePlan:
    base = user_home or Path.home()
    if platform == "darwin":
        path = base / "Library" / "LaunchAgents" / f"{LAUNCHD_LABEL}.plist"
        # launchd starts a loaded agent (RunAtLoad): loading is enabling and starting.
        return ServicePlan("launchd", path, render_launchd(home),
                           enable=[], start=[["launchctl", "unload", str(path)],
                                             ["launchctl", "load", str(path)]],
                           disable=[["launchctl", "unload", str(path)]])
    config = Path(os.environ.get("XDG_CONFIG_HOME") or base / ".config")
    path = config / "systemd" / "user" / SYSTEMD_UNIT
    return ServicePlan("systemd", path, render_systemd(home),
                       enable=[["systemctl", "--user", "daemon-reload"],
                               ["systemctl", "--user", "enable", SYSTEMD_UNIT]],
                       start=[["systemctl", "--user", "start", SYSTEMD_UNIT]],
                       disable=[["systemctl", "--user", "disable", "--now", SYSTEMD_UNIT],
                                ["systemctl", "--user", "daemon-reload"]])


def _run(argv: list[str], check: bool) -> None:
    if shutil.which(argv[0]) is None:
        if check:
            raise ServiceError(f"{argv[0]} not found; the service file is written but not "
                               f"enabled (run: {' '.join(argv)})")
        return
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    if check and done.returncode != 0:
        raise ServiceError(f"{' '.join(argv)} failed (status {done.returncode}): "
                           f"{(done.stderr or done.stdout).strip()}")


def install(service: ServicePlan, enable: bool = True, start: bool = True) -> None:
    """Write the service file; enable it (starts at login) and start it now.

    :raises ServiceError: the service manager refused; the file is written by then.
    """
    service.path.parent.mkdir(parents=True, exist_ok=True)
    service.path.write_text(service.text, encoding="utf-8")
    steps = (service.enable if enable else []) + (service.start if enable and start else [])
    try:
        for argv in steps:
            _run(argv, check=argv[1] != "unload")
    except ServiceError as exc:
        raise ServiceError(f"{exc}\n{service.path} is written; until the service manager "
                           "runs it, use: gc supervisor start") from None


def uninstall(service: ServicePlan) -> bool:
    for argv in service.disable:
        _run(argv, check=False)
    if service.path.exists():
        service.path.unlink()
        return True
    return False
