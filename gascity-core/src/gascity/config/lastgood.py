"""The last good config: what the controller last accepted, kept in ``.gc/``.

An operator's typo in city.toml must not silence the fleet: while the controller keeps
running on its previous config, the commands agents and operators run (``gc event
emit``, ``gc mail ...``, ``gc runtime drain-ack``, ``gc status``, ``gc events``, ``gc
session list``) fall back to this snapshot with one warning line naming the error.
Commands that exist to check or change the config (``gc config validate``, ``gc
start``, a reload) never fall back.

The snapshot is the composed config as JSON (every default filled in), written by the
controller each time it accepts a config; it is the owner's alone (0600 in a 0700
``.gc``).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..fsutil import atomic_write

if TYPE_CHECKING:
    from .light import CityFile
    from .load import LoadedConfig

__all__ = [
    "SNAPSHOT",
    "last_good_file",
    "last_good_loaded",
    "load_snapshot",
    "save_snapshot",
    "warn_fallback",
]

SNAPSHOT = "last-good-config.json"


def _path(city_dir: Path) -> Path:
    return city_dir / ".gc" / SNAPSHOT


def save_snapshot(city_dir: Path, data: Mapping[str, Any], source: Path) -> None:
    """Record ``data`` (a validated, composed config) as the last good one. Failing
    to write it (a read-only ``.gc``) only costs the fallback, so it never raises."""
    payload = {"source": str(source), "saved_at": time.time(), "config": dict(data)}
    try:
        (city_dir / ".gc").mkdir(mode=0o700, exist_ok=True)
        atomic_write(_path(city_dir), json.dumps(payload, sort_keys=True))
    except OSError:
        return


def load_snapshot(city_dir: Path) -> tuple[dict[str, Any], float] | None:
    """``(config data, saved_at)`` of the last good config, or ``None``."""
    try:
        payload = json.loads(_path(city_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or not isinstance(payload.get("config"), dict):
        return None
    saved = payload.get("saved_at")
    return payload["config"], float(saved) if isinstance(saved, int | float) else 0.0


def warn_fallback(error: ConfigError, saved_at: float) -> None:
    """The one warning line a command prints when it runs on the snapshot."""
    problem = error.problems[0] if error.problems else "invalid configuration"
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(saved_at)) if saved_at else "?"
    print(
        f"gc: warning: {error.path}: {problem}; using the last good config "
        f"(accepted {when}) until it is fixed",
        file=sys.stderr,
    )


def _city_dir(path: Path) -> Path:
    return path.parent if path.name.endswith(".toml") else path


def last_good_file(path: Path, error: ConfigError) -> CityFile:
    """The snapshot as a :class:`CityFile` (for the light commands), after printing the
    warning; re-raises ``error`` when there is no snapshot."""
    from .light import CityFile, city_file_path, sanitize_city_name

    city_dir = _city_dir(path)
    found = load_snapshot(city_dir)
    if found is None:
        raise error
    data, saved_at = found
    warn_fallback(error, saved_at)
    workspace = data.get("workspace")
    name = workspace.get("name") if isinstance(workspace, dict) else None
    return CityFile(path=city_file_path(path), data=data,
                    city_name=name or sanitize_city_name(city_dir.resolve().name))


def last_good_loaded(path: Path, error: ConfigError) -> LoadedConfig:
    """The snapshot as a validated :class:`LoadedConfig`, after printing the warning;
    re-raises ``error`` when there is no usable snapshot."""
    import pydantic

    from .light import city_file_path, sanitize_city_name
    from .load import LoadedConfig
    from .models import CityConfig

    city_dir = _city_dir(path)
    found = load_snapshot(city_dir)
    if found is None:
        raise error
    data, saved_at = found
    try:
        config = CityConfig.model_validate(data, strict=True)
    except pydantic.ValidationError:
        raise error from None  # a snapshot from another version: no fallback
    warn_fallback(error, saved_at)
    name = config.workspace.name or sanitize_city_name(city_dir.resolve().name)
    return LoadedConfig(config=config, path=city_file_path(path), mtime_ns=-1, city_name=name)
