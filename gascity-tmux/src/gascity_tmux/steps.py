"""The shell steps around a start: ``pre_start`` and ``session_setup``, whose
failures are reported and never fail the start (as Gas City specifies; running out
of the start's time still does). Commands are the city author's shell text and run under
``sh -c``; names and values reach them through the environment only."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from gascity.errors import SessionError
from gascity.osutil.runner import run

__all__ = ["StepFailure", "run_pre_start", "run_setup"]

log = logging.getLogger("gascity_tmux")
_TAIL = 400


class StepFailure(SessionError):
    pass


def _remaining(deadline: float, name: str, what: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise StepFailure(f"start of {name!r} ran out of time during {what}")
    return left


def _run(
    argv: list[str], cwd: str, env: Mapping[str, str], *, deadline: float, name: str, what: str
) -> None:
    timeout = _remaining(deadline, name, what)
    result = run(argv, cwd=cwd, env=env, timeout=timeout, max_output=64 << 10)
    if result.error:
        raise StepFailure(f"{what} of {name!r} could not run: {result.error}")
    if result.timed_out:
        raise StepFailure(f"{what} of {name!r} timed out after {timeout:.1f}s")
    if not result.ok:
        raise StepFailure(f"{what} of {name!r} failed with {result.describe(_TAIL)}")


def run_pre_start(
    commands: Sequence[str], cwd: str, env: Mapping[str, str], *, deadline: float, name: str
) -> list[str]:
    """Run every pre_start command. As Gas City specifies, a failing one is logged and
    the start goes on; only running out of the start's time is fatal. Returns one
    line per failure."""
    failures: list[str] = []
    for index, command in enumerate(commands, 1):
        try:
            _run(
                ["sh", "-c", command],
                cwd,
                env,
                deadline=deadline,
                name=name,
                what=f"pre_start[{index}]",
            )
        except StepFailure as exc:
            if time.monotonic() >= deadline or "timed out" in str(exc):
                raise
            log.warning("%s", exc)
            failures.append(str(exc))
    return failures


def run_setup(
    commands: Sequence[str],
    script: str,
    cwd: str,
    env: Mapping[str, str],
    *,
    deadline: float,
    name: str,
    live: Sequence[str] = (),
) -> list[str]:
    """Run every setup step, then the ``session_live`` commands; return one line per
    failure (they never fail the start)."""
    steps = [(["sh", "-c", c], f"session_setup[{i}]") for i, c in enumerate(commands, 1)]
    if script:
        steps.append((["sh", script], "session_setup_script"))
    steps += [(["sh", "-c", c], f"session_live[{i}]") for i, c in enumerate(live, 1)]
    failures: list[str] = []
    for argv, what in steps:
        try:
            _run(argv, cwd, env, deadline=deadline, name=name, what=what)
        except StepFailure as exc:
            log.warning("%s", exc)
            failures.append(str(exc))
    return failures
