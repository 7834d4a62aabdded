"""city.toml: models, loading and validation.

Names load on first use (PEP 562): the commands agents run read city.toml through
:mod:`.light` and never import the pydantic models.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .durations import format_duration, parse_duration
    from .fields import Duration
    from .light import CITY_FILE, CityFile, find_city_dir, read_city_file
    from .load import LoadedConfig, config_warnings, load_city, parse_city
    from .models import AgentConfig, CityConfig, DaemonSection

__all__ = [
    "CITY_FILE",
    "AgentConfig",
    "CityConfig",
    "CityFile",
    "DaemonSection",
    "Duration",
    "LoadedConfig",
    "config_warnings",
    "find_city_dir",
    "format_duration",
    "load_city",
    "parse_city",
    "parse_duration",
    "read_city_file",
]

_WHERE = {
    "CITY_FILE": "light",
    "CityFile": "light",
    "find_city_dir": "light",
    "read_city_file": "light",
    "format_duration": "durations",
    "parse_duration": "durations",
    "Duration": "fields",
    "LoadedConfig": "load",
    "config_warnings": "load",
    "load_city": "load",
    "parse_city": "load",
    "AgentConfig": "models",
    "CityConfig": "models",
    "DaemonSection": "models",
}

__getattr__ = lazy_attributes(__name__, _WHERE)
