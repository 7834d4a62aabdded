"""An agent's ``on_boot`` and ``on_death`` commands, run by the controller as Gas City
runs them: ``sh -c`` in gc's process (not in the session), in the agent's rig root or
directory, with the city's and the session's identity in the environment. A failure
is logged and recorded; it never stops the controller."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from ..config.compose import RigAgent
from ..config.models import AgentConfig
from ..osutil.runner import run_shell

__all__ = ["HOOK_TIMEOUT", "run_agent_hook", "run_agent_hook_later"]

log = logging.getLogger("gascity.controller")

HOOK_TIMEOUT = 10.0
"""Seconds one hook command may take (Gas City's session setup_timeout default)."""


def run_agent_hook(
    kind: str,
    agent: AgentConfig,
    *,
    city_dir: Path,
    city_name: str,
    session: str = "",
    rig: RigAgent | None = None,
    timeout: float = HOOK_TIMEOUT,
) -> str | None:
    """Run ``agent.<kind>`` (``on_boot`` / ``on_death``); the failure, or ``None``."""
    command = getattr(agent, kind)
    if not command:
        return None
    cwd = rig.root if rig else str((city_dir / (agent.dir or ".")).resolve())
    env = {
        **os.environ,
        "GC_CITY": str(city_dir),
        "GC_CITY_PATH": str(city_dir),
        "GC_CITY_NAME": city_name,
        "GC_AGENT": session or agent.name,
        "GC_SESSION_NAME": session,
        "GC_ALIAS": rig.qualified if rig else agent.name,
        "GC_RIG": rig.rig if rig else "",
        "GC_RIG_ROOT": rig.root if rig else "",
    }
    result = run_shell(command, cwd=cwd, env=env, timeout=timeout)
    if result.ok:
        return None
    why = result.error or ("timed out" if result.timed_out else result.describe())
    message = f"agent {agent.name}: {kind} command failed ({why})"
    log.warning("%s", message)
    return message


def run_agent_hook_later(kind: str, agent: AgentConfig, **kwargs: object) -> threading.Thread:
    """The same in a thread, so a slow ``on_death`` never holds up a tick."""
    thread = threading.Thread(target=run_agent_hook, args=(kind, agent), kwargs=kwargs,
                              name=f"gc-{kind}-{agent.name}", daemon=True)
    thread.start()
    return thread
