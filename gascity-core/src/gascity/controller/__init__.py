"""The controller process: the reconcile loop, its lock, control socket and shutdown.

Names load on first use (PEP 562) so that ``gc`` commands that only need a path or the
socket client do not import the whole controller at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

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

__getattr__ = lazy_attributes(__name__, _WHERE)
