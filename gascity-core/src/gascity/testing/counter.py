"""Count hook calls with a pluggy wrapper: the call-budget tests and benchmarks use it."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Generator
from typing import Any

from .. import hookimpl, hookspecs

__all__ = ["SESSION_HOOKS", "HookCallCounter"]

# ``coordination`` is asked once per controller, not per tick.
SESSION_HOOKS = frozenset(hookspecs.ROLE_HOOKS["session"]) - {"coordination"}


def _wrapper(name: str) -> Any:
    # Takes no hook arguments: pluggy lets an implementation accept a subset.
    def wrapper(self: _CounterBase) -> Generator[None, Any, Any]:
        self._count(name)
        return (yield)

    wrapper.__name__ = name
    return hookimpl(wrapper=True)(wrapper)


class _CounterBase:
    counts: Counter[str]

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()

    def _count(self, name: str) -> None:
        with self._lock:
            self.counts[name] += 1

    def reset(self) -> None:
        with self._lock:
            self.counts.clear()

    @property
    def session_calls(self) -> int:
        """Calls that reached the session provider (events and mail excluded)."""
        with self._lock:
            return sum(n for hook, n in self.counts.items() if hook in SESSION_HOOKS)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)


class HookCallCounter(_CounterBase):
    """A plugin that wraps every hook and counts calls by hook name.

    Register it next to the plugin under test::

        counter = HookCallCounter()
        pm.register("observers", counter)
        ...
        assert counter.session_calls == 1
    """


for _name in hookspecs.ALL_HOOKS:
    if _name in hookspecs.LIFECYCLE:
        continue
    setattr(HookCallCounter, _name, _wrapper(_name))
