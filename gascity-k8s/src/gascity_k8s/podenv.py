"""What a pod's agent container sees: the controller's paths turned into pod paths.

Core builds a session's environment on the controller, so ``GC_CITY``, ``GC_DIR``,
``GC_RIG_ROOT`` and friends name the controller's directories. In a pod the city
lives at ``/workspace`` (staged there, or baked into the image), so those values
are remapped as the reference's k8s provider remaps them; a path outside the city
is left as it is (it may be a mount the pod shares). The drift fingerprint is not
affected: core computes it from the controller's environment, before this runs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

__all__ = [
    "CITY_KEYS",
    "CONTROLLER_ONLY",
    "UNDER_CITY_KEYS",
    "WORKSPACE",
    "city_roots",
    "pod_env",
    "pod_path",
    "pod_work_dir",
]

WORKSPACE = "/workspace"

CONTROLLER_ONLY = frozenset({"GC_BEADS", "GC_SESSION", "GC_EVENTS"})
"""The controller's provider choices: an agent's own ``gc`` in the pod must not
inherit them (``GC_SESSION=k8s`` would make it start pods of its own)."""

CITY_KEYS = frozenset({"GC_CITY", "GC_CITY_PATH", "GC_CITY_ROOT", "GC_CITY_DIR"})
"""The city's path itself: always ``/workspace`` in a pod. ``GC_CITY_DIR`` is this
project's name for it (``gc --city``'s variable), remapped with the reference's three."""

UNDER_CITY_KEYS = frozenset({
    "GC_STORE_ROOT",
    "GC_RIG_ROOT",
    "BEADS_DIR",
    "GT_ROOT",
    "GC_CITY_RUNTIME_DIR",
    "GC_PACK_STATE_DIR",
    "GC_PACK_DIR",
})
"""Paths that usually lie in the city: remapped under ``/workspace`` when they do."""


def city_roots(env: Mapping[str, str], city_dir: str | None = None) -> list[str]:
    """The controller's city path as the pod's env may spell it: ``GC_CITY``,
    ``GC_CITY_PATH``, ``GC_CITY_ROOT`` (the reference's order), the provider's own
    city dir, and each one's real path (core resolves work dirs, not ``GC_CITY``)."""
    named = [(env.get(key) or "").strip() for key in ("GC_CITY", "GC_CITY_PATH", "GC_CITY_ROOT")]
    first = next((value for value in named if value), "")
    roots: list[str] = []
    for root in (first, (city_dir or "").strip()):
        for spelling in (root, os.path.realpath(root) if root else ""):
            if spelling and spelling not in roots:
                roots.append(spelling)
    return roots


def _under(value: str, roots: Sequence[str]) -> str | None:
    """``value`` as a pod path when it is a city root or lies in one, else ``None``."""
    value = value.strip()
    if not value:
        return None
    for root in roots:
        try:
            rel = PurePosixPath(value).relative_to(PurePosixPath(root))
        except ValueError:
            continue
        return WORKSPACE if str(rel) == "." else f"{WORKSPACE}/{rel}"
    return None


def pod_path(value: str, roots: Sequence[str]) -> str:
    """``value`` with a leading city root (on a path boundary) replaced by
    ``/workspace``; a path outside the city stays as it is."""
    mapped = _under(value, roots)
    return value.strip() if mapped is None else mapped


def pod_work_dir(work_dir: str, city_dir: str | Sequence[str] | None) -> str:
    """A work dir inside the city maps under ``/workspace``; anything else is ``/workspace``."""
    roots = [city_dir] if isinstance(city_dir, str) else list(city_dir or ())
    return _under(work_dir, roots) or WORKSPACE


def pod_env(env: Mapping[str, str], work_dir: str, roots: Sequence[str]) -> dict[str, str]:
    """The pod's copy of a session's ``env``: controller-only keys dropped, empty
    values dropped (empty means unset in Gas City), city paths remapped."""
    out: dict[str, str] = {}
    for key, value in env.items():
        if key in CONTROLLER_ONLY or value == "":
            continue
        if key in CITY_KEYS:
            out[key] = WORKSPACE
        elif key == "GC_DIR":
            out[key] = work_dir
        elif key in UNDER_CITY_KEYS:
            out[key] = pod_path(value, roots)
        else:
            out[key] = value
    return out
