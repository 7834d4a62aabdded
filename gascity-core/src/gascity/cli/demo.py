"""The demo city ``gc init`` writes: runs anywhere, no AI tools needed."""

from __future__ import annotations

import json

__all__ = ["demo_city_toml"]

_TEMPLATE = """\
# A Gas City demo, written by `gc init`. Reference: docs/config.md.
# Agents here are shell loops so the demo runs anywhere; put `claude`, `codex` or any
# long-running command in `command` for real work.

[workspace]
name = {name}
{session}
[daemon]
patrol_interval = "30s"   # 30s or more for 50+ agents
probe_concurrency = 8

# The mayor coordinates; it has no dependencies, so it starts in the first wave.
[[agent]]
name = "mayor"
command = "echo \\"mayor of $GC_CITY: ready\\"; while true; do sleep 60; done"

# The deacon starts once the mayor runs.
[[agent]]
name = "deacon"
command = "echo 'deacon: patrolling'; while true; do sleep 60; done"
depends_on = ["mayor"]

# A pool: one worker per line of ./work-queue, at least 1, at most 4.
# Edit work-queue and the next tick (or `gc start`) scales the pool.
[[agent]]
name = "polecat"
command = "echo \\"polecat $GC_INSTANCE: waiting for work\\"; while true; do sleep 60; done"
depends_on = ["mayor"]
min_active_sessions = 1
max_active_sessions = 4
scale_check = "grep -c . work-queue || true"
drain_timeout = "30s"
"""


def demo_city_toml(name: str, provider: str | None = None) -> str:
    session = f'\n[session]\nprovider = {json.dumps(provider)}\n' if provider else ""
    return _TEMPLATE.format(name=json.dumps(name), session=session)
