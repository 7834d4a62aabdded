"""Test support for the supervisor: shut down whatever a test started in its home."""

from __future__ import annotations

import contextlib
import os
import signal
import time

from ..controller.lock import holder_pid
from ..supervisor.client import SupervisorUnavailable, request
from ..supervisor.home import SupervisorHome

__all__ = ["stop_supervisor"]


def stop_supervisor(home: SupervisorHome, timeout: float = 90.0) -> bool:
    """Stop the supervisor of ``home`` (and so its cities) if one runs.

    Asks first; kills it if it does not go within ``timeout``. Returns whether one ran.
    """
    pid = holder_pid(home.lock)
    if pid is None:
        return False
    with contextlib.suppress(SupervisorUnavailable):
        request(home, "stop", timeout=10.0)
    deadline = time.monotonic() + timeout
    while holder_pid(home.lock) is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    if holder_pid(home.lock) is not None and pid > 0:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return True
