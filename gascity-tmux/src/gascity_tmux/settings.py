"""The ``[session.tmux]`` settings table."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gascity.config.durations import Duration
from gascity.tmuxconv import MAX_SOCKET

__all__ = ["TmuxSettings"]

class TmuxSettings(BaseModel):
    """``[session.tmux]`` in city.toml; each key also reads ``GC_TMUX_<KEY>``."""

    model_config = ConfigDict(extra="forbid")

    socket: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]+$",
        max_length=MAX_SOCKET,
        description="tmux -L socket name; default gc-<city name>-<hash of name and real path>",
    )
    tmux: str | None = Field(
        default=None, description="path of the tmux binary; default: tmux found on PATH"
    )
    config_file: str | None = Field(
        default=None,
        description="tmux -f config file; default: tmux's own lookup (~/.tmux.conf)",
    )
    stop_grace: Duration = Field(
        default=5.0, description="how long stop waits for processes to exit before SIGKILL"
    )
    nudge_delay: Duration = Field(
        default=0.5, description="pause between the pasted nudge text and Enter"
    )
    width: int = Field(default=200, ge=10, le=1000, description="columns of a new session")
    height: int = Field(default=50, ge=5, le=1000, description="rows of a new session")
