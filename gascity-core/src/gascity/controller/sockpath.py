"""Where a controller's (or supervisor's) Unix socket lives, from paths given as text.

:class:`~gascity.controller.paths.CityPaths` and the agents' fast path
(``gc runtime drain-ack`` pokes the controller) both ask here; stdlib only, no pathlib.
"""

from __future__ import annotations

import os

__all__ = ["controller_socket", "socket_path_str"]

# sockaddr_un holds 108 bytes; deep temp dirs (pytest's) overflow it.
_MAX_SOCKET_PATH = 100


def socket_path_str(wanted: str, owner: str, prefix: str) -> str:
    """``wanted``, or a short path in the temp dir derived from ``owner``'s real path
    when ``wanted`` is too long for a Unix socket."""
    if len(wanted) <= _MAX_SOCKET_PATH:
        return wanted
    import hashlib  # only for a long path: the agents' gc calls skip both imports
    import tempfile

    digest = hashlib.sha256(os.path.realpath(owner).encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"{prefix}-{digest}.sock")


def controller_socket(city_dir: str) -> str:
    """``<city>/.gc/controller.sock`` (or its short stand-in)."""
    return socket_path_str(os.path.join(city_dir, ".gc", "controller.sock"), city_dir, "gc")
