"""The prompt of one agent's session, from its config: what ``gc prime`` prints and
what a start delivers per ``prompt_mode``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .render import PromptContext, PromptError, pack_fragment_dirs, render_prompt

if TYPE_CHECKING:
    from ..config.compose import RigAgent
    from ..config.load import LoadedConfig
    from ..config.models import AgentConfig, CityConfig

__all__ = ["agent_fragments", "agent_prompt", "prompt_problems"]


def agent_fragments(config: CityConfig, agent: AgentConfig) -> tuple[str, ...]:
    """Gas City's order: workspace ``global_fragments``, the agent's
    ``inject_fragments``, then ``[agent_defaults] append_fragments``."""
    return (
        *config.workspace.global_fragments,
        *agent.inject_fragments,
        *config.agent_defaults.append_fragments,
    )


def agent_prompt(
    agent: AgentConfig,
    *,
    city_dir: Path,
    work_dir: str,
    fragments: Sequence[str] = (),
    fragment_dirs: Sequence[Path] = (),
    qualified_name: str = "",
    rig: RigAgent | None = None,
) -> str:
    """The rendered ``prompt_template`` ("" without one). Raises ``PromptError``."""
    if not agent.prompt_template:
        return ""
    ctx = PromptContext(
        city_root=str(city_dir),
        agent_name=qualified_name or (rig.qualified if rig else agent.name),
        template_name=rig.base if rig else agent.name,
        work_dir=work_dir,
        rig_name=rig.rig if rig else "",
        rig_root=rig.root if rig else "",
        issue_prefix=rig.prefix if rig else "",
        work_query=agent.work_query,
        sling_query=agent.sling_query,
        env=agent.env,
    )
    return render_prompt(
        agent.prompt_template,
        ctx,
        city_dir=city_dir,
        fragment_dirs=fragment_dirs,
        fragments=fragments,
    )


def prompt_problems(loaded: LoadedConfig) -> list[str]:
    """Every agent's prompt template rendered once, as a start would: one line per
    template that cannot be rendered (``gc config validate``, ``gc doctor``)."""
    from ..reconcile.desired import agent_work_dir

    city_dir = loaded.city_dir.resolve()
    dirs = pack_fragment_dirs(loaded.composition.packs)
    problems: list[str] = []
    for i, agent in enumerate(loaded.config.agent):
        if not agent.prompt_template:
            continue
        rig = loaded.composition.rig_agents.get(agent.name)
        try:
            agent_prompt(agent, city_dir=city_dir, fragment_dirs=dirs, rig=rig,
                         work_dir=agent_work_dir(agent, city_dir, loaded.city_name, rig),
                         fragments=agent_fragments(loaded.config, agent))
        except PromptError as exc:
            problems.append(f"agent[{i}].prompt_template (agent '{agent.name}'): {exc}")
    return problems
