"""What a controller needs from a provider to run as one of several replicas.

Only the leader reconciles. ``may_act`` is asked before every tick and before each
write and costs no I/O: it is true while the leadership was confirmed recently
enough that no other replica can have taken over (the renew deadline is shorter
than the lease). A replica paused past that (SIGSTOP, a long GC, a partition) finds
it false when it resumes, before it can write.

The controller's state (crash counters, quarantines, drains) goes through
``load_state``/``save_state`` instead of ``.gc/``, so a new leader resumes where the
old one stopped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

__all__ = ["Coordination"]


@runtime_checkable
class Coordination(Protocol):
    identity: str
    """This replica's name in the election."""

    def may_act(self) -> bool:
        """This replica leads and may write now."""
        ...

    def holder(self) -> str | None:
        """Who leads, as last seen (``None``: nobody, or not known yet)."""
        ...

    def on_change(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` (from any thread) whenever this replica gains or loses
        the leadership, so the controller ticks at once instead of at its next patrol."""
        ...

    def load_state(self) -> str | None:
        """The state text the last leader saved; ``None`` when there is none."""
        ...

    def save_state(self, text: str) -> None:
        """Store the state text. Raises :class:`gascity.errors.NotLeader` when this
        replica no longer leads, :class:`gascity.errors.SessionError` when it failed."""
        ...

    def release(self) -> None:
        """Give the leadership up now (a controller that stops), so another replica
        takes over without waiting for the lease to run out."""
        ...
