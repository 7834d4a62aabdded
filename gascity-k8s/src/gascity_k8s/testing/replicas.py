"""Controller replicas as real processes, for high-availability tests.

Each replica is what one controller pod is: its own copy of the city directory (its
emptyDir), its own ``gc start --foreground`` process and an identity in the
election (``r<slot>-<incarnation>``; a restarted replica is a new incarnation, as a
rescheduled pod has a new name). All replicas claim the city under one path, as pods
that mount it at ``/city`` do (``GC_K8S_CITY_PATH``, see :mod:`gascity_k8s.claim`).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GC", "ControllerReplica"]

GC = [sys.executable, "-c", "from gascity.cli.main import main; main()"]


@dataclass
class ControllerReplica:
    slot: int
    root: Path
    toml: str
    """The city.toml every incarnation gets (its own copy)."""
    incarnation: int = 0
    proc: subprocess.Popen[bytes] | None = None
    identity: str = ""
    logs: list[Path] = field(default_factory=list)

    def start(self, **env: str) -> ControllerReplica:
        self.incarnation += 1
        self.identity = f"r{self.slot}-{self.incarnation}"
        city = self.root / self.identity
        city.mkdir(parents=True)
        (city / "city.toml").write_text(self.toml)
        log = self.root / f"{self.identity}.log"
        self.logs.append(log)
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*GC, "--city", str(city), "start", "--foreground"],
                env={
                    **os.environ,
                    "GC_K8S_CITY_PATH": str(self.root),
                    **env,
                    "GC_K8S_IDENTITY": self.identity,
                },
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return self

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        assert self.proc is not None
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, in case it is paused); SIGKILL if it lingers."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def output(self) -> str:
        return "".join(p.read_text(errors="replace") for p in self.logs if p.exists())
