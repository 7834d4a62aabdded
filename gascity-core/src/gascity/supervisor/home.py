"""Where the machine-wide supervisor keeps its files: ``$GC_HOME`` or ``~/.gc``.

One supervisor per home: a second ``GC_HOME`` (tests, a second user setup) gets its own
registry, lock, socket and log, and never talks to the first one's supervisor.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..controller.paths import socket_path

__all__ = ["SupervisorHome"]


@dataclass(frozen=True)
class SupervisorHome:
    root: Path

    @classmethod
    def default(cls) -> SupervisorHome:
        env = os.environ.get("GC_HOME", "").strip()
        return cls(Path(env).expanduser().absolute() if env else Path.home() / ".gc")

    def ensure(self) -> Path:
        """Create the home owner-only (0700); it holds the registry and the socket."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        return self.root

    @property
    def registry(self) -> Path:
        return self.root / "cities.toml"

    @property
    def config(self) -> Path:
        return self.root / "supervisor.toml"

    @property
    def lock(self) -> Path:
        return self.root / "supervisor.lock"

    @property
    def log(self) -> Path:
        return self.root / "supervisor.log"

    @property
    def socket(self) -> Path:
        return socket_path(self.root / "supervisor.sock", self.root, "gc-supervisor")
