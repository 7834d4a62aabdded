"""How session names, metadata keys and values are spelled inside tmux.

Only ``[A-Za-z0-9_-]`` ever reaches tmux in a name: session names outside that set
are refused, metadata keys are escaped reversibly into user-option names, and values
are percent-encoded so that one ``list-panes`` line can never be split or mangled by
what a value holds (tabs, newlines, non-ASCII under a C locale).
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

from gascity.errors import SessionError

__all__ = [
    "OPTION_PREFIX",
    "check_env_name",
    "check_session_name",
    "decode_key",
    "decode_value",
    "encode_key",
    "encode_value",
    "option_for",
]

OPTION_PREFIX = "@gc_"
"""Every gascity user option on a session starts with this."""

_SESSION_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ESCAPE = re.compile(r"_([0-9a-f]{2})")
# Printable ASCII except '%', which is the escape character itself.
_SAFE_VALUE_CHARS = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
# quote() never produces a lone '%', so it can stand for "set, but empty" (tmux
# formats print an unset option and an empty one alike).
_EMPTY = "%"


def check_session_name(name: str) -> str:
    if not _SESSION_NAME.fullmatch(name):
        raise SessionError(
            f"invalid session name {name!r}: tmux session names here may only hold "
            "letters, digits, '_' and '-', and may not start with '-'"
        )
    return name


def check_env_name(name: str) -> str:
    if not _ENV_NAME.fullmatch(name):
        raise SessionError(f"invalid environment variable name {name!r}")
    return name


def encode_key(key: str) -> str:
    """``gc.fingerprint`` -> ``gc_2efingerprint``: ASCII letters and digits stay,
    every other byte (``_`` included, so decoding is unambiguous) becomes ``_hh``."""
    if not key:
        raise SessionError("metadata keys may not be empty")
    out: list[str] = []
    for char in key:
        if char.isascii() and char.isalnum():
            out.append(char)
        else:
            out.extend(f"_{byte:02x}" for byte in char.encode())
    return "".join(out)


def decode_key(encoded: str) -> str:
    raw = bytearray()
    pos = 0
    while pos < len(encoded):
        match = _ESCAPE.match(encoded, pos)
        if match:
            raw.append(int(match.group(1), 16))
            pos = match.end()
        else:
            raw.extend(encoded[pos].encode())
            pos += 1
    return raw.decode()


def option_for(key: str) -> str:
    return OPTION_PREFIX + encode_key(key)


def encode_value(value: str) -> str:
    if value == "":
        return _EMPTY
    return quote(value, safe=_SAFE_VALUE_CHARS)


def decode_value(raw: str) -> str:
    if raw == _EMPTY:
        return ""
    return unquote(raw)
