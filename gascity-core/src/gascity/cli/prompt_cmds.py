"""``gc prime [AGENT]``: an agent's rendered prompt, as Gas City prints it."""

from __future__ import annotations

import os

import click

from .common import CliState, guard, pass_state

__all__ = ["prime"]

DEFAULT_PROMPT = """# Gas City agent

You are an agent of a Gas City city. Useful commands:

- `gc mail inbox` / `gc mail read ID`: your mail
- `gc mail send TO -s SUBJECT -m BODY`: write to another agent
- `gc event emit TYPE --message TEXT`: record what you did
- `gc runtime drain-check` / `gc runtime drain-ack`: finish up when asked to drain
"""


@click.command()
@click.argument("agent_name", required=False)
@click.option("--hook", is_flag=True, hidden=True, help="Accepted for runtime hook profiles.")
@pass_state
@guard
def prime(state: CliState, agent_name: str | None, hook: bool) -> None:
    """Output the behavioral prompt for an agent.

    Prime any CLI coding agent with it, e.g. claude "$(gc prime mayor)". Without
    AGENT_NAME, $GC_ALIAS is used (then $GC_AGENT, then $GC_TEMPLATE). An agent with a
    prompt_template gets it rendered; anything else gets a default worker prompt. A
    template that cannot be rendered is an error naming its file and line.
    """
    from ..config import load_city
    from ..prompt.agent import agent_fragments, agent_prompt
    from ..prompt.render import pack_fragment_dirs
    from ..reconcile.desired import agent_work_dir

    name = agent_name or os.environ.get("GC_ALIAS") or os.environ.get("GC_AGENT") or ""
    loaded = load_city(state.city_dir())
    config = loaded.config
    # A rig agent's identity frontend/polecat is the composed agent frontend--polecat.
    agent = config.agent_named(name.replace("/", "--")) if name else None
    if agent is None and not agent_name and os.environ.get("GC_TEMPLATE"):
        # A session gc session new --alias named: its alias is no agent, its template is.
        agent = config.agent_named(os.environ["GC_TEMPLATE"].replace("/", "--"))
    if agent is None or not agent.prompt_template:
        click.echo(DEFAULT_PROMPT, nl=False)
        return
    city_dir = loaded.city_dir.resolve()
    rig = loaded.composition.rig_agents.get(agent.name)
    work = agent_work_dir(agent, city_dir, loaded.city_name, rig)
    click.echo(
        agent_prompt(
            agent,
            city_dir=city_dir,
            work_dir=work,
            fragments=agent_fragments(config, agent),
            fragment_dirs=pack_fragment_dirs(loaded.composition.packs),
            rig=rig,
        ),
        nl=False,
    )
