"""The backends that ship with gascity-core: the ``subprocess`` session provider, the
``file`` events store and the ``sqlite`` mail store. Each uses only the standard
library, so a fresh install runs a city with nothing else installed."""

from __future__ import annotations
