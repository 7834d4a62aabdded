"""The city's files as a tar stream for ``/workspace``, without secrets or runtime state."""

from __future__ import annotations

import fnmatch
import io
import tarfile
from pathlib import Path

__all__ = ["SECRET_PATTERNS", "city_files", "city_tar"]

SECRET_PATTERNS = (
    ".gc",
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "*.kubeconfig",
    "kubeconfig",
    ".netrc",
    ".git-credentials",
    "credentials*",
    "__pycache__",
)
"""Never staged or baked: runtime state (``.gc/``) and anything that looks like a secret."""


def _skipped(name: str) -> bool:
    return any(fnmatch.fnmatch(name, pattern) for pattern in SECRET_PATTERNS)


def city_files(city_dir: Path) -> list[Path]:
    """Every file to ship, relative to ``city_dir``, pruning skipped directories whole."""
    found: list[Path] = []
    stack = [city_dir]
    while stack:
        current = stack.pop()
        for entry in sorted(current.iterdir()):
            if _skipped(entry.name) or (entry.is_symlink() and not entry.exists()):
                continue
            if entry.is_dir():
                stack.append(entry)
            elif entry.is_file():
                found.append(entry.relative_to(city_dir))
    return sorted(found)


def city_tar(city_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for rel in city_files(city_dir):
            tar.add(city_dir / rel, arcname=str(rel), recursive=False)
    return buffer.getvalue()
