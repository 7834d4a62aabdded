"""Staging a start config's overlays and ``copy_files`` into a local work dir, for the
session scripts shipped here (``gc-session-tmux``, ``gc-session-screen``).

Our controller has already copied the overlays before ``start``; the reference's
does not for an exec provider (its scripts stage them, as its ``gc-session-screen``
does), so a script run by either gets its files. Overlays never replace a file that is
there (this project's ``overlay_dir`` rule, so the second copy changes nothing);
``copy_files`` entries are copied over, as the reference's local providers copy them.
Every failure is a warning: staging never fails a start.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

__all__ = ["stage_start_files"]


def _warn(text: str) -> None:
    print(f"warning: {text}", file=sys.stderr)


def stage_start_files(config: dict[str, Any], work_dir: str) -> None:
    """Copy ``pack_overlay_dirs`` (later ones ranking higher), ``overlay_dir`` (above
    them) and then each ``copy_files`` entry to ``rel_dst`` under ``work_dir``."""
    from gascity.fsutil import copy_into
    from gascity.reconcile.staging import copy_overlays

    if not os.path.isdir(work_dir):
        return
    root = Path(work_dir)
    overlays = [str(d) for d in config.get("pack_overlay_dirs") or [] if d]
    # The controller's own ranking rule (copy-missing, highest-ranked first).
    copy_overlays(overlays, str(config.get("overlay_dir") or ""), work_dir,
                  on_error=lambda source, exc: _warn(f"overlay {source} not copied: {exc}"))
    for entry in config.get("copy_files") or []:
        if not isinstance(entry, dict) or not entry.get("src"):
            continue
        src, rel_dst = str(entry["src"]), str(entry.get("rel_dst") or "")
        origin, dest = Path(src).resolve(), (root / rel_dst).resolve()
        if origin == dest:
            continue  # already in place (the reference skips it too)
        if origin in dest.parents:
            _warn(f"copy_files {src} not copied: {dest} is inside it")
            continue
        try:
            copy_into(src, root, rel_dst)
        except (OSError, ValueError) as exc:
            _warn(f"copy_files {src} not copied: {exc}")
