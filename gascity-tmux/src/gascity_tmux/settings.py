"""The ``[session.tmux]`` settings table.

A dataclass, validated by :func:`gascity.plugins.load_settings` without pydantic: the
tmux provider serves ``gc session list`` and ``gc runtime drain-ack`` inside every
agent's loop.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gascity.plugins.settings import Seconds
from gascity.tmuxconv import MAX_SOCKET

__all__ = ["TmuxSettings"]


@dataclass(frozen=True)
class TmuxSettings:
    """``[session.tmux]`` in city.toml; each key also reads ``GC_TMUX_<KEY>``."""

    socket: str | None = field(
        default=None, metadata={"pattern": r"[A-Za-z0-9_-]+", "max_length": MAX_SOCKET})
    """tmux -L socket name; default gc-<city name>-<hash of name and real path>."""
    tmux: str | None = None
    """Path of the tmux binary; default: tmux found on PATH."""
    config_file: str | None = None
    """tmux -f config file; default: tmux's own lookup (~/.tmux.conf)."""
    stop_grace: Seconds = 5.0
    """How long stop waits for processes to exit before SIGKILL."""
    nudge_delay: Seconds = 0.5
    """Pause between the pasted nudge text and Enter."""
    width: int = field(default=200, metadata={"ge": 10, "le": 1000})
    """Columns of a new session."""
    height: int = field(default=50, metadata={"ge": 5, "le": 1000})
    """Rows of a new session."""
