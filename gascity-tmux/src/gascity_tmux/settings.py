"""The ``[session.tmux]`` settings table and the per-city socket name."""

from __future__ import annotations

import hashlib
import re

from pydantic import BaseModel, ConfigDict, Field

from gascity.config.durations import Duration

__all__ = ["TmuxSettings", "socket_for_city"]

# tmux puts the socket in /tmp/tmux-<uid>/<name>; sun_path holds 108 bytes.
_MAX_SOCKET = 64


def socket_for_city(city: str) -> str:
    """``gc-<city>``; a city name outside ``[A-Za-z0-9_-]`` (or a very long one) gets
    a short hash so two cities whose names only differ there never share a server."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", city) or "city"
    name = f"gc-{safe}"
    if safe != city or len(name) > _MAX_SOCKET:
        digest = hashlib.sha256(city.encode()).hexdigest()[:8]
        name = f"{name[: _MAX_SOCKET - 9]}-{digest}"
    return name


class TmuxSettings(BaseModel):
    """``[session.tmux]`` in city.toml; each key also reads ``GC_TMUX_<KEY>``."""

    model_config = ConfigDict(extra="forbid")

    socket: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]+$",
        max_length=_MAX_SOCKET,
        description="tmux -L socket name; default gc-<city name>",
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
