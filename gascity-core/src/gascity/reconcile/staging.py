"""What a session gets staged into its working directory besides its command: the
overlays and the ``copy_files`` of Gas City's start config.

A local provider shares the controller's filesystem, so the controller copies the
overlays into ``work_dir`` itself before the start (:func:`copy_overlays`). A
provider whose sessions run elsewhere (a pod, a container) gets the same sources in
the :class:`~gascity.types.StartConfig` and stages them there, as the reference's
``gc-session-k8s`` and ``gc-session-docker`` scripts do from the start JSON.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path

from ..fsutil import copy_missing
from ..types import CopyEntry

__all__ = ["copy_files", "copy_overlays", "overlay_path"]

_SCRIPTS = "scripts"
"""The city's scripts directory (Gas City's ``citylayout.ScriptsRoot``)."""
_CLAUDE_SETTINGS = (
    # (path under the city, where it goes under the session's root), first found wins
    (".gc/settings.json", ".gc/settings.json"),
    ("hooks/claude.json", "hooks/claude.json"),
)


def overlay_path(overlay_dir: str, city_dir: Path) -> str:
    """An agent's ``overlay_dir`` (or ``session_setup_script``) as an absolute path (""
    when unset): relative to the city, lexically cleaned as Go's ``filepath.Join``
    does (symlinks kept)."""
    if not overlay_dir or os.path.isabs(overlay_dir):
        return overlay_dir
    return os.path.normpath(os.path.join(str(city_dir), overlay_dir))


def copy_files(city_dir: Path, work_dir: str) -> tuple[CopyEntry, ...]:
    """The files Gas City stages into every session, found on disk as it finds them:
    the city's ``scripts/`` (to ``.gc/scripts``), the work dir's ``.claude/skills``
    and the city's Claude settings. Nothing when none of them exists."""
    city = str(city_dir)
    entries: list[CopyEntry] = []
    scripts = os.path.join(city, _SCRIPTS)
    if os.path.isdir(scripts):
        entries.append(CopyEntry(scripts, ".gc/scripts"))
    # Destinations are relative to the session's root, which is the city's place in
    # a pod: the skills land under the agent's work dir there.
    rel_work = "." if work_dir == city else os.path.relpath(work_dir, city)
    skills = os.path.join(work_dir, ".claude", "skills")
    if os.path.isdir(skills):
        entries.append(CopyEntry(
            skills, posixpath.normpath(posixpath.join(rel_work.replace(os.sep, "/"),
                                                      ".claude", "skills"))))
    for rel_src, rel_dst in _CLAUDE_SETTINGS:
        settings = os.path.join(city, rel_src)
        if os.path.exists(settings):
            if all(e.rel_dst != rel_dst for e in entries):
                entries.append(CopyEntry(settings, rel_dst))
            break
    return tuple(entries)


def copy_overlays(pack_overlay_dirs: Sequence[str], overlay_dir: str, work_dir: str, *,
                  on_error: Callable[[str, OSError], None] | None = None) -> None:
    """Copy the overlays into a local ``work_dir`` without replacing what is there:
    the agent's own first, then the packs' from the last (highest priority) on, so
    that where two provide a file the one Gas City ranks higher is the one copied.

    ``on_error(source, exc)`` takes an overlay that could not be copied and the next
    one is tried (the session scripts only warn); without it the error is raised."""
    if not os.path.isdir(work_dir):
        return
    for source in (overlay_dir, *reversed(pack_overlay_dirs)):
        if source and os.path.isdir(source):
            try:
                copy_missing(Path(source), Path(work_dir))
            except OSError as exc:
                if on_error is None:
                    raise
                on_error(source, exc)
