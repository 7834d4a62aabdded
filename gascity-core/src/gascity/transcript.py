"""Agents' conversation transcripts, as ``gc session logs`` shows them.

Claude Code keeps one JSONL file per conversation under
``~/.claude/projects/<slug of the working directory>/``; ``[daemon] observe_paths``
adds directories to search. Each line is an entry with a ``uuid`` and a
``parentUuid``: a retried or edited turn forks the conversation, so the conversation
shown is the branch ending at the newest entry. A context compaction is a ``system``
entry with ``subtype = "compact_boundary"``; ``--tail N`` shows the last N segments
from such a boundary on, as in Gas City.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "active_branch",
    "find_transcript",
    "format_entry",
    "project_slug",
    "read_entries",
    "read_messages",
    "search_paths",
    "tail_segments",
]

_SHOWN = frozenset({"user", "assistant", "system", "result"})


def project_slug(work_dir: str) -> str:
    """Claude's directory name for a project: every ``/`` and ``.`` becomes ``-``."""
    return work_dir.replace("/", "-").replace(".", "-")


def search_paths(extra: Iterable[str] = (), home: Path | None = None) -> list[Path]:
    """``~/.claude/projects`` then ``extra`` (``~`` expanded), without duplicates."""
    home = home if home is not None else Path.home()
    out: list[Path] = []
    for raw in [str(home / ".claude" / "projects"), *extra]:
        path = Path(os.path.normpath(home / raw[2:] if raw.startswith("~/") else raw))
        if path not in out:
            out.append(path)
    return out


def find_transcript(paths: Sequence[Path], work_dir: str) -> Path | None:
    """The most recently written transcript of ``work_dir`` in ``paths``."""
    slug = project_slug(work_dir)
    best: tuple[float, Path] | None = None
    for base in paths:
        try:
            candidates = list((base / slug).glob("*.jsonl"))
        except OSError:
            continue
        for path in candidates:
            try:
                mtime = path.stat().st_mtime
            except OSError:
                continue
            if path.is_file() and (best is None or mtime > best[0]):
                best = (mtime, path)
    return best[1] if best else None


def read_entries(path: Path) -> list[dict[str, Any]]:
    """Every entry of the file; a line that is no JSON object is skipped (an agent may
    be writing the last one right now)."""
    entries: list[dict[str, Any]] = []
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
    return entries


def active_branch(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation from its root to the newest entry, forks left out.

    A compaction boundary has no ``parentUuid`` but a ``logicalParentUuid`` bridging it
    to the conversation before. Entries without a ``uuid`` cannot be placed and are
    kept in file order only when no entry has one.
    """
    by_id = {e["uuid"]: e for e in entries if isinstance(e.get("uuid"), str) and e["uuid"]}
    if not by_id:
        return list(entries)
    tip = next(e for e in reversed(entries) if e.get("uuid") in by_id)
    branch: list[dict[str, Any]] = []
    seen: set[str] = set()
    node: dict[str, Any] | None = tip
    while node is not None and node["uuid"] not in seen:
        seen.add(node["uuid"])
        branch.append(node)
        parent = node.get("parentUuid") or node.get("logicalParentUuid")
        node = by_id.get(parent) if isinstance(parent, str) else None
    branch.reverse()
    return branch


def _is_boundary(entry: dict[str, Any]) -> bool:
    return entry.get("type") == "system" and entry.get("subtype") == "compact_boundary"


def tail_segments(messages: list[dict[str, Any]], segments: int) -> list[dict[str, Any]]:
    """From the ``segments``-th last compaction boundary on (0 = everything)."""
    if segments <= 0:
        return messages
    boundaries = [i for i, m in enumerate(messages) if _is_boundary(m)]
    if len(boundaries) <= segments:
        return messages
    return messages[boundaries[-segments]:]


def read_messages(path: Path, segments: int = 0) -> list[dict[str, Any]]:
    """The entries ``gc session logs`` shows: the active branch's messages."""
    shown = [e for e in active_branch(read_entries(path)) if e.get("type") in _SHOWN]
    return tail_segments(shown, segments)


def _message(raw: Any) -> dict[str, Any] | None:
    # Claude writes the message as an object, some versions as a JSON string of one.
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return None
    return raw if isinstance(raw, dict) and raw.get("role") else None


def _clock(stamp: Any) -> str:
    if not isinstance(stamp, str) or not stamp:
        return ""
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).strftime("%H:%M:%S ")
    except ValueError:
        return ""


def format_entry(entry: dict[str, Any]) -> list[str]:
    """``HH:MM:SS [TYPE] text`` lines for one entry (none for one without text)."""
    if _is_boundary(entry):
        return ["── context compacted ──"]
    head = f"{_clock(entry.get('timestamp'))}[{str(entry.get('type', '')).upper()}]"
    message = _message(entry.get("message"))
    if message is None:
        raw = entry.get("message") or entry.get("content")
        if not raw:
            return []
        text = raw if isinstance(raw, str) else json.dumps(raw)
        return [f"{head} {text[:200]}{'...' if len(text) > 200 else ''}"]
    content = message.get("content")
    if isinstance(content, str):
        return [f"{head} {content}"] if content else []
    lines: list[str] = []
    for block in content if isinstance(content, list) else []:
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            lines.append(f"{head} {block['text']}")
        elif kind == "tool_use":
            lines.append(f"{head} tool_use: {block.get('name', '')}")
        elif kind == "tool_result" and block.get("is_error"):
            lines.append(f"{head} tool_result: error")
    return lines
