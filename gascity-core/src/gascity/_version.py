"""The one version of every Gas City distribution (they move in lockstep).

Each ``pyproject.toml`` reads it through ``[tool.hatch.version]``, and the
meta-distribution's exact pins are derived from it by ``hatch_build.py``; nothing else
writes a version number.
"""

from __future__ import annotations

__version__ = "0.1.0"
