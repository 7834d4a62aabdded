"""Session and environment names the ``tmux`` provider accepts; how they are spelled
inside tmux is :mod:`gascity.tmuxconv` (shared with ``gc-session-tmux``)."""

from __future__ import annotations

import re

from gascity.errors import SessionError
from gascity.tmuxconv import decode_value, encode_value, option_for

__all__ = ["check_env_name", "check_session_name", "decode_value", "encode_value", "option_for"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def check_session_name(name: str) -> str:
    """Any name tmux can hold once encoded: non-empty, no NUL or line breaks."""
    if not name or any(c in name for c in "\0\n\r"):
        raise SessionError(
            f"invalid session name {name!r}: it must be non-empty and hold no NUL or line break"
        )
    return name


def check_env_name(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise SessionError(f"invalid environment variable name {name!r}")
    return name
