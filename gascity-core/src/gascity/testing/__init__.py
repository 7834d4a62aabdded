"""Test support shipped with gascity-core, for Gas City and for plugin authors.

* :class:`FakeProvider` - an in-memory session provider (entry point ``fake``).
* :class:`HookCallCounter` - a pluggy wrapper that counts every hook call.
* :func:`hooks_for` - a :class:`~gascity.plugins.Hooks` facade over one plugin object.
* Conformance kits in :mod:`gascity.testing.kits` - pytest base classes that a plugin's
  own tests subclass, providing one fixture.
"""

from __future__ import annotations

from .counter import HookCallCounter
from .fake import FakeProvider
from .memory import MemoryEvents
from .support import free_port, hooks_for, open_test_city, wait_for, write_tree

__all__ = [
    "FakeProvider",
    "HookCallCounter",
    "MemoryEvents",
    "free_port",
    "hooks_for",
    "open_test_city",
    "wait_for",
    "write_tree",
]
