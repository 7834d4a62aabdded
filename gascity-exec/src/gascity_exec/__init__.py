"""Gas City's exec session provider (``exec:<script>``) and the ``gc-session-tmux``
protocol script.

Kept free of imports: ``gc-session-tmux`` runs once per operation and must start fast.
The provider lives in :mod:`gascity_exec.provider`, the op table in
:mod:`gascity_exec.protocol`.
"""

from __future__ import annotations

from gascity._version import __version__ as __version__
