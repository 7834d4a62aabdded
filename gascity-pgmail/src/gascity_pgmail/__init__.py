"""Gas City agent mail in PostgreSQL.

The mail backend is :class:`gascity_pgmail.store.PostgresMail` (entry point
``postgres`` in ``gascity.mail``); ``gc mail migrate`` comes from
:mod:`gascity_pgmail.cli`; :mod:`gascity_pgmail.testing` starts a throwaway server.
Nothing here imports psycopg, so plugin discovery stays cheap.
"""

from __future__ import annotations

__all__ = ["__version__"]

from gascity._version import __version__
