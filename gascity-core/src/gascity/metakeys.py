"""Session metadata keys and drain reasons (re-exported by :mod:`gascity.types`).

Here, not in :mod:`gascity.types`, so the agents' fast path (:mod:`gascity.cli.fast`)
names them without importing the records' dataclasses.
"""

from __future__ import annotations

__all__ = [
    "DRAIN_MANUAL",
    "DRAIN_RESTART",
    "META_AGENT",
    "META_DRAIN",
    "META_DRAIN_ACK",
    "META_FINGERPRINT",
    "META_LIVE",
]

# Session metadata keys the controller reads back through ``list_running``. Providers
# store them however they like (tmux options, pod annotations, files) but must return
# them under these names.
META_FINGERPRINT = "gc.fingerprint"
META_DRAIN = "gc.drain"
META_DRAIN_ACK = "gc.drain_ack"
META_AGENT = "gc.agent"
META_LIVE = "gc.live"
"""Hash of the agent's session_live commands last applied to the session."""
DRAIN_MANUAL = "manual"
"""The drain reason ``gc runtime drain`` sets."""
DRAIN_RESTART = "restart"
"""The drain reason ``gc runtime request-restart`` sets: stop and start fresh, no ack."""
