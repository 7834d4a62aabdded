"""Every ``[session.k8s]`` key is documented: a row in docs/k8s.md's settings table
with its real default, and a mention in docs/config.md's plugin table."""

from __future__ import annotations

import re
from pathlib import Path

from gascity_k8s.settings import K8sSettings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:] if end == -1 else text[start:end]


def test_k8s_md_has_a_row_with_the_default_for_every_key() -> None:
    table = _section((DOCS / "k8s.md").read_text(), "## Settings: `[session.k8s]`")
    rows = dict(re.findall(r"^\| `([a-z_]+)`(?: / `[a-z_]+`)? \| ([^|]*) \|", table, re.M))
    # "cpu_request / mem_request" share a row: name both halves.
    for pair in re.findall(r"^\| `([a-z_]+)` / `([a-z_]+)` \|", table, re.M):
        rows.setdefault(pair[1], rows[pair[0]])
    fields = K8sSettings.model_fields
    assert sorted(set(fields) - set(rows)) == []
    assert sorted(set(rows) - set(fields)) == []
    for key in ("watch_cache", "resync_seconds", "leader_election", "lease_duration_seconds",
                "renew_deadline_seconds", "retry_period_seconds"):
        default = fields[key].default
        shown = str(default).lower() if isinstance(default, bool) else f"{default:g}"
        assert rows[key].strip() == f"`{shown}`", (key, rows[key])


def test_config_md_names_every_key_of_session_k8s() -> None:
    row = next(line for line in (DOCS / "config.md").read_text().splitlines()
               if line.startswith("| `[session.k8s]` |"))
    named = set(re.findall(r"`([a-z_]+)`", row))
    assert sorted(set(K8sSettings.model_fields) - named) == []
    for key, default in (("lease_duration_seconds", 15), ("renew_deadline_seconds", 10),
                         ("retry_period_seconds", 2), ("resync_seconds", 300)):
        assert f"`{key}` ({default}" in row
        assert K8sSettings.model_fields[key].default == default
