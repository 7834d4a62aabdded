"""The tmux session provider for Gas City: one tmux server per city, one batched
``list-panes`` call per reconcile tick.

Importing this package is cheap; :mod:`libtmux` is imported when the provider is
built, so plugin discovery never pays for it.
"""

from __future__ import annotations

from .provider import TmuxProvider
from .settings import TmuxSettings, socket_for_city

__all__ = ["TmuxProvider", "TmuxSettings", "socket_for_city"]
