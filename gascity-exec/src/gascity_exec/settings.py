"""``[session.exec]``: the provider's own settings, with ``GC_EXEC_*`` overrides."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gascity.config.durations import Duration

from .protocol import DEFAULT_START_TIMEOUT, DEFAULT_TIMEOUT

__all__ = ["ENV_PREFIX", "ExecSettings"]

ENV_PREFIX = "GC_EXEC_"


class ExecSettings(BaseModel):
    """Validated with :func:`gascity.plugins.load_settings`; durations take ``30s``."""

    model_config = ConfigDict(extra="forbid")

    timeout: Duration = Field(DEFAULT_TIMEOUT, gt=0)
    """Limit for every op but ``start`` and ``attach``."""
    start_timeout: Duration = Field(DEFAULT_START_TIMEOUT, gt=0)
    """Upper limit for ``start``; a shorter ``StartConfig.startup_timeout`` wins."""
    kill_grace: Duration = 2.0
    """After a timeout: SIGTERM to the script's group, SIGKILL this much later."""
    wait_delay: Duration = 2.0
    """How long to wait for pipes a grandchild still holds after the script ended."""
    env: dict[str, str] = Field(default_factory=dict)
    """Extra environment for the script (``GC_TMUX_SOCKET`` for ``gc-session-tmux``)."""
