"""What a plan asks the controller to do: plain values, no behaviour beyond reading."""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

from .. import event_names as ev
from .desired import DesiredSession

__all__ = ["CrashAction", "DrainAction", "StartAction", "StopAction"]


@dataclass(frozen=True, slots=True)
class StartAction:
    session: DesiredSession
    wave: int
    reason: str
    """``missing``, ``crashed``, ``drift``, ``idle``, ``stop interrupted`` or an operator
    drain reason."""
    needs: tuple[tuple[str, str], ...] = ()
    """(dependency agent, session) pairs started earlier this tick that must be up first:
    the only part of the dependency gating the plan cannot know before the starts run."""

    def waiting_for(self, up: Container[str]) -> str | None:
        """The dependency this start waits for, given the sessions started so far."""
        for agent, name in self.needs:
            if name not in up:
                return agent
        return None


@dataclass(frozen=True, slots=True)
class StopAction:
    name: str
    agent: str | None
    reason: str
    """``orphan``, ``suspended``, ``scale``, ``drift``, ``crashed``, ``quarantined``, ``dead``."""
    event: str | None = ev.SESSION_STOPPED
    """The event to record once stopped; ``None`` for the stop half of a restart."""


@dataclass(frozen=True, slots=True)
class DrainAction:
    name: str
    agent: str
    reason: str
    undrain: bool = False


@dataclass(frozen=True, slots=True)
class CrashAction:
    """A crash the controller records with the session's last output (it peeks first)."""

    name: str
    agent: str
    why: str
