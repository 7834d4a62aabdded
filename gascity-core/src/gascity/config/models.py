"""The typed model of city.toml. Validation happens here and in :mod:`.validate`."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from .fields import Duration

__all__ = [
    "AgentConfig",
    "ApiSection",
    "BackendSection",
    "CityConfig",
    "DaemonSection",
    "PluginsSection",
    "SessionSection",
    "WorkspaceSection",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
_NAME_RE = re.compile(NAME_PATTERN)
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class WorkspaceSection(_Strict):
    name: str = Field(default="", description="City name; fixed for the life of a controller.")
    suspended: bool = Field(default=False, description="Suspend the whole city: nothing starts.")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if v and not _NAME_RE.match(v):
            raise ValueError(
                "expected letters, digits, '_' or '-', starting with a letter or digit"
            )
        return v


class AgentConfig(_Strict):
    name: str = Field(description="Unique agent name: [A-Za-z0-9][A-Za-z0-9_-]*.")
    command: str = Field(description="Shell command that runs the agent inside its session.")
    dir: str = Field(default="", description="Agent directory, relative to the city.")
    work_dir: str = Field(default="", description="Session working directory (default: dir).")
    env: dict[str, str] = Field(default_factory=dict, description="Environment; '' unsets.")
    process_names: list[str] = Field(
        default_factory=list, description="Process names whose absence means the agent died."
    )
    suspended: bool = False
    depends_on: list[str] = Field(default_factory=list, description="Agents started first.")
    idle_timeout: Duration | None = None
    pre_start: list[str] = Field(default_factory=list, description="Run before start; fatal.")
    session_setup: list[str] = Field(default_factory=list, description="Run after start.")
    session_setup_script: str = ""
    nudge: str = Field(default="", description="Text typed into the session once it is up.")
    min_active_sessions: int | None = Field(default=None, ge=0)
    max_active_sessions: int | None = Field(default=None, ge=1)
    scale_check: str | None = Field(
        default=None, description="Shell command printing the desired instance count."
    )
    drain_timeout: Duration = 300.0

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                "expected an agent name of letters, digits, '_' or '-', "
                "starting with a letter or digit"
            )
        return v

    @field_validator("command")
    @classmethod
    def _command(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("expected a non-empty command")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for key in v:
            if not _ENV_NAME_RE.match(key):
                raise ValueError(f"expected environment variable names, got {key!r}")
        return v

    @field_validator("max_active_sessions")
    @classmethod
    def _max_not_below_min(cls, v: int | None, info: ValidationInfo) -> int | None:
        # A field validator (not a model one) so the error names the exact key.
        lo = info.data.get("min_active_sessions")
        if v is not None and lo is not None and lo > v:
            raise ValueError(f"expected a value >= min_active_sessions ({lo})")
        return v

    @property
    def is_pool(self) -> bool:
        return (
            self.min_active_sessions is not None
            or self.max_active_sessions is not None
            or self.scale_check is not None
        )

    @property
    def min_sessions(self) -> int:
        return self.min_active_sessions or 0


class _ProviderSection(BaseModel):
    """``provider`` plus one sub-table per plugin (``[session.k8s]``)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    # Typed extras: any other key must be a table, so ``namespace = "x"`` written
    # directly under ``[session]`` is an error at ``session.namespace``.
    __pydantic_extra__: dict[str, dict[str, Any]] = Field(init=False)

    provider: str | None = Field(
        default=None, description="Selector name[:argument] of the plugin for this role."
    )

    def plugin_settings(self, name: str) -> dict[str, Any]:
        """The ``[<role>.<name>]`` table, unvalidated (the plugin validates it)."""
        table = (self.model_extra or {}).get(name, {})
        return dict(table) if isinstance(table, dict) else {}


class SessionSection(_ProviderSection):
    startup_timeout: Duration = Field(
        default=60.0, gt=0, description="How long one session start may take."
    )


class BackendSection(_ProviderSection):
    pass


class DaemonSection(_Strict):
    patrol_interval: Duration = Field(default=30.0, gt=0)
    shutdown_timeout: Duration = 5.0
    probe_concurrency: int = Field(default=8, ge=1)
    probe_timeout: Duration = Field(default=30.0, gt=0)
    start_concurrency: int = Field(default=8, ge=1)
    max_restarts: int = Field(default=5, ge=1)
    restart_window: Duration = Field(default=600.0, gt=0)


class ApiSection(_Strict):
    """``[api]``: the controller's HTTP server (served by the gascity-dashboard plugin)."""

    port: int = Field(
        default=0, ge=0, le=65535, description="TCP port of the HTTP API; 0 = disabled."
    )
    bind: str = Field(default="127.0.0.1", description="Address the HTTP API listens on.")
    allow_mutations: bool = Field(
        default=False,
        description="Allow mutations (with the token) when bind is not a loopback address.",
    )


class PluginsSection(_Strict):
    disabled: list[str] = Field(
        default_factory=list,
        description="Plugins never loaded: 'name', 'role:name' or a distribution name.",
    )


class CityConfig(_Strict):
    workspace: WorkspaceSection = Field(default_factory=WorkspaceSection)
    agent: list[AgentConfig] = Field(default_factory=list)
    session: SessionSection = Field(default_factory=SessionSection)
    events: BackendSection = Field(default_factory=BackendSection)
    mail: BackendSection = Field(default_factory=BackendSection)
    daemon: DaemonSection = Field(default_factory=DaemonSection)
    api: ApiSection = Field(default_factory=ApiSection)
    plugins: PluginsSection = Field(default_factory=PluginsSection)

    @property
    def agents(self) -> list[AgentConfig]:
        return self.agent

    def agent_named(self, name: str) -> AgentConfig | None:
        for agent in self.agent:
            if agent.name == name:
                return agent
        return None

    def section(self, role: str) -> _ProviderSection:
        if role == "session":
            return self.session
        if role == "events":
            return self.events
        if role == "mail":
            return self.mail
        raise KeyError(role)
