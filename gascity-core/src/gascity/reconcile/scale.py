"""Pool scale checks: every check of a tick runs concurrently, bounded, each timed out.

This is the one place the reconciler does I/O besides the provider: each check is
``sh -c <scale_check>`` in the agent's directory. A failure never fails the tick; the
pool falls back to its minimum and the reason is reported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.models import AgentConfig
from ..osutil.runner import run_shell

if TYPE_CHECKING:
    import threading

__all__ = ["ScaleResult", "clamp", "run_scale_checks"]


@dataclass(frozen=True, slots=True)
class ScaleResult:
    agent: str
    count: int
    """The clamped instance count the pool should run."""
    raw: str = ""
    error: str = ""
    """Why the check's answer was not used ("" when it was)."""
    started: float = 0.0
    finished: float = 0.0
    capped: bool = False
    """The pool has no max and the check asked for more than the city-wide safety cap."""


POOL_SAFETY_CAP = 100
"""Default of ``[daemon] max_pool_sessions``: what a pool without
``max_active_sessions`` may run at most, whatever its scale_check prints."""


def clamp(agent: AgentConfig, value: int, cap: int = POOL_SAFETY_CAP) -> int:
    lo = agent.min_sessions
    hi = agent.max_active_sessions
    value = max(lo, value)
    return min(max(cap, lo), value) if hi is None else min(hi, value)


def static_count(agent: AgentConfig) -> int:
    """A pool without a scale_check runs its max (or its min when max is unlimited)."""
    if agent.max_active_sessions is not None:
        return agent.max_active_sessions
    return agent.min_sessions


PROBE_KILL_GRACE = 0.5
"""Seconds a timed-out check gets between SIGTERM and SIGKILL of its process group."""
PROBE_WAIT_DELAY = 0.2
"""Seconds a check's escaped children may hold its stdout after the shell exits."""


def _run_one(
    agent: AgentConfig, city_dir: Path, timeout: float, env: Mapping[str, str], cap: int,
    cancel: threading.Event | None = None,
) -> ScaleResult:
    assert agent.scale_check is not None
    started = time.monotonic()

    def result(count: int, raw: str = "", error: str = "") -> ScaleResult:
        return ScaleResult(agent.name, count, raw, error, started, time.monotonic())

    # The answer is taken when the shell exits; what it left running is killed then,
    # so a probe can neither hold the tick past its deadline nor pile up children.
    run = run_shell(
        agent.scale_check,
        cwd=city_dir / (agent.dir or "."),
        env={**env, "GC_AGENT": agent.name, "GC_CITY_DIR": str(city_dir)},
        timeout=timeout,
        kill_grace=PROBE_KILL_GRACE,
        wait_delay=PROBE_WAIT_DELAY,
        max_output=64 << 10,
        reap_group=True,
        cancel=cancel,
    )
    raw = run.stdout.strip()
    shown = raw if len(raw) <= 40 else raw[:40] + "..."
    if not run.ok:
        return result(agent.min_sessions, shown, f"scale_check {run.describe(200)}")
    try:
        value = int(raw)
    except ValueError:
        return result(agent.min_sessions, shown, f"scale_check printed {shown!r}, not an integer")
    count = clamp(agent, value, cap)
    if agent.max_active_sessions is None and value > count:
        return ScaleResult(
            agent.name, count, raw,
            f"scale_check asked for {value}; capped at {count} ([daemon] max_pool_sessions, "
            "for a pool without max_active_sessions)",
            started, time.monotonic(), capped=True,
        )
    return result(count, raw)


def run_scale_checks(
    agents: Sequence[AgentConfig],
    city_dir: Path,
    *,
    concurrency: int,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cap: int = POOL_SAFETY_CAP,
    cancel: threading.Event | None = None,
) -> dict[str, ScaleResult]:
    """Run every pool's check at once (at most ``concurrency`` in flight); ``cancel``
    ends the checks still running (their pools fall back to ``min``)."""
    base_env = dict(os.environ if env is None else env)
    results: dict[str, ScaleResult] = {}
    checked = [a for a in agents if a.is_pool and a.scale_check is not None]
    for agent in agents:
        if agent.is_pool and agent.scale_check is None:
            results[agent.name] = ScaleResult(agent.name, static_count(agent))
    if not checked:
        return results
    with ThreadPoolExecutor(max_workers=min(concurrency, len(checked))) as pool:
        futures = [pool.submit(_run_one, a, city_dir, timeout, base_env, cap, cancel)
                   for a in checked]
        for future in futures:
            res = future.result()
            results[res.agent] = res
    return results
