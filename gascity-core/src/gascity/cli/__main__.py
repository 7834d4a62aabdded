"""``python -m gascity.cli``: the ``gc`` command without its console script."""

from __future__ import annotations

from .main import main

main()
