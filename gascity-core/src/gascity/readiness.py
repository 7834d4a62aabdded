"""Waiting for an agent to be ready for its first nudge, as Gas City's providers do:
``ready_prompt_prefix`` on screen (where the screen can be read), else
``ready_delay_ms`` after the launch."""

from __future__ import annotations

import time
from collections.abc import Callable

from .types import StartConfig

__all__ = ["MIN_PREFIX_WAIT", "wait_until_ready"]

MIN_PREFIX_WAIT = 10.0
"""Seconds a ready prompt is waited for at least (Gas City's nudge_ready_timeout)."""


def _shows_prompt(screen: str, prefix: str) -> bool:
    # As Gas City matches: a trimmed line starting with the prefix (its trailing space
    # included) or equal to the bare prefix; a no-break space counts as a space.
    prefix = prefix.replace("\u00a0", " ")
    bare = prefix.strip()
    for line in screen.splitlines():
        trimmed = line.strip().replace("\u00a0", " ")
        if trimmed.startswith(prefix) or (bare and trimmed == bare):
            return True
    return False


def wait_until_ready(
    config: StartConfig,
    deadline: float,
    peek: Callable[[], str] | None = None,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Block until the agent looks ready or ``deadline`` (monotonic) passes.

    Returns whether readiness was seen (or simply waited out). A provider that cannot
    read the screen passes no ``peek``; then only the delay counts. Never raises for
    a screen that cannot be read: the nudge is typed anyway, as in Gas City.
    """
    delay = config.ready_delay_ms / 1000.0
    start = clock()
    if config.ready_prompt_prefix and peek is not None:
        until = min(deadline, start + max(delay, MIN_PREFIX_WAIT))
        while True:
            try:
                if _shows_prompt(peek(), config.ready_prompt_prefix):
                    return True
            except Exception:  # a screen that cannot be read yet: keep polling
                pass
            if clock() >= until:
                return False
            sleep(min(0.2, max(0.0, until - clock())))
    if delay > 0:
        sleep(max(0.0, min(start + delay, deadline) - clock()))
    return True
