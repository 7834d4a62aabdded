"""What gascity asks git about a working directory."""

from __future__ import annotations

from .runner import run

__all__ = ["default_branch"]

_TIMEOUT = 5.0


def default_branch(directory: str) -> str:
    """The branch ``origin/HEAD`` points at in ``directory``'s repository (it may hold
    slashes: ``user/feature``); ``main`` when there is no repository, no ``origin`` or
    no git, as in Gas City (``{{ .DefaultBranch }}`` is best effort)."""
    if not directory:
        return "main"
    result = run(["git", "-C", directory, "symbolic-ref", "refs/remotes/origin/HEAD"],
                 timeout=_TIMEOUT, reap_group=True)
    ref = result.stdout.strip()
    if result.returncode != 0 or not ref.startswith("refs/remotes/origin/"):
        return "main"
    return ref.removeprefix("refs/remotes/origin/")
