"""The config fingerprint stored with each session, to detect drift.

It covers what changes the agent's behaviour once started (command, the env the city
declares, setup commands, pool bounds, dependencies) and nothing that changes without
the agent needing a restart: ``scale_check``, ``work_dir`` and the ``GC_*`` values
injected per session are left out, so a scale decision never restarts a fleet.
"""

from __future__ import annotations

import hashlib
import json

from ..config.models import AgentConfig

__all__ = ["fingerprint"]


def fingerprint(agent: AgentConfig) -> str:
    material = {
        "command": agent.command,
        "env": {k: v for k, v in sorted(agent.env.items()) if not k.startswith("GC_")},
        "pre_start": list(agent.pre_start),
        "session_setup": list(agent.session_setup),
        "session_setup_script": agent.session_setup_script,
        "min": agent.min_active_sessions,
        "max": agent.max_active_sessions,
        "depends_on": sorted(agent.depends_on),
    }
    blob = json.dumps(material, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(blob).hexdigest()[:32]
