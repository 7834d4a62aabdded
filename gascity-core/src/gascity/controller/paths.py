"""Where a city keeps its runtime files under ``.gc/``."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CityPaths"]

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
        path = self.state_dir / "controller.sock"
        if len(str(path)) <= _MAX_SOCKET_PATH:
            return path
        digest = hashlib.sha256(str(self.city_dir.resolve()).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"gc-{digest}.sock"
