"""The demo city ``gc init`` writes: runs anywhere, no AI tools needed."""

from __future__ import annotations

import json

__all__ = ["MAYOR_PROMPT", "demo_city_toml", "provider_city_toml"]

_TEMPLATE = """\
# A Gas City demo, written by `gc init`. Reference: docs/config.md.
# Agents here are shell loops so the demo runs anywhere. For real work name a provider
# preset (provider = "claude", "codex", ... or [workspace] provider for all agents) or
# put any long-running command in start_command.

[workspace]
name = {name}
{session}
[daemon]
patrol_interval = "30s"   # 30s or more for 50+ agents
probe_concurrency = 8

# The mayor coordinates; it has no dependencies, so it starts in the first wave.
[[agent]]
name = "mayor"
start_command = "echo \\"mayor of $GC_CITY: ready\\"; while true; do sleep 60; done"

# The deacon starts once the mayor runs.
[[agent]]
name = "deacon"
start_command = "echo 'deacon: patrolling'; while true; do sleep 60; done"
depends_on = ["mayor"]

# A pool: one worker per line of ./work-queue, at least 1, at most 4.
# Edit work-queue and the next tick (or `gc start`) scales the pool.
[[agent]]
name = "polecat"
start_command = "echo \\"polecat $GC_INSTANCE: waiting for work\\"; while true; do sleep 60; done"
depends_on = ["mayor"]
min_active_sessions = 1
max_active_sessions = 4
scale_check = "grep -c . work-queue || true"
drain_timeout = "30s"
"""


def demo_city_toml(name: str, provider: str | None = None) -> str:
    session = f'\n[session]\nprovider = {json.dumps(provider)}\n' if provider else ""
    return _TEMPLATE.format(name=json.dumps(name), session=session)


_PROVIDER_TEMPLATE = """\
# Written by `gc init --provider {provider}`, as Gas City writes its default city: the
# workspace provider launches every agent; the mayor is a named session kept running.
# Reference: docs/config.md.

[workspace]
name = {name}
provider = {provider_json}
{session}
[[agent]]
name = "mayor"
prompt_template = "agents/mayor/prompt.template.md"

[[named_session]]
template = "mayor"
mode = "always"
"""

MAYOR_PROMPT = """\
# Mayor of {{ basename .CityRoot }}

You coordinate the agents of this city ({{ .CityRoot }}).

- `{{ cmd }} mail inbox`: read what the other agents sent you
- `{{ cmd }} status`: what runs, what is desired
- `{{ cmd }} rig add PATH`: bring a project in
"""


def provider_city_toml(name: str, provider: str, session: str | None = None) -> str:
    """Gas City's default city for a provider preset: one mayor, always running."""
    block = f'\n[session]\nprovider = {json.dumps(session)}\n' if session else ""
    return _PROVIDER_TEMPLATE.format(
        name=json.dumps(name), provider=provider, provider_json=json.dumps(provider),
        session=block,
    )
