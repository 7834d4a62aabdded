"""What a plugin factory is given, and the one way plugins validate their settings."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ..errors import ConfigError

__all__ = ["PluginContext", "load_settings"]

M = TypeVar("M")


@dataclass(frozen=True)
class PluginContext:
    """Handed to a plugin's entry-point factory: ``factory(ctx) -> plugin object``.

    ``settings`` is the plugin's own table from city.toml (``[session.k8s]`` for the
    ``k8s`` session provider), unvalidated: the plugin validates it, ideally with
    :func:`load_settings` so errors read like the core's.
    """

    role: str
    name: str
    argument: str | None = None
    """The part after ``:`` in a selector such as ``exec:/path/to/script``."""
    settings: Mapping[str, Any] = field(default_factory=dict)
    city_name: str = "city"
    city_dir: Path = field(default_factory=Path.cwd)
    config_path: Path | None = None
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    @property
    def state_dir(self) -> Path:
        """``<city>/.gc``: where a plugin keeps local state (spools, sockets, files)."""
        return self.city_dir / ".gc"

    @property
    def settings_key(self) -> str:
        """The key path of this plugin's settings table, for error messages."""
        return f"{self.role}.{self.name}"


def load_settings(ctx: PluginContext, model: type[M], env_prefix: str | None = None) -> M:
    """Validate ``ctx.settings`` into ``model``, with ``{env_prefix}<KEY>`` overrides.

    ``model`` is a pydantic model, or a dataclass (see :mod:`gascity.plugins.settings`:
    no pydantic import, for plugins on the agents' hot path). Errors name the file and
    the key path (``session.k8s.cpu_request``) and come out as
    :class:`~gascity.errors.ConfigError`, the same as core config errors. An
    environment override is named as such in the error so the user knows where the
    bad value came from.
    """
    if dataclasses.is_dataclass(model):
        return _load_dataclass(ctx, model, env_prefix)
    import pydantic

    assert issubclass(model, pydantic.BaseModel)
    data: dict[str, Any] = dict(ctx.settings)
    from_env: dict[str, str] = {}
    if env_prefix:
        for key, info in model.model_fields.items():
            env_name = env_prefix + (info.alias or key).upper()
            if env_name in ctx.env:
                data[info.alias or key] = ctx.env[env_name]
                from_env[info.alias or key] = env_name
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        from ..config.errors import format_validation_error

        problems = format_validation_error(
            exc, prefix=ctx.settings_key, env_sources=from_env, model=model
        )
        raise ConfigError(str(ctx.config_path or "city.toml"), problems) from None


def _load_dataclass(ctx: PluginContext, model: type[M], env_prefix: str | None) -> M:
    from .settings import validate_dataclass

    data: dict[str, Any] = dict(ctx.settings)
    from_env: dict[str, str] = {}
    if env_prefix:
        for f in dataclasses.fields(model):  # type: ignore[arg-type]
            env_name = env_prefix + f.name.upper()
            if env_name in ctx.env:
                data[f.name] = ctx.env[env_name]
                from_env[f.name] = env_name
    value, problems = validate_dataclass(model, data, ctx.settings_key, from_env)
    if value is None:
        raise ConfigError(str(ctx.config_path or "city.toml"), problems)
    return value
