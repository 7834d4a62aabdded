"""Plugin discovery, selection and the typed facade over pluggy hook calls.

The names load on first use: a built-in plugin importing :mod:`.context` must not
pull in pluggy and the manager (``gc event emit``'s fast path, :mod:`gascity.cli.fast`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .context import PluginContext, load_settings
    from .facade import Hooks
    from .manager import ROLES, PluginManager, Selector, parse_selector
    from .registry import PluginRecord, PluginStatus

__all__ = [
    "ROLES",
    "Hooks",
    "PluginContext",
    "PluginManager",
    "PluginRecord",
    "PluginStatus",
    "Selector",
    "load_settings",
    "parse_selector",
]

_WHERE = {
    "PluginContext": "context",
    "load_settings": "context",
    "Hooks": "facade",
    "ROLES": "manager",
    "PluginManager": "manager",
    "Selector": "manager",
    "parse_selector": "manager",
    "PluginRecord": "registry",
    "PluginStatus": "registry",
}

__getattr__ = lazy_attributes(__name__, _WHERE)
