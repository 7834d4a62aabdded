"""Who runs a ``gc`` command, and telling the controller: no click, for :mod:`.fast`."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # on the agents' fast path: no typing, no pathlib
if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["caller", "notify_controller", "own_session"]


def caller() -> str:
    """Who is running this command: the session's identity inside a Gas City session
    (the reference's order of variables), else ``human``."""
    for var in ("GC_AGENT", "GC_ALIAS", "GC_SESSION_ID"):
        value = os.environ.get(var, "").strip()
        if value:
            return value
    return "human"


def own_session(name: str | None) -> str | None:
    """The session a ``gc runtime`` command is about: NAME, else the caller's own."""
    return name or os.environ.get("GC_SESSION_NAME") or os.environ.get("GC_AGENT") or None


def notify_controller(city_dir: Path | str, command: str = "poke") -> str | None:
    """Tell a running controller to act now; ``None`` when no controller listens."""
    from ..controller.sockpath import controller_socket

    path = controller_socket(os.fspath(city_dir))
    if not os.path.exists(path):
        return None  # what connecting would say, without loading the socket client
    from ..controller.socket import send_command

    try:
        return send_command(path, command)
    except OSError:
        return None
