"""The ``subprocess`` provider's session metadata (``meta.json``), stdlib only.

:class:`~gascity.builtin.subprocess_provider.SubprocessProvider` reads and writes a
session's metadata here, and so does the agents' ``gc runtime drain-ack`` fast path
(:mod:`gascity.cli.fast`) without building the provider: one implementation of the
file and its lock. No dataclasses, pathlib, logging or threading get imported.
"""

from __future__ import annotations

import json
import os
import re

from ..errors import SessionNotFound
from ..fsutil import atomic_write
from ..osutil.flock import locked

__all__ = ["NAME_RE", "read_meta", "session_dir", "update_meta"]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,199}$")
"""What a session name may be: it names a directory under ``.gc/sessions``."""


def session_dir(root: str, name: str) -> str:
    """``root/name`` for an existing session; :class:`SessionNotFound` otherwise."""
    if not NAME_RE.match(name):
        raise SessionNotFound(f"no session '{name}' (invalid session name)")
    path = os.path.join(root, name)
    if not os.path.isdir(path):
        raise SessionNotFound(f"no session '{name}'")
    return path


def read_meta(directory: str | os.PathLike[str]) -> dict[str, str]:
    """A session directory's metadata; empty when missing or unreadable."""
    try:
        with open(os.path.join(directory, "meta.json"), "rb") as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def update_meta(root: str, name: str, key: str, value: str | None) -> None:
    """Set ``key`` (or remove it, for ``None``) in session ``name``'s metadata, under
    the session's meta lock."""
    directory = session_dir(root, name)
    try:
        with locked(os.path.join(directory, "meta.lock")):
            meta = read_meta(directory)
            if value is None:
                if key not in meta:
                    return
                del meta[key]
            else:
                meta[key] = value
            atomic_write(os.path.join(directory, "meta.json"), json.dumps(meta))
    except FileNotFoundError:
        raise SessionNotFound(f"no session '{name}'") from None
