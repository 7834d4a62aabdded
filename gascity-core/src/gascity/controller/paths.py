"""Where a city keeps its runtime files under ``.gc/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["CityPaths", "socket_path"]

# sockaddr_un holds 108 bytes; deep temp dirs (pytest's) overflow it.
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class CityPaths:
    city_dir: Path

    @property
    def state_dir(self) -> Path:
        return self.city_dir / ".gc"

    @property
    def lock(self) -> Path:
        return self.state_dir / "controller.lock"

    @property
    def state(self) -> Path:
        return self.state_dir / "controller-state.json"

    @property
    def overrides(self) -> Path:
        return self.state_dir / "overrides.json"

    @property
    def socket(self) -> Path:
        """``.gc/controller.sock``, or a short path in the temp dir derived from the
        city's path when that would be too long for a Unix socket."""
        return socket_path(self.state_dir / "controller.sock", self.city_dir, "gc")


def socket_path(wanted: Path, owner: Path, prefix: str) -> Path:
    """``wanted``, or a short path in the temp dir derived from ``owner``'s real path
    when ``wanted`` is too long for a Unix socket."""
    if len(str(wanted)) <= _MAX_SOCKET_PATH:
        return wanted
    import hashlib  # only for a long path: the agents' gc calls skip both imports
    import tempfile

    digest = hashlib.sha256(str(owner.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"{prefix}-{digest}.sock"
