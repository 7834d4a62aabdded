"""Masking secrets before config text is shown: ``gc config show`` never prints a
password, a token or the credentials inside a DSN."""

from __future__ import annotations

import re
from typing import Any

__all__ = ["MASK", "mask_secrets"]

MASK = "********"
_SECRET_KEY = re.compile(r"pass(word)?|passwd|secret|token|api_?key|credential", re.I)
# scheme://user:password@host -> scheme://user:********@host
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):([^@/\s]+)@")
# libpq key=value DSNs: password=... (quoted or not)
_KV_PASSWORD = re.compile(r"(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.I)


def _mask_text(text: str) -> str:
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    return _KV_PASSWORD.sub(lambda m: m.group(1) + MASK, text)


def mask_secrets(value: Any, key: str = "") -> Any:
    """A copy of ``value`` (nested dicts / lists / strings) with secrets masked: the
    value of any key that names a secret, and credentials embedded in strings."""
    if isinstance(value, dict):
        return {k: mask_secrets(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_secrets(v, key) for v in value]
    if isinstance(value, str):
        if value and _SECRET_KEY.search(key) and not key.endswith(("_env", "_file")):
            return MASK
        return _mask_text(value)
    return value
