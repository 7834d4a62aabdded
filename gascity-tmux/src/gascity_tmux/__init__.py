"""The tmux session provider for Gas City: one tmux server per city, one batched
``list-panes`` call per reconcile tick.

tmux is driven by running its binary (argv lists, a deadline per call), so the package
needs nothing beyond the core.
"""

from __future__ import annotations

from .provider import TmuxProvider
from .settings import TmuxSettings

__all__ = ["TmuxProvider", "TmuxSettings"]
