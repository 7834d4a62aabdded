"""The config fingerprint stored with each session, to detect drift.

It covers what changes the agent's behaviour once started (the resolved command, the
env the city declares, setup commands, dependencies) and nothing that changes without
the agent needing a restart: ``scale_check``, pool bounds, ``work_dir``, readiness
hints and the ``GC_*`` values injected per session are left out, as in Gas City, so
neither a scale decision nor new pool bounds ever restart a fleet.
"""

from __future__ import annotations

import hashlib
import json

from ..config.models import AgentConfig

__all__ = ["fingerprint", "live_fingerprint"]


def fingerprint(agent: AgentConfig, command: str | None = None) -> str:
    """``command`` is the resolved launch command (default: the agent's start_command)."""
    material = {
        "command": agent.start_command if command is None else command,
        "env": {k: v for k, v in sorted(agent.env.items()) if not k.startswith("GC_")},
        "pre_start": list(agent.pre_start),
        "session_setup": list(agent.session_setup),
        "session_setup_script": agent.session_setup_script,
        "depends_on": sorted(agent.depends_on),
    }
    if agent.overlay_dir:  # only when set: existing sessions keep their fingerprint
        material["overlay_dir"] = agent.overlay_dir
    blob = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32]


def live_fingerprint(agent: AgentConfig) -> str:
    """Gas City's live fingerprint: the ``session_live`` commands, which are re-applied
    on change without a restart ("" when there are none)."""
    if not agent.session_live:
        return ""
    blob = json.dumps(list(agent.session_live), separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32]
