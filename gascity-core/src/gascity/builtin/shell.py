"""Running a city author's hook command (``pre_start``, ``session_setup``) under ``sh -c``."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["ShellResult", "merged_env", "run_shell"]


@dataclass(frozen=True, slots=True)
class ShellResult:
    returncode: int | None
    """``None`` when the command was killed for running past its timeout."""
    output: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self, limit: int = 800) -> str:
        status = "timed out" if self.returncode is None else f"exit status {self.returncode}"
        tail = self.output.strip()[-limit:]
        return f"{status}: {tail}" if tail else status


def merged_env(
    overrides: Mapping[str, str], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The process environment with ``overrides`` applied; an empty value unsets."""
    env = dict(os.environ if base is None else base)
    for key, value in overrides.items():
        if value == "":
            env.pop(key, None)
        else:
            env[key] = value
    return env


def run_shell(command: str, cwd: str, env: Mapping[str, str], timeout: float) -> ShellResult:
    """Run ``sh -c command``; on timeout kill its whole process group, not just ``sh``."""
    proc = subprocess.Popen(
        ["sh", "-c", command],
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=max(timeout, 0.001))
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            out, _ = proc.communicate(timeout=2.0)
        except subprocess.TimeoutExpired:
            # A grandchild that left the group still holds the pipe: give up on it.
            proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
            out = b""
        return ShellResult(None, out.decode("utf-8", "replace"))
    return ShellResult(proc.returncode, out.decode("utf-8", "replace"))
