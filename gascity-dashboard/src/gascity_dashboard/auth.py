"""Who may change the city through the API.

Mutations need the token in ``.gc/api-token`` (mode 0600, created on first use),
sent as ``Authorization: Bearer <token>``. As in the reference, a server bound to
anything but ``127.0.0.1``, ``localhost`` or ``::1`` is read-only unless
``[api] allow_mutations = true``; the token is required either way.
"""

from __future__ import annotations

import hmac
import os
import secrets
from pathlib import Path

from gascity.fsutil import atomic_write

__all__ = ["DEFAULT_BIND", "TOKEN_FILE", "MutationPolicy", "bind_or_default", "is_loopback",
           "load_or_create_token"]

TOKEN_FILE = "api-token"
DEFAULT_BIND = "127.0.0.1"
# The reference's list, spelled out rather than "any loopback address": 127.0.0.2 is
# read-only there, so it is here, and a config means the same in both.
_LOCAL_BINDS = frozenset({"127.0.0.1", "localhost", "::1"})


def bind_or_default(bind: str) -> str:
    """``bind = ""`` is the default address, as in the reference (never every interface,
    which is what an empty host means to a socket)."""
    bind = bind.strip()
    if bind.startswith("[") and bind.endswith("]"):
        bind = bind[1:-1]  # "[::1]" as in a URL
    return bind or DEFAULT_BIND


def is_loopback(bind: str) -> bool:
    return bind_or_default(bind) in _LOCAL_BINDS


def load_or_create_token(state_dir: Path) -> str:
    """The city's API token; a new random one if there is none (or it is empty)."""
    path = state_dir / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if token:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return token
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    atomic_write(path, token + "\n")
    os.chmod(path, 0o600)
    return token


class MutationPolicy:
    def __init__(self, *, bind: str, allow_mutations: bool, token: str) -> None:
        self.read_only = not is_loopback(bind) and not allow_mutations
        self._token = token

    def check(self, authorization: str | None) -> tuple[int, str, str] | None:
        """``None`` if the request may mutate, else (HTTP status, code, message)."""
        if self.read_only:
            return (403, "read_only",
                    "mutations disabled: server bound to a non-loopback address "
                    "(set [api] allow_mutations = true to allow them with the token)")
        scheme, _, given = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            return 401, "unauthorized", "mutations need 'Authorization: Bearer <token>' " \
                "with the token from .gc/api-token"
        if not hmac.compare_digest(given.strip().encode(), self._token.encode()):
            return 401, "unauthorized", "wrong API token (see .gc/api-token)"
        return None
