"""``[session.nohup]`` in city.toml, with ``GC_NOHUP_*`` environment overrides."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gascity.config import Duration

__all__ = ["NohupSettings"]


class NohupSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stop_grace: Duration = Field(
        default=5.0, ge=0, description="Time between SIGTERM and SIGKILL when stopping."
    )
    shell: str = Field(default="/bin/sh", description="Shell that runs commands (-c).")
    ps: str = Field(default="ps", description="The ps program used to list processes.")
