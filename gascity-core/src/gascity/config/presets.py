"""The built-in provider presets and how an agent's launch is resolved from them.

An agent names a provider (``provider = "claude"``) instead of spelling out a command;
the preset supplies the command, its default arguments, how the first prompt is
passed, when the agent is ready for input and which processes mean it is alive. The
facts (commands, flags, delays) are Gas City's, so a city brought over starts the same
programs the same way. Pure data and pure functions: no pydantic, no I/O except the
PATH lookup the caller asks for.
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import AgentConfig, ProviderSpec, WorkspaceSection

__all__ = [
    "BUILTIN_ORDER",
    "BUILTIN_PRESETS",
    "Launch",
    "Preset",
    "ProviderError",
    "known_providers",
    "resolve_launch",
]


@dataclass(frozen=True, slots=True)
class Preset:
    command: str
    args: tuple[str, ...] = ()
    prompt_mode: str = "arg"
    prompt_flag: str = ""
    ready_delay_ms: int = 0
    ready_prompt_prefix: str = ""
    process_names: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    path_check: str = ""
    display_name: str = ""
    emits_permission_warning: bool = False
    """The agent shows a bypass-permissions warning at start (Gas City: claude only)."""


# ``args`` include the flags the preset's default options select in Gas City
# (permission mode, effort), which it appends to every launch.
BUILTIN_PRESETS: dict[str, Preset] = {
    "claude": Preset(
        command="claude",
        args=("--dangerously-skip-permissions", "--effort", "max"),
        ready_delay_ms=10000,
        ready_prompt_prefix="\u276f ",
        process_names=("node", "claude"),
        emits_permission_warning=True,
    ),
    "codex": Preset(
        command="codex",
        args=("--dangerously-bypass-approvals-and-sandbox", "-c", "model_reasoning_effort=xhigh"),
        ready_delay_ms=3000,
        process_names=("codex",),
    ),
    "gemini": Preset(
        command="gemini",
        args=("--approval-mode", "yolo"),
        ready_delay_ms=5000,
        ready_prompt_prefix="> ",
        process_names=("gemini", "node"),
    ),
    "cursor": Preset(
        command="cursor-agent",
        args=("-f",),
        process_names=("cursor-agent",),
    ),
    "copilot": Preset(
        command="copilot",
        args=("--yolo",),
        ready_delay_ms=5000,
        ready_prompt_prefix="\u276f ",
        process_names=("copilot",),
    ),
    "amp": Preset(
        command="amp",
        args=("--dangerously-allow-all", "--no-ide"),
        process_names=("amp",),
    ),
    "opencode": Preset(
        command="opencode",
        prompt_mode="none",
        ready_delay_ms=8000,
        process_names=("opencode", "node", "bun"),
        env={"OPENCODE_PERMISSION": '{"*":"allow"}'},
    ),
    "auggie": Preset(
        command="auggie",
        args=("--allow-indexing",),
        process_names=("auggie",),
    ),
    "pi": Preset(
        command="pi",
        args=("-e", ".pi/extensions/gc-hooks.js"),
        ready_delay_ms=8000,
        process_names=("pi", "node", "bun"),
    ),
    "omp": Preset(
        command="omp",
        args=("--hook", ".omp/hooks/gc-hook.ts"),
        process_names=("omp", "node", "bun"),
    ),
}
BUILTIN_ORDER: tuple[str, ...] = tuple(BUILTIN_PRESETS)
"""Auto-detection order when no agent or workspace names a provider."""


class ProviderError(Exception):
    """The agent's launch cannot be resolved; the message says why and what to set."""


@dataclass(frozen=True, slots=True)
class Launch:
    """How one agent is started: the reference's resolved provider."""

    command: str
    """Shell text: the executable and its (quoted) arguments, prompt not included."""
    provider: str = ""
    prompt_mode: str = "none"
    prompt_flag: str = ""
    ready_delay_ms: int = 0
    ready_prompt_prefix: str = ""
    process_names: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    emits_permission_warning: bool = False
    """With it (or ``process_names``) the controller answers the agent's startup
    dialogs after a start (:mod:`gascity.startup_dialogs`)."""

    def with_prompt(self, prompt: str) -> str:
        """The command line carrying ``prompt`` as ``prompt_mode`` says (arg / flag)."""
        if not prompt or self.prompt_mode == "none":
            return self.command
        if self.prompt_mode == "flag" and self.prompt_flag:
            return f"{self.command} {shlex.quote(self.prompt_flag)} {shlex.quote(prompt)}"
        if self.prompt_mode == "flag":
            return self.command
        return f"{self.command} {shlex.quote(prompt)}"


def known_providers(city_providers: Mapping[str, object]) -> list[str]:
    return sorted({*BUILTIN_PRESETS, *city_providers})


def _merge(base: Preset, spec: ProviderSpec) -> Preset:
    """City keys over a built-in: set scalars replace, lists replace, env merges."""
    return replace(
        base,
        command=spec.command or base.command,
        args=tuple(spec.args) if spec.args is not None else base.args,
        prompt_mode=spec.prompt_mode or base.prompt_mode,
        prompt_flag=spec.prompt_flag or base.prompt_flag,
        ready_delay_ms=spec.ready_delay_ms
        if spec.ready_delay_ms is not None
        else base.ready_delay_ms,
        ready_prompt_prefix=spec.ready_prompt_prefix or base.ready_prompt_prefix,
        process_names=tuple(spec.process_names)
        if spec.process_names is not None
        else base.process_names,
        env={**base.env, **spec.env},
        path_check=spec.path_check or base.path_check,
        display_name=spec.display_name or base.display_name,
        # As in Gas City, a city's provider can turn this on, never a built-in's off.
        emits_permission_warning=base.emits_permission_warning or spec.emits_permission_warning,
    )


def lookup_preset(name: str, city_providers: Mapping[str, ProviderSpec]) -> Preset:
    """``[providers.<name>]`` layered over the built-in of that name (or of its command)."""
    spec = city_providers.get(name)
    if spec is None:
        if name in BUILTIN_PRESETS:
            return BUILTIN_PRESETS[name]
        known = ", ".join(known_providers(city_providers))
        raise ProviderError(f"unknown provider '{name}'; expected one of: {known}")
    base = BUILTIN_PRESETS.get(name) or BUILTIN_PRESETS.get(spec.command) or Preset(command="")
    merged = _merge(base, spec)
    if not merged.command:
        raise ProviderError(f"[providers.{name}] has no command; expected command = \"...\"")
    return merged


def _join(command: str, args: Sequence[str]) -> str:
    return " ".join([command, *(shlex.quote(a) for a in args)]) if args else command


def resolve_launch(
    agent: AgentConfig,
    workspace: WorkspaceSection,
    city_providers: Mapping[str, ProviderSpec],
    which: Callable[[str], str | None] = shutil.which,
) -> Launch:
    """The reference's order: agent start_command; then the agent's provider, the
    workspace's provider, workspace start_command, or the first built-in found on
    PATH; agent keys override the preset; workspace start_command replaces the
    preset's command line but keeps its prompt and readiness settings."""
    if agent.start_command:
        return Launch(
            command=agent.start_command,
            prompt_mode=agent.prompt_mode or "none",
            prompt_flag=agent.prompt_flag,
            ready_delay_ms=agent.ready_delay_ms or 0,
            ready_prompt_prefix=agent.ready_prompt_prefix,
            process_names=tuple(agent.process_names or ()),
            emits_permission_warning=bool(agent.emits_permission_warning),
        )
    name = agent.provider or workspace.provider
    if not name:
        if workspace.start_command:
            return Launch(
                command=workspace.start_command,
                prompt_mode=agent.prompt_mode or "none",
                prompt_flag=agent.prompt_flag,
                process_names=tuple(agent.process_names or ()),
                emits_permission_warning=bool(agent.emits_permission_warning),
            )
        name = next((n for n in BUILTIN_ORDER if which(BUILTIN_PRESETS[n].command)), "")
        if not name:
            raise ProviderError(
                "no start_command and no provider, and none of the built-in providers ("
                + ", ".join(BUILTIN_ORDER)
                + ") is on PATH; expected start_command = \"...\" or provider = \"...\" "
                "on the agent or in [workspace]"
            )
    preset = lookup_preset(name, city_providers)
    args = tuple(agent.args) if agent.args is not None else preset.args
    command = _join(preset.command, args)
    if workspace.start_command:
        command = workspace.start_command
    return Launch(
        command=command,
        provider=name,
        prompt_mode=agent.prompt_mode or preset.prompt_mode or "arg",
        prompt_flag=agent.prompt_flag or preset.prompt_flag,
        ready_delay_ms=agent.ready_delay_ms
        if agent.ready_delay_ms is not None
        else preset.ready_delay_ms,
        ready_prompt_prefix=agent.ready_prompt_prefix or preset.ready_prompt_prefix,
        process_names=tuple(agent.process_names)
        if agent.process_names is not None
        else preset.process_names,
        env=dict(preset.env),
        emits_permission_warning=agent.emits_permission_warning
        if agent.emits_permission_warning is not None
        else preset.emits_permission_warning,
    )
