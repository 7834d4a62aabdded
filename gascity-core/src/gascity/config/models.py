"""The typed model of city.toml. Validation happens here and in :mod:`.validate`."""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .fields import Duration
from .recognised import (
    AgentDefaultsSection,
    BeadsSection,
    ChatSessionsSection,
    ConvergenceSection,
    DoltSection,
    FormulasSection,
    OrdersSection,
    PackSourceSection,
    ServiceSection,
    SessionSleepSection,
    deprecated,
    recognised,
)

__all__ = [
    "AgentConfig",
    "AgentPatch",
    "ApiSection",
    "BackendSection",
    "CityConfig",
    "DaemonSection",
    "ImportSection",
    "NamedSessionConfig",
    "PatchesSection",
    "PluginsSection",
    "PoolSection",
    "ProviderPatch",
    "ProviderSpec",
    "RigConfig",
    "RigPatch",
    "SessionSection",
    "WorkspaceSection",
]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]*$"
_NAME_RE = re.compile(NAME_PATTERN)
MAX_AGENT_NAME = 56
"""Longest agent name: with a pool suffix (``-1000``) it stays a valid Kubernetes label
value (63) and a subprocess session directory name."""
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


PROMPT_MODES = ("arg", "flag", "none")
SCOPES = ("city", "rig")


class WorkspaceSection(_Strict):
    name: str = Field(default="", description="City name; fixed for the life of a controller.")
    suspended: bool = Field(default=False, description="Suspend the whole city: nothing starts.")
    provider: str = Field(default="", description="Default provider preset of agents.")
    start_command: str = Field(default="", description="Default start command of agents.")
    max_active_sessions: int | None = Field(
        default=None, ge=0, description="Cap on the city's concurrent sessions."
    )
    session_template: str = Field(
        default="", description="Go template of session names over .City, .Agent, .Dir "
        "and .Name ('': the agent's name).")
    global_fragments: list[str] = Field(
        default_factory=list, description="Template fragments added to every prompt."
    )
    includes: list[str] = Field(default_factory=list, description="Pack directories composed in.")
    prefix: str = recognised("", "bead ID prefix of the city (HQ)")
    install_agent_hooks: list[str] = recognised(
        what="providers whose hooks are installed into agent directories",
        default_factory=list,
    )
    default_rig_includes: list[str] = Field(
        default_factory=list, description="Packs given to rigs added by 'gc rig add'."
    )
    isolation: str = recognised("", "an older isolation mode that Gas City no longer reads")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if v and not _NAME_RE.match(v):
            raise ValueError(
                "expected letters, digits, '_' or '-', starting with a letter or digit"
            )
        return v


class PoolSection(_Strict):
    """The legacy ``[agent.pool]`` table, mapped onto the session-count keys."""

    min: int | None = Field(default=None, ge=0, description="Now min_active_sessions.")
    max: int | None = Field(default=None, ge=0, description="Now max_active_sessions.")
    check: str | None = Field(default=None, description="Now scale_check.")
    drain_timeout: Duration | None = Field(default=None, description="Now drain_timeout.")
    on_death: str | None = Field(default=None, description="Now on_death.")
    on_boot: str | None = Field(default=None, description="Now on_boot.")


_POOL_KEYS = {
    "min": "min_active_sessions",
    "max": "max_active_sessions",
    "check": "scale_check",
    "drain_timeout": "drain_timeout",
    "on_death": "on_death",
    "on_boot": "on_boot",
}


def _check_env_names(v: dict[str, str]) -> dict[str, str]:
    for key in v:
        if not _ENV_NAME_RE.match(key):
            raise ValueError(f"expected environment variable names, got {key!r}")
    return v


class AgentConfig(_Strict):
    KEY_ALIASES: ClassVar[tuple[str, ...]] = ("command",)
    name: str = Field(description="Unique agent name: [A-Za-z0-9][A-Za-z0-9_-]*.")
    description: str = Field(default="", description="Shown by 'gc agent list'.")
    start_command: str = Field(
        default="", description="Shell command that runs the agent (alias: command)."
    )
    provider: str = Field(default="", description="Provider preset (claude, codex, ...).")
    args: list[str] | None = Field(default=None, description="Replaces the provider's args.")
    prompt_mode: Literal["arg", "flag", "none"] | None = Field(
        default=None, description="How the prompt is delivered: arg, flag or none."
    )
    prompt_flag: str = Field(default="", description="Flag before the prompt (prompt_mode=flag).")
    ready_delay_ms: int | None = Field(
        default=None, ge=0, description="Wait after launch before the agent counts as ready."
    )
    ready_prompt_prefix: str = Field(
        default="", description="Screen text that means the agent is ready for input."
    )
    prompt_template: str = Field(default="", description="Prompt template file.")
    inject_fragments: list[str] = Field(
        default_factory=list, description="Named fragments appended to this agent's prompt."
    )
    scope: Literal["city", "rig"] | None = Field(
        default=None, description="Pack agents: one per city, or one per rig."
    )
    fallback: bool = Field(default=False, description="Pack agents: yields to a same-named one.")
    dir: str = Field(default="", description="Agent directory, relative to the city.")
    work_dir: str = Field(default="", description="Session working directory (default: dir).")
    env: dict[str, str] = Field(default_factory=dict, description="Environment; '' unsets.")
    process_names: list[str] | None = Field(
        default=None, description="Process names whose absence means the agent died."
    )
    suspended: bool = False
    depends_on: list[str] = Field(default_factory=list, description="Agents started first.")
    idle_timeout: Duration | None = None
    pre_start: list[str] = Field(default_factory=list, description="Run before start.")
    session_setup: list[str] = Field(default_factory=list, description="Run after start.")
    session_setup_script: str = ""
    session_live: list[str] = Field(
        default_factory=list, description="Setup re-applied on change without a restart."
    )
    overlay_dir: str = Field(
        default="", description="Directory copied (never overwriting) into the work dir."
    )
    on_boot: str = Field(default="", description="Command run once at controller start.")
    on_death: str = Field(default="", description="Command run when a session dies.")
    namepool: str = Field(
        default="", description="File of names for the pool's instances, one a line "
        "(agents/<name>/namepool.txt in a pack).")
    nudge: str = Field(default="", description="Text typed into the session once it is up.")
    min_active_sessions: int | None = Field(default=None, ge=0)
    max_active_sessions: int | None = Field(default=None, ge=0)
    scale_check: str | None = Field(
        default=None, description="Shell command printing the desired instance count."
    )
    drain_timeout: Duration = 300.0
    pool: PoolSection | None = deprecated(
        None, "min_active_sessions, max_active_sessions and scale_check on the agent"
    )
    session: str = recognised("", "per-agent session transport (acp)")
    emits_permission_warning: bool | None = Field(
        default=None, description="The agent shows a bypass-permissions warning at start "
        "(unset: the provider's); with it or process_names set the controller dismisses "
        "startup dialogs.")
    option_defaults: dict[str, str] = recognised(
        what="provider option choices (model, permission mode) for this agent",
        default_factory=dict,
    )
    work_query: str = recognised("", "command finding work for this agent (gc hook)")
    sling_query: str = recognised("", "command routing a bead to this agent (gc sling)")
    sleep_after_idle: str = recognised("", "idle sleep policy of this agent")
    install_agent_hooks: list[str] = recognised(
        what="providers whose hooks are installed for this agent", default_factory=list
    )
    skills: list[str] = recognised(what="tombstone, ignored by Gas City too", default_factory=list)
    mcp: list[str] = recognised(what="tombstone, ignored by Gas City too", default_factory=list)
    hooks_installed: bool | None = recognised(None, "hooks are installed by hand")
    default_sling_formula: str = recognised("", "formula applied to beads slung here")
    inject_assigned_skills: bool | None = recognised(None, "assigned-skills prompt appendix")
    attach: bool | None = recognised(None, "whether the session can be attached to")
    resume_command: str = recognised("", "command resuming a provider session by key")
    wake_mode: Literal["resume", "fresh"] | None = recognised(
        None, "resume or start fresh conversation state on wake"
    )

    @model_validator(mode="before")
    @classmethod
    def _legacy(cls, data: Any) -> Any:
        # ``command`` was this project's key before the reference's ``start_command``.
        if not isinstance(data, dict):
            return data
        if "command" in data:
            data = dict(data)
            command = data.pop("command")
            if "start_command" in data:
                raise ValueError(
                    "both command and start_command are set; expected only start_command "
                    "(command is its older alias)"
                )
            data["start_command"] = command
        pool = data.get("pool")
        if isinstance(pool, dict):
            data = dict(data)
            for old, new in _POOL_KEYS.items():
                if old in pool and new not in data:
                    data[new] = pool[old]
        return data

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                "expected an agent name of letters, digits, '_' or '-', "
                "starting with a letter or digit"
            )
        if len(v) > MAX_AGENT_NAME:
            # Session names add a pool suffix and must fit every provider's limits
            # (the subprocess provider's directory names, Kubernetes label values).
            raise ValueError(
                f"expected an agent name of at most {MAX_AGENT_NAME} characters, "
                f"got {len(v)}"
            )
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_env_names(v)

    @field_validator("max_active_sessions")
    @classmethod
    def _max_not_below_min(cls, v: int | None, info: ValidationInfo) -> int | None:
        # A field validator (not a model one) so the error names the exact key.
        lo = info.data.get("min_active_sessions")
        if v is not None and lo is not None and lo > v:
            raise ValueError(f"expected a value >= min_active_sessions ({lo})")
        return v

    @property
    def command(self) -> str:
        """The explicit start command (older name); '' when a provider supplies it."""
        return self.start_command

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


class ProviderSpec(_Strict):
    """``[providers.<name>]``: define a provider, or override a built-in preset's keys."""

    display_name: str = Field(default="", description="Name shown in listings.")
    command: str = Field(default="", description="Executable of the provider.")
    args: list[str] | None = Field(default=None, description="Default arguments.")
    prompt_mode: Literal["arg", "flag", "none"] | None = Field(
        default=None, description="arg, flag or none (default arg)."
    )
    prompt_flag: str = Field(default="", description="Flag before the prompt (prompt_mode=flag).")
    ready_delay_ms: int | None = Field(default=None, ge=0, description="Ready delay.")
    ready_prompt_prefix: str = Field(default="", description="Ready prompt text.")
    process_names: list[str] | None = Field(default=None, description="Process names.")
    env: dict[str, str] = Field(default_factory=dict, description="Environment (merged).")
    path_check: str = Field(default="", description="Binary looked up on PATH instead of command.")
    emits_permission_warning: bool = Field(
        default=False, description="The provider shows a bypass-permissions warning at "
        "start (only turns a built-in's value on).")
    supports_acp: bool = recognised(False, "speaks the Agent Client Protocol")
    supports_hooks: bool = recognised(False, "has a lifecycle hook mechanism")
    instructions_file: str = recognised("", "project instructions file (AGENTS.md)")
    resume_flag: str = recognised("", "flag resuming a session by ID")
    resume_style: str = recognised("", "flag or subcommand resume")
    resume_command: str = recognised("", "full resume command")
    session_id_flag: str = recognised("", "flag creating a session with a given ID")
    permission_modes: dict[str, str] = recognised(
        what="permission mode names to flags (UI lookup)", default_factory=dict
    )
    option_defaults: dict[str, str] = recognised(
        what="default choices of the provider's options", default_factory=dict
    )
    options_schema: list[dict[str, Any]] = recognised(
        what="configurable options mapped to CLI flags", default_factory=list
    )
    print_args: list[str] = recognised(what="arguments of one-shot mode", default_factory=list)
    title_model: str = recognised("", "model used for title generation")

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        return _check_env_names(v)


class ImportSection(_Strict):
    source: str = Field(description="Pack directory (relative to the importing file).")
    version: str = Field(default="", description="Version constraint (remote packs only).")
    export: bool = Field(default=False, description="Re-export into the importer's namespace.")
    transitive: bool = Field(default=True, description="Bring this pack's own imports too.")
    shadow: Literal["warn", "silent"] = Field(
        default="warn", description="Warn when the importer shadows one of its agents."
    )


class NamedSessionConfig(_Strict):
    template: str = Field(description="The agent this session is made from.")
    name: str = Field(default="", description="Session identity (default: the template's).")
    scope: Literal["city", "rig"] | None = Field(
        default=None, description="Pack sessions: one per city, or one per rig."
    )
    dir: str = Field(default="", description="Rig the session belongs to ('' for the city).")
    mode: Literal["on_demand", "always"] = Field(
        default="on_demand", description="always: kept running; on_demand: on wake."
    )


class AgentPatch(_Strict):
    """``[[patches.agent]]``: keys replaced on an agent the packs defined."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(description="The agent to patch.")
    dir: str = Field(default="", description="Its rig ('' for city agents).")


class RigPatch(_Strict):
    name: str = Field(description="The rig to patch.")
    path: str | None = Field(default=None, description="New path.")
    prefix: str | None = Field(default=None, description="New bead prefix.")
    suspended: bool | None = Field(default=None, description="New suspended state.")


class ProviderPatch(_Strict):
    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(description="The provider to patch.")


class PatchesSection(_Strict):
    agent: list[AgentPatch] = Field(default_factory=list, description="Agent patches.")
    rigs: list[RigPatch] = Field(default_factory=list, description="Rig patches.")
    providers: list[ProviderPatch] = Field(default_factory=list, description="Provider patches.")


class RigConfig(_Strict):
    name: str = Field(description="Rig name: the prefix of its agents' qualified names.")
    path: str = Field(description="The project directory (relative to the city or absolute).")
    suspended: bool = Field(default=False, description="Start none of this rig's agents.")
    max_active_sessions: int | None = Field(
        default=None, ge=0, description="Cap on this rig's concurrent sessions."
    )
    includes: list[str] = Field(default_factory=list, description="Packs stamped into this rig.")
    imports: dict[str, ImportSection] = Field(
        default_factory=dict, description="Named packs stamped into this rig."
    )
    patches: list[dict[str, Any]] = Field(
        default_factory=list, description="Per-agent patches of this rig's pack agents."
    )
    overrides: list[dict[str, Any]] = deprecated(None, "patches", default_factory=list)
    prefix: str = Field(
        default="", description="Bead ID prefix of the rig ({{ .IssuePrefix }}); derived "
        "from the name when empty.")
    formulas_dir: str = recognised("", "rig-local formula directory")
    default_sling_target: str = recognised("", "agent gc sling targets by default")
    session_sleep: SessionSleepSection | None = recognised(None, "idle sleep of this rig")
    dolt_host: str = recognised("", "Dolt host of this rig's beads")
    dolt_port: str = recognised("", "Dolt port of this rig's beads")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME_RE.match(v):
            raise ValueError(
                "expected a rig name of letters, digits, '_' or '-', "
                "starting with a letter or digit"
            )
        return v

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
    setup_timeout: str = recognised("", "time limit of each pre_start / session_setup command")
    socket: str = Field(
        default="", description="tmux socket name for the tmux providers ([session.tmux] "
        "socket wins); default: gc-<city>-<hash of its name and real path>.")
    nudge_ready_timeout: str = recognised("", "wait for readiness before a nudge")
    nudge_retry_interval: str = recognised("", "poll interval of nudge readiness")
    nudge_lock_timeout: str = recognised("", "wait for the per-session nudge lock")
    debounce_ms: int = recognised(0, "send-keys debounce")
    display_ms: int = recognised(0, "status message display time")
    remote_match: str = recognised("", "hybrid provider routing pattern")


class BackendSection(_ProviderSection):
    pass


class DaemonSection(_Strict):
    patrol_interval: Duration = Field(default=30.0, gt=0)
    shutdown_timeout: Duration = 5.0
    probe_concurrency: int = Field(default=8, ge=1)
    probe_timeout: Duration = Field(default=30.0, gt=0)
    max_pool_sessions: int = Field(
        default=100, ge=1,
        description="Safety cap for a pool without max_active_sessions (pool.capped when hit).",
    )
    start_concurrency: int = Field(default=8, ge=1)
    max_restarts: int = Field(default=5, ge=0)
    restart_window: Duration = Field(default=600.0, gt=0)
    formula_v2: bool = recognised(False, "formula v2 graph workflows")
    graph_workflows: bool = recognised(False, "old name of formula_v2")
    wisp_gc_interval: str = recognised("", "how often closed molecules are purged")
    wisp_ttl: str = recognised("", "how long closed molecules survive")
    drift_drain_timeout: str = recognised("", "drain acknowledgement wait on drift restarts")
    observe_paths: list[str] = Field(
        default_factory=list,
        description="Directories searched for agents' JSONL transcripts (gc session logs) "
                    "after ~/.claude/projects.",
    )
    max_wakes_per_tick: int = recognised(0, "cap on session starts per tick")


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
    include: list[str] = Field(default_factory=list, description="TOML fragments merged in.")
    imports: dict[str, ImportSection] = Field(
        default_factory=dict, description="Named packs composed in."
    )
    providers: dict[str, ProviderSpec] = Field(
        default_factory=dict, description="Provider presets defined or overridden."
    )
    agent: list[AgentConfig] = Field(default_factory=list)
    named_session: list[NamedSessionConfig] = Field(default_factory=list)
    rigs: list[RigConfig] = Field(default_factory=list)
    patches: PatchesSection = Field(default_factory=PatchesSection)
    agent_defaults: AgentDefaultsSection = Field(default_factory=AgentDefaultsSection)
    session: SessionSection = Field(default_factory=SessionSection)
    events: BackendSection = Field(default_factory=BackendSection)
    mail: BackendSection = Field(default_factory=BackendSection)
    daemon: DaemonSection = Field(default_factory=DaemonSection)
    api: ApiSection = Field(default_factory=ApiSection)
    plugins: PluginsSection = Field(default_factory=PluginsSection)
    packs: dict[str, PackSourceSection] = recognised(
        what="remote (git) pack sources; fetch the pack into a local directory and "
        "list that directory in workspace.includes or [imports] instead",
        default_factory=dict,
    )
    beads: BeadsSection | None = recognised(None, "the bead store (bd) backing work and mail")
    dolt: DoltSection | None = recognised(None, "the managed Dolt server of the bead store")
    formulas: FormulasSection | None = recognised(None, "the formula directory")
    orders: OrdersSection | None = recognised(None, "scheduled orders (cron, gates)")
    chat_sessions: ChatSessionsSection | None = recognised(None, "chat session auto-suspend")
    session_sleep: SessionSleepSection | None = recognised(None, "idle sleep of sessions")
    convergence: ConvergenceSection | None = recognised(None, "convergence loop limits")
    service: list[ServiceSection] = recognised(
        what="workspace HTTP services under /svc/<name>", default_factory=list
    )

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
