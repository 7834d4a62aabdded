"""Plugin discovery, selection and the typed facade over pluggy hook calls."""

from __future__ import annotations

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
