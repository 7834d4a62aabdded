"""Gas City: reconcile fleets of AI coding agents against the sessions that run them."""

from __future__ import annotations

from ._version import __version__

# Not typing.TYPE_CHECKING: importing typing would be most of `gc --version`.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import pluggy

    hookimpl: pluggy.HookimplMarker
    """Marker for hook implementations: ``@hookimpl def list_running(self, prefix): ...``."""


__all__ = ["__version__", "hookimpl"]


def __getattr__(name: str) -> Any:
    # pluggy loads with the first plugin, not with `gc --version`.
    if name == "hookimpl":
        import pluggy

        marker = pluggy.HookimplMarker("gascity")
        globals()["hookimpl"] = marker
        return marker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
