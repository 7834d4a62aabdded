"""city.toml: models, loading and validation."""

from __future__ import annotations

from .durations import Duration, format_duration, parse_duration
from .load import CITY_FILE, LoadedConfig, find_city_dir, load_city, parse_city
from .models import AgentConfig, CityConfig, DaemonSection

__all__ = [
    "CITY_FILE",
    "AgentConfig",
    "CityConfig",
    "DaemonSection",
    "Duration",
    "LoadedConfig",
    "find_city_dir",
    "format_duration",
    "load_city",
    "parse_city",
    "parse_duration",
]
