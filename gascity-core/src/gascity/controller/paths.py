"""Where a city keeps its runtime files under ``.gc/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .sockpath import controller_socket, socket_path_str

__all__ = ["CityPaths", "socket_path"]


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
        return Path(controller_socket(str(self.city_dir)))


def socket_path(wanted: Path, owner: Path, prefix: str) -> Path:
    """``wanted``, or a short path in the temp dir derived from ``owner``'s real path
    when ``wanted`` is too long for a Unix socket."""
    return Path(socket_path_str(str(wanted), str(owner), prefix))
