"""One city's controller in this process: the lock, the control socket, signals, the loop.

``gc start --foreground`` and the supervisor's city runtime both run a city this way.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..city import City
from .controller import Controller, TickReport
from .lock import ControllerLock
from .paths import CityPaths
from .socket import ControlServer

__all__ = ["run_controller"]


def run_controller(
    city_dir: Path,
    *,
    on_ready: Callable[[Controller], None] | None = None,
    on_tick: Callable[[TickReport], None] | None = None,
) -> None:
    """Hold the city until SIGTERM/SIGINT or a ``stop`` command, then shut it down.

    :raises ControllerRunning: another controller holds the city.
    :raises ConfigError: city.toml is invalid.
    """
    paths = CityPaths(city_dir)
    lock = ControllerLock(paths.lock)
    lock.acquire()
    try:
        with City.open(city_dir) as city:
            controller = Controller(city)
            server = ControlServer(paths.socket, controller.handle_command)
            server.start()

            def on_signal(signum: int, _frame: Any) -> None:
                controller.stop_requested()

            signal.signal(signal.SIGTERM, on_signal)
            signal.signal(signal.SIGINT, on_signal)
            try:
                if on_ready is not None:
                    on_ready(controller)
                controller.run(on_tick)
            finally:
                server.close()
    finally:
        lock.release()
