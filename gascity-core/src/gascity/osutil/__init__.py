"""Operating-system helpers for gascity and its plugins (a public, stable module).

* :mod:`.proctree`: the process table (``/proc``, or ``psutil`` where there is none);
  process identity as ``(pid, start_time)``; descendants and marker lookups.
* :mod:`.killtree`: ending a whole process tree (TERM, grace, KILL), pid-reuse safe.
* :mod:`.runner`: running a command under a deadline that nothing it does can stretch.
* :mod:`.flock`: advisory file locks.
* :mod:`.backoff`: retry pacing.
* :mod:`.git`: what a working directory's repository says (its default branch).

Submodules are imported on use so that a plugin needing one pays for one.
"""

from __future__ import annotations

__all__ = ["backoff", "flock", "git", "killtree", "proctree", "runner"]
