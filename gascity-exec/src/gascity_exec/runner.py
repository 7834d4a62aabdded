"""Run one protocol script invocation with a hard deadline, through the core's runner.

The script gets its own process group. At the deadline the group gets SIGTERM (so a
script can roll back what it created), then SIGKILL after ``kill_grace``. Pipes are
closed ``wait_delay`` after the script has exited or been killed, so a grandchild
that left the group but still holds stdout cannot keep the controller waiting (the
same guarantee as Go's ``cmd.WaitDelay`` in the reference).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from gascity.osutil.runner import RunResult, run

__all__ = ["ScriptResult", "run_script"]

ScriptResult = RunResult
"""stdout has its trailing newlines trimmed (the reference's TrimRight)."""


def run_script(
    argv: Sequence[str],
    *,
    stdin: bytes | None,
    timeout: float,
    env: Mapping[str, str],
    kill_grace: float = 2.0,
    wait_delay: float = 2.0,
) -> ScriptResult:
    """Run ``argv`` (no shell), feed ``stdin`` (``None`` means ``/dev/null``), collect
    stdout and stderr, and never take much longer than ``timeout + kill_grace +
    wait_delay`` whatever the script and its children do."""
    result = run(
        argv, stdin=stdin, timeout=timeout, env=env, kill_grace=kill_grace,
        wait_delay=wait_delay,
    )
    if result.error:
        raise OSError(result.error)
    return dataclasses.replace(result, stdout=result.stdout.rstrip("\n"))
