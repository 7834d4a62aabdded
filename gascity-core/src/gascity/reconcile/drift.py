"""The config fingerprint stored with each session, to detect drift.

It covers what Gas City counts as an agent's identity (its ``CoreFingerprint``): the
resolved command, the environment keys of :data:`IDENTITY_ENV` only, setup commands,
dependencies and the overlay. Nothing else restarts a running session: not
``scale_check`` or pool bounds (a scale decision or new bounds never restart a fleet),
not ``work_dir`` or readiness hints, not the rendered prompt (delivered at start, so an
edited prompt template reaches the next session started) and not any other env key,
the city's own included: an allow-list, so a variable that changes per start or per
host can never restart agents in a loop.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

from ..config.models import AgentConfig

__all__ = ["IDENTITY_ENV", "fingerprint", "live_fingerprint"]

IDENTITY_ENV = frozenset({
    # where the city is, which rig the agent works on, which template it is
    "GC_CITY", "GC_CITY_PATH", "GC_RIG", "GC_RIG_ROOT", "BEADS_DIR",
    "GC_TEMPLATE", "GC_ALIAS",
    # where the agent finds its tools
    "GC_SKILLS_DIR", "GC_BLESSED_BIN_DIR",
    # how it publishes services
    "GC_PUBLICATION_PROVIDER", "GC_PUBLICATION_PUBLIC_BASE_DOMAIN",
    "GC_PUBLICATION_PUBLIC_BASE_URL", "GC_PUBLICATION_TENANT_BASE_DOMAIN",
    "GC_PUBLICATION_TENANT_BASE_URL", "GC_PUBLICATION_TENANT_SLUG",
})
"""The environment keys whose values are part of an agent's identity, Gas City's
allow-list: a change to one restarts the agent, a change to any other key does not."""


def fingerprint(
    agent: AgentConfig, command: str | None = None, env: Mapping[str, str] | None = None
) -> str:
    """``command`` is the resolved launch command (default: the agent's start_command);
    ``env`` the session's environment (default: the agent's ``env``), of which only
    :data:`IDENTITY_ENV` counts."""
    source = agent.env if env is None else env
    material = {
        "command": agent.start_command if command is None else command,
        "env": {k: source[k] for k in sorted(source) if k in IDENTITY_ENV},
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
