"""Read city.toml from disk into a validated :class:`CityConfig`."""

from __future__ import annotations

import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic

from ..errors import ConfigError
from .compose import Composition, compose_city
from .errors import format_validation_error
from .light import (
    CITY_FILE,
    city_file_path,
    find_city_dir,
    read_text,
    sanitize_city_name,
    syntax_problem,
)
from .models import CityConfig
from .recognised import recognised_warnings
from .validate import cross_check

__all__ = [
    "CITY_FILE",
    "LoadedConfig",
    "config_warnings",
    "find_city_dir",
    "load_city",
    "parse_city",
]


@dataclass(frozen=True)
class LoadedConfig:
    config: CityConfig
    path: Path
    mtime_ns: int
    city_name: str
    warnings: tuple[str, ...] = field(default=(), compare=False)
    """Keys accepted but not implemented here, deprecated keys: see :func:`config_warnings`."""
    composition: Composition = field(default_factory=Composition, compare=False)
    """Which file each agent came from (packs, fragments): ``gc config explain``."""
    sources: tuple[str, ...] = field(default=(), compare=False)
    """Every file and directory the config was composed from, city.toml first."""
    read_at_ns: int | None = field(default=None, compare=False)
    """When reading began (``time.time_ns()``): a source changed since is not in it."""

    @property
    def city_dir(self) -> Path:
        return self.path.parent


def parse_city(text: str, path: str = CITY_FILE) -> CityConfig:
    """Parse and validate TOML text. Raises :class:`ConfigError` listing every problem."""
    return _parse(text, path)[0]


def _parse(
    text: str, path: str, city_file: Path | None = None, reads: list[str] | None = None
) -> tuple[CityConfig, Composition]:
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, [syntax_problem(text, exc)]) from None
    composition = Composition()
    if city_file is not None:
        data, composition = compose_city(data, city_file, reads)
    try:
        # Strict: TOML has real types, so "5" for a count or 1 for a flag is a mistake
        # worth reporting, not something to coerce silently.
        config = CityConfig.model_validate(data, strict=True)
    except pydantic.ValidationError as exc:
        problems = format_validation_error(exc, data=data, model=CityConfig)
        raise ConfigError(path, [_with_source(p, composition, path) for p in problems]) from None
    problems = cross_check(config)
    if problems:
        raise ConfigError(path, [_with_source(p, composition, path) for p in problems])
    if city_file is not None:
        _load_namepools(config, city_file.parent, composition)
    return config, composition


def _load_namepools(config: CityConfig, city_dir: Path, composition: Composition) -> None:
    """Each pool's ``namepool`` file: one name a line, blank lines and ``#`` comments
    skipped. As in Gas City, a file that cannot be read leaves numbered names (here
    with a warning)."""
    for i, agent in enumerate(config.agent):
        if not agent.namepool:
            continue
        file = Path(agent.namepool)
        file = file if file.is_absolute() else city_dir / file
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            composition.warnings.append(
                f"agent[{i}].namepool (agent '{agent.name}'): cannot read {file}: {exc}; "
                "its instances are numbered instead")
            continue
        names = [s for s in (line.strip() for line in lines) if s and not s.startswith("#")]
        composition.namepools[agent.name] = tuple(dict.fromkeys(names))


def _with_source(problem: str, composition: Composition, path: str) -> str:
    """``agent[4] (agent 'dog')`` names the pack file an agent came from."""
    for name, source in composition.sources.items():
        marker = f"(agent '{name}')"
        if marker in problem and source != path:
            return problem.replace(marker, f"(agent '{name}' from {source})", 1)
    return problem


def load_city(path: Path, reads: list[str] | None = None) -> LoadedConfig:
    """``reads`` is given every file composing the city looked at, city.toml first,
    also when this raises (what to watch for the fix)."""
    path = city_file_path(path)
    read_at_ns = time.time_ns()
    reads = [] if reads is None else reads
    reads.append(str(path))
    text, mtime_ns = read_text(path)
    config, composition = _parse(text, str(path), path, reads)
    name = config.workspace.name or sanitize_city_name(path.resolve().parent.name)
    return LoadedConfig(
        config=config,
        path=path,
        mtime_ns=mtime_ns,
        city_name=name,
        warnings=tuple(
            f"{path}: {w}" for w in [*composition.warnings, *config_warnings(config)]
        ),
        composition=composition,
        sources=tuple(dict.fromkeys(reads)),
        read_at_ns=read_at_ns,
    )


def config_warnings(config: CityConfig) -> list[str]:
    """What a user of Gas City should know about a valid file: keys recognised but not
    implemented here, deprecated keys. Never errors. ``gc config validate``, ``gc
    doctor`` and the controller's start report these."""
    return recognised_warnings(config)
