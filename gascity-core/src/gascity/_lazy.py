"""Package attributes that import their module on first use (PEP 562).

``gc`` commands that need one name of a package (a path helper, the light config
reader) must not import the whole package: ``gascity.config``, ``gascity.reconcile``
and ``gascity.controller`` name where each attribute lives and load it when asked.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` for ``package``: ``name`` comes from ``.{where[name]}``."""

    def __getattr__(name: str) -> Any:
        if name in where:
            return getattr(importlib.import_module(f".{where[name]}", package), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
