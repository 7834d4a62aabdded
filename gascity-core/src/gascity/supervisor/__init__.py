"""The machine-wide supervisor: ``gc supervisor``, ``gc register``, ``gc cities``.

Submodules: :mod:`.home` (its files), :mod:`.registry` (``cities.toml``),
:mod:`.settings` (``supervisor.toml``), :mod:`.supervisor` (the process),
:mod:`.runtime` (one city's child process), :mod:`.client` (what ``gc`` asks it),
:mod:`.service` (systemd / launchd).
"""

from __future__ import annotations
