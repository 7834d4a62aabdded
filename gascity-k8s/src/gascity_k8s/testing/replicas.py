"""Controller replicas as real processes, for high-availability tests.

Each replica is what one controller pod is: its own copy of the city directory (its
emptyDir), its own ``gc start --foreground`` process and an identity in the
election (``r<slot>-<incarnation>``; a restarted replica is a new incarnation, as a
rescheduled pod has a new name).

Every pod of the Deployment mounts its city at ``/city``, and that path is part of
each session's identity (``GC_CITY`` is in the drift fingerprint): replicas at two
different paths would take each other's sessions for drifted and drain them all at
every failover, which no real deployment does. So each replica runs in its own mount
namespace (``unshare``, as root or in a user namespace) with its emptyDir bound
onto one shared path, ``<root>/city``, as a pod's volume is. All replicas also claim
the city under one path (``GC_K8S_CITY_PATH``, see :mod:`gascity_k8s.claim`).
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["GC", "ControllerReplica"]

GC = [sys.executable, "-c", "from gascity.cli.main import main; main()"]
# Binds the emptyDir ($1) onto the shared path ($2), then runs the rest: no name is
# ever part of the script's text.
_BIND = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'


@functools.cache
def _unshare() -> list[str]:
    """The ``unshare`` prefix that gives a process its own mount namespace here."""
    tool = shutil.which("unshare")
    if tool is None:
        raise RuntimeError("ControllerReplica needs unshare(1) (util-linux) for its /city mount")
    plain = [tool, "--mount", "--propagation", "private"]
    in_userns = [tool, "--user", "--map-root-user", "--mount", "--propagation", "private"]
    # Root without CAP_SYS_ADMIN (a default container) may still make a user namespace.
    tries = [plain, in_userns] if os.geteuid() == 0 else [in_userns, plain]
    errors = []
    for prefix in tries:
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return prefix
        errors.append(probe.stderr.strip())
    raise RuntimeError(f"ControllerReplica cannot make a mount namespace: {'; '.join(errors)}")


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

    @property
    def city(self) -> Path:
        """The path every replica sees its city at (its own emptyDir mounted there)."""
        return self.root / "city"

    def start(self, **env: str) -> ControllerReplica:
        self.incarnation += 1
        self.identity = f"r{self.slot}-{self.incarnation}"
        empty_dir = self.root / self.identity
        empty_dir.mkdir(parents=True)
        self.city.mkdir(exist_ok=True)  # the mount point; empty outside the namespaces
        (empty_dir / "city.toml").write_text(self.toml)
        log = self.root / f"{self.identity}.log"
        self.logs.append(log)
        argv = [*_unshare(), "--", "sh", "-c", _BIND, "replica", str(empty_dir), str(self.city),
                *GC, "--city", str(self.city), "start", "--foreground"]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(
                argv,
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
