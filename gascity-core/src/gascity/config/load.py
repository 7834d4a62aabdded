"""Read city.toml from disk into a validated :class:`CityConfig`."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from ..errors import ConfigError
from .errors import format_validation_error
from .models import CityConfig
from .validate import cross_check

__all__ = ["CITY_FILE", "LoadedConfig", "find_city_dir", "load_city", "parse_city"]

CITY_FILE = "city.toml"


@dataclass(frozen=True)
class LoadedConfig:
    config: CityConfig
    path: Path
    mtime_ns: int
    city_name: str

    @property
    def city_dir(self) -> Path:
        return self.path.parent


def parse_city(text: str, path: str = CITY_FILE) -> CityConfig:
    """Parse and validate TOML text. Raises :class:`ConfigError` listing every problem."""
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [_syntax_problem(text, exc)]) from None
    try:
        # Strict: TOML has real types, so "5" for a count or 1 for a flag is a mistake
        # worth reporting, not something to coerce silently.
        config = CityConfig.model_validate(data, strict=True)
    except pydantic.ValidationError as exc:
        raise ConfigError(path, format_validation_error(exc, data=data, model=CityConfig)) from None
    problems = cross_check(config)
    if problems:
        raise ConfigError(path, problems)
    return config


def _syntax_problem(text: str, exc: tomllib.TOMLDecodeError) -> str:
    """``line 6, column 11: not valid TOML (Invalid value): command = claude``."""
    match = re.search(r"^(.*?) \(at line (\d+), column (\d+)\)$", str(exc))
    if not match:
        return f"not valid TOML: {exc}"
    reason, line, column = match.group(1), int(match.group(2)), int(match.group(3))
    lines = text.splitlines()
    source = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    problem = f"line {line}, column {column}: not valid TOML ({reason})"
    if source:
        problem += f": {source}"
    if reason == "Invalid value":
        problem += ' (strings need quotes, e.g. command = "claude")'
    return problem


def load_city(path: Path) -> LoadedConfig:
    path = path if path.name == CITY_FILE or path.is_file() else path / CITY_FILE
    try:
        stat = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            str(path), ["file not found (run 'gc init DIR' to create a city)"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), [f"cannot read: {exc}"]) from None
    config = parse_city(text, str(path))
    name = config.workspace.name or _sanitize(path.resolve().parent.name)
    return LoadedConfig(config=config, path=path, mtime_ns=stat.st_mtime_ns, city_name=name)


def _sanitize(name: str) -> str:
    out = "".join(c if c.isalnum() or c in "_-" else "-" for c in name).strip("-_")
    return out or "city"


def find_city_dir(start: Path) -> Path | None:
    """Walk up from ``start`` to the first directory holding a city.toml."""
    here = start.resolve()
    for candidate in (here, *here.parents):
        if (candidate / CITY_FILE).is_file():
            return candidate
    return None
