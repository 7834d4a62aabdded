"""The controller process: the reconcile loop, its lock, control socket and shutdown.

Names load on first use (PEP 562) so that ``gc`` commands that only need a path or the
socket client do not import the whole controller at start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "Controller": "controller",
    "TickReport": "controller",
    "ControllerLock": "lock",
    "ControllerRunning": "lock",
    "CityPaths": "paths",
    "ControlServer": "socket",
    "send_command": "socket",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
