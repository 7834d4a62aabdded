"""Gas City: reconcile fleets of AI coding agents against the sessions that run them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pluggy

    hookimpl: pluggy.HookimplMarker
    """Marker for hook implementations: ``@hookimpl def list_running(self, prefix): ...``."""

from ._version import __version__

__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    # pluggy loads with the first plugin, not with `gc --version`.
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("gascity")
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
