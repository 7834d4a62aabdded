"""Gas City: reconcile fleets of AI coding agents against the sessions that run them."""

from __future__ import annotations

import pluggy

__version__ = "0.1.0"

hookimpl = pluggy.HookimplMarker("gascity")
"""Marker for hook implementations: ``@hookimpl def list_running(self, prefix): ...``."""

__all__ = ["__version__", "hookimpl"]
