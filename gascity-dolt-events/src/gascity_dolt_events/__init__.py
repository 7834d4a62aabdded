"""Gas City's event log in a Dolt (MySQL-protocol) table.

The plugin class is :class:`gascity_dolt_events.store.DoltEvents` (entry point ``dolt``
in ``gascity.events``); it is imported lazily so discovering plugins stays cheap.
"""

from __future__ import annotations

from gascity._version import __version__ as __version__

__all__ = ["__version__"]
