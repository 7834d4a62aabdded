"""The ``start`` JSON, byte for byte as the reference's ``encoding/json`` writes it.

Scripts compare, hash or ``jq`` this text, so it follows Go's ``json.Marshal`` of the
reference's wire struct: keys in struct order, empty values omitted, no spaces, map
keys sorted, ``<``, ``>``, ``&``, U+2028 and U+2029 escaped as ``\\u`` sequences, and
any byte that is not valid UTF-8 (a surrogate escape in Python) replaced by U+FFFD.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gascity.types import StartConfig

from .protocol import START_KEYS

__all__ = ["encode_start_config", "go_json"]

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Go's HTML-safe escapes; these characters never occur in JSON syntax outside strings.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPE_RE = re.compile("[<>&\u2028\u2029]")


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def go_json(value: Any) -> bytes:
    """``value`` encoded the way Go's ``json.Marshal`` would encode it."""
    text = json.dumps(_clean(value), ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    return _GO_ESCAPE_RE.sub(lambda m: _GO_ESCAPES[m.group(0)], text).encode("utf-8")


def start_payload(config: StartConfig) -> dict[str, Any]:
    """The start config as an ordered dict of the non-empty documented keys."""
    values: dict[str, Any] = {
        "work_dir": config.work_dir,
        "command": config.command,
        "env": {k: config.env[k] for k in sorted(config.env)},
        "process_names": list(config.process_names),
        "nudge": config.nudge,
        "ready_prompt_prefix": config.ready_prompt_prefix,
        "ready_delay_ms": config.ready_delay_ms,
        "pre_start": list(config.pre_start),
        "session_setup": list(config.session_setup),
        "session_setup_script": config.session_setup_script,
        "session_live": list(config.session_live),
        "pack_overlay_dirs": list(config.pack_overlay_dirs),
        "overlay_dir": config.overlay_dir,
        # Each entry as the reference's copyEntry: src always, rel_dst omitempty.
        "copy_files": [{"src": e.src, **({"rel_dst": e.rel_dst} if e.rel_dst else {})}
                       for e in config.copy_files],
    }
    # Go's omitempty: "", empty slices and empty maps are left out.
    return {k.key: values[k.key] for k in START_KEYS if values[k.key]}


def encode_start_config(config: StartConfig) -> bytes:
    return go_json(start_payload(config))
