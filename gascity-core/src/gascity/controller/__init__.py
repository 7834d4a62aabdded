"""The controller process: the reconcile loop, its lock, control socket and shutdown."""

from __future__ import annotations

from .controller import Controller, TickReport
from .lock import ControllerLock, ControllerRunning
from .paths import CityPaths
from .socket import ControlServer, send_command

__all__ = [
    "CityPaths",
    "ControlServer",
    "Controller",
    "ControllerLock",
    "ControllerRunning",
    "TickReport",
    "send_command",
]
